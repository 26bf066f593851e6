/**
 * Timing of one streamed call, kept in a few numbers: one clock read per chunk (taken by the caller),
 * no per-chunk allocation. Times are milliseconds from the injected clock.
 */
export class StreamTiming {
  chunkCount = 0;
  firstChunkMs = -1;
  lastChunkMs = -1;
  maxGapMs = 0;

  constructor(readonly startMs: number) {}

  onChunk(atMs: number): void {
    if (this.chunkCount === 0) {
      this.firstChunkMs = atMs;
    } else {
      const gap = atMs - this.lastChunkMs;
      if (gap > this.maxGapMs) this.maxGapMs = gap;
    }
    this.lastChunkMs = atMs;
    this.chunkCount++;
  }

  /** From the request's issue to the first chunk, or undefined when no chunk came. */
  get timeToFirstChunkMs(): number | undefined {
    return this.chunkCount > 0 ? this.firstChunkMs - this.startMs : undefined;
  }

  /** Mean gap between consecutive chunks; needs two chunks. */
  get meanGapMs(): number | undefined {
    return this.chunkCount > 1 ? (this.lastChunkMs - this.firstChunkMs) / (this.chunkCount - 1) : undefined;
  }

  /** From the first to the last chunk: the time the model spent streaming its output. */
  get streamingMs(): number | undefined {
    return this.chunkCount > 1 ? this.lastChunkMs - this.firstChunkMs : undefined;
  }
}
