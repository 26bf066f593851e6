/*
 * In-process anomaly flags (issue 15), opt-in with `anomalies: true | { ... }`. Per series (operation ×
 * provider × request model; a bounded number of them), each signal keeps an exponentially weighted baseline:
 *
 * - heavy-tailed values (duration, time to first chunk, input and output tokens, cost, the largest chunk gap):
 *   the mean and variance of log(value + offset), and a value is flagged when its z-score against them passes
 *   the threshold, in either direction;
 * - rates (errors, `length` stops): a slow proportion (the baseline) and a fast one (about the last 60 calls at
 *   the default half-life), and a call is flagged when the fast one's hits rise past the threshold above what the
 *   slow one expects, on a square-root scale fit for counts of rare events.
 *
 * Nothing is flagged before `minSamples` values; a flagged value does not teach the baseline; after a flag a
 * series and signal waits `cooldownMs` before the next; and a level that persists for `minSamples` values in a
 * row is taken as the new normal (the baseline starts again), so a lasting change is flagged (once per cooldown)
 * until then, not forever.
 * A missing or non-finite value is never scored. O(signals) numbers per series, no allocation per call.
 */
import type { Attributes, HrTime, Span } from "@opentelemetry/api";
import { InvalidOptionError } from "../errors.js";
import { describeValue as describe } from "../internal/describe-value.js";
import type { RunningTotals } from "../metrics/instruments.js";
import * as names from "../semconv.js";
import { SeriesTable, checkRanges, stateOf } from "./series.js";

export const ANOMALY_SIGNALS = [
  "duration",
  "time_to_first_chunk",
  "input_tokens",
  "output_tokens",
  "cost",
  "max_chunk_gap",
  "error_rate",
  "length_stop_rate",
  "trace_model_calls",
  "trace_cost",
  "trace_tool_calls",
] as const;
export type AnomalySignal = (typeof ANOMALY_SIGNALS)[number];

/** `anomalies: { ... }`: every field optional. */
export interface AnomalyOptions {
  /** How far from the baseline a value must be to be flagged, in standard deviations: 2 to 20, default 4. */
  readonly threshold?: number;
  /** Values a series and signal learns from before any is flagged: 5 to 100,000, default 30. */
  readonly minSamples?: number;
  /** The baseline's half-life, in values: 5 to 1,000,000, default 200. */
  readonly halfLife?: number;
  /** After a flag, how long (ms) the same series and signal stays quiet: 0 to 86,400,000, default 300,000. */
  readonly cooldownMs?: number;
  /** Series tracked at most (more are not scored): 1 to 10,000, default 500. */
  readonly maxSeries?: number;
  /** The signals scored; default all of ANOMALY_SIGNALS. */
  readonly signals?: readonly AnomalySignal[];
  /** Called for each flag, after the call's span ended, in a later turn; what it throws is swallowed. */
  readonly onAnomaly?: (anomaly: Anomaly) => void;
}

/** One flag, as `onAnomaly` gets it and the `tokentrace.anomaly` span event records it. */
export interface Anomaly {
  readonly signal: AnomalySignal;
  /** The value (seconds, tokens, USD; a rate for the `_rate` signals) and what the baseline expected. */
  readonly value: number;
  readonly expected: number;
  readonly zScore: number;
  readonly direction: "high" | "low";
  /** `ewma_log_z` for values, `ewma_proportion` for rates. */
  readonly method: "ewma_log_z" | "ewma_proportion";
  /** A call's `gen_ai.operation.name`, or, for the `trace_` signals, the root stage's kind (`workflow`, `agent`, ...). */
  readonly operation: string;
  /** A call's provider and request model; undefined for the `trace_` signals. */
  readonly provider: string | undefined;
  readonly requestModel: string | undefined;
  /** The root stage's name, for the `trace_` signals. */
  readonly stageName: string | undefined;
  readonly traceId: string;
  readonly spanId: string;
}

/** The checked settings; `detector` holds the state every client made with them shares. */
export interface AnomalySettings {
  readonly threshold: number;
  readonly minSamples: number;
  readonly halfLife: number;
  readonly cooldownMs: number;
  readonly maxSeries: number;
  readonly signals: readonly AnomalySignal[];
  readonly onAnomaly: ((anomaly: Anomaly) => void) | undefined;
}

const DEFAULTS = { threshold: 4, minSamples: 30, halfLife: 200, cooldownMs: 300_000, maxSeries: 500 } as const;
const RANGES: Readonly<Record<keyof typeof DEFAULTS, readonly [number, number]>> = {
  threshold: [2, 20],
  minSamples: [5, 100_000],
  halfLife: [5, 1_000_000],
  cooldownMs: [0, 86_400_000],
  maxSeries: [1, 10_000],
};
const INTEGER_OPTIONS: ReadonlySet<string> = new Set(["minSamples", "maxSeries"]);
const KNOWN = new Set<string>([...Object.keys(DEFAULTS), "signals", "onAnomaly"]);

/** Check `anomalies` at set-up: undefined (off) for `false` or absent; frozen settings otherwise. */
export function checkAnomalies(option: unknown): AnomalySettings | undefined {
  if (option === undefined || option === false) return undefined;
  if (option === true) return freeze({});
  if (option === null || typeof option !== "object" || Array.isArray(option)) {
    throw new InvalidOptionError(
      "anomalies",
      `expected true, false or an object of options, received ${describe(option)}.`,
    );
  }
  // Each option read once: a getter cannot hand the check one value and the settings another.
  const given: Record<string, unknown> = { ...(option as Record<string, unknown>) };
  if (Array.isArray(given["signals"])) given["signals"] = [...(given["signals"] as unknown[])];
  for (const key of Object.keys(given)) {
    if (!KNOWN.has(key)) {
      throw new InvalidOptionError(`anomalies.${key}`, `unknown option. Accepted options: ${[...KNOWN].join(", ")}.`);
    }
  }
  checkRanges("anomalies", given, RANGES, INTEGER_OPTIONS);
  const signals = given["signals"];
  if (signals !== undefined) {
    if (!Array.isArray(signals) || signals.length === 0) {
      throw new InvalidOptionError(
        "anomalies.signals",
        `expected a non-empty list of ${ANOMALY_SIGNALS.join(", ")}, received ${describe(signals)}.`,
      );
    }
    for (const [index, signal] of (signals as unknown[]).entries()) {
      if (!(ANOMALY_SIGNALS as readonly unknown[]).includes(signal)) {
        throw new InvalidOptionError(
          `anomalies.signals[${index}]`,
          `unknown signal ${describe(signal)}. Accepted signals: ${ANOMALY_SIGNALS.join(", ")}.`,
        );
      }
    }
  }
  const onAnomaly = given["onAnomaly"];
  if (onAnomaly !== undefined && typeof onAnomaly !== "function") {
    throw new InvalidOptionError("anomalies.onAnomaly", `expected a function, received ${describe(onAnomaly)}.`);
  }
  return freeze(given);
}

const checked = new WeakSet();

/** `option` as settings: those checkAnomalies made already as they are, anything else checked now. */
export function anomalySettingsOf(option: unknown): AnomalySettings | undefined {
  return option !== null && typeof option === "object" && checked.has(option)
    ? (option as AnomalySettings)
    : checkAnomalies(option);
}

function freeze(given: AnomalyOptions): AnomalySettings {
  const settings: AnomalySettings = Object.freeze({
    threshold: given.threshold ?? DEFAULTS.threshold,
    minSamples: given.minSamples ?? DEFAULTS.minSamples,
    halfLife: given.halfLife ?? DEFAULTS.halfLife,
    cooldownMs: given.cooldownMs ?? DEFAULTS.cooldownMs,
    maxSeries: given.maxSeries ?? DEFAULTS.maxSeries,
    signals: Object.freeze([...new Set(given.signals ?? ANOMALY_SIGNALS)]),
    onAnomaly: given.onAnomaly,
  });
  checked.add(settings);
  return settings;
}

/** What one finished call gives the detector: undefined where the call has no such value. */
export interface ScoredCall {
  readonly operation: string;
  readonly provider: string;
  readonly requestModel: string | undefined;
  readonly durationSeconds: number | undefined;
  readonly timeToFirstChunkSeconds: number | undefined;
  readonly inputTokens: number | undefined;
  readonly outputTokens: number | undefined;
  readonly costUsd: number | undefined;
  readonly maxChunkGapSeconds: number | undefined;
  /** Whether the call failed (undefined: not scored, e.g. cancelled by the app). */
  readonly failed: boolean | undefined;
  /** Whether it stopped at its token limit (undefined: not scored). */
  readonly lengthStop: boolean | undefined;
}

/** What a root stage (the whole request under it) gives the detector when it ends. */
export interface ScoredTrace {
  readonly kind: string;
  readonly name: string;
  readonly modelCalls: number;
  readonly costUsd: number | undefined;
  readonly toolCalls: number;
}

/** A flag before the call's ids are attached. */
export type Flag = Omit<Anomaly, "operation" | "provider" | "requestModel" | "stageName" | "traceId" | "spanId">;

/** The offset under the log of each value signal, in its unit: keeps zero finite and tiny values from dominating. */
const LOG_OFFSETS: Readonly<Record<string, number>> = {
  duration: 0.01,
  time_to_first_chunk: 0.01,
  max_chunk_gap: 0.001,
  input_tokens: 1,
  output_tokens: 1,
  cost: 1e-6,
  trace_model_calls: 1,
  trace_tool_calls: 1,
  trace_cost: 1e-6,
};
/** The signals that are counts: their least spread is a Poisson count's. */
const COUNT_SIGNALS: ReadonlySet<string> = new Set([
  "input_tokens",
  "output_tokens",
  "trace_model_calls",
  "trace_tool_calls",
]);
/** The least spread a log baseline is given: a value within ±(threshold × 0.1) in log (≈ ×1.5 at 4) never flags. */
const MIN_LOG_SD = 0.1;
/** The least proportion a rate baseline is given, and the fast rate's share of the slow one's weight. */
const MIN_PROPORTION = 0.01;
const FAST_WEIGHT = 10;

/** A value signal's baseline: EWMA mean and variance of log(value + offset). */
class LogBaseline {
  count = 0;
  mean = 0;
  variance = 0;
  lastFlagMs = -Infinity;
  /** Values in a row past the threshold (in one direction: its sign). */
  streak = 0;

  constructor(
    private readonly offset: number,
    /** A count (tokens, calls): its spread is taken as at least a Poisson count's, 1/sqrt(mean) in log. */
    private readonly isCount: boolean,
  ) {}

  score(value: number, settings: AnomalySettings, alpha: number, nowMs: number): Flag | undefined {
    const x = Math.log(value + this.offset);
    if (!Number.isFinite(x)) return undefined;
    if (this.count >= settings.minSamples) {
      const floor = this.isCount ? Math.max(MIN_LOG_SD, 1 / Math.sqrt(Math.exp(this.mean))) : MIN_LOG_SD;
      const sd = Math.max(Math.sqrt(this.variance), floor);
      const z = (x - this.mean) / sd;
      if (Math.abs(z) > settings.threshold) {
        const direction = z > 0 ? 1 : -1;
        this.streak = Math.sign(this.streak) === direction ? this.streak + direction : direction;
        if (Math.abs(this.streak) >= settings.minSamples) {
          // A lasting level: the new normal, learnt from here.
          this.count = 0;
          this.streak = 0;
        } else {
          if (nowMs - this.lastFlagMs < settings.cooldownMs) return undefined;
          this.lastFlagMs = nowMs;
          return {
            signal: "duration",
            value,
            expected: Math.max(0, Math.exp(this.mean) - this.offset),
            zScore: z,
            direction: z > 0 ? "high" : "low",
            method: "ewma_log_z",
          };
        }
      } else {
        this.streak = 0;
      }
    }
    this.learn(x, alpha);
    return undefined;
  }

  private learn(x: number, alpha: number): void {
    // The first values are averaged as they come (a running mean), then weighted by `alpha`.
    const weight = Math.max(alpha, 1 / (this.count + 1));
    if (this.count === 0) {
      this.mean = x;
      this.variance = 0;
    } else {
      const diff = x - this.mean;
      const increment = weight * diff;
      this.mean += increment;
      this.variance = (1 - weight) * (this.variance + diff * increment);
    }
    this.count++;
  }
}

/** A rate signal's baseline: a slow EWMA proportion and a fast one. */
class RateBaseline {
  count = 0;
  slow = 0;
  fast = 0;
  lastFlagMs = -Infinity;
  streak = 0;

  score(hit: boolean, settings: AnomalySettings, alpha: number, nowMs: number): Flag | undefined {
    const b = hit ? 1 : 0;
    const fastAlpha = Math.min(1, alpha * FAST_WEIGHT);
    this.fast = this.count === 0 ? b : this.fast + Math.max(fastAlpha, 1 / (this.count + 1)) * (b - this.fast);
    let z = 0;
    if (this.count >= settings.minSamples) {
      // The fast rate as hits among the calls behind it (all of them while it is still a running mean, then its
      // steady effective number), against the hits the slow rate expects: a Poisson count, compared on
      // Anscombe's square-root scale (where its spread is 1/2 whatever its mean), so the few hits of a rare
      // event are not read as many standard deviations.
      const calls = Math.min(this.count + 1, (2 - fastAlpha) / fastAlpha);
      const expectedHits = Math.max(this.slow, MIN_PROPORTION) * calls;
      z = 2 * (Math.sqrt(this.fast * calls + 0.375) - Math.sqrt(expectedHits + 0.375));
    }
    // An excursion (past half the threshold) does not teach the slow rate: a burst it learnt while building up
    // would hide itself. One that lasts minSamples calls is the new normal.
    if (z > settings.threshold / 2) {
      this.streak++;
      if (this.streak >= settings.minSamples) {
        this.streak = 0;
        this.slow = this.fast;
        return undefined;
      }
      if (z <= settings.threshold || nowMs - this.lastFlagMs < settings.cooldownMs) return undefined;
      this.lastFlagMs = nowMs;
      return {
        signal: "error_rate",
        value: this.fast,
        expected: this.slow,
        zScore: z,
        direction: "high",
        method: "ewma_proportion",
      };
    }
    this.streak = 0;
    // A running mean until scoring starts; from then on at most a quarter of the fast rate's weight, so the
    // slow rate lags a change even while its own weight is still that of a running mean.
    const weight =
      this.count < settings.minSamples
        ? 1 / (this.count + 1)
        : Math.max(alpha, Math.min(1 / (this.count + 1), fastAlpha / 4));
    this.slow += weight * (b - this.slow);
    this.count++;
    return undefined;
  }
}

interface Series {
  readonly values: Partial<Record<AnomalySignal, LogBaseline>>;
  readonly rates: Partial<Record<AnomalySignal, RateBaseline>>;
}

/** The state of every series one set of settings scores. */
export class AnomalyDetector {
  private readonly series: SeriesTable<Series>;
  /** Root stages' series, by kind and name (at most `maxSeries` apart from the calls'). */
  private readonly traces: SeriesTable<Series>;
  private readonly alpha: number;
  private readonly wanted: ReadonlySet<AnomalySignal>;

  constructor(readonly settings: AnomalySettings) {
    this.alpha = 1 - Math.pow(2, -1 / settings.halfLife);
    this.wanted = new Set(settings.signals);
    const make = (): Series => ({ values: {}, rates: {} });
    this.series = new SeriesTable(settings.maxSeries, make);
    this.traces = new SeriesTable(settings.maxSeries, make);
  }

  /** Call series held now (at most `maxSeries`; root stages' apart). */
  get size(): number {
    return this.series.size;
  }

  /** Root stage series held now (at most `maxSeries`). */
  get stageSize(): number {
    return this.traces.size;
  }

  /** Calls and root stages of series past `maxSeries`, not scored. */
  get untracked(): number {
    return this.series.untracked + this.traces.untracked;
  }

  /** Score one finished call at `nowMs` (the calls' clock); the flags it raises, undefined for none. */
  score(call: ScoredCall, nowMs: number): Flag[] | undefined {
    const series = this.series.get(call.operation, call.provider, call.requestModel);
    if (series === undefined) return undefined;
    let flags = this.value(series, "duration", call.durationSeconds, nowMs, undefined);
    flags = this.value(series, "time_to_first_chunk", call.timeToFirstChunkSeconds, nowMs, flags);
    flags = this.value(series, "input_tokens", call.inputTokens, nowMs, flags);
    flags = this.value(series, "output_tokens", call.outputTokens, nowMs, flags);
    flags = this.value(series, "cost", call.costUsd, nowMs, flags);
    flags = this.value(series, "max_chunk_gap", call.maxChunkGapSeconds, nowMs, flags);
    flags = this.rate(series, "error_rate", call.failed, nowMs, flags);
    return this.rate(series, "length_stop_rate", call.lengthStop, nowMs, flags);
  }

  /**
   * Score a root stage as it ends: its model calls, cost and tool calls against the baselines of stages of its
   * kind and name (the runaway agent that makes 40 calls instead of 4).
   */
  scoreTrace(trace: ScoredTrace, nowMs: number): Flag[] | undefined {
    // Root stages have a budget of their own: stage names made per request use it up, not the calls'.
    const series = this.traces.get(trace.kind, trace.name, undefined);
    if (series === undefined) return undefined;
    let flags = this.value(series, "trace_model_calls", trace.modelCalls, nowMs, undefined);
    flags = this.value(series, "trace_cost", trace.costUsd, nowMs, flags);
    return this.value(series, "trace_tool_calls", trace.toolCalls, nowMs, flags);
  }

  private value(
    series: Series,
    signal: AnomalySignal,
    given: number | undefined,
    nowMs: number,
    flags: Flag[] | undefined,
  ): Flag[] | undefined {
    if (given === undefined || !Number.isFinite(given) || given < 0 || !this.wanted.has(signal)) return flags;
    const baseline = (series.values[signal] ??= new LogBaseline(LOG_OFFSETS[signal] ?? 1, COUNT_SIGNALS.has(signal)));
    const flag = baseline.score(given, this.settings, this.alpha, nowMs);
    if (flag === undefined) return flags;
    (flags ??= []).push({ ...flag, signal });
    return flags;
  }

  private rate(
    series: Series,
    signal: AnomalySignal,
    hit: boolean | undefined,
    nowMs: number,
    flags: Flag[] | undefined,
  ): Flag[] | undefined {
    if (hit === undefined || !this.wanted.has(signal)) return flags;
    const baseline = (series.rates[signal] ??= new RateBaseline());
    const flag = baseline.score(hit, this.settings, this.alpha, nowMs);
    if (flag === undefined) return flags;
    (flags ??= []).push({ ...flag, signal });
    return flags;
  }
}

const detectors = new WeakMap<AnomalySettings, AnomalyDetector>();

/** The detector of `settings`, shared by every client made with them; made on first use. */
export function detectorFor(settings: AnomalySettings): AnomalyDetector {
  return stateOf(detectors, settings, (given) => new AnomalyDetector(given));
}

/**
 * Write `flags` where they were raised: each a `tokentrace.anomaly` event on `span` (at `time`), the span marked
 * `tokentrace.anomaly.flagged = true` (when it records), and a count in `totals` under `attributes` plus the flag's
 * signal and direction. The anomalies, with `about` and the span's ids, for onAnomaly.
 */
export function writeFlags(
  flags: readonly Flag[],
  span: Span,
  recording: boolean,
  time: HrTime | undefined,
  totals: RunningTotals,
  attributes: Attributes,
  about: Pick<Anomaly, "operation" | "provider" | "requestModel" | "stageName">,
): Anomaly[] {
  const { traceId, spanId } = span.spanContext();
  const prefix = Object.values(attributes).join("\u0000");
  const anomalies: Anomaly[] = [];
  for (const flag of flags) {
    anomalies.push(Object.freeze({ ...flag, ...about, traceId, spanId }));
    totals
      .totalFor(`${prefix}\u0000${flag.signal}\u0000${flag.direction}`, {
        ...attributes,
        [names.ATTR_TOKENTRACE_ANOMALY_SIGNAL]: flag.signal,
        [names.ATTR_TOKENTRACE_ANOMALY_DIRECTION]: flag.direction,
      })
      .add(1);
    if (recording) {
      span.addEvent(
        names.EVENT_TOKENTRACE_ANOMALY,
        {
          [names.ATTR_TOKENTRACE_ANOMALY_SIGNAL]: flag.signal,
          [names.ATTR_TOKENTRACE_ANOMALY_VALUE]: flag.value,
          [names.ATTR_TOKENTRACE_ANOMALY_EXPECTED]: flag.expected,
          [names.ATTR_TOKENTRACE_ANOMALY_Z_SCORE]: flag.zScore,
          [names.ATTR_TOKENTRACE_ANOMALY_DIRECTION]: flag.direction,
          [names.ATTR_TOKENTRACE_ANOMALY_METHOD]: flag.method,
        },
        time,
      );
    }
  }
  if (recording) span.setAttribute(names.ATTR_TOKENTRACE_ANOMALY_FLAGGED, true);
  return anomalies;
}

/** Hand `anomalies` to `onAnomaly` in a later turn (after the span ended); what it throws is swallowed. */
export function tellAnomalies(
  anomalies: readonly Anomaly[],
  onAnomaly: ((anomaly: Anomaly) => void) | undefined,
): void {
  if (onAnomaly === undefined || anomalies.length === 0) return;
  setImmediate(() => {
    for (const anomaly of anomalies) {
      try {
        onAnomaly(anomaly);
      } catch {
        // The app's own callback: what it throws is its own.
      }
    }
  });
}
