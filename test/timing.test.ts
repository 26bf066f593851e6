import { describe, expect, it } from "vitest";
import { StreamTiming } from "../src/metrics/timing.js";
import { DURATION_BUCKETS_SECONDS } from "../src/semconv.js";

/** What a histogram with the conventions' buckets would hold after recording `values` (in ms). */
function summarise(values: number[]): { counts: number[]; sum: number; min: number; max: number; count: number } {
  const bounds = DURATION_BUCKETS_SECONDS.map((seconds) => seconds * 1000);
  const counts = new Array<number>(bounds.length + 1).fill(0);
  for (const value of values) {
    let bucket = 0;
    while (bucket < bounds.length && value > bounds[bucket]!) bucket++;
    counts[bucket]!++;
  }
  return {
    counts,
    sum: values.reduce((total, value) => total + value, 0),
    min: Math.min(...values),
    max: Math.max(...values),
    count: values.length,
  };
}

describe("stream timing", () => {
  it("replays chunk gaps with exactly the bucket counts, sum, min and max of the real gaps", () => {
    let seed = 7;
    const random = (): number => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    for (let round = 0; round < 50; round++) {
      const timing = new StreamTiming(0);
      let now = 100;
      const gaps: number[] = [];
      const chunks = 2 + Math.floor(random() * 300);
      timing.onChunk(now);
      for (let chunk = 1; chunk < chunks; chunk++) {
        const gap = random() < 0.1 ? random() * 3000 : random() * 60;
        gaps.push(gap);
        now += gap;
        timing.onChunk(now);
      }
      const replayed: number[] = [];
      timing.forEachGapPoint((gap) => replayed.push(gap));
      const expected = summarise(gaps);
      const actual = summarise(replayed);
      expect(actual.counts).toEqual(expected.counts);
      expect(actual.count).toBe(chunks - 1);
      expect(actual.min).toBe(expected.min);
      expect(actual.max).toBe(expected.max);
      expect(actual.sum).toBeCloseTo(expected.sum, 6);
    }
  });

  it("records nothing for a stream of one chunk and times the first chunk from the request", () => {
    const timing = new StreamTiming(1000);
    timing.onChunk(1250);
    const replayed: number[] = [];
    timing.forEachGapPoint((gap) => replayed.push(gap));
    expect(replayed).toEqual([]);
    expect(timing.timeToFirstChunkMs).toBe(250);
    expect(timing.meanGapMs).toBeUndefined();
  });

  it("keeps equal gaps on a bucket boundary inside that bucket", () => {
    const timing = new StreamTiming(0);
    for (let chunk = 0; chunk <= 10; chunk++) timing.onChunk(chunk * 10);
    const replayed: number[] = [];
    timing.forEachGapPoint((gap) => replayed.push(gap));
    expect(summarise(replayed).counts).toEqual(summarise(new Array<number>(10).fill(10)).counts);
  });
});
