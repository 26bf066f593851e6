/*
 * Output drift (issue 15), opt-in with `drift: true | { ... }`. Per series (operation × provider × request
 * model; a bounded number of them), three distributions of what the provider answers:
 *
 * - `output_tokens`: output tokens in 18 power-of-two bins (0, 1, 2–3, 4–7, ... 65,536 and over);
 * - `finish_reason`: the first choice's finish reason, the first 7 distinct of the series and the rest as one;
 * - `tool_calls`: whether the call ended to call tools (`tool_calls`, `tool_use`, `function_call`).
 *
 * The first `windowSize` completed calls of a series are its reference; from then on a sliding window of the last
 * `windowSize` calls is compared with it by the population stability index (PSI), each bin's share smoothed by
 * half a count. Once the window is full, PSI is kept current on every call (O(bins): 28 numbers) and reported by
 * the `tokentrace.drift.psi` gauge; a call that takes a feature's PSI over `threshold` gets a `tokentrace.drift`
 * span event (once per crossing: the PSI must fall back under the threshold before the next). O(windowSize) bytes
 * per series; state starts again with the process.
 */
import type { Attributes, ObservableResult } from "@opentelemetry/api";
import { InvalidOptionError } from "../errors.js";
import { describeValue as describe } from "../internal/describe-value.js";
import * as names from "../semconv.js";
import { SeriesTable, checkRanges, stateOf } from "./series.js";

export const DRIFT_FEATURES = ["output_tokens", "finish_reason", "tool_calls"] as const;
export type DriftFeature = (typeof DRIFT_FEATURES)[number];

/** `drift: { ... }`: every field optional. */
export interface DriftOptions {
  /** Calls in the reference and in the sliding window: 50 to 100,000, default 1,000. */
  readonly windowSize?: number;
  /** The PSI over which a span event marks the crossing: 0.01 to 10, default 0.25 (a significant shift). */
  readonly threshold?: number;
  /** Series tracked at most (more are not compared): 1 to 10,000, default 200. */
  readonly maxSeries?: number;
  /** Embedding vectors whose mean is a model's reference centroid: 1 to 1,000,000, default 1,000. */
  readonly embeddingReference?: number;
  /** The current centroid's half-life, in vectors: 1 to 1,000,000, default 500. */
  readonly embeddingHalfLife?: number;
}

export interface DriftSettings {
  readonly windowSize: number;
  readonly threshold: number;
  readonly maxSeries: number;
  readonly embeddingReference: number;
  readonly embeddingHalfLife: number;
}

const DEFAULTS: DriftSettings = {
  windowSize: 1000,
  threshold: 0.25,
  maxSeries: 200,
  embeddingReference: 1000,
  embeddingHalfLife: 500,
};
const RANGES: Readonly<Record<keyof DriftSettings, readonly [number, number]>> = {
  windowSize: [50, 100_000],
  threshold: [0.01, 10],
  maxSeries: [1, 10_000],
  embeddingReference: [1, 1_000_000],
  embeddingHalfLife: [1, 1_000_000],
};
const INTEGER_OPTIONS: ReadonlySet<string> = new Set(["windowSize", "maxSeries", "embeddingReference"]);

const checked = new WeakSet();

/** Check `drift` at set-up: undefined (off) for `false` or absent; frozen settings otherwise. */
export function checkDrift(option: unknown): DriftSettings | undefined {
  if (option === undefined || option === false) return undefined;
  if (option !== null && typeof option === "object" && checked.has(option)) return option as DriftSettings;
  if (option !== true && (option === null || typeof option !== "object" || Array.isArray(option))) {
    throw new InvalidOptionError(
      "drift",
      `expected true, false or an object of options, received ${describe(option)}.`,
    );
  }
  const given: Record<string, unknown> = option === true ? {} : { ...(option as Record<string, unknown>) };
  for (const key of Object.keys(given)) {
    if (!(key in RANGES)) {
      throw new InvalidOptionError(
        `drift.${key}`,
        `unknown option. Accepted options: ${Object.keys(RANGES).join(", ")}.`,
      );
    }
  }
  checkRanges("drift", given, RANGES, INTEGER_OPTIONS);
  const settings: Record<string, number> = { ...DEFAULTS };
  for (const key of Object.keys(RANGES)) {
    const value = given[key];
    if (typeof value === "number") settings[key] = value;
  }
  const frozen = Object.freeze(settings as unknown as DriftSettings);
  checked.add(frozen);
  return frozen;
}

const TOKEN_BINS = 18;
const REASON_BINS = 8;
const TOOL_BINS = 2;
const TOOL_REASONS: ReadonlySet<string> = new Set(["tool_calls", "tool_use", "function_call"]);
/** Half a count in each bin: an empty bin on either side keeps PSI finite. */
const SMOOTHING = 0.5;

/** The output-token bin of `tokens`: 0, then one per power of two, the last open-ended. */
export function tokenBin(tokens: number): number {
  if (!(tokens >= 1)) return 0;
  return Math.min(TOKEN_BINS - 1, 1 + Math.floor(Math.log2(tokens)));
}

/** The population stability index of `current` against `reference` (counts over the same bins). */
export function psi(
  reference: ArrayLike<number>,
  referenceTotal: number,
  current: ArrayLike<number>,
  total: number,
): number {
  const bins = reference.length;
  let sum = 0;
  for (let bin = 0; bin < bins; bin++) {
    const expected = ((reference[bin] ?? 0) + SMOOTHING) / (referenceTotal + SMOOTHING * bins);
    const actual = ((current[bin] ?? 0) + SMOOTHING) / (total + SMOOTHING * bins);
    sum += (actual - expected) * Math.log(actual / expected);
  }
  return sum;
}

/** One feature's reference and sliding-window counts. */
class Distribution {
  readonly reference: Uint32Array;
  readonly current: Uint32Array;
  /** The bin of each call in the window, oldest at `next` once full. */
  private readonly window: Uint8Array;
  private next = 0;
  referenceTotal = 0;
  currentTotal = 0;
  value: number | undefined = undefined;
  above = false;

  constructor(bins: number, windowSize: number) {
    this.reference = new Uint32Array(bins);
    this.current = new Uint32Array(bins);
    this.window = new Uint8Array(windowSize);
  }

  /** Add a call's bin; the PSI when the window is full, else undefined. */
  add(bin: number, windowSize: number): number | undefined {
    if (this.referenceTotal < windowSize) {
      this.reference[bin] = (this.reference[bin] ?? 0) + 1;
      this.referenceTotal++;
      return undefined;
    }
    if (this.currentTotal === windowSize) {
      const oldest = this.window[this.next] ?? 0;
      this.current[oldest] = (this.current[oldest] ?? 1) - 1;
      this.currentTotal--;
    }
    this.window[this.next] = bin;
    this.next = (this.next + 1) % windowSize;
    this.current[bin] = (this.current[bin] ?? 0) + 1;
    this.currentTotal++;
    if (this.currentTotal < windowSize) return undefined;
    this.value = psi(this.reference, this.referenceTotal, this.current, this.currentTotal);
    return this.value;
  }
}

class DriftSeries {
  readonly tokens: Distribution;
  readonly reasons: Distribution;
  readonly tools: Distribution;
  /** The finish reasons given bins, in order of first sight; the rest share the last bin. */
  private readonly reasonBins = new Map<string, number>();

  constructor(
    readonly attributes: Attributes,
    windowSize: number,
  ) {
    this.tokens = new Distribution(TOKEN_BINS, windowSize);
    this.reasons = new Distribution(REASON_BINS, windowSize);
    this.tools = new Distribution(TOOL_BINS, windowSize);
  }

  reasonBin(reason: string | undefined): number {
    if (reason === undefined) return REASON_BINS - 1;
    let bin = this.reasonBins.get(reason);
    if (bin === undefined) {
      if (this.reasonBins.size >= REASON_BINS - 1) return REASON_BINS - 1;
      bin = this.reasonBins.size;
      this.reasonBins.set(reason, bin);
    }
    return bin;
  }
}

/** A threshold crossing: a feature's PSI went over the threshold with this call. */
export interface DriftCrossing {
  readonly feature: DriftFeature;
  readonly psi: number;
}

/** A completed call, as drift sees it. */
export interface DriftCall {
  readonly operation: string;
  readonly provider: string;
  readonly requestModel: string | undefined;
  readonly outputTokens: number | undefined;
  readonly finishReason: string | undefined;
}

/** Vectors longer than this are not compared (no embedding model makes one). */
const MAX_DIMENSIONS = 16_384;

/**
 * Embedding drift of one model: the mean of its first `reference` vectors, and an exponentially weighted mean of
 * the vectors since. O(dimensions) numbers; a vector of another length than the first is not counted.
 */
export class EmbeddingSeries {
  private dimensions = 0;
  private referenceSum: Float64Array | undefined;
  private current: Float64Array | undefined;
  referenceCount = 0;
  currentCount = 0;
  /** Vectors left out: another length than the series', or a component that is not a finite number. */
  skipped = 0;

  constructor(
    readonly attributes: Attributes,
    private readonly reference: number,
    private readonly alpha: number,
  ) {}

  /** Add one `data` entry (its `embedding`: numbers, or base64 of little-endian float32s). */
  add(entry: unknown): void {
    const embedding =
      entry !== null && typeof entry === "object" ? (entry as { embedding?: unknown }).embedding : undefined;
    const read = componentsOf(embedding);
    if (read === undefined) return;
    const { length, at } = read;
    if (length === 0 || length > MAX_DIMENSIONS || (this.dimensions !== 0 && length !== this.dimensions)) {
      this.skipped++;
      return;
    }
    for (let index = 0; index < length; index++) {
      if (!Number.isFinite(at(index))) {
        this.skipped++;
        return;
      }
    }
    this.dimensions = length;
    if (this.referenceCount < this.reference) {
      const sum = (this.referenceSum ??= new Float64Array(length));
      for (let index = 0; index < length; index++) sum[index] = (sum[index] ?? 0) + at(index);
      this.referenceCount++;
      return;
    }
    const current = (this.current ??= new Float64Array(length));
    // The first vector after the reference is the current centroid as it is; then each moves it by alpha.
    const weight = this.currentCount === 0 ? 1 : this.alpha;
    for (let index = 0; index < length; index++)
      current[index] = (current[index] ?? 0) + weight * (at(index) - (current[index] ?? 0));
    this.currentCount++;
  }

  /** Cosine and euclidean distance of the current centroid from the reference one; undefined before both exist. */
  distances(): { cosine: number; euclidean: number } | undefined {
    const sum = this.referenceSum;
    const current = this.current;
    if (sum === undefined || current === undefined || this.referenceCount < this.reference) return undefined;
    let dot = 0;
    let referenceNorm = 0;
    let currentNorm = 0;
    let squared = 0;
    for (let index = 0; index < this.dimensions; index++) {
      const r = (sum[index] ?? 0) / this.referenceCount;
      const c = current[index] ?? 0;
      dot += r * c;
      referenceNorm += r * r;
      currentNorm += c * c;
      squared += (r - c) * (r - c);
    }
    const norms = Math.sqrt(referenceNorm) * Math.sqrt(currentNorm);
    const cosine = norms > 0 ? Math.min(2, Math.max(0, 1 - dot / norms)) : 0;
    return { cosine, euclidean: Math.sqrt(squared) };
  }
}

/** An embedding's components, read in place: an array of numbers, or base64 of little-endian float32s. */
function componentsOf(embedding: unknown): { length: number; at: (index: number) => number } | undefined {
  if (Array.isArray(embedding)) {
    return {
      length: embedding.length,
      at: (index) => (typeof embedding[index] === "number" ? embedding[index] : Number.NaN),
    };
  }
  if (typeof embedding === "string") {
    if (embedding.length > ((MAX_DIMENSIONS * 4 + 2) / 3) * 4 + 4)
      return { length: MAX_DIMENSIONS + 1, at: () => Number.NaN };
    const bytes = Buffer.from(embedding, "base64");
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return { length: Math.floor(bytes.byteLength / 4), at: (index) => view.getFloat32(index * 4, true) };
  }
  return undefined;
}

/** The state of every series one set of settings compares. */
export class DriftDetector {
  private readonly series: SeriesTable<DriftSeries>;
  private readonly embeddingSeries: SeriesTable<EmbeddingSeries>;

  constructor(readonly settings: DriftSettings) {
    this.series = new SeriesTable(settings.maxSeries, (operation, provider, requestModel) => {
      const attributes: Attributes = {
        [names.ATTR_GEN_AI_OPERATION_NAME]: operation,
        [names.ATTR_GEN_AI_PROVIDER_NAME]: provider,
      };
      if (requestModel !== undefined) attributes[names.ATTR_GEN_AI_REQUEST_MODEL] = requestModel;
      return new DriftSeries(attributes, settings.windowSize);
    });
    const alpha = 1 - Math.pow(2, -1 / settings.embeddingHalfLife);
    this.embeddingSeries = new SeriesTable(settings.maxSeries, (_operation, provider, requestModel) => {
      const attributes: Attributes = { [names.ATTR_GEN_AI_PROVIDER_NAME]: provider };
      if (requestModel !== undefined) attributes[names.ATTR_GEN_AI_REQUEST_MODEL] = requestModel;
      return new EmbeddingSeries(attributes, settings.embeddingReference, alpha);
    });
  }

  /** An embeddings call's vectors, each added to its model's centroids (none is kept). */
  addEmbeddings(provider: string, requestModel: string | undefined, entries: readonly unknown[]): void {
    const series = this.embeddingSeries.get("embeddings", provider, requestModel);
    if (series === undefined) return;
    for (const entry of entries) series.add(entry);
  }

  /** Embedding series held now (at most `maxSeries`). */
  get embeddingSize(): number {
    return this.embeddingSeries.size;
  }

  /** Each embedding series' distances, for the two gauges. */
  reportEmbeddings(cosine: ObservableResult, euclidean: ObservableResult): void {
    for (const series of this.embeddingSeries.values()) {
      const distances = series.distances();
      if (distances === undefined) continue;
      cosine.observe(distances.cosine, series.attributes);
      euclidean.observe(distances.euclidean, series.attributes);
    }
  }

  get size(): number {
    return this.series.size;
  }

  /** Calls of series past `maxSeries`, not compared. */
  get untracked(): number {
    return this.series.untracked;
  }

  /** Add a completed call; the crossings it makes, undefined for none. */
  add(call: DriftCall): DriftCrossing[] | undefined {
    const series = this.series.get(call.operation, call.provider, call.requestModel);
    if (series === undefined) return undefined;
    const size = this.settings.windowSize;
    let crossings: DriftCrossing[] | undefined;
    const tokens = call.outputTokens;
    if (tokens !== undefined && Number.isFinite(tokens) && tokens >= 0) {
      crossings = this.cross("output_tokens", series.tokens, series.tokens.add(tokenBin(tokens), size), crossings);
    }
    const reason = call.finishReason;
    crossings = this.cross(
      "finish_reason",
      series.reasons,
      series.reasons.add(series.reasonBin(reason), size),
      crossings,
    );
    const tool = reason !== undefined && TOOL_REASONS.has(reason) ? 1 : 0;
    return this.cross("tool_calls", series.tools, series.tools.add(tool, size), crossings);
  }

  /** A feature's new PSI: a crossing when it goes over the threshold from under it. */
  private cross(
    feature: DriftFeature,
    distribution: Distribution,
    value: number | undefined,
    crossings: DriftCrossing[] | undefined,
  ): DriftCrossing[] | undefined {
    if (value === undefined) return crossings;
    const over = value > this.settings.threshold;
    const crossed = over && !distribution.above;
    distribution.above = over;
    if (!crossed) return crossings;
    (crossings ??= []).push({ feature, psi: value });
    return crossings;
  }

  /** Each series' current PSI per feature, for the gauge. */
  report(result: ObservableResult): void {
    for (const series of this.series.values()) {
      for (const [feature, distribution] of [
        ["output_tokens", series.tokens],
        ["finish_reason", series.reasons],
        ["tool_calls", series.tools],
      ] as const) {
        const value = distribution.value;
        if (value !== undefined) {
          result.observe(value, { ...series.attributes, [names.ATTR_TOKENTRACE_DRIFT_FEATURE]: feature });
        }
      }
    }
  }
}

const detectors = new WeakMap<DriftSettings, DriftDetector>();

/** The detector of `settings`, shared by every client made with them; made on first use. */
export function driftDetectorFor(settings: DriftSettings): DriftDetector {
  return stateOf(detectors, settings, (given) => new DriftDetector(given));
}
