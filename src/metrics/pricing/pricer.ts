/*
 * The pricer: prices one call in USD, offline, from the bundled price snapshot (src/metrics/price-snapshot.ts,
 * generated from genai-prices) or from the user's overrides. Everything that can be worked out ahead of a call
 * is worked out in `createPricer`; the per-call path is a cache hit plus a few multiplications.
 */
import { PRICE_SNAPSHOT } from "../price-snapshot.js";
import { entryFromModelPrice, priceCall, serviceTierMultiplier } from "./arithmetic.js";
import { getServiceTiers, type CompiledProvider, type PriceEntry } from "./catalogue.js";
import { findModel, findProvider } from "./lookup.js";
import type { Pricer, PricingOptions } from "./types.js";
import { isValidModelPrice, validatePricing, type ValidatedPricing } from "./validation.js";

interface NameEntry {
  readonly override: PriceEntry | undefined;
  readonly snapshot: PriceEntry | undefined;
}

interface ProviderCache {
  readonly provider: CompiledProvider | undefined;
  readonly names: Map<string, NameEntry>;
}

// Model names are low-cardinality; the cap only guards against a caller that invents a new name per call.
const maxCachedNamesPerProvider = 1024;

// One pricer per checked options object: every client observed with the same `pricing` (or none) shares it.
const pricers = new WeakMap<ValidatedPricing, Pricer>();
const noOptions: PricingOptions = {};

/**
 * The pricer for `options`, built once per distinct options object. Validates `options` (throws
 * `InvalidOptionError`), compiles the price data once, and caches each model name's resolution so a repeated
 * lookup is a map hit.
 */
export function createPricer(options?: PricingOptions): Pricer {
  const validated = validatePricing(options ?? noOptions, "pricing");
  let pricer = pricers.get(validated);
  if (pricer === undefined) {
    pricer = compilePricer(validated);
    pricers.set(validated, pricer);
  }
  return pricer;
}

function compilePricer(validated: ValidatedPricing): Pricer {
  const catalog = validated.catalog;
  const { models = {}, aliases = {}, discount = 1, resolvePrice } = validated.options;
  const snapshotDate = PRICE_SNAPSHOT.generatedDate;
  const serviceTiers = getServiceTiers();

  const modelOverrides = new Map<string, PriceEntry>();
  for (const [name, price] of Object.entries(models))
    modelOverrides.set(name.trim().toLowerCase(), entryFromModelPrice(name, price));
  const aliasTargets = new Map<string, string>();
  for (const [name, target] of Object.entries(aliases)) aliasTargets.set(name.trim().toLowerCase(), target);

  const providerCaches = new Map<string, ProviderCache>();

  function providerCache(providerName: string): ProviderCache {
    let cache = providerCaches.get(providerName);
    if (!cache) {
      cache = { provider: findProvider(catalog, providerName), names: new Map() };
      providerCaches.set(providerName, cache);
    }
    return cache;
  }

  function overrideFor(provider: CompiledProvider | undefined, lowerName: string): PriceEntry | undefined {
    const direct = modelOverrides.get(lowerName);
    if (direct) return direct;
    const target = aliasTargets.get(lowerName);
    if (target === undefined) return undefined;
    const aliased = modelOverrides.get(target.trim().toLowerCase()) ?? findModel(catalog, provider, target)?.entry;
    return aliased && { ...aliased, source: "override" };
  }

  function nameEntry(cache: ProviderCache, name: string): NameEntry {
    let entry = cache.names.get(name);
    if (!entry) {
      const lowerName = name.trim().toLowerCase();
      const snapshot = findModel(catalog, cache.provider, name)?.entry;
      entry = { override: overrideFor(cache.provider, lowerName), snapshot };
      if (cache.names.size >= maxCachedNamesPerProvider) cache.names.clear();
      cache.names.set(name, entry);
    }
    return entry;
  }

  return (query) => {
    try {
      const cache = providerCache(query.providerName);
      const response = query.responseModel ? nameEntry(cache, query.responseModel) : undefined;
      const request = query.requestModel ? nameEntry(cache, query.requestModel) : undefined;
      let entry = response?.override ?? request?.override;
      if (!entry && resolvePrice) {
        let price: unknown;
        try {
          price = resolvePrice(query);
        } catch {
          price = undefined; // A throwing callback must not break the app's call; fall through to the data.
        }
        if (isValidModelPrice(price))
          entry = entryFromModelPrice(query.responseModel ?? query.requestModel ?? "", price);
      }
      entry ??= response?.snapshot ?? request?.snapshot;
      if (!entry) return undefined;
      const multiplier =
        serviceTierMultiplier(serviceTiers, query.providerName, query.serviceTier, entry.model) * discount;
      return priceCall(entry, query, multiplier, snapshotDate);
    } catch {
      return undefined;
    }
  };
}
