import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { InvalidOptionError, observe, withAgent, withTool, withWorkflow } from "../src/index.js";
import type { Anomaly } from "../src/index.js";
import { AnomalyDetector, checkAnomalies } from "../src/signals/anomalies.js";
import type { AnomalySettings } from "../src/signals/anomalies.js";
import { memorySink, setup } from "../src/setup-entry.js";
import type { MemorySink } from "../src/setup-entry.js";
import { startMockLLMServer } from "../src/testing/mock-server.js";
import { sumPoints } from "./helpers/harness.js";
import { prng as random } from "./helpers/random.js";
import { scoredCall } from "./helpers/scored-call.js";
import { setupSuite } from "./helpers/telemetry.js";

/**
 * Anomaly flags (issue 15, opt-in): EWMA baselines per series, a z-score past the threshold flags the call's
 * span, counts it and tells onAnomaly; deterministic on synthetic series with an injected clock.
 */

const settings = (options: object = {}): AnomalySettings => checkAnomalies(options)!;

const callOf = scoredCall;

describe("the anomaly detector", () => {
  it("raises nothing on a stable series over 10,000 calls", () => {
    const detector = new AnomalyDetector(settings({ cooldownMs: 0 }));
    const noise = random(1);
    let flags = 0;
    for (let index = 0; index < 10_000; index++) {
      const jitter = () => 0.8 + 0.4 * noise();
      const found = detector.score(
        callOf({
          durationSeconds: 1.2 * jitter(),
          timeToFirstChunkSeconds: 0.3 * jitter(),
          inputTokens: Math.round(500 * jitter()),
          outputTokens: Math.round(120 * jitter()),
          costUsd: 0.0004 * jitter(),
          maxChunkGapSeconds: 0.05 * jitter(),
          // 2% errors, 1% length stops, at random.
          failed: noise() < 0.02,
          lengthStop: noise() < 0.01,
        }),
        index * 1000,
      );
      flags += found?.length ?? 0;
    }
    expect(flags).toBe(0);
  });

  it("flags a step change in latency, cost and output length at once, and a burst of errors within a few calls", () => {
    const detector = new AnomalyDetector(settings({ cooldownMs: 0 }));
    const noise = random(2);
    const jitter = () => 0.9 + 0.2 * noise();
    for (let index = 0; index < 200; index++) {
      const none = detector.score(
        callOf({ durationSeconds: 1 * jitter(), costUsd: 0.001 * jitter(), outputTokens: 100, failed: false }),
        index,
      );
      expect(none).toBeUndefined();
    }
    // Five times slower, ten times dearer, twenty times longer.
    const step = detector.score(callOf({ durationSeconds: 5, costUsd: 0.01, outputTokens: 2000, failed: false }), 200);
    expect(step?.map((flag) => [flag.signal, flag.direction, flag.method])).toEqual([
      ["duration", "high", "ewma_log_z"],
      ["output_tokens", "high", "ewma_log_z"],
      ["cost", "high", "ewma_log_z"],
    ]);
    const output = step!.find((flag) => flag.signal === "output_tokens")!;
    expect(output.value).toBe(2000);
    // The baseline of a constant 100: exp(mean) - 1 of log(100 + 1).
    expect(output.expected).toBeCloseTo(100, 9);
    expect(output.zScore).toBeCloseTo((Math.log(2001) - Math.log(101)) / 0.1, 9);
    // Errors at a 0% baseline: a few are no anomaly; a run of them is, on the fifth in a row (the fast rate
    // then says 16% of the last ~60 calls failed).
    const errorFlags: string[] = [];
    for (let index = 0; index < 5; index++) {
      const found = detector.score(callOf({ failed: true }), 201 + index);
      errorFlags.push(found?.map((flag) => `${flag.signal} ${flag.method}`).join() ?? "");
    }
    expect(errorFlags).toEqual(["", "", "", "", "error_rate ewma_proportion"]);
    // A shorter answer is an anomaly too, the other way.
    expect(detector.score(callOf({ outputTokens: 3 }), 206)?.map((flag) => flag.direction)).toEqual(["low"]);
  });

  it("waits minSamples values, holds the cooldown per signal, and does not learn from flagged values", () => {
    const detector = new AnomalyDetector(settings({ minSamples: 10, cooldownMs: 1000 }));
    // Before minSamples: nothing, however odd.
    for (let index = 0; index < 9; index++) detector.score(callOf({ outputTokens: 100 }), index);
    expect(detector.score(callOf({ outputTokens: 100_000 }), 9)).toBeUndefined();
    // That value taught the baseline (it was not flagged).
    for (let index = 0; index < 100; index++) detector.score(callOf({ outputTokens: 100 }), 10 + index);
    const first = detector.score(callOf({ outputTokens: 5000 }), 200);
    expect(first).toHaveLength(1);
    expect(first![0]!.expected).toBeCloseTo(Math.exp((109 * Math.log(101) + Math.log(100_001)) / 110) - 1, 9);
    // In the cooldown: not flagged, and not learnt either, so the next flag expects just what the first did.
    expect(detector.score(callOf({ outputTokens: 5000 }), 700)).toBeUndefined();
    expect(detector.score(callOf({ outputTokens: 5000 }), 1199)).toBeUndefined();
    expect(detector.score(callOf({ outputTokens: 5000 }), 1200)?.[0]?.expected).toBe(first![0]!.expected);
  });

  it("takes a level that lasts minSamples values as the new normal, flagging it once", () => {
    const detector = new AnomalyDetector(settings({ minSamples: 10, cooldownMs: 0 }));
    for (let index = 0; index < 50; index++) detector.score(callOf({ durationSeconds: 1 }), index);
    let flagged = 0;
    for (let index = 0; index < 100; index++)
      flagged += detector.score(callOf({ durationSeconds: 4 }), 50 + index)?.length ?? 0;
    // The first 9 of the new level are flagged (no cooldown here); the 10th starts a new baseline.
    expect(flagged).toBe(9);
    expect(detector.score(callOf({ durationSeconds: 4 }), 200)).toBeUndefined();
  });

  it("reads rates by their counts: one error early in a series is no flag, a run of length stops is", () => {
    const early = new AnomalyDetector(settings({ minSamples: 5, cooldownMs: 0 }));
    for (let index = 0; index < 5; index++) early.score(callOf({ failed: false }), index);
    expect(early.score(callOf({ failed: true }), 5)).toBeUndefined();
    const stops = new AnomalyDetector(settings({ cooldownMs: 0 }));
    for (let index = 0; index < 300; index++) stops.score(callOf({ lengthStop: index % 50 === 0 }), index);
    const found: string[] = [];
    for (let index = 0; index < 10; index++) {
      found.push(
        stops
          .score(callOf({ lengthStop: true }), 300 + index)
          ?.map((flag) => flag.signal)
          .join() ?? "",
      );
    }
    expect(found.indexOf("length_stop_rate")).toBeGreaterThan(2);
    expect(found.indexOf("length_stop_rate")).toBeLessThan(10);
  });

  it("tracks at most maxSeries series, and scores only the signals asked for", () => {
    const detector = new AnomalyDetector(settings({ maxSeries: 2, minSamples: 5, signals: ["output_tokens"] }));
    for (const model of ["a", "b", "c"]) detector.score(callOf({ requestModel: model, outputTokens: 10 }), 0);
    expect(detector.size).toBe(2);
    expect(detector.untracked).toBe(1);
    for (let index = 0; index < 10; index++)
      detector.score(callOf({ requestModel: "a", outputTokens: 10, durationSeconds: 1 }), index);
    expect(detector.score(callOf({ requestModel: "a", outputTokens: 10, durationSeconds: 100 }), 20)).toBeUndefined();
    expect(detector.score(callOf({ requestModel: "a", outputTokens: 1000 }), 21)).toHaveLength(1);
    // Missing and non-finite values are never scored.
    expect(detector.score(callOf({ requestModel: "a", outputTokens: Number.NaN }), 22)).toBeUndefined();
    expect(detector.score(callOf({ requestModel: "a", outputTokens: -5 }), 23)).toBeUndefined();
  });

  it("throws InvalidOptionError at set-up, naming the option and the accepted range", () => {
    const invalid: Array<[unknown, string]> = [
      [{ threshold: 1 }, "anomalies.threshold"],
      [{ threshold: Number.NaN }, "anomalies.threshold"],
      [{ minSamples: 2.5 }, "anomalies.minSamples"],
      [{ halfLife: 0 }, "anomalies.halfLife"],
      [{ cooldownMs: -1 }, "anomalies.cooldownMs"],
      [{ maxSeries: 0 }, "anomalies.maxSeries"],
      [{ signals: [] }, "anomalies.signals"],
      [{ signals: ["latency"] }, "anomalies.signals[0]"],
      [{ onAnomaly: "log" }, "anomalies.onAnomaly"],
      [{ window: 10 }, "anomalies.window"],
      ["on", "anomalies"],
    ];
    for (const [option, name] of invalid) {
      let thrown: unknown;
      try {
        setup({ anomalies: option as never });
      } catch (error) {
        thrown = error;
      }
      expect(thrown, name).toBeInstanceOf(InvalidOptionError);
      expect((thrown as InvalidOptionError).option, JSON.stringify(option)).toBe(name);
    }
    expect(() => checkAnomalies({ threshold: 1 })).toThrow(/expected a number from 2 to 20, received number 1/);
    expect(() => checkAnomalies({ signals: ["latency"] })).toThrow(/Accepted signals: duration, time_to_first_chunk/);
    expect(checkAnomalies(false)).toBeUndefined();
    expect(checkAnomalies(true)).toMatchObject({ threshold: 4, minSamples: 30, halfLife: 200, cooldownMs: 300_000 });
  });
});

describe("anomalies on real calls", () => {
  let sink: MemorySink;
  const suite = setupSuite(startMockLLMServer);

  it("marks the offending span, counts the flag and calls onAnomaly after the span ended", async () => {
    sink = memorySink();
    const seen: Array<{ anomaly: Anomaly; spans: number }> = [];
    suite.telemetry = setup({
      serviceName: "anomalies",
      sinks: [sink],
      anomalies: {
        minSamples: 10,
        signals: ["output_tokens"],
        onAnomaly: (anomaly) => {
          seen.push({ anomaly, spans: sink.getSpans().length });
          throw new Error("the app's callback failed");
        },
      },
    });
    const openai = observe(new OpenAI({ baseURL: suite.server.openaiBaseURL, apiKey: "sk-test", maxRetries: 0 }));
    const messages = [{ role: "user" as const, content: "Hello" }];
    for (let index = 0; index < 12; index++) {
      suite.server.enqueue({ usage: { prompt_tokens: 10, completion_tokens: 20 } });
      await openai.chat.completions.create({ model: "gpt-4o-mini", messages });
    }
    suite.server.enqueue({ usage: { prompt_tokens: 10, completion_tokens: 900 } });
    const completion = await openai.chat.completions.create({ model: "gpt-4o-mini", messages });
    expect(completion.usage?.completion_tokens).toBe(900);
    const spans = sink.getSpans();
    expect(spans.slice(0, 12).every((span) => span.attributes["tokentrace.anomaly.flagged"] === undefined)).toBe(true);
    const flagged = spans[12]!;
    expect(flagged.attributes["tokentrace.anomaly.flagged"]).toBe(true);
    expect(flagged.events.map((event) => event.name)).toEqual(["tokentrace.anomaly"]);
    const attributes = flagged.events[0]!.attributes!;
    expect(attributes).toMatchObject({
      "tokentrace.anomaly.signal": "output_tokens",
      "tokentrace.anomaly.value": 900,
      "tokentrace.anomaly.direction": "high",
      "tokentrace.anomaly.method": "ewma_log_z",
    });
    expect(attributes["tokentrace.anomaly.expected"]).toBeCloseTo(20, 9);
    // A count's spread is at least a Poisson count's: 1/sqrt(21) in log at a baseline of 20 tokens (+1).
    expect(attributes["tokentrace.anomaly.z_score"]).toBeCloseTo((Math.log(901) - Math.log(21)) * Math.sqrt(21), 9);

    const points = sumPoints(await sink.collectMetrics(), "tokentrace.anomalies");
    expect(points).toEqual([
      {
        attributes: {
          "gen_ai.operation.name": "chat",
          "gen_ai.provider.name": "openai",
          "gen_ai.request.model": "gpt-4o-mini",
          "tokentrace.anomaly.signal": "output_tokens",
          "tokentrace.anomaly.direction": "high",
        },
        value: 1,
      },
    ]);
    // onAnomaly: in a later turn, after the span ended; its throw swallowed.
    await new Promise((resolve) => setImmediate(resolve));
    expect(seen).toHaveLength(1);
    expect(seen[0]!.spans).toBe(13);
    expect(seen[0]!.anomaly).toMatchObject({
      signal: "output_tokens",
      provider: "openai",
      requestModel: "gpt-4o-mini",
      traceId: flagged.spanContext().traceId,
      spanId: flagged.spanContext().spanId,
    });
  });

  it("flags the runaway request: a root stage with many more model and tool calls than its kind and name make", async () => {
    sink = memorySink();
    const seen: Anomaly[] = [];
    suite.telemetry = setup({
      serviceName: "anomalies",
      sinks: [sink],
      anomalies: { minSamples: 10, signals: ["trace_model_calls", "trace_tool_calls"], onAnomaly: (a) => seen.push(a) },
    });
    const openai = observe(new OpenAI({ baseURL: suite.server.openaiBaseURL, apiKey: "sk-test", maxRetries: 0 }));
    const messages = [{ role: "user" as const, content: "Hello" }];
    const run = (calls: number) =>
      withWorkflow("support", () =>
        withAgent("helper", async () => {
          for (let index = 0; index < calls; index++) {
            withTool("lookup", () => "found");
            await openai.chat.completions.create({ model: "gpt-4o-mini", messages });
          }
        }),
      );
    for (let index = 0; index < 10; index++) await run(index % 2 === 0 ? 3 : 4);
    await run(40);
    const workflows = sink.getSpans().filter((span) => span.name.startsWith("invoke_workflow"));
    expect(workflows).toHaveLength(11);
    expect(workflows.slice(0, 10).some((span) => span.events.length > 0)).toBe(false);
    const runaway = workflows[10]!;
    expect(runaway.attributes["tokentrace.anomaly.flagged"]).toBe(true);
    expect(
      runaway.events.map((event) => [
        event.attributes?.["tokentrace.anomaly.signal"],
        event.attributes?.["tokentrace.anomaly.value"],
      ]),
    ).toEqual([
      ["trace_model_calls", 40],
      ["trace_tool_calls", 40],
    ]);
    // Only the root stage is scored: the agent inside it is not.
    const agents = sink.getSpans().filter((span) => span.name.startsWith("invoke_agent"));
    expect(agents.some((span) => span.attributes["tokentrace.anomaly.flagged"] !== undefined)).toBe(false);
    const points = sumPoints(await sink.collectMetrics(), "tokentrace.anomalies");
    expect(
      points.map((point) => [
        point.attributes["tokentrace.stage.kind"],
        point.attributes["tokentrace.anomaly.signal"],
        point.value,
      ]),
    ).toEqual([
      ["workflow", "trace_model_calls", 1],
      ["workflow", "trace_tool_calls", 1],
    ]);
    // The stores' sizes: one call series (gpt-4o-mini chat), one root stage series (workflow "support").
    const stores = sumPoints(await sink.collectMetrics(), "tokentrace.signals.series");
    expect(
      Object.fromEntries(stores.map((point) => [point.attributes["tokentrace.signals.store"], point.value])),
    ).toEqual({
      model_watch: 1,
      rate_limits: 0,
      anomalies: 1,
      anomalies_stages: 1,
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(seen.map((anomaly) => [anomaly.operation, anomaly.stageName, anomaly.provider, anomaly.signal])).toEqual([
      ["workflow", "support", undefined, "trace_model_calls"],
      ["workflow", "support", undefined, "trace_tool_calls"],
    ]);
    expect(seen[0]!.spanId).toBe(runaway.spanContext().spanId);
  });

  it("costs nothing when off, and a client's anomalies: false turns setup()'s off", async () => {
    sink = memorySink();
    suite.telemetry = setup({ serviceName: "anomalies", sinks: [sink], anomalies: { minSamples: 5 } });
    const openai = observe(new OpenAI({ baseURL: suite.server.openaiBaseURL, apiKey: "sk-test", maxRetries: 0 }), {
      anomalies: false,
    });
    const messages = [{ role: "user" as const, content: "Hello" }];
    for (let index = 0; index < 6; index++) {
      suite.server.enqueue({ usage: { prompt_tokens: 10, completion_tokens: 20 } });
      await openai.chat.completions.create({ model: "gpt-4o-mini", messages });
    }
    suite.server.enqueue({ usage: { prompt_tokens: 10, completion_tokens: 900 } });
    await openai.chat.completions.create({ model: "gpt-4o-mini", messages });
    expect(sink.getSpans().some((span) => span.attributes["tokentrace.anomaly.flagged"] !== undefined)).toBe(false);
    expect(sumPoints(await sink.collectMetrics(), "tokentrace.anomalies")).toEqual([]);
  });
});
