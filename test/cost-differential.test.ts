// Dev-only differential test: every model in the bundled price snapshot, priced by our calculator and by
// genai-prices' own calcPrice (the pinned devDependency the snapshot was generated from), over seeded random
// usage and request times. Both must agree to 1e-12 USD and on which model entry priced the call.
import { describe, expect, it } from "vitest";
import { calcPrice, findProvider } from "@pydantic/genai-prices";
import { createPricer, type Pricer } from "../src/metrics/cost.js";
import {
  PRICE_SNAPSHOT,
  type SnapshotModel,
  type SnapshotPricePeriod,
  type SnapshotRate,
  type SnapshotRates,
} from "../src/metrics/price-snapshot.js";
import { prng } from "./helpers/random.js";

const toleranceUsd = 1e-12;

/** A concrete name for a regex of the simple shapes the data uses (`^gpt-6-sol-\d{4}-\d{2}-\d{2}$`). */
function sampleForRegex(source: string): string | undefined {
  const sample = source
    .replace(/^\^/, "")
    .replace(/\$$/, "")
    .replace(/\\d\{(\d+)\}/g, (_whole, length: string) =>
      "20250101".padEnd(Number(length), "1").slice(0, Number(length)),
    )
    .replace(/\\(.)/g, "$1");
  return new RegExp(source).test(sample) ? sample : undefined;
}

function namesFor(model: SnapshotModel): string[] {
  const { equals = [], startsWith = [], endsWith = [], contains = [], regex = [] } = model.match;
  const names = [
    model.id,
    ...equals,
    ...startsWith,
    ...startsWith.map((prefix) => `${prefix}-x`),
    ...endsWith,
    ...contains,
  ];
  for (const source of regex) {
    const sample = sampleForRegex(source);
    if (sample) names.push(sample);
  }
  return [...new Set(names)];
}

function isPeriodList(prices: NonNullable<SnapshotModel["prices"]>): prices is readonly SnapshotPricePeriod[] {
  return Array.isArray(prices);
}

function tierStarts(prices: SnapshotModel["prices"]): number[] {
  const periods: SnapshotRates[] =
    prices === null ? [] : isPeriodList(prices) ? prices.map((period) => period.rates) : [prices];
  const starts = new Set<number>();
  for (const rates of periods) {
    for (const rate of Object.values(rates) as SnapshotRate[]) {
      if (typeof rate === "object") for (const [start] of rate.tiers) starts.add(start);
    }
  }
  return [...starts];
}

function periodInstantsMs(prices: SnapshotModel["prices"]): number[] {
  if (prices === null || !Array.isArray(prices)) return [];
  const instants: number[] = [];
  for (const period of prices as readonly { startDate?: string; timeOfDay?: readonly [string, string] }[]) {
    if (period.startDate) instants.push(Date.parse(period.startDate) - 1, Date.parse(period.startDate));
    if (period.timeOfDay) {
      for (const time of period.timeOfDay) {
        const at = Date.parse(`2026-01-15T${time}`);
        instants.push(at - 1, at);
      }
    }
  }
  return instants;
}

interface Sample {
  inputTokens: number;
  cacheReadInputTokens: number;
  cacheWriteInputTokens: number;
  cacheWrite1hInputTokens: number;
  outputTokens: number;
  reasoningOutputTokens: number;
  timestampMs: number;
}

function samplesFor(model: SnapshotModel, random: () => number): Sample[] {
  const int = (max: number) => Math.floor(random() * (max + 1));
  const timeFrom = Date.parse("2024-01-01T00:00:00Z");
  const timeTo = Date.parse("2027-12-31T00:00:00Z");
  const totals = [
    int(5_000),
    int(50_000),
    int(150_000),
    int(300_000),
    int(400_000),
    ...tierStarts(model.prices).flatMap((start) => [start, start + 1]),
  ];
  const instants = periodInstantsMs(model.prices);
  return totals.map((inputTokens, index) => {
    const cacheReadInputTokens = int(inputTokens);
    const cacheWriteInputTokens = int(inputTokens - cacheReadInputTokens);
    const outputTokens = int(60_000);
    return {
      inputTokens,
      cacheReadInputTokens,
      cacheWriteInputTokens,
      cacheWrite1hInputTokens: random() < 0.5 ? 0 : int(cacheWriteInputTokens),
      outputTokens,
      reasoningOutputTokens: int(outputTokens),
      timestampMs:
        instants[index % Math.max(1, instants.length)] ?? Math.floor(timeFrom + random() * (timeTo - timeFrom)),
    };
  });
}

interface Mismatch {
  provider: string;
  name: string;
  sample: Sample;
  ours: { model?: string; totalUsd?: number; inputUsd?: number; outputUsd?: number };
  theirs: { model?: string; totalUsd?: number; inputUsd?: number; outputUsd?: number } | string;
}

/** genai-prices' answer, typed with `undefined` too: another library's value, checked rather than trusted. */
function theirPrice(...args: Parameters<typeof calcPrice>): ReturnType<typeof calcPrice> | undefined {
  return calcPrice(...args);
}

function compareAll(pricer: Pricer, seed: number): { compared: number; mismatches: Mismatch[] } {
  const random = prng(seed);
  const mismatches: Mismatch[] = [];
  let compared = 0;
  for (const provider of PRICE_SNAPSHOT.providers) {
    const unpricedIds = new Set(provider.models.filter((model) => model.prices === null).map((model) => model.id));
    for (const model of provider.models) {
      for (const name of namesFor(model)) {
        for (const sample of samplesFor(model, random)) {
          const usage = {
            input_tokens: sample.inputTokens,
            cache_read_tokens: sample.cacheReadInputTokens,
            cache_write_tokens: sample.cacheWriteInputTokens,
            cache_write_1h_tokens: sample.cacheWrite1hInputTokens,
            output_tokens: sample.outputTokens,
            output_reasoning_tokens: sample.reasoningOutputTokens,
          };
          let theirs: ReturnType<typeof theirPrice>;
          try {
            theirs = theirPrice(usage, name, { providerId: provider.id, timestamp: new Date(sample.timestampMs) });
          } catch (error) {
            mismatches.push({ provider: provider.id, name, sample, ours: {}, theirs: `threw ${String(error)}` });
            continue;
          }
          const { timestampMs, ...tokenCounts } = sample;
          const ours = pricer({ providerName: provider.id, responseModel: name, usage: tokenCounts, timestampMs });
          // Unpriced by us (priced upstream only in units Usage does not carry) must be unpriced, not $0.
          if (theirs && unpricedIds.has(theirs.model.id) && ours === undefined) continue;
          // A model id its own rules do not match (e.g. "ft:gpt-4o"): upstream knows no price, so there is
          // nothing to compare; what our name rewrites make of it is covered by cost.test.ts.
          if (theirs === null) continue;
          compared++;
          const theirInput = theirs?.input_price;
          const ourInput = ours && ours.inputUsd + ours.cachedInputUsd + ours.cacheWriteUsd;
          const agrees =
            theirs !== undefined &&
            ours !== undefined &&
            ours.model === theirs.model.id &&
            Math.abs(ours.totalUsd - theirs.total_price) <= toleranceUsd &&
            Math.abs((ourInput ?? 0) - (theirInput ?? 0)) <= toleranceUsd &&
            Math.abs(ours.outputUsd - theirs.output_price) <= toleranceUsd;
          if (!agrees) {
            mismatches.push({
              provider: provider.id,
              name,
              sample,
              ours: { model: ours?.model, totalUsd: ours?.totalUsd, inputUsd: ourInput, outputUsd: ours?.outputUsd },
              theirs: theirs
                ? {
                    model: theirs.model.id,
                    totalUsd: theirs.total_price,
                    inputUsd: theirInput,
                    outputUsd: theirs.output_price,
                  }
                : "null",
            });
          }
        }
      }
    }
  }
  return { compared, mismatches };
}

describe("price snapshot against genai-prices", () => {
  it("prices every snapshot model exactly as genai-prices' calcPrice does", () => {
    const { compared, mismatches } = compareAll(createPricer(), 20_261_127);
    expect(compared).toBeGreaterThan(4_000);
    expect(mismatches.slice(0, 5)).toEqual([]);
    expect(mismatches.length).toBe(0);
  });

  it("prices the same when the genai-prices data is supplied as `data` instead of the snapshot", () => {
    const data = PRICE_SNAPSHOT.providers.map((provider) => findProvider({ providerId: provider.id }));
    const pricer = createPricer({ data });
    const { compared, mismatches } = compareAll(pricer, 42);
    expect(compared).toBeGreaterThan(4_000);
    expect(mismatches.slice(0, 5)).toEqual([]);
    expect(mismatches.length).toBe(0);
    expect(pricer({ providerName: "openai", responseModel: "gpt-4o", usage: {}, timestampMs: 0 })?.source).toBe(
      "override",
    );
  });
});
