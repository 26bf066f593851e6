/*
 * Validation of the `pricing` option and of a user's genai-prices data file: set-up misuse throws an
 * `InvalidOptionError` naming the exact field; the result is a clean copy plus the catalogue it prices from.
 */
import { InvalidOptionError } from "../../errors.js";
import type {
  SnapshotMatch,
  SnapshotModel,
  SnapshotPricePeriod,
  SnapshotProvider,
  SnapshotRate,
  SnapshotRates,
} from "../price-snapshot.js";
import { compileCatalog, getBundledCatalog, parseTimeOfDay, type Catalog } from "./catalogue.js";
import { findModel } from "./lookup.js";
import type { ModelPrice, PricingOptions } from "./types.js";

const modelPriceFields: readonly (keyof ModelPrice)[] = [
  "inputPerMillionUsd",
  "outputPerMillionUsd",
  "cacheReadPerMillionUsd",
  "cacheWritePerMillionUsd",
  "cacheWrite1hPerMillionUsd",
];
const requiredModelPriceFields: ReadonlySet<string> = new Set(["inputPerMillionUsd", "outputPerMillionUsd"]);
const pricingFields: readonly string[] = ["models", "aliases", "discount", "data", "resolvePrice"];

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return `the string ${JSON.stringify(value)}`;
  if (typeof value === "number") return String(value);
  return `a ${typeof value}`;
}

function isRate(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value) && value >= 0;
}

/** Suggests the spelled-out field for near misses such as `inputPerMillion` or `input_mtok`. */
function unknownFieldMessage(field: string, known: readonly string[]): string {
  const squash = (text: string) => text.toLowerCase().replace(/[^a-z0-9]/g, "");
  const guess = known.find((candidate) => squash(candidate).startsWith(squash(field).replace(/mtok$/, "")));
  return `unknown field; expected one of ${known.join(", ")}${guess ? ` (did you mean \`${guess}\`?)` : ""}`;
}

function validateModelPrice(value: unknown, path: string): ModelPrice {
  if (!isPlainObject(value))
    throw new InvalidOptionError(path, `must be an object of USD-per-million-token prices, got ${describe(value)}`);
  for (const field of Object.keys(value)) {
    if (!(modelPriceFields as readonly string[]).includes(field)) {
      throw new InvalidOptionError(`${path}.${field}`, unknownFieldMessage(field, modelPriceFields));
    }
  }
  const price: Record<string, number> = {};
  for (const field of modelPriceFields) {
    const rate = value[field];
    if (rate === undefined) {
      if (requiredModelPriceFields.has(field))
        throw new InvalidOptionError(`${path}.${field}`, "is required (USD per million tokens)");
      continue;
    }
    if (!isRate(rate)) {
      throw new InvalidOptionError(
        `${path}.${field}`,
        `must be a finite number ≥ 0 (USD per million tokens), got ${describe(rate)}`,
      );
    }
    price[field] = rate;
  }
  return price as unknown as ModelPrice;
}

function validateMatch(value: unknown, path: string): SnapshotMatch {
  const out: { equals?: string[]; startsWith?: string[]; endsWith?: string[]; contains?: string[]; regex?: string[] } =
    {};
  const visit = (rule: unknown, rulePath: string): void => {
    if (!isPlainObject(rule))
      throw new InvalidOptionError(rulePath, `must be a genai-prices match rule, got ${describe(rule)}`);
    const literal = (key: "equals" | "startsWith" | "endsWith" | "contains", text: unknown) => {
      if (typeof text !== "string")
        throw new InvalidOptionError(rulePath, `match value must be a string, got ${describe(text)}`);
      (out[key] ??= []).push(text.toLowerCase());
    };
    if (Array.isArray(rule.or)) rule.or.forEach((child, index) => visit(child, `${rulePath}.or[${index}]`));
    else if (Array.isArray(rule.and)) {
      // No AND in the data we ship; express one as a regex of look-aheads so the flat form still holds it.
      const sources = rule.and.map((child, index) => `(?=${matchToRegexSource(child, `${rulePath}.and[${index}]`)})`);
      (out.regex ??= []).push(`^${sources.join("")}`);
    } else if ("equals" in rule) literal("equals", rule.equals);
    else if ("starts_with" in rule) literal("startsWith", rule.starts_with);
    else if ("ends_with" in rule) literal("endsWith", rule.ends_with);
    else if ("contains" in rule) literal("contains", rule.contains);
    else if ("regex" in rule) (out.regex ??= []).push(checkedRegex(rule.regex, rulePath));
    else
      throw new InvalidOptionError(
        rulePath,
        "unknown match rule (expected or, and, equals, starts_with, ends_with, contains or regex)",
      );
  };
  visit(value, path);
  return out;
}

function checkedRegex(source: unknown, path: string): string {
  if (typeof source !== "string") throw new InvalidOptionError(path, `regex must be a string, got ${describe(source)}`);
  try {
    new RegExp(source);
  } catch (error) {
    throw new InvalidOptionError(path, `invalid regex ${JSON.stringify(source)}`, { cause: error });
  }
  return source;
}

const escapeRegex = (text: string) => text.toLowerCase().replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");

/** A match rule as a regex source that must match from the start of the name (for AND look-aheads). */
function matchToRegexSource(rule: unknown, path: string): string {
  if (!isPlainObject(rule))
    throw new InvalidOptionError(path, `must be a genai-prices match rule, got ${describe(rule)}`);
  const text = (value: unknown) => {
    if (typeof value !== "string")
      throw new InvalidOptionError(path, `match value must be a string, got ${describe(value)}`);
    return escapeRegex(value);
  };
  if (Array.isArray(rule.or))
    return `(?:${rule.or.map((child, index) => matchToRegexSource(child, `${path}.or[${index}]`)).join("|")})`;
  if (Array.isArray(rule.and))
    return rule.and.map((child, index) => `(?=${matchToRegexSource(child, `${path}.and[${index}]`)})`).join("");
  if ("equals" in rule) return `${text(rule.equals)}$`;
  if ("starts_with" in rule) return text(rule.starts_with);
  if ("ends_with" in rule) return `.*${text(rule.ends_with)}$`;
  if ("contains" in rule) return `.*${text(rule.contains)}`;
  if ("regex" in rule) return `.*(?:${checkedRegex(rule.regex, path)})`;
  throw new InvalidOptionError(path, "unknown match rule");
}

/** genai-prices price keys tokentrace prices; other units (web searches, audio, pages) are not in Usage. */
const dataRateKeys: ReadonlyMap<string, keyof SnapshotRates> = new Map([
  ["input_mtok", "input"],
  ["output_mtok", "output"],
  ["cache_read_mtok", "cacheRead"],
  ["cache_write_mtok", "cacheWrite"],
  ["cache_write_1h_mtok", "cacheWrite1h"],
]);

function validateDataRate(value: unknown, path: string): SnapshotRate {
  if (isRate(value)) return value;
  if (isPlainObject(value) && isRate(value.base) && Array.isArray(value.tiers)) {
    const tiers = value.tiers.map((tier, index): [number, number] => {
      if (!isPlainObject(tier) || !isRate(tier.start) || !isRate(tier.price)) {
        throw new InvalidOptionError(`${path}.tiers[${index}]`, "must be { start, price } with numbers ≥ 0");
      }
      return [tier.start, tier.price];
    });
    return { base: value.base, tiers };
  }
  throw new InvalidOptionError(path, `must be a number ≥ 0 or { base, tiers }, got ${describe(value)}`);
}

function validateDataRates(value: unknown, path: string): SnapshotRates | null {
  if (!isPlainObject(value)) throw new InvalidOptionError(path, `must be an object of prices, got ${describe(value)}`);
  const rates: { -readonly [K in keyof SnapshotRates]: SnapshotRate } = {};
  let otherUnits = false;
  for (const [key, rate] of Object.entries(value)) {
    if (rate === undefined || rate === null) continue;
    const name = dataRateKeys.get(key);
    if (name) rates[name] = validateDataRate(rate, `${path}.${key}`);
    else otherUnits = true;
  }
  // Same rule as the generator: priced only in units we cannot count → unpriced, not free.
  return Object.keys(rates).length === 0 && otherUnits ? null : rates;
}

function validateDataPeriod(value: unknown, path: string): SnapshotPricePeriod | null {
  if (!isPlainObject(value))
    throw new InvalidOptionError(path, `must be { constraint?, prices }, got ${describe(value)}`);
  const rates = validateDataRates(value.prices, `${path}.prices`);
  if (rates === null) return null;
  const constraint = value.constraint;
  if (constraint === undefined || constraint === null) return { rates };
  if (
    isPlainObject(constraint) &&
    typeof constraint.start_date === "string" &&
    (constraint.type ?? "start_date") === "start_date"
  ) {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(constraint.start_date) || Number.isNaN(Date.parse(constraint.start_date))) {
      throw new InvalidOptionError(
        `${path}.constraint.start_date`,
        `must be a YYYY-MM-DD date, got ${describe(constraint.start_date)}`,
      );
    }
    return { startDate: constraint.start_date, rates };
  }
  if (
    isPlainObject(constraint) &&
    typeof constraint.start_time === "string" &&
    typeof constraint.end_time === "string"
  ) {
    for (const field of ["start_time", "end_time"] as const) {
      if (parseTimeOfDay(constraint[field] as string) === undefined) {
        throw new InvalidOptionError(`${path}.constraint.${field}`, `must be HH:MM:SS with a zone (Z or ±HH:MM)`);
      }
    }
    return { timeOfDay: [constraint.start_time, constraint.end_time], rates };
  }
  throw new InvalidOptionError(`${path}.constraint`, "must be { start_date } or { start_time, end_time }");
}

/** Converts a genai-prices data file into the snapshot's shape, naming the exact field that is wrong. */
function validateData(value: unknown, path: string): SnapshotProvider[] {
  if (!Array.isArray(value))
    throw new InvalidOptionError(
      path,
      `must be a genai-prices data file: an array of providers, got ${describe(value)}`,
    );
  return value.map((provider: unknown, providerIndex): SnapshotProvider => {
    const providerPath = `${path}[${providerIndex}]`;
    if (!isPlainObject(provider))
      throw new InvalidOptionError(providerPath, `must be a provider object, got ${describe(provider)}`);
    if (typeof provider.id !== "string" || provider.id === "")
      throw new InvalidOptionError(`${providerPath}.id`, "must be a non-empty string");
    if (!Array.isArray(provider.models)) throw new InvalidOptionError(`${providerPath}.models`, "must be an array");
    const fallbacks = provider.fallback_model_providers;
    if (fallbacks !== undefined && !(Array.isArray(fallbacks) && fallbacks.every((id) => typeof id === "string"))) {
      throw new InvalidOptionError(`${providerPath}.fallback_model_providers`, "must be an array of provider ids");
    }
    const models = provider.models.map((model: unknown, modelIndex): SnapshotModel => {
      const modelPath = `${providerPath}.models[${modelIndex}]`;
      if (!isPlainObject(model))
        throw new InvalidOptionError(modelPath, `must be a model object, got ${describe(model)}`);
      if (typeof model.id !== "string" || model.id === "")
        throw new InvalidOptionError(`${modelPath}.id`, "must be a non-empty string");
      const match = validateMatch(model.match, `${modelPath}.match`);
      let prices: SnapshotModel["prices"];
      if (Array.isArray(model.prices)) {
        if (model.prices.length === 0) throw new InvalidOptionError(`${modelPath}.prices`, "must not be an empty list");
        const periods = model.prices.map((period, index) =>
          validateDataPeriod(period, `${modelPath}.prices[${index}]`),
        );
        const priced = periods.filter((period): period is SnapshotPricePeriod => period !== null);
        prices = priced.length === 0 ? null : priced.length === periods.length ? priced : null;
      } else {
        prices = validateDataRates(model.prices, `${modelPath}.prices`);
      }
      return { id: model.id, match, prices };
    });
    return {
      id: provider.id,
      models,
      ...(fallbacks ? { fallbacks: fallbacks } : {}),
      ...(provider.model_match !== undefined
        ? { modelMatch: validateMatch(provider.model_match, `${providerPath}.model_match`) }
        : {}),
      ...(provider.provider_match !== undefined
        ? { providerMatch: validateMatch(provider.provider_match, `${providerPath}.provider_match`) }
        : {}),
    };
  });
}

/** A `pricing` option checked once: the clean copy and the catalogue it prices from. */
export interface ValidatedPricing {
  readonly options: PricingOptions;
  readonly catalog: Catalog;
}

// Decide once (issue #11): each distinct options object is checked once, and so is the clean copy handed on
// (observe() checks, the resolver checks again, the recorder's createPricer a third time). Keyed by identity,
// like observe()'s own "same options" test; a `pricing` object is read when first given, not at each call.
const checked = new WeakMap<object, ValidatedPricing>();

/** Checks a `pricing` option (not `undefined`), once per object: the same object gets the same result. */
export function validatePricing(value: unknown, optionPath: string): ValidatedPricing {
  const known = typeof value === "object" && value !== null ? checked.get(value) : undefined;
  if (known !== undefined) return known;
  const validated = check(value, optionPath);
  checked.set(validated.options, validated);
  if (isPlainObject(value)) checked.set(value, validated);
  return validated;
}

function check(value: unknown, optionPath: string): ValidatedPricing {
  if (!isPlainObject(value)) throw new InvalidOptionError(optionPath, `must be an object, got ${describe(value)}`);
  for (const field of Object.keys(value)) {
    if (!pricingFields.includes(field))
      throw new InvalidOptionError(`${optionPath}.${field}`, unknownFieldMessage(field, pricingFields));
  }
  const options: PricingOptions = {};

  if (value.models !== undefined) {
    if (!isPlainObject(value.models))
      throw new InvalidOptionError(
        `${optionPath}.models`,
        `must be an object keyed by model name, got ${describe(value.models)}`,
      );
    const models: Record<string, ModelPrice> = {};
    for (const [name, price] of Object.entries(value.models)) {
      if (name.trim() === "") throw new InvalidOptionError(`${optionPath}.models`, "model names must not be empty");
      models[name] = validateModelPrice(price, `${optionPath}.models.${name}`);
    }
    options.models = models;
  }

  if (value.discount !== undefined) {
    const discount = value.discount;
    if (typeof discount !== "number" || !Number.isFinite(discount) || discount < 0 || discount > 1) {
      throw new InvalidOptionError(
        `${optionPath}.discount`,
        `must be a multiplier from 0 to 1 (0.8 = 20% off), got ${describe(discount)}`,
      );
    }
    options.discount = discount;
  }

  if (value.resolvePrice !== undefined) {
    if (typeof value.resolvePrice !== "function") {
      throw new InvalidOptionError(
        `${optionPath}.resolvePrice`,
        `must be a function, got ${describe(value.resolvePrice)}`,
      );
    }
    options.resolvePrice = value.resolvePrice as PricingOptions["resolvePrice"];
  }

  let catalog = getBundledCatalog();
  if (value.data !== undefined) {
    catalog = compileCatalog(validateData(value.data, `${optionPath}.data`), "override");
    options.data = value.data;
  }

  if (value.aliases !== undefined) {
    if (!isPlainObject(value.aliases))
      throw new InvalidOptionError(
        `${optionPath}.aliases`,
        `must be an object of model name → model name, got ${describe(value.aliases)}`,
      );
    const modelNames = new Set(Object.keys(options.models ?? {}).map((name) => name.trim().toLowerCase()));
    const aliases: Record<string, string> = {};
    for (const [name, target] of Object.entries(value.aliases)) {
      const path = `${optionPath}.aliases.${name}`;
      if (typeof target !== "string" || target.trim() === "")
        throw new InvalidOptionError(path, `must be a model name, got ${describe(target)}`);
      // Fail at set-up, not silently at run time: a typo here would leave every call unpriced.
      if (
        !modelNames.has(target.trim().toLowerCase()) &&
        !catalog.providers.some((provider) => findModel(catalog, provider, target)?.entry)
      ) {
        throw new InvalidOptionError(
          path,
          `${JSON.stringify(target)} is neither a key of ${optionPath}.models nor a model the price data knows`,
        );
      }
      aliases[name] = target;
    }
    options.aliases = aliases;
  }
  return { options, catalog };
}

/**
 * Checks the `pricing` option of `observe()` / `setup()` and returns a clean copy (undefined when not set).
 * Throws `InvalidOptionError` naming the exact field, e.g. `pricing.models.my-model.inputPerMillionUsd`.
 */
export function validatePricingOptions(value: unknown, optionPath: string): PricingOptions | undefined {
  return value === undefined ? undefined : validatePricing(value, optionPath).options;
}

/** A price `resolvePrice` returned, checked on the call path: invalid means "as if it returned undefined". */
export function isValidModelPrice(value: unknown): value is ModelPrice {
  if (!isPlainObject(value) || !isRate(value.inputPerMillionUsd) || !isRate(value.outputPerMillionUsd)) return false;
  return (["cacheReadPerMillionUsd", "cacheWritePerMillionUsd", "cacheWrite1hPerMillionUsd"] as const).every(
    (field) => value[field] === undefined || isRate(value[field]),
  );
}
