import type { Attributes, Histogram, Meter, ObservableResult } from "@opentelemetry/api";
import {
  DURATION_BUCKETS_SECONDS,
  METRIC_GEN_AI_CLIENT_OPERATION_DURATION,
  METRIC_GEN_AI_CLIENT_TIME_PER_OUTPUT_CHUNK,
  METRIC_GEN_AI_CLIENT_TIME_TO_FIRST_CHUNK,
  METRIC_GEN_AI_CLIENT_TOKEN_USAGE,
  METRIC_TOKENTRACE_CLIENT_CALLS,
  METRIC_TOKENTRACE_CLIENT_COST,
  METRIC_TOKENTRACE_CLIENT_TOKEN_CACHE_READ,
  TOKEN_USAGE_BUCKETS,
  UNIT_CALL,
  UNIT_SECONDS,
  UNIT_TOKEN,
  UNIT_USD,
} from "../semconv.js";

/**
 * The metric instruments of one meter. Created once per meter, never per call.
 *
 * Counters are kept as running totals here and reported through observable counters when a reader
 * collects: a synchronous `add()` costs the OpenTelemetry SDK an attribute hash per call, an addition to a
 * total the caller holds costs nothing, and a monotonic total observed at collection is exactly what a
 * counter reports.
 */
export interface Instruments {
  tokenUsage: Histogram;
  operationDuration: Histogram;
  timeToFirstChunk: Histogram;
  timePerOutputChunk: Histogram;
  /** `tokentrace.client.calls`: one per call, by how it ended. */
  calls: RunningTotals;
  /** `tokentrace.client.cost`: USD spent. */
  cost: RunningTotals;
  /** `tokentrace.client.token.cache_read`: input tokens read from the prompt cache. */
  cacheRead: RunningTotals;
}

/** One attribute set's running total: add to `value`, the observable counter reports it. */
export interface Total {
  readonly attributes: Attributes;
  value: number;
}

/** Totals are per attribute set, and attribute sets are low-cardinality; the cap guards against misuse. */
const maxAttributeSets = 2_000;

export class RunningTotals {
  private readonly totals = new Map<string, Total>();

  /**
   * The total for `attributes`, which `key` identifies (same key, same attributes): the same object for
   * the same key, so callers look it up once per attribute set and keep it. Past the cap, a total that is
   * never reported.
   */
  totalFor(key: string, attributes: Attributes): Total {
    let total = this.totals.get(key);
    if (total === undefined) {
      total = { attributes, value: 0 };
      if (this.totals.size < maxAttributeSets) this.totals.set(key, total);
    }
    return total;
  }

  report = (result: ObservableResult): void => {
    for (const total of this.totals.values()) result.observe(total.value, total.attributes);
  };
}

const byMeter = new WeakMap<Meter, Instruments>();

export function instrumentsFor(meter: Meter): Instruments {
  let instruments = byMeter.get(meter);
  if (instruments === undefined) {
    const calls = new RunningTotals();
    const cost = new RunningTotals();
    const cacheRead = new RunningTotals();
    meter
      .createObservableCounter(METRIC_TOKENTRACE_CLIENT_CALLS, {
        description: "GenAI client calls, by how they ended (tokentrace.call.outcome).",
        unit: UNIT_CALL,
      })
      .addCallback(calls.report);
    meter
      .createObservableCounter(METRIC_TOKENTRACE_CLIENT_COST, {
        description: "Cost of GenAI client calls in USD, from tokentrace's offline price data.",
        unit: UNIT_USD,
      })
      .addCallback(cost.report);
    meter
      .createObservableCounter(METRIC_TOKENTRACE_CLIENT_TOKEN_CACHE_READ, {
        description: "Input tokens read from the provider's prompt cache (a part of the input token usage).",
        unit: UNIT_TOKEN,
      })
      .addCallback(cacheRead.report);
    instruments = {
      tokenUsage: meter.createHistogram(METRIC_GEN_AI_CLIENT_TOKEN_USAGE, {
        description: "Number of input and output tokens used per call.",
        unit: UNIT_TOKEN,
        advice: { explicitBucketBoundaries: [...TOKEN_USAGE_BUCKETS] },
      }),
      operationDuration: meter.createHistogram(METRIC_GEN_AI_CLIENT_OPERATION_DURATION, {
        description: "Duration of a GenAI client operation.",
        unit: UNIT_SECONDS,
        advice: { explicitBucketBoundaries: [...DURATION_BUCKETS_SECONDS] },
      }),
      timeToFirstChunk: meter.createHistogram(METRIC_GEN_AI_CLIENT_TIME_TO_FIRST_CHUNK, {
        description: "Time from issuing a streamed request to receiving its first chunk.",
        unit: UNIT_SECONDS,
        advice: { explicitBucketBoundaries: [...DURATION_BUCKETS_SECONDS] },
      }),
      timePerOutputChunk: meter.createHistogram(METRIC_GEN_AI_CLIENT_TIME_PER_OUTPUT_CHUNK, {
        description: "Time between consecutive chunks of a streamed response, for each chunk after the first.",
        unit: UNIT_SECONDS,
        advice: { explicitBucketBoundaries: [...DURATION_BUCKETS_SECONDS] },
      }),
      calls,
      cost,
      cacheRead,
    };
    byMeter.set(meter, instruments);
  }
  return instruments;
}
