/**
 * Prices one call in USD, offline, from the bundled price snapshot (src/metrics/price-snapshot.ts, generated
 * from genai-prices) or from the user's overrides. Everything that can be worked out ahead of a call is
 * worked out in `createPricer`; the per-call path is a cache hit plus a few multiplications.
 *
 * Token semantics (see src/usage.ts): `inputTokens` is the TOTAL input, cache reads and cache writes
 * included; `outputTokens` includes reasoning. Uncached input = total − cache read − cache write.
 */
import type { Usage } from "../usage.js";
import { InvalidOptionError } from "../errors.js";
import {
  PRICE_SNAPSHOT,
  type SnapshotMatch,
  type SnapshotModel,
  type SnapshotPricePeriod,
  type SnapshotProvider,
  type SnapshotRate,
  type SnapshotRates,
} from "./price-snapshot.js";

/** Prices of one model, in USD per million tokens. */
export interface ModelPrice {
  /**
   * Uncached input tokens. Required.
   * @example 2.5
   */
  inputPerMillionUsd: number;
  /**
   * Output tokens, reasoning tokens included. Required.
   * @example 10
   */
  outputPerMillionUsd: number;
  /**
   * Input tokens read from the prompt cache. Default: `inputPerMillionUsd` (no cache discount). Set it for
   * any model with prompt caching, or cached tokens are charged at the full input rate.
   * @example 1.25
   */
  cacheReadPerMillionUsd?: number;
  /**
   * Input tokens written to the prompt cache (Anthropic's 5-minute TTL, and every TTL when no 1-hour rate is
   * given). Default: `inputPerMillionUsd` (OpenAI charges nothing extra for cache writes). Set it for models
   * that charge a cache-write premium, as Anthropic does (1.25× input).
   * @example 3.75
   */
  cacheWritePerMillionUsd?: number;
  /**
   * Input tokens written to the cache with a 1-hour TTL (`usage.cacheWrite1hInputTokens`). Default:
   * `cacheWritePerMillionUsd`. Set it for Anthropic models, where a 1-hour write costs 2× input.
   * @example 6
   */
  cacheWrite1hPerMillionUsd?: number;
}

/** Pricing options of `observe()` and `setup()`. Each pricer has its own; nothing here is global. */
export interface PricingOptions {
  /**
   * Prices for model names, matched case-insensitively against the response model and then the request
   * model, before anything else. Default: none. Use it for fine-tuned models, private deployments or
   * negotiated rates. Service-tier multipliers (flex and batch at half, OpenAI priority) and `discount`
   * still apply on top.
   * @example { "my-ft-model": { inputPerMillionUsd: 3, outputPerMillionUsd: 12 } }
   */
  models?: Record<string, ModelPrice>;
  /**
   * Model names to price as another model: a key of `models` or any model the price data knows. Matched like
   * `models`, and like them they win over the price data. Default: none. Use it for Azure deployment names
   * and gateway aliases that hide the real model.
   * @example { "my-azure-deployment": "gpt-4o" }
   */
  aliases?: Record<string, string>;
  /**
   * Multiplier applied to every price, snapshot and override alike: 0.8 means 20% off. Default: 1. Use it
   * for an enterprise discount that applies to the whole bill.
   * @example 0.8
   */
  discount?: number;
  /**
   * A genai-prices data file (its parsed JSON: an array of providers) that replaces the bundled snapshot.
   * Default: the bundled snapshot. Use it to pick up prices newer than your tokentrace version without
   * fetching anything at run time; calls it prices report `source: "override"`.
   * @example JSON.parse(readFileSync("genai-prices-data.json", "utf8"))
   */
  data?: unknown;
  /**
   * Called for every call that `models` and `aliases` do not price, before the price data; return a price to
   * use it (`source: "override"`), or `undefined` to fall through. Default: none. Use it for rules the tables
   * cannot express (per-region rates, time-of-day contracts). It runs on every such call, so keep it cheap;
   * if it throws or returns an invalid price, the call is priced as if it had returned `undefined`.
   * @example (call) => (call.requestModel?.startsWith("eu-") ? { inputPerMillionUsd: 2.75, outputPerMillionUsd: 11 } : undefined)
   */
  resolvePrice?: (query: PriceQuery) => ModelPrice | undefined;
}

/** What the pricer needs to know about one call. */
export interface PriceQuery {
  /** The call's `gen_ai.provider.name`: "openai" | "anthropic" | "azure.ai.openai" | "aws.bedrock" | "gcp.vertex_ai" | ... */
  providerName: string;
  /** The model the request asked for (on Azure, the deployment name). */
  requestModel?: string;
  /** The model the response reports: tried first, as it names the snapshot that actually ran. */
  responseModel?: string;
  usage: Usage;
  /** The service tier the RESPONSE reports (OpenAI `service_tier`, Anthropic `usage.service_tier`). */
  serviceTier?: string;
  /** When the request was sent (ms since the epoch): picks date- and time-dependent prices. */
  timestampMs: number;
}

/** The price of one call, in USD. The parts add up to `totalUsd`. */
export interface CostBreakdown {
  totalUsd: number;
  /** Uncached input tokens. */
  inputUsd: number;
  /** Input tokens read from the prompt cache. */
  cachedInputUsd: number;
  /** Input tokens written to the prompt cache, all TTLs. */
  cacheWriteUsd: number;
  /** Output tokens, reasoning included. */
  outputUsd: number;
  /** `override` when the user's `models`, `aliases`, `resolvePrice` or `data` priced the call. */
  source: "snapshot" | "override";
  /** Generation date of the bundled snapshot (YYYY-MM-DD). */
  snapshotDate: string;
  /** The price entry that matched: a snapshot model id, a `models` key, or the model name given to `resolvePrice`. */
  model: string;
  /** True when cache tokens exceeded the total input, so uncached input was clamped to 0. */
  inputClamped?: boolean;
}

/** Prices one call; `undefined` when the model is unknown (report it unpriced, never as $0). Never throws. */
export type Pricer = (query: PriceQuery) => CostBreakdown | undefined;

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
const serviceTierMultipliers = {
  flex: 0.5,
  batch: 0.5,
  openAiPriorityDefault: 2,
  openAiPriorityByModel: new Map<string, number>([
    ["gpt-5.5", 2.5],
    ["gpt-5-mini", 1.8],
    ["gpt-4.1", 1.75],
    ["gpt-4.1-mini", 1.75],
    ["gpt-4o-2024-05-13", 1.75],
    ["o3", 1.75],
    ["gpt-4o", 1.7],
    ["gpt-4o-mini", 0.25 / 0.15],
    ["o4-mini", 2 / 1.1],
  ]),
} as const;

const openAiHosts: ReadonlySet<string> = new Set(["openai", "azure.ai.openai"]);

function serviceTierMultiplier(providerName: string, serviceTier: string | undefined, modelId: string): number {
  if (serviceTier === undefined) return 1;
  const tier = serviceTier.toLowerCase();
  if (tier === "flex") return serviceTierMultipliers.flex;
  if (tier === "batch") return serviceTierMultipliers.batch;
  if (tier === "priority" && openAiHosts.has(providerName.toLowerCase())) {
    return serviceTierMultipliers.openAiPriorityByModel.get(modelId) ?? serviceTierMultipliers.openAiPriorityDefault;
  }
  return 1;
}

// ---------------------------------------------------------------------------------------------------------
// Provider names: gen_ai.provider.name values (OpenTelemetry GenAI conventions) → price-data provider ids.
// Names not listed are looked up as a price-data id, then by the providers' own name rules.
const providerIdsBySemconvName: ReadonlyMap<string, string> = new Map([
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
interface Rates {
  readonly input: SnapshotRate | undefined;
  readonly output: SnapshotRate | undefined;
  readonly cacheRead: SnapshotRate | undefined;
  readonly cacheWrite: SnapshotRate | undefined;
  readonly cacheWrite1h: SnapshotRate | undefined;
}

interface Period {
  readonly startMs: number | undefined;
  /** Seconds after UTC midnight: [start, end). */
  readonly timeOfDaySeconds: readonly [number, number] | undefined;
  readonly rates: Rates;
}

/** A resolved price entry: flat rates, or periods to choose from by request time. */
interface PriceEntry {
  readonly model: string;
  readonly source: "snapshot" | "override";
  readonly rates: Rates | undefined;
  readonly periods: readonly Period[] | undefined;
}

interface CompiledModel {
  readonly matches: Matcher;
  /** Undefined when the model is priced only in units Usage does not carry. */
  readonly entry: PriceEntry | undefined;
}

interface CompiledProvider {
  readonly id: string;
  readonly models: readonly CompiledModel[];
  readonly fallbackIds: readonly string[];
  readonly matchesModel: Matcher | undefined;
  readonly matchesProvider: Matcher | undefined;
}

interface Catalog {
  readonly providers: readonly CompiledProvider[];
  readonly byId: ReadonlyMap<string, CompiledProvider>;
}

const never: Matcher = () => false;

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
function parseTimeOfDay(value: string): number | undefined {
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

function compileCatalog(providers: readonly SnapshotProvider[], source: "snapshot" | "override"): Catalog {
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
function getBundledCatalog(): Catalog {
  bundledCatalog ??= compileCatalog(PRICE_SNAPSHOT.providers, "snapshot");
  return bundledCatalog;
}

// ---------------------------------------------------------------------------------------------------------
// Model lookup.

function findProvider(catalog: Catalog, providerName: string): CompiledProvider | undefined {
  const name = providerName.trim().toLowerCase();
  const mapped = providerIdsBySemconvName.get(name);
  if (mapped !== undefined) return catalog.byId.get(mapped);
  return catalog.byId.get(name) ?? catalog.providers.find((provider) => (provider.matchesProvider ?? never)(name));
}

/** The first matching model of a provider, then of its fallbacks (one level deep, as upstream does). */
function findInProvider(
  catalog: Catalog,
  provider: CompiledProvider,
  name: string,
  withFallbacks = true,
): CompiledModel | undefined {
  const own = provider.models.find((model) => model.matches(name));
  if (own || !withFallbacks) return own;
  for (const id of provider.fallbackIds) {
    const fallback = catalog.byId.get(id);
    const found = fallback && findInProvider(catalog, fallback, name, false);
    if (found) return found;
  }
  return undefined;
}

/** "-20240806" → "-2024-08-06" when it is a real date (the data spells most snapshots with dashes). */
function dashCompactDates(name: string): string {
  return name.replace(
    /-(20\d{2})(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])(?=-|:|$)/g,
    (whole, year: string, month: string, day: string) => {
      const date = new Date(Date.UTC(Number(year), Number(month) - 1, Number(day)));
      return date.getUTCMonth() === Number(month) - 1 ? `-${year}-${month}-${day}` : whole;
    },
  );
}

function findInProviderOrDashed(catalog: Catalog, provider: CompiledProvider, name: string): CompiledModel | undefined {
  const found = findInProvider(catalog, provider, name);
  if (found) return found;
  const dashed = dashCompactDates(name);
  return dashed === name ? undefined : findInProvider(catalog, provider, dashed);
}

// Name forms tried when the name as given matches nothing, each one applied to the forms before it.
const bedrockModelId =
  /^(?:[a-z]{2,7}(?:-[a-z]+)?\.)?(?:anthropic|openai|meta|mistral|amazon|cohere|deepseek|qwen|ai21|writer)\.(.+?)(?:-v\d+(?::\d+)?|-\d+:\d+)?$/;
const nameRewrites: readonly ((name: string) => string | undefined)[] = [
  // Vertex AI: "claude-opus-4@20250514" is "claude-opus-4-20250514"; also try without the version.
  (name) => (name.includes("@") ? name.replace("@", "-") : undefined),
  (name) => (name.includes("@") ? name.slice(0, name.indexOf("@")) : undefined),
  // OpenAI fine-tunes "ft:gpt-4o-mini-2024-07-18:org::id" → the base model (when the data has no ft: price).
  (name) => (name.startsWith("ft:") ? name.split(":")[1] : undefined),
  // Bedrock "us.anthropic.claude-sonnet-4-20250514-v1:0" → "claude-sonnet-4-20250514".
  (name) => bedrockModelId.exec(name)?.[1],
  // A dated snapshot the data does not list yet → its undated model.
  (name) => name.replace(/-(?:\d{4}-\d{2}-\d{2}|\d{8})$/, ""),
];

function nameForms(name: string): string[] {
  const forms = [name];
  for (const rewrite of nameRewrites) {
    for (const form of [...forms]) {
      const rewritten = rewrite(form);
      if (rewritten && !forms.includes(rewritten)) forms.push(rewritten);
    }
  }
  return forms;
}

/**
 * The price-data model for a name, or undefined. Tries the name as given exactly as genai-prices' calcPrice
 * does (first match in the provider, then its fallbacks, then with compact dates dashed), then `provider/`
 * prefixes, Vertex `@`, `ft:`, Bedrock ids and dated snapshots, then any provider whose rules claim the name.
 */
function findModel(
  catalog: Catalog,
  provider: CompiledProvider | undefined,
  rawName: string,
): CompiledModel | undefined {
  const name = rawName.trim().toLowerCase();
  if (name === "") return undefined;
  const attempts: [CompiledProvider | undefined, string][] = [[provider, name]];
  const segments = name.split("/");
  if (segments.length > 1) {
    const base = segments[segments.length - 1] ?? "";
    const prefixProvider = findProvider(catalog, segments[segments.length - 2] ?? "");
    if (prefixProvider && prefixProvider !== provider) attempts.push([prefixProvider, base]);
    attempts.push([provider, base]);
  }
  const tried: [CompiledProvider | undefined, string][] = [];
  for (const [attemptProvider, attemptName] of attempts) {
    for (const form of nameForms(attemptName)) {
      tried.push([attemptProvider, form]);
      const owner = attemptProvider ?? catalog.providers.find((candidate) => (candidate.matchesModel ?? never)(form));
      const found = owner && findInProviderOrDashed(catalog, owner, form);
      if (found) return found;
    }
  }
  // Last resort: a provider whose own rules claim the name (an OpenAI-compatible gateway serving Claude).
  for (const [attemptProvider, form] of tried) {
    for (const candidate of catalog.providers) {
      if (candidate === attemptProvider || !(candidate.matchesModel ?? never)(form)) continue;
      const found = findInProviderOrDashed(catalog, candidate, form);
      if (found) return found;
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------
// Arithmetic.

const tokensPerMillion = 1_000_000;

function rateAt(rate: SnapshotRate | undefined, tierInputTokens: number): number | undefined {
  if (rate === undefined || typeof rate === "number") return rate;
  let perMillionUsd = rate.base;
  for (const [start, tierRate] of rate.tiers) if (tierInputTokens > start) perMillionUsd = tierRate;
  return perMillionUsd;
}

function ratesAt(entry: PriceEntry, timestampMs: number): Rates | undefined {
  if (entry.rates) return entry.rates;
  const periods = entry.periods ?? [];
  // Last to first; the first whose constraint holds wins, else the first period (genai-prices' rule).
  for (let index = periods.length - 1; index >= 0; index--) {
    const period = periods[index];
    if (!period) continue;
    if (period.startMs !== undefined) {
      if (timestampMs >= period.startMs) return period.rates;
    } else if (period.timeOfDaySeconds !== undefined) {
      const [start, end] = period.timeOfDaySeconds;
      const seconds = (((timestampMs % 86_400_000) + 86_400_000) % 86_400_000) / 1000;
      if (end < start ? seconds >= start || seconds < end : seconds >= start && seconds < end) return period.rates;
    } else {
      return period.rates;
    }
  }
  return periods[0]?.rates;
}

function count(value: number | undefined): number {
  return value !== undefined && Number.isFinite(value) && value > 0 ? value : 0;
}

function priceCall(
  entry: PriceEntry,
  query: PriceQuery,
  multiplier: number,
  snapshotDate: string,
): CostBreakdown | undefined {
  const rates = ratesAt(entry, query.timestampMs);
  if (!rates) return undefined;
  const usage = query.usage;
  const totalInput = count(usage.inputTokens);
  const cacheRead = count(usage.cacheReadInputTokens);
  const cacheWrite =
    usage.cacheWriteInputTokens !== undefined
      ? count(usage.cacheWriteInputTokens)
      : count(usage.cacheWrite5mInputTokens) + count(usage.cacheWrite1hInputTokens);
  const cacheWrite1h = Math.min(count(usage.cacheWrite1hInputTokens), cacheWrite);
  const uncachedRaw = totalInput - cacheRead - cacheWrite;
  const inputClamped = uncachedRaw < 0;
  const uncached = inputClamped ? 0 : uncachedRaw;
  // Tiers go by the whole prompt, cache included; if the parts exceed the reported total, trust the parts.
  const tierInputTokens = inputClamped ? cacheRead + cacheWrite : totalInput;

  // A missing rate falls back as genai-prices does: tokens of an unpriced kind are charged as their parent
  // (cache read → input, 1-hour write → cache write → input); no input or output rate means free.
  const inputRate = rateAt(rates.input, tierInputTokens) ?? 0;
  const cacheReadRate = rateAt(rates.cacheRead, tierInputTokens) ?? inputRate;
  const cacheWriteRate = rateAt(rates.cacheWrite, tierInputTokens) ?? inputRate;
  const cacheWrite1hRate = rateAt(rates.cacheWrite1h, tierInputTokens) ?? cacheWriteRate;
  const outputRate = rateAt(rates.output, tierInputTokens) ?? 0;

  const inputUsd = ((uncached * inputRate) / tokensPerMillion) * multiplier;
  const cachedInputUsd = ((cacheRead * cacheReadRate) / tokensPerMillion) * multiplier;
  const cacheWriteUsd =
    (((cacheWrite - cacheWrite1h) * cacheWriteRate) / tokensPerMillion +
      (cacheWrite1h * cacheWrite1hRate) / tokensPerMillion) *
    multiplier;
  const outputUsd = ((count(usage.outputTokens) * outputRate) / tokensPerMillion) * multiplier;
  const breakdown: CostBreakdown = {
    totalUsd: inputUsd + cachedInputUsd + cacheWriteUsd + outputUsd,
    inputUsd,
    cachedInputUsd,
    cacheWriteUsd,
    outputUsd,
    source: entry.source,
    snapshotDate,
    model: entry.model,
  };
  if (inputClamped) breakdown.inputClamped = true;
  return breakdown;
}

function entryFromModelPrice(model: string, price: ModelPrice): PriceEntry {
  return {
    model,
    source: "override",
    periods: undefined,
    rates: {
      input: price.inputPerMillionUsd,
      output: price.outputPerMillionUsd,
      cacheRead: price.cacheReadPerMillionUsd,
      cacheWrite: price.cacheWritePerMillionUsd,
      cacheWrite1h: price.cacheWrite1hPerMillionUsd,
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// Validation.

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

interface ValidatedPricing {
  options: PricingOptions;
  catalog: Catalog;
}

function validate(value: unknown, optionPath: string): ValidatedPricing | undefined {
  if (value === undefined) return undefined;
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
  return validate(value, optionPath)?.options;
}

// ---------------------------------------------------------------------------------------------------------
// The pricer.

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

function isValidModelPrice(value: unknown): value is ModelPrice {
  if (!isPlainObject(value) || !isRate(value.inputPerMillionUsd) || !isRate(value.outputPerMillionUsd)) return false;
  return (["cacheReadPerMillionUsd", "cacheWritePerMillionUsd", "cacheWrite1hPerMillionUsd"] as const).every(
    (field) => value[field] === undefined || isRate(value[field]),
  );
}

/**
 * Builds a pricer for one client or one `setup()`. Validates `options` (throws `InvalidOptionError`), compiles
 * the price data once, and caches each model name's resolution so a repeated lookup is a map hit.
 */
export function createPricer(options?: PricingOptions): Pricer {
  const validated = validate(options ?? {}, "pricing");
  const catalog = validated?.catalog ?? getBundledCatalog();
  const { models = {}, aliases = {}, discount = 1, resolvePrice } = validated?.options ?? {};
  const snapshotDate = PRICE_SNAPSHOT.generatedDate;

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
      const multiplier = serviceTierMultiplier(query.providerName, query.serviceTier, entry.model) * discount;
      return priceCall(entry, query, multiplier, snapshotDate);
    } catch {
      return undefined;
    }
  };
}
