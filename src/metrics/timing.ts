import { DURATION_BUCKETS_SECONDS } from "../semconv.js";
import { measured } from "../usage.js";

const bucketBoundsMs: readonly number[] = DURATION_BUCKETS_SECONDS.map((seconds) => seconds * 1000);
const bucketCount = bucketBoundsMs.length + 1;

/**
 * Timing of one streamed call, kept in a few numbers: one clock read per chunk (taken by the caller),
 * no per-chunk allocation. Times are milliseconds from the injected clock.
 *
 * When the chunk timing metric is on, gaps between chunks (`gen_ai.client.operation.time_per_output_chunk`)
 * are also aggregated here per histogram bucket, and replayed at the end by `forEachGapPoint` with the exact
 * count per bucket, sum, min and max: the chunk path itself never touches the metric SDK.
 */
export class StreamTiming {
  chunkCount = 0;
  firstChunkMs = -1;
  lastChunkMs = -1;
  maxGapMs = 0;
  private minGapMs = Infinity;
  private gapCounts: Float64Array | undefined;
  private gapSumsMs: Float64Array | undefined;

  /** @param aggregateGaps keep per-bucket gap totals for `forEachGapPoint` (the chunk timing metric). */
  constructor(
    readonly startMs: number,
    private readonly aggregateGaps = true,
  ) {}

  onChunk(atMs: number): void {
    if (this.chunkCount === 0) {
      this.firstChunkMs = atMs;
    } else {
      const gap = atMs - this.lastChunkMs;
      // A clock that went backwards (or returned NaN) gives no gap: never a negative or NaN point (issue 10).
      if (gap >= 0 && gap < Infinity) {
        if (gap > this.maxGapMs) this.maxGapMs = gap;
        if (gap < this.minGapMs) this.minGapMs = gap;
        if (this.aggregateGaps) this.aggregateGap(gap);
      }
    }
    this.lastChunkMs = atMs;
    this.chunkCount++;
  }

  private aggregateGap(gap: number): void {
    let bucket = 0;
    while (bucket < bucketBoundsMs.length && gap > (bucketBoundsMs[bucket] ?? Infinity)) bucket++;
    const counts = (this.gapCounts ??= new Float64Array(bucketCount));
    const sums = (this.gapSumsMs ??= new Float64Array(bucketCount));
    // Typed arrays of bucketCount entries: `bucket` is at most the last index.
    counts[bucket] = (counts[bucket] ?? 0) + 1;
    sums[bucket] = (sums[bucket] ?? 0) + gap;
  }

  /** From the request's issue to the first chunk, or undefined when no chunk came. */
  get timeToFirstChunkMs(): number | undefined {
    return this.chunkCount > 0 ? measured(this.firstChunkMs - this.startMs) : undefined;
  }

  /** Mean gap between consecutive chunks; needs two chunks. */
  get meanGapMs(): number | undefined {
    return this.chunkCount > 1 ? measured((this.lastChunkMs - this.firstChunkMs) / (this.chunkCount - 1)) : undefined;
  }

  /** From the first to the last chunk: the time the model spent streaming its output. */
  get streamingMs(): number | undefined {
    return this.chunkCount > 1 ? measured(this.lastChunkMs - this.firstChunkMs) : undefined;
  }

  /**
   * Call `record` once per gap, with values that give a histogram exactly what recording every gap would:
   * the same bucket counts, sum, min and max. Within a bucket the values are the true min and max where
   * they fall in it, and the mean of the rest (a mean of values in a bucket stays in that bucket).
   */
  forEachGapPoint(record: (gapMs: number) => void): void {
    const counts = this.gapCounts;
    const sums = this.gapSumsMs;
    if (counts === undefined || sums === undefined) return;
    const min = this.minGapMs;
    const max = this.maxGapMs;
    for (let bucket = 0; bucket < bucketCount; bucket++) {
      let count = counts[bucket] ?? 0;
      if (count === 0) continue;
      let sum = sums[bucket] ?? 0;
      const lower = bucketBoundsMs[bucket - 1] ?? -Infinity;
      const upper = bucketBoundsMs[bucket] ?? Infinity;
      if (min > lower && min <= upper) {
        record(min);
        sum -= min;
        count--;
      }
      if (count > 0 && max > lower && max <= upper) {
        record(max);
        sum -= max;
        count--;
      }
      if (count > 0) {
        // Clamp: rounding must not move the mean across a bucket boundary.
        const rest = Math.min(upper, Math.max(sum / count, min));
        for (let index = 0; index < count; index++) record(rest);
      }
    }
  }
}
