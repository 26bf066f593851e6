#!/usr/bin/env node
// Writes src/metrics/price-snapshot.ts: a slim, dated copy of the token prices of the providers tokentrace
// traces, taken from the pinned devDependency @pydantic/genai-prices. The SDK never loads that package (it is
// ~800 KB and mostly providers we do not trace); it reads only this snapshot. Run with `npm run gen:prices`
// after bumping the devDependency, then run test/cost-differential.test.ts, which checks every model in the
// snapshot against the package's own calcPrice.
//
// What is kept, per model: the id, the match rules (flattened to lists of literals and regexes), and the
// per-million-token rates our Usage can price (input, output, cache read, cache write, 1-hour cache write),
// tiers and start-date / time-of-day periods included. What is dropped: names, descriptions, extractors, and
// prices of units our Usage does not carry (web searches, audio/image tokens, audio hours, pages).

import { createRequire } from "node:module";
import { readFileSync, writeFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { findProvider } from "@pydantic/genai-prices";

const require = createRequire(import.meta.url);
const packageDir = dirname(dirname(require.resolve("@pydantic/genai-prices")));
const sourcePackage = JSON.parse(readFileSync(join(packageDir, "package.json"), "utf8"));
const licenseText = readFileSync(join(packageDir, "LICENSE"), "utf8").trim();
const outputPath = join(dirname(fileURLToPath(import.meta.url)), "..", "src", "metrics", "price-snapshot.ts");

/**
 * Upstream providers to keep, in upstream order (the order decides which provider claims a model name when
 * none is given). `keepModel` trims a provider to the models tokentrace can see: on Bedrock, the Anthropic
 * SDK's Bedrock client (Claude) and the OpenAI-compatible endpoint (OpenAI models). moonshotai, deepseek and
 * x-ai are Azure fallbacks upstream, so Azure lookups need them.
 */
const keptProviders = new Map([
  ["anthropic", {}],
  ["aws", { keepModel: (model) => /(?:^|\.)(?:anthropic|openai)\./.test(model.id) }],
  ["azure", {}],
  ["deepseek", {}],
  ["groq", {}],
  ["mistral", {}],
  ["moonshotai", {}],
  ["openai", {}],
  ["x-ai", {}],
]);

/** Upstream price keys → snapshot rate names. All are USD per million tokens. */
const tokenPriceKeys = {
  input_mtok: "input",
  output_mtok: "output",
  cache_read_mtok: "cacheRead",
  cache_write_mtok: "cacheWrite",
  cache_write_1h_mtok: "cacheWrite1h",
};
/** Upstream price keys for units tokentrace's Usage does not carry; dropped (listed in the file header). */
const droppedPriceKeys = new Set([
  "web_searches_kcount",
  "storage_searches_kcount",
  "input_text_messages_kcount",
  "input_audio_mtok",
  "cache_audio_read_mtok",
  "output_audio_mtok",
  "input_image_mtok",
  "cache_image_read_mtok",
  "output_image_mtok",
  "audio_hours",
  "input_audio_hours",
  "input_document_kpages",
  "input_annotated_document_kpages",
]);

/** Flattens an upstream match tree into one OR of literal lists and regexes; literals lower-cased (upstream compares lower-cased). */
function flattenMatch(rule, out = {}) {
  const push = (key, value) => (out[key] ??= []).push(value);
  if ("or" in rule) for (const child of rule.or) flattenMatch(child, out);
  else if ("equals" in rule) push("equals", rule.equals.toLowerCase());
  else if ("starts_with" in rule) push("startsWith", rule.starts_with.toLowerCase());
  else if ("ends_with" in rule) push("endsWith", rule.ends_with.toLowerCase());
  else if ("contains" in rule) push("contains", rule.contains.toLowerCase());
  else if ("regex" in rule) push("regex", rule.regex);
  else throw new Error(`unsupported match rule ${JSON.stringify(rule)}: extend gen-prices.mjs and pricing/ together`);
  return out;
}

function convertRate(value, where) {
  if (typeof value === "number") return value;
  if (value && typeof value === "object" && typeof value.base === "number" && Array.isArray(value.tiers)) {
    const tiers = [...value.tiers].sort((a, b) => a.start - b.start).map((tier) => [tier.start, tier.price]);
    return { base: value.base, tiers };
  }
  throw new Error(`${where}: unsupported price value ${JSON.stringify(value)}`);
}

/** Returns the kept rates, or null when the price set charges only for units Usage does not carry. */
function convertRates(prices, where, dropped) {
  const rates = {};
  let hasDropped = false;
  for (const [key, value] of Object.entries(prices)) {
    if (value === undefined) continue;
    const name = tokenPriceKeys[key];
    if (name) rates[name] = convertRate(value, `${where}.${key}`);
    else if (droppedPriceKeys.has(key)) {
      hasDropped = true;
      dropped.add(key);
    } else throw new Error(`${where}: unknown price key ${key}; decide whether Usage can price it`);
  }
  // An empty upstream price set means free (e.g. moderation); one with only dropped units means "priced by
  // something we cannot count", which must come out as unpriced rather than $0.
  return Object.keys(rates).length === 0 && hasDropped ? null : rates;
}

function convertConstraint(constraint, where) {
  if (constraint === undefined) return {};
  if (typeof constraint.start_date === "string" && (constraint.type ?? "start_date") === "start_date") {
    return { startDate: constraint.start_date };
  }
  if (typeof constraint.start_time === "string" && (constraint.type ?? "time_of_date") === "time_of_date") {
    return { timeOfDay: [constraint.start_time, constraint.end_time] };
  }
  throw new Error(`${where}: unsupported price constraint ${JSON.stringify(constraint)}`);
}

function convertPrices(prices, where, dropped) {
  if (!Array.isArray(prices)) return convertRates(prices, where, dropped);
  const periods = prices.map((period, index) => {
    const rates = convertRates(period.prices, `${where}[${index}]`, dropped);
    return { ...convertConstraint(period.constraint, `${where}[${index}]`), rates };
  });
  if (periods.every((period) => period.rates === null)) return null;
  if (periods.some((period) => period.rates === null)) throw new Error(`${where}: some periods priced, some not`);
  return periods;
}

const dropped = new Set();
const providers = [];
for (const [id, { keepModel }] of keptProviders) {
  const upstream = findProvider({ providerId: id });
  if (!upstream || upstream.id !== id) throw new Error(`provider ${id} not found in genai-prices`);
  const provider = { id };
  if (upstream.provider_match) provider.providerMatch = flattenMatch(upstream.provider_match);
  if (upstream.model_match) provider.modelMatch = flattenMatch(upstream.model_match);
  if (upstream.fallback_model_providers?.length) provider.fallbacks = upstream.fallback_model_providers;
  provider.models = upstream.models
    .filter((model) => !keepModel || keepModel(model))
    .map((model) => ({
      id: model.id,
      match: flattenMatch(model.match),
      prices: convertPrices(model.prices, `${id}/${model.id}`, dropped),
    }));
  providers.push(provider);
}

// One model per line keeps diffs of a data bump readable.
const json = (value) => JSON.stringify(value);
function renderProvider(provider) {
  const lines = [`    {`, `      id: ${json(provider.id)},`];
  if (provider.providerMatch) lines.push(`      providerMatch: ${json(provider.providerMatch)},`);
  if (provider.modelMatch) lines.push(`      modelMatch: ${json(provider.modelMatch)},`);
  if (provider.fallbacks) lines.push(`      fallbacks: ${json(provider.fallbacks)},`);
  lines.push(`      models: [`);
  for (const model of provider.models) lines.push(`        ${json(model)},`);
  lines.push(`      ],`, `    },`);
  return lines.join("\n");
}
const body = `  providers: [\n${providers.map(renderProvider).join("\n")}\n  ],`;

function wrapComment(text, width = 110) {
  const lines = [];
  let line = "//";
  for (const word of text.split(" ")) {
    if (line.length + 1 + word.length > width) {
      lines.push(line);
      line = "//";
    }
    line += ` ${word}`;
  }
  return [...lines, line].join("\n");
}

// Keep the old date when the data did not change, so a re-run is not a diff.
let generatedDate = new Date().toISOString().slice(0, 10);
if (existsSync(outputPath)) {
  const previous = readFileSync(outputPath, "utf8");
  const previousDate = /generatedDate: "(\d{4}-\d{2}-\d{2})"/.exec(previous)?.[1];
  const previousVersion = /sourceVersion: "([^"]+)"/.exec(previous)?.[1];
  if (previousDate && previousVersion === sourcePackage.version && previous.includes(body))
    generatedDate = previousDate;
}

const header = `// GENERATED by scripts/gen-prices.mjs from ${sourcePackage.name} ${sourcePackage.version} on ${generatedDate}.
// Do not edit by hand: bump the devDependency and run \`npm run gen:prices\`.
//
// Rates are USD per million tokens. Dropped upstream price keys (units tokentrace's Usage does not carry):
${wrapComment([...dropped].sort().join(", ") + ".")}
// A model whose prices are \`null\` is priced upstream only in such units, so tokentrace reports it unpriced.
//
// The price data is from genai-prices (https://github.com/pydantic/genai-prices), under this licence:
//
${licenseText
  .split("\n")
  .map((line) => (line ? `// ${line}` : "//"))
  .join("\n")}

/** Match rules of a model or provider: the name (lower-cased) matches when ANY listed rule does. */
export interface SnapshotMatch {
  readonly equals?: readonly string[];
  readonly startsWith?: readonly string[];
  readonly endsWith?: readonly string[];
  readonly contains?: readonly string[];
  /** Regular-expression sources, tested case-sensitively against the lower-cased name (as upstream does). */
  readonly regex?: readonly string[];
}

/**
 * A rate in USD per million tokens: flat, or tiered by the request's TOTAL input tokens (cache included), the
 * whole request at the rate of the last tier whose start the count is strictly greater than.
 */
export type SnapshotRate =
  | number
  | { readonly base: number; readonly tiers: readonly (readonly [startInputTokens: number, perMillionUsd: number])[] };

/** The rates of one model (or one period of it). A missing rate falls back as upstream does (see pricing/arithmetic.ts). */
export interface SnapshotRates {
  readonly input?: SnapshotRate;
  readonly output?: SnapshotRate;
  readonly cacheRead?: SnapshotRate;
  readonly cacheWrite?: SnapshotRate;
  readonly cacheWrite1h?: SnapshotRate;
}

/**
 * One period of a model whose price changed or depends on the time of day. Periods are tried last to first;
 * the first whose constraint holds at the request time wins, else the first period.
 */
export interface SnapshotPricePeriod {
  /** ISO date (UTC midnight) from which this period applies. */
  readonly startDate?: string;
  /** [start, end) time of day with zone, e.g. ["16:30:00Z", "00:30:00Z"]; wraps past midnight when end < start. */
  readonly timeOfDay?: readonly [start: string, end: string];
  readonly rates: SnapshotRates;
}

export interface SnapshotModel {
  readonly id: string;
  readonly match: SnapshotMatch;
  /** \`null\`: priced only in units tokentrace does not count (audio hours, pages): reported as unpriced. */
  readonly prices: SnapshotRates | readonly SnapshotPricePeriod[] | null;
}

export interface SnapshotProvider {
  /** genai-prices provider id. */
  readonly id: string;
  /** Matches a provider name given by the caller (e.g. \`xai\` for x-ai). */
  readonly providerMatch?: SnapshotMatch;
  /** Claims a model name when no provider is known. */
  readonly modelMatch?: SnapshotMatch;
  /** Providers whose models this one also serves, tried in order after its own (one level deep). */
  readonly fallbacks?: readonly string[];
  /** In upstream order: the FIRST model whose rules match a name prices it. */
  readonly models: readonly SnapshotModel[];
}

export interface PriceSnapshot {
  readonly sourcePackage: string;
  readonly sourceVersion: string;
  /** UTC date the snapshot was generated (kept when a re-run finds the same data). */
  readonly generatedDate: string;
  readonly providers: readonly SnapshotProvider[];
}

export const PRICE_SNAPSHOT: PriceSnapshot = {
  sourcePackage: ${json(sourcePackage.name)},
  sourceVersion: ${json(sourcePackage.version)},
  generatedDate: ${json(generatedDate)},
`;

writeFileSync(outputPath, `${header}${body}\n};\n`);
const modelCount = providers.reduce((sum, provider) => sum + provider.models.length, 0);
const sizeKb = (Buffer.byteLength(readFileSync(outputPath)) / 1024).toFixed(1);
process.stdout.write(`wrote ${outputPath}: ${providers.length} providers, ${modelCount} models, ${sizeKb} KB\n`);
