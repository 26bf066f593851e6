import type { Attributes, Histogram, Meter, ObservableResult } from "@opentelemetry/api";
import {
  ATTR_GEN_AI_TOKEN_TYPE,
  ATTR_OTEL_METRIC_OVERFLOW,
  DURATION_BUCKETS_SECONDS,
  METRIC_GEN_AI_CLIENT_OPERATION_DURATION,
  METRIC_GEN_AI_CLIENT_TIME_PER_OUTPUT_CHUNK,
  METRIC_GEN_AI_CLIENT_TIME_TO_FIRST_CHUNK,
  METRIC_GEN_AI_CLIENT_TOKEN_USAGE,
  METRIC_TOKENTRACE_ANOMALIES,
  METRIC_TOKENTRACE_CLIENT_CALLS,
  METRIC_TOKENTRACE_DRIFT_EMBEDDING_COSINE,
  METRIC_TOKENTRACE_DRIFT_EMBEDDING_EUCLIDEAN,
  METRIC_TOKENTRACE_DRIFT_PSI,
  METRIC_TOKENTRACE_SIGNALS_SERIES,
  METRIC_TOKENTRACE_SIGNALS_UNTRACKED,
  ATTR_TOKENTRACE_SIGNALS_STORE,
  METRIC_TOKENTRACE_CLIENT_COST,
  METRIC_TOKENTRACE_CLIENT_FINISH_REASONS,
  METRIC_TOKENTRACE_CLIENT_MODEL_CHANGES,
  METRIC_TOKENTRACE_CLIENT_REFUSALS,
  METRIC_TOKENTRACE_RATELIMIT_LIMIT,
  METRIC_TOKENTRACE_RATELIMIT_REMAINING,
  METRIC_TOKENTRACE_RATELIMIT_RESET,
  METRIC_TOKENTRACE_CLIENT_TOKEN_CACHE_READ,
  TOKEN_TYPE_INPUT,
  TOKEN_TYPE_OUTPUT,
  TOKEN_USAGE_BUCKETS,
  UNIT_ANOMALY,
  UNIT_CALL,
  UNIT_CHANGE,
  UNIT_CHOICE,
  UNIT_DISTANCE,
  UNIT_PSI,
  UNIT_QUOTA,
  UNIT_SERIES,
  UNIT_SECONDS,
  UNIT_TOKEN,
  UNIT_USD,
} from "../semconv.js";
import { FinishReasonCap, ModelWatch, RateLimitStore } from "../signals/call-signals.js";
import type { DriftDetector } from "../signals/drift.js";
import type { AnomalyDetector } from "../signals/anomalies.js";

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
  /** `tokentrace.client.finish_reasons`: choices by finish reason (issue 15). */
  finishReasons: RunningTotals;
  finishReasonCap: FinishReasonCap;
  /** `tokentrace.client.refusals`: calls the provider refused. */
  refusals: RunningTotals;
  /** What `tokentrace.client.model_changes` counts. */
  modelWatch: ModelWatch;
  /** `tokentrace.anomalies`: anomaly flags (opt-in `anomalies`). */
  anomalies: RunningTotals;
  /** The drift detectors whose series `tokentrace.drift.psi` reports (opt-in `drift`). */
  drift: Set<DriftDetector>;
  /** The anomaly detectors of this meter's calls and stages, whose sizes `tokentrace.signals.series` reports. */
  anomalyDetectors: Set<AnomalyDetector>;
  /** The latest rate-limit readings, for the `tokentrace.ratelimit.*` gauges. */
  rateLimits: RateLimitStore;
  /** The metric attribute sets calls of this meter were counted under. */
  attributeSets: MetricAttributeSets;
}

/**
 * One attribute set's running total, reported by an observable counter: cumulative, so it only grows. An
 * addition that is not a finite positive amount, or would make the total infinite, is refused (issue 10):
 * the total never becomes negative, NaN or Infinity, and never decreases.
 */
export class Total {
  private current = 0;

  constructor(readonly attributes: Attributes) {}

  get value(): number {
    return this.current;
  }

  /** Add `amount`; false (and nothing added) when it is not a finite positive number. */
  add(amount: number): boolean {
    if (!(amount > 0)) return amount === 0;
    const next = this.current + amount;
    if (next === Infinity) return false;
    this.current = next;
    return true;
  }
}

/**
 * Attribute sets of one instrument's totals, and of the metric attribute sets per meter, are capped; past
 * the cap, calls are counted under the OpenTelemetry SDK's overflow set (`otel.metric.overflow: true`),
 * never dropped. 1,999 + the overflow set is the SDK's own default cardinality limit per instrument.
 */
export const maxTotalsPerInstrument = 1_999;
export const OVERFLOW_ATTRIBUTES: Attributes = Object.freeze({ [ATTR_OTEL_METRIC_OVERFLOW]: true });
const overflowKey = "\u0001overflow";

export class RunningTotals {
  private readonly totals = new Map<string, Total>();
  private overflow: Total | undefined;

  /**
   * The total for `attributes`, which `key` identifies (same key, same attributes): the same object for
   * the same key, so callers look it up once per attribute set and keep it. Entries are never evicted, so
   * a total never restarts from zero. Past the cap, the one overflow total.
   */
  totalFor(key: string, attributes: Attributes): Total {
    let total = this.totals.get(key);
    if (total === undefined) {
      if (this.totals.size >= maxTotalsPerInstrument) return (this.overflow ??= new Total(OVERFLOW_ATTRIBUTES));
      total = new Total(attributes);
      this.totals.set(key, total);
    }
    return total;
  }

  report = (result: ObservableResult): void => {
    for (const total of this.totals.values()) result.observe(total.value, total.attributes);
    if (this.overflow !== undefined) result.observe(this.overflow.value, this.overflow.attributes);
  };
}

/**
 * The metric attributes of one (operation, provider, models, server, error type) and its running totals,
 * built once per meter and shared by every client and call that matches.
 */
export interface MetricAttributeSet {
  readonly key: string;
  readonly base: Attributes;
  readonly input: Attributes;
  readonly output: Attributes;
  /** True for the overflow set: its calls are one total, whatever the outcome. */
  readonly overflow: boolean;
  /** Per outcome kind, opened on first use. */
  readonly calls: Partial<Record<string, Total>>;
  cost: Total | undefined;
  cacheRead: Total | undefined;
  /** Per finish reason as given (a Map: a reason may be any string, `constructor` too), opened on first use. */
  readonly finishReasons: Map<string, Total>;
  refusals: Total | undefined;
}

/**
 * Distinct metric attribute sets per meter. With five call outcomes each, 300 sets keep every instrument
 * within the SDK's default cardinality limit; real apps use a few dozen (models × error types).
 */
export const maxMetricAttributeSets = 300;

export class MetricAttributeSets {
  private readonly sets = new Map<string, MetricAttributeSet>();
  private overflow: MetricAttributeSet | undefined;

  /** The set for `key`, built by `build` on first use; past the cap, the overflow set. Never evicts. */
  get(key: string, build: () => Attributes): MetricAttributeSet {
    let set = this.sets.get(key);
    if (set !== undefined) return set;
    if (this.sets.size >= maxMetricAttributeSets) {
      return (this.overflow ??= {
        key: overflowKey,
        base: OVERFLOW_ATTRIBUTES,
        // Input and output stay apart past the cap too: one token-usage histogram, two series.
        input: { ...OVERFLOW_ATTRIBUTES, [ATTR_GEN_AI_TOKEN_TYPE]: TOKEN_TYPE_INPUT },
        output: { ...OVERFLOW_ATTRIBUTES, [ATTR_GEN_AI_TOKEN_TYPE]: TOKEN_TYPE_OUTPUT },
        overflow: true,
        calls: {},
        cost: undefined,
        cacheRead: undefined,
        finishReasons: new Map(),
        refusals: undefined,
      });
    }
    const base = build();
    set = {
      key,
      base,
      input: { ...base, [ATTR_GEN_AI_TOKEN_TYPE]: TOKEN_TYPE_INPUT },
      output: { ...base, [ATTR_GEN_AI_TOKEN_TYPE]: TOKEN_TYPE_OUTPUT },
      overflow: false,
      calls: {},
      cost: undefined,
      cacheRead: undefined,
      finishReasons: new Map(),
      refusals: undefined,
    };
    this.sets.set(key, set);
    return set;
  }
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
    const finishReasons = new RunningTotals();
    meter
      .createObservableCounter(METRIC_TOKENTRACE_CLIENT_FINISH_REASONS, {
        description:
          "Choices of GenAI client calls, by the finish reason the provider gave (tokentrace.finish_reason).",
        unit: UNIT_CHOICE,
      })
      .addCallback(finishReasons.report);
    const refusals = new RunningTotals();
    meter
      .createObservableCounter(METRIC_TOKENTRACE_CLIENT_REFUSALS, {
        description: "GenAI client calls the provider refused (its refusal field, or a refusal finish reason).",
        unit: UNIT_CALL,
      })
      .addCallback(refusals.report);
    const modelChanges = new RunningTotals();
    meter
      .createObservableCounter(METRIC_TOKENTRACE_CLIENT_MODEL_CHANGES, {
        description:
          "A request model answered by a response model or system fingerprint not seen for it before (tokentrace.model_change.kind).",
        unit: UNIT_CHANGE,
      })
      .addCallback(modelChanges.report);
    const anomalies = new RunningTotals();
    meter
      .createObservableCounter(METRIC_TOKENTRACE_ANOMALIES, {
        description:
          "Calls flagged as anomalous against their series' baseline, by tokentrace.anomaly.signal and .direction (opt-in).",
        unit: UNIT_ANOMALY,
      })
      .addCallback(anomalies.report);
    const drift = new Set<DriftDetector>();
    meter
      .createObservableGauge(METRIC_TOKENTRACE_DRIFT_PSI, {
        description:
          "Population stability index of each series' last calls against its first, by tokentrace.drift.feature (opt-in).",
        unit: UNIT_PSI,
      })
      .addCallback((result) => {
        for (const detector of drift) detector.report(result);
      });
    const cosine = meter.createObservableGauge(METRIC_TOKENTRACE_DRIFT_EMBEDDING_COSINE, {
      description: "Cosine distance of a model's recent embedding centroid from its first one (opt-in drift).",
      unit: UNIT_DISTANCE,
    });
    const euclidean = meter.createObservableGauge(METRIC_TOKENTRACE_DRIFT_EMBEDDING_EUCLIDEAN, {
      description: "Euclidean distance of a model's recent embedding centroid from its first one (opt-in drift).",
      unit: UNIT_DISTANCE,
    });
    meter.addBatchObservableCallback(
      (observer) => {
        for (const detector of drift) {
          detector.reportEmbeddings(
            { observe: (value, attributes) => observer.observe(cosine, value, attributes) },
            { observe: (value, attributes) => observer.observe(euclidean, value, attributes) },
          );
        }
      },
      [cosine, euclidean],
    );
    const anomalyDetectors = new Set<AnomalyDetector>();
    const rateLimits = new RateLimitStore();
    const modelWatch = new ModelWatch(modelChanges);
    const store = (name: string) => ({ [ATTR_TOKENTRACE_SIGNALS_STORE]: name });
    meter
      .createObservableGauge(METRIC_TOKENTRACE_SIGNALS_SERIES, {
        description: "Series the signals' stores hold now, by tokentrace.signals.store (each has a bound).",
        unit: UNIT_SERIES,
      })
      .addCallback((result) => {
        result.observe(modelWatch.size, store("model_watch"));
        result.observe(rateLimits.size, store("rate_limits"));
        let calls = 0;
        let stages = 0;
        for (const detector of anomalyDetectors) {
          calls += detector.size;
          stages += detector.stageSize;
        }
        let outputs = 0;
        let embeddings = 0;
        for (const detector of drift) {
          outputs += detector.size;
          embeddings += detector.embeddingSize;
        }
        if (anomalyDetectors.size > 0) {
          result.observe(calls, store("anomalies"));
          result.observe(stages, store("anomalies_stages"));
        }
        if (drift.size > 0) {
          result.observe(outputs, store("drift"));
          result.observe(embeddings, store("drift_embeddings"));
        }
      });
    meter
      .createObservableCounter(METRIC_TOKENTRACE_SIGNALS_UNTRACKED, {
        description: "Calls the opt-in signals did not score or compare: their series were past the store's bound.",
        unit: UNIT_CALL,
      })
      .addCallback((result) => {
        let anomalies = 0;
        for (const detector of anomalyDetectors) anomalies += detector.untracked;
        let drifted = 0;
        for (const detector of drift) drifted += detector.untracked;
        if (anomalyDetectors.size > 0) result.observe(anomalies, store("anomalies"));
        if (drift.size > 0) result.observe(drifted, store("drift"));
      });
    meter
      .createObservableGauge(METRIC_TOKENTRACE_RATELIMIT_REMAINING, {
        description:
          "Requests or tokens left in the provider's rate-limit window, from its latest response (the limit once the window has reset).",
        unit: UNIT_QUOTA,
      })
      .addCallback(rateLimits.reportRemaining);
    meter
      .createObservableGauge(METRIC_TOKENTRACE_RATELIMIT_LIMIT, {
        description: "The provider's rate limit of requests or tokens per window, from its latest response.",
        unit: UNIT_QUOTA,
      })
      .addCallback(rateLimits.reportLimit);
    meter
      .createObservableGauge(METRIC_TOKENTRACE_RATELIMIT_RESET, {
        description: "Seconds until the provider's rate-limit window resets, from its latest response.",
        unit: UNIT_SECONDS,
      })
      .addCallback(rateLimits.reportReset);
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
      finishReasons,
      finishReasonCap: new FinishReasonCap(),
      refusals,
      modelWatch,
      anomalyDetectors,
      anomalies,
      drift,
      rateLimits,
      attributeSets: new MetricAttributeSets(),
    };
    byMeter.set(meter, instruments);
  }
  return instruments;
}
