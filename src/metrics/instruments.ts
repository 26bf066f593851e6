import type { Counter, Histogram, Meter } from "@opentelemetry/api";
import {
  DURATION_BUCKETS_SECONDS,
  METRIC_GEN_AI_CLIENT_OPERATION_DURATION,
  METRIC_GEN_AI_CLIENT_TIME_PER_OUTPUT_CHUNK,
  METRIC_GEN_AI_CLIENT_TIME_TO_FIRST_CHUNK,
  METRIC_TOKENTRACE_CLIENT_CALLS,
  METRIC_GEN_AI_CLIENT_TOKEN_USAGE,
  METRIC_TOKENTRACE_CLIENT_COST,
  TOKEN_USAGE_BUCKETS,
  UNIT_CALL,
  UNIT_SECONDS,
  UNIT_TOKEN,
  UNIT_USD,
} from "../semconv.js";

/** The metric instruments of one meter. Created once per meter, never per call. */
export interface Instruments {
  tokenUsage: Histogram;
  operationDuration: Histogram;
  timeToFirstChunk: Histogram;
  timePerOutputChunk: Histogram;
  calls: Counter;
  cost: Counter;
}

const byMeter = new WeakMap<Meter, Instruments>();

export function instrumentsFor(meter: Meter): Instruments {
  let instruments = byMeter.get(meter);
  if (instruments === undefined) {
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
      calls: meter.createCounter(METRIC_TOKENTRACE_CLIENT_CALLS, {
        description: "GenAI client calls, by how they ended (tokentrace.call.outcome).",
        unit: UNIT_CALL,
      }),
      cost: meter.createCounter(METRIC_TOKENTRACE_CLIENT_COST, {
        description: "Cost of GenAI client calls in USD, from tokentrace's offline price data.",
        unit: UNIT_USD,
      }),
    };
    byMeter.set(meter, instruments);
  }
  return instruments;
}
