/*
 * Arithmetic: the price of one call from a price entry, its usage, the request time and a multiplier (service
 * tier × discount). Pure functions on compiled data; the per-call path of the pricer.
 */
import type { SnapshotRate } from "../price-snapshot.js";
import type { PriceEntry, Rates, ServiceTierTable } from "./catalogue.js";
import type { CostBreakdown, ModelPrice, PriceQuery } from "./types.js";

/**
 * The multiplier the service tier the response reports puts on standard rates, read from `table` (see
 * SERVICE_TIER_MULTIPLIERS): the first row of the tier that applies to the provider, its model's entry or its
 * own multiplier. 1 for a tier the table does not list.
 */
export function serviceTierMultiplier(
  table: ServiceTierTable,
  providerName: string,
  serviceTier: string | undefined,
  modelId: string,
): number {
  if (serviceTier === undefined) return 1;
  const rules = table.get(serviceTier.toLowerCase());
  if (rules === undefined) return 1;
  const provider = providerName.toLowerCase();
  for (const rule of rules) {
    if (rule.providers === undefined || rule.providers.has(provider))
      return rule.byModel.get(modelId) ?? rule.multiplier;
  }
  return 1;
}

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

export function priceCall(
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

export function entryFromModelPrice(model: string, price: ModelPrice): PriceEntry {
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
