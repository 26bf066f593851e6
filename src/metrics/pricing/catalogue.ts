/*
 * The price catalogue: the bundled genai-prices snapshot (src/metrics/price-snapshot.ts) or a user's data file
 * compiled into matchers and sorted rates, plus the two tables tokentrace maintains by hand beside it: which
 * price-data provider a `gen_ai.provider.name` means, and the service-tier multipliers.
 */
import {
  PRICE_SNAPSHOT,
  type SnapshotMatch,
  type SnapshotModel,
  type SnapshotPricePeriod,
  type SnapshotProvider,
  type SnapshotRate,
  type SnapshotRates,
} from "../price-snapshot.js";

// ---------------------------------------------------------------------------------------------------------
// Service tiers: a multiplier on standard rates, chosen by the tier the RESPONSE reports.
//
// - flex: OpenAI bills Flex "at Batch API rates" (developers.openai.com/api/docs/guides/flex-processing), i.e.
//   half; Azure OpenAI's Flex is documented as a 50% discount too (learn.microsoft.com, "flex processing").
// - batch: OpenAI Batch API, Anthropic Message Batches and Mistral batch are all 50% off.
// - priority, OpenAI and Azure OpenAI: priority price ÷ standard price from openai.com/api-priority-processing
//   (read 2026-11-27); the ratio is the same for input, cached input and output of a model. 2× unless listed.
// - priority, anyone else: 1×. Anthropic's Priority Tier is a prepaid capacity commitment drawn down at
//   standard relative rates (docs.anthropic.com/en/api/service-tiers), not a per-token premium.
// Any other tier ("default", "auto", "standard", "scale", "on_demand") is billed at standard rates.

/** One row of the service-tier table. */
export interface ServiceTierMultiplier {
  /** The tier as the response reports it, lower-cased. */
  readonly tier: string;
  /** `gen_ai.provider.name` values (lower-cased) the row applies to; every provider when absent. */
  readonly providers?: readonly string[];
  /** Multiplier on standard rates for models `byModel` does not list. */
  readonly multiplier: number;
  /** Multipliers by price-entry model id, where a provider prices the tier per model. */
  readonly byModel?: readonly (readonly [modelId: string, multiplier: number])[];
}

export const SERVICE_TIER_MULTIPLIERS: readonly ServiceTierMultiplier[] = [
  { tier: "flex", multiplier: 0.5 },
  { tier: "batch", multiplier: 0.5 },
  {
    tier: "priority",
    providers: ["openai", "azure.ai.openai"],
    multiplier: 2,
    byModel: [
      ["gpt-5.5", 2.5],
      ["gpt-5-mini", 1.8],
      ["gpt-4.1", 1.75],
      ["gpt-4.1-mini", 1.75],
      ["gpt-4o-2024-05-13", 1.75],
      ["o3", 1.75],
      ["gpt-4o", 1.7],
      ["gpt-4o-mini", 0.25 / 0.15],
      ["o4-mini", 2 / 1.1],
    ],
  },
];

/** The table compiled for the per-call path: tier → its rows, each with sets and maps to look in. */
interface ServiceTierRule {
  readonly providers: ReadonlySet<string> | undefined;
  readonly multiplier: number;
  readonly byModel: ReadonlyMap<string, number>;
}
export type ServiceTierTable = ReadonlyMap<string, readonly ServiceTierRule[]>;

function compileServiceTiers(rows: readonly ServiceTierMultiplier[]): ServiceTierTable {
  const table = new Map<string, ServiceTierRule[]>();
  for (const row of rows) {
    const rule: ServiceTierRule = {
      providers: row.providers && new Set(row.providers),
      multiplier: row.multiplier,
      byModel: new Map(row.byModel),
    };
    const rules = table.get(row.tier);
    if (rules) rules.push(rule);
    else table.set(row.tier, [rule]);
  }
  return table;
}

let bundledServiceTiers: ServiceTierTable | undefined;
export function getServiceTiers(): ServiceTierTable {
  bundledServiceTiers ??= compileServiceTiers(SERVICE_TIER_MULTIPLIERS);
  return bundledServiceTiers;
}

// ---------------------------------------------------------------------------------------------------------
// Provider names: gen_ai.provider.name values (OpenTelemetry GenAI conventions) → price-data provider ids.
// Names not listed are looked up as a price-data id, then by the providers' own name rules.
export const providerIdsBySemconvName: ReadonlyMap<string, string> = new Map([
  ["openai", "openai"],
  ["anthropic", "anthropic"],
  ["azure.ai.openai", "azure"],
  ["azure.ai.inference", "azure"],
  ["aws.bedrock", "aws"],
  // Claude on Vertex AI (the Anthropic SDK's Vertex client) is billed at Anthropic's list rates on the global
  // endpoint; the data's Anthropic entries also carry 1-hour cache-write and dated prices that its Google
  // entries lack. Regional-endpoint premiums are not modelled.
  ["gcp.vertex_ai", "anthropic"],
  ["x_ai", "x-ai"],
  ["mistral_ai", "mistral"],
  ["deepseek", "deepseek"],
  ["groq", "groq"],
]);

// ---------------------------------------------------------------------------------------------------------
// Compiled price data.

type Matcher = (lowerName: string) => boolean;

/** Rates with every field present; tiers sorted by start. */
export interface Rates {
  readonly input: SnapshotRate | undefined;
  readonly output: SnapshotRate | undefined;
  readonly cacheRead: SnapshotRate | undefined;
  readonly cacheWrite: SnapshotRate | undefined;
  readonly cacheWrite1h: SnapshotRate | undefined;
}

export interface Period {
  readonly startMs: number | undefined;
  /** Seconds after UTC midnight: [start, end). */
  readonly timeOfDaySeconds: readonly [number, number] | undefined;
  readonly rates: Rates;
}

/** A resolved price entry: flat rates, or periods to choose from by request time. */
export interface PriceEntry {
  readonly model: string;
  readonly source: "snapshot" | "override";
  readonly rates: Rates | undefined;
  readonly periods: readonly Period[] | undefined;
}

export interface CompiledModel {
  readonly matches: Matcher;
  /** Undefined when the model is priced only in units Usage does not carry. */
  readonly entry: PriceEntry | undefined;
}

export interface CompiledProvider {
  readonly id: string;
  readonly models: readonly CompiledModel[];
  readonly fallbackIds: readonly string[];
  readonly matchesModel: Matcher | undefined;
  readonly matchesProvider: Matcher | undefined;
}

export interface Catalog {
  readonly providers: readonly CompiledProvider[];
  readonly byId: ReadonlyMap<string, CompiledProvider>;
}

export const never: Matcher = () => false;

function compileMatch(match: SnapshotMatch): Matcher {
  const equals = new Set(match.equals ?? []);
  const startsWith = match.startsWith ?? [];
  const endsWith = match.endsWith ?? [];
  const contains = match.contains ?? [];
  const regexes = (match.regex ?? []).map((source) => new RegExp(source));
  return (name) =>
    equals.has(name) ||
    startsWith.some((prefix) => name.startsWith(prefix)) ||
    endsWith.some((suffix) => name.endsWith(suffix)) ||
    contains.some((part) => name.includes(part)) ||
    regexes.some((regex) => regex.test(name));
}

function compileRates(rates: SnapshotRates): Rates {
  const sortTiers = (rate: SnapshotRate | undefined): SnapshotRate | undefined =>
    rate === undefined || typeof rate === "number"
      ? rate
      : { base: rate.base, tiers: [...rate.tiers].sort((a, b) => a[0] - b[0]) };
  return {
    input: sortTiers(rates.input),
    output: sortTiers(rates.output),
    cacheRead: sortTiers(rates.cacheRead),
    cacheWrite: sortTiers(rates.cacheWrite),
    cacheWrite1h: sortTiers(rates.cacheWrite1h),
  };
}

/** "HH:MM:SS[.fff](Z|±HH:MM)" → seconds after UTC midnight, or undefined when malformed. */
export function parseTimeOfDay(value: string): number | undefined {
  const parts = /^(\d{2}):(\d{2}):(\d{2})(\.\d+)?(?:Z|([+-])(\d{2}):(\d{2}))$/.exec(value);
  if (!parts) return undefined;
  const [, hours, minutes, seconds, fraction, sign, offsetHours, offsetMinutes] = parts;
  if (Number(hours) > 23 || Number(minutes) > 59 || Number(seconds) > 59) return undefined;
  if (Number(offsetHours ?? 0) > 23 || Number(offsetMinutes ?? 0) > 59) return undefined;
  const local = Number(hours) * 3600 + Number(minutes) * 60 + Number(seconds) + Number(fraction ?? 0);
  const offset = (Number(offsetHours ?? 0) * 60 + Number(offsetMinutes ?? 0)) * 60 * (sign === "-" ? -1 : 1);
  return (((local - offset) % 86_400) + 86_400) % 86_400;
}

function compilePeriod(period: SnapshotPricePeriod): Period {
  const [start, end] = period.timeOfDay ?? [];
  const startSeconds = start === undefined ? undefined : parseTimeOfDay(start);
  const endSeconds = end === undefined ? undefined : parseTimeOfDay(end);
  return {
    startMs: period.startDate === undefined ? undefined : Date.parse(period.startDate),
    timeOfDaySeconds: startSeconds === undefined || endSeconds === undefined ? undefined : [startSeconds, endSeconds],
    rates: compileRates(period.rates),
  };
}

function compileModel(model: SnapshotModel, source: "snapshot" | "override"): CompiledModel {
  const prices = model.prices;
  let entry: PriceEntry | undefined;
  if (prices !== null) {
    entry = isPeriodList(prices)
      ? { model: model.id, source, rates: undefined, periods: prices.map(compilePeriod) }
      : { model: model.id, source, rates: compileRates(prices), periods: undefined };
  }
  return { matches: compileMatch(model.match), entry };
}

function isPeriodList(
  prices: SnapshotRates | readonly SnapshotPricePeriod[],
): prices is readonly SnapshotPricePeriod[] {
  return Array.isArray(prices);
}

export function compileCatalog(providers: readonly SnapshotProvider[], source: "snapshot" | "override"): Catalog {
  const compiled = providers.map((provider): CompiledProvider => ({
    id: provider.id.toLowerCase(),
    models: provider.models.map((model) => compileModel(model, source)),
    fallbackIds: (provider.fallbacks ?? []).map((id) => id.toLowerCase()),
    matchesModel: provider.modelMatch ? compileMatch(provider.modelMatch) : undefined,
    matchesProvider: provider.providerMatch ? compileMatch(provider.providerMatch) : undefined,
  }));
  const byId = new Map<string, CompiledProvider>();
  for (const provider of compiled) if (!byId.has(provider.id)) byId.set(provider.id, provider);
  return { providers: compiled, byId };
}

// Compiled once per process and never changed: constant data, not shared mutable state.
let bundledCatalog: Catalog | undefined;
export function getBundledCatalog(): Catalog {
  bundledCatalog ??= compileCatalog(PRICE_SNAPSHOT.providers, "snapshot");
  return bundledCatalog;
}
