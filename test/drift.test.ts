import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { InvalidOptionError, observe } from "../src/index.js";
import { DriftDetector, EmbeddingSeries, checkDrift, psi, tokenBin } from "../src/signals/drift.js";
import type { DriftCall } from "../src/signals/drift.js";
import { memorySink, setup } from "../src/setup-entry.js";
import type { MemorySink } from "../src/setup-entry.js";
import { startMockLLMServer } from "../src/testing/mock-server.js";
import { sumPoints } from "./helpers/harness.js";
import { setupSuite } from "./helpers/telemetry.js";

/**
 * Output drift (issue 15, opt-in): a reference window and a sliding window per series, compared by the
 * population stability index; values checked against PSI worked out by hand.
 */

const call = (outputTokens: number, finishReason = "stop"): DriftCall => ({
  operation: "chat",
  provider: "openai",
  requestModel: "gpt-4o-mini",
  outputTokens,
  finishReason,
});

describe("PSI", () => {
  it("equals the value worked out by hand, each bin smoothed by half a count", () => {
    // Reference 8 / 2 of 10, current 2 / 8 of 10; smoothed: (8.5/11, 2.5/11) and (2.5/11, 8.5/11).
    const e = [8.5 / 11, 2.5 / 11];
    const a = [2.5 / 11, 8.5 / 11];
    const byHand = (a[0]! - e[0]!) * Math.log(a[0]! / e[0]!) + (a[1]! - e[1]!) * Math.log(a[1]! / e[1]!);
    expect(psi([8, 2], 10, [2, 8], 10)).toBeCloseTo(byHand, 12);
    expect(byHand).toBeCloseTo(1.335, 3);
    // The same distribution: 0.
    expect(psi([5, 5], 10, [50, 50], 100)).toBe(0);
  });

  it("bins output tokens by powers of two", () => {
    expect([0, 1, 2, 3, 4, 7, 8, 1000, 65_535, 65_536, 1e9].map(tokenBin)).toEqual([
      0, 1, 2, 2, 3, 3, 4, 10, 16, 17, 17,
    ]);
    expect([Number.NaN, -1, 0.5].map(tokenBin)).toEqual([0, 0, 0]);
  });
});

describe("the drift detector", () => {
  it("compares the sliding window with the reference once both are full, and marks a crossing once", () => {
    const detector = new DriftDetector(checkDrift({ windowSize: 50, threshold: 0.25 })!);
    // Reference: 50 answers of 100 tokens (bin 7), all stopped.
    for (let index = 0; index < 50; index++) expect(detector.add(call(100))).toBeUndefined();
    // The window fills with the same: PSI 0, no crossing; then answers of 1,000 tokens (bin 10) take over.
    for (let index = 0; index < 50; index++) expect(detector.add(call(100))).toBeUndefined();
    const crossings: Array<{ index: number; feature: string; psi: number }> = [];
    for (let index = 0; index < 50; index++) {
      for (const crossing of detector.add(call(1000)) ?? []) crossings.push({ index, ...crossing });
    }
    // One crossing, on output tokens, at the first call whose window's PSI passes 0.25.
    expect(crossings.map(({ index, feature }) => [index, feature])).toEqual([[crossings[0]!.index, "output_tokens"]]);
    const at = crossings[0]!.index + 1;
    const reference = new Array<number>(18).fill(0);
    reference[7] = 50;
    const windowOf = (moved: number): number[] => {
      const counts = new Array<number>(18).fill(0);
      counts[7] = 50 - moved;
      counts[10] = moved;
      return counts;
    };
    expect(crossings[0]!.psi).toBeCloseTo(psi(reference, 50, windowOf(at), 50), 12);
    expect(psi(reference, 50, windowOf(at - 1), 50)).toBeLessThanOrEqual(0.25);
    // Finish reasons and tool calls stayed the same: no crossing there.
    const observed: Array<[number, Record<string, unknown>]> = [];
    detector.report({ observe: (value, attributes) => observed.push([value, attributes as Record<string, unknown>]) });
    expect(observed.map(([value, attributes]) => [attributes["tokentrace.drift.feature"], value > 0.25])).toEqual([
      ["output_tokens", true],
      ["finish_reason", false],
      ["tool_calls", false],
    ]);
  });

  it("counts finish reasons by their own bins, and tool calls apart", () => {
    const detector = new DriftDetector(checkDrift({ windowSize: 50, threshold: 0.25 })!);
    for (let index = 0; index < 100; index++) detector.add(call(100, "stop"));
    const features = new Set<string>();
    for (let index = 0; index < 50; index++)
      for (const crossing of detector.add(call(100, "tool_calls")) ?? []) features.add(crossing.feature);
    expect([...features].sort()).toEqual(["finish_reason", "tool_calls"]);
  });

  it("tracks at most maxSeries series, and throws InvalidOptionError for bad settings", () => {
    const detector = new DriftDetector(checkDrift({ windowSize: 50, maxSeries: 1 })!);
    detector.add(call(1));
    detector.add({ ...call(1), requestModel: "other" });
    expect([detector.size, detector.untracked]).toEqual([1, 1]);
    for (const [option, name] of [
      [{ windowSize: 10 }, "drift.windowSize"],
      [{ windowSize: 100.5 }, "drift.windowSize"],
      [{ threshold: 0 }, "drift.threshold"],
      [{ maxSeries: 0 }, "drift.maxSeries"],
      [{ reference: 10 }, "drift.reference"],
      ["yes", "drift"],
    ] as const) {
      let thrown: unknown;
      try {
        setup({ drift: option as never });
      } catch (error) {
        thrown = error;
      }
      expect(thrown, name).toBeInstanceOf(InvalidOptionError);
      expect((thrown as InvalidOptionError).option).toBe(name);
    }
    expect(() => checkDrift({ windowSize: 10 })).toThrow(/expected an integer from 50 to 100000, received number 10/);
  });
});

describe("embedding drift", () => {
  it("measures the current centroid's cosine and euclidean distance from the reference one, by hand", () => {
    const alpha = 1 - Math.pow(2, -1 / 4);
    const series = new EmbeddingSeries({}, 2, alpha);
    series.add({ embedding: [1, 0] });
    expect(series.distances()).toBeUndefined();
    series.add({ embedding: [1, 0] });
    // The reference is [1, 0]; the first vector after it is the current centroid as it is.
    series.add({ embedding: [0, 1] });
    expect(series.distances()).toEqual({ cosine: 1, euclidean: Math.SQRT2 });
    series.add({ embedding: [1, 0] });
    // current = [0, 1] + alpha ([1, 0] - [0, 1]) = [alpha, 1 - alpha]
    const [x, y] = [alpha, 1 - alpha];
    const distances = series.distances()!;
    expect(distances.cosine).toBeCloseTo(1 - x / Math.hypot(x, y), 12);
    expect(distances.euclidean).toBeCloseTo(Math.hypot(1 - x, y), 12);
    // Another length, a component that is not a number, or no vector: left out.
    series.add({ embedding: [1, 0, 0] });
    series.add({ embedding: [1, Number.NaN] });
    series.add({ embedding: [1, "0"] });
    series.add({});
    expect(series.skipped).toBe(3);
    expect(series.currentCount).toBe(2);
    // base64 of little-endian float32s reads the same as the numbers.
    const other = new EmbeddingSeries({}, 1, alpha);
    const floats = Buffer.from(new Float32Array([0.5, -0.25]).buffer).toString("base64");
    other.add({ embedding: floats });
    other.add({ embedding: [0.5, -0.25] });
    expect(other.distances()?.cosine).toBeCloseTo(0, 12);
    expect(other.distances()?.euclidean).toBe(0);
  });
});

describe("drift on real calls", () => {
  let sink: MemorySink;
  const suite = setupSuite(startMockLLMServer);

  it("puts a tokentrace.drift event on the call that crossed, and reports the gauge", async () => {
    sink = memorySink();
    suite.telemetry = setup({ serviceName: "drift", sinks: [sink], drift: { windowSize: 50 } });
    const openai = observe(new OpenAI({ baseURL: suite.server.openaiBaseURL, apiKey: "sk-test", maxRetries: 0 }));
    const messages = [{ role: "user" as const, content: "Hello" }];
    const ask = async (finishReason: string) => {
      suite.server.enqueue({ usage: { prompt_tokens: 10, completion_tokens: 20 }, finishReason });
      await openai.chat.completions.create({ model: "gpt-4o-mini", messages });
    };
    for (let index = 0; index < 100; index++) await ask("stop");
    for (let index = 0; index < 50; index++) await ask("length");
    const spans = sink.getSpans();
    const marked = spans.flatMap((span, index) =>
      span.events.filter((event) => event.name === "tokentrace.drift").map((event) => [index, event.attributes]),
    );
    expect(marked).toHaveLength(1);
    const [index, attributes] = marked[0] as [number, Record<string, unknown>];
    expect(index).toBeGreaterThan(100);
    expect(attributes["tokentrace.drift.feature"]).toBe("finish_reason");
    expect(attributes["tokentrace.drift.threshold"]).toBe(0.25);
    expect(attributes["tokentrace.drift.psi"] as number).toBeGreaterThan(0.25);
    const gauge = sumPoints(await sink.collectMetrics(), "tokentrace.drift.psi");
    expect(gauge.map((point) => point.attributes["tokentrace.drift.feature"])).toEqual([
      "output_tokens",
      "finish_reason",
      "tool_calls",
    ]);
    expect(gauge[0]!.value).toBe(0);
    expect(gauge[0]!.attributes).toMatchObject({
      "gen_ai.request.model": "gpt-4o-mini",
      "gen_ai.provider.name": "openai",
    });
  });

  it("reports an embedding model's centroid distances from the vectors the SDK decoded from base64", async () => {
    sink = memorySink();
    suite.telemetry = setup({ serviceName: "drift", sinks: [sink], drift: { embeddingReference: 4 } });
    const openai = observe(new OpenAI({ baseURL: suite.server.openaiBaseURL, apiKey: "sk-test", maxRetries: 0 }));
    // The mock's vector i, component j: ((7i + 3j) % 64 - 32) / 64; 2 components.
    const mock = (i: number) => [0, 1].map((j) => (((7 * i + 3 * j) % 64) - 32) / 64);
    await openai.embeddings.create({ model: "text-embedding-3-small", input: ["a", "b", "c", "d"], dimensions: 2 });
    expect(sumPoints(await sink.collectMetrics(), "tokentrace.drift.embedding.cosine_distance")).toEqual([]);
    await openai.embeddings.create({ model: "text-embedding-3-small", input: ["e"], dimensions: 2 });
    const reference = [0, 1].map((j) => [0, 1, 2, 3].reduce((sum, i) => sum + mock(i)[j]!, 0) / 4);
    const current = mock(0);
    const metrics = await sink.collectMetrics();
    const [cosine] = sumPoints(metrics, "tokentrace.drift.embedding.cosine_distance");
    const [euclidean] = sumPoints(metrics, "tokentrace.drift.embedding.euclidean_distance");
    const dot = reference[0]! * current[0]! + reference[1]! * current[1]!;
    expect(cosine!.value).toBeCloseTo(1 - dot / (Math.hypot(...reference) * Math.hypot(...current)), 9);
    expect(euclidean!.value).toBeCloseTo(Math.hypot(reference[0]! - current[0]!, reference[1]! - current[1]!), 9);
    expect(cosine!.attributes).toEqual({
      "gen_ai.provider.name": "openai",
      "gen_ai.request.model": "text-embedding-3-small",
    });
    // Vectors are never recorded.
    expect(JSON.stringify(sink.getSpans().map((span) => span.attributes))).not.toContain(String(mock(1)[0]));
  });
});
