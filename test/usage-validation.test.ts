import OpenAI from "openai";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { anomalyCounts } from "../src/internal/report.js";
import { observe } from "../src/index.js";
import { histogramPoints, sequenceClock } from "./helpers/harness.js";
import { startScriptedServer } from "./helpers/scripted-server.js";
import type { ScriptedServer } from "./helpers/scripted-server.js";
import { createTestTelemetry } from "./helpers/telemetry.js";
import type { TestTelemetry } from "./helpers/telemetry.js";

const messages = [{ role: "user" as const, content: "Hi" }];

function completion(usage: Record<string, unknown>): object {
  return {
    id: "chatcmpl-1",
    object: "chat.completion",
    created: 1,
    model: "gpt-4o-mini",
    choices: [{ index: 0, message: { role: "assistant", content: "Hello" }, finish_reason: "stop" }],
    usage,
  };
}

let server: ScriptedServer;
let telemetry: TestTelemetry;
let answer: object;

beforeEach(async () => {
  server = await startScriptedServer(() => ({ json: answer }));
  telemetry = createTestTelemetry();
});
afterEach(async () => {
  await server.close();
  await telemetry.shutdown();
});

function client(options: { now?: () => number } = {}): OpenAI {
  const { tracerProvider, meterProvider } = telemetry;
  return observe(new OpenAI({ apiKey: "sk-test-usage-validation", baseURL: `${server.url}/v1`, maxRetries: 0 }), {
    tracerProvider,
    meterProvider,
    ...options,
  });
}

describe("usage validation", () => {
  it("leaves out negative, fractional and unsafe token counts, names them on the span and counts the anomaly", async () => {
    answer = completion({ prompt_tokens: -5, completion_tokens: 2.5, total_tokens: 1e300 });
    const before = anomalyCounts().get("usage") ?? 0;
    await client().chat.completions.create({ model: "gpt-4o-mini", messages });
    const { attributes } = telemetry.onlySpan();
    expect(attributes["gen_ai.usage.input_tokens"]).toBeUndefined();
    expect(attributes["gen_ai.usage.output_tokens"]).toBeUndefined();
    expect(attributes["tokentrace.usage.invalid_fields"]).toEqual([
      "gen_ai.usage.input_tokens",
      "gen_ai.usage.output_tokens",
    ]);
    // Nothing to price: no cost, and no "unpriced" either.
    expect(attributes["gen_ai.usage.cost"]).toBeUndefined();
    expect(attributes["tokentrace.cost.unpriced_model"]).toBeUndefined();
    expect(anomalyCounts().get("usage")).toBe(before + 1);
    const tokens = histogramPoints(await telemetry.sink.collectMetrics(), "gen_ai.client.token.usage");
    expect(tokens).toEqual([]);
  });

  it("keeps the sound counts beside an impossible one and prices only what it kept", async () => {
    answer = completion({
      prompt_tokens: 1000,
      completion_tokens: 100,
      prompt_tokens_details: { cached_tokens: 4000 },
      completion_tokens_details: { reasoning_tokens: 500 },
    });
    await client().chat.completions.create({ model: "gpt-4o-mini", messages });
    const { attributes } = telemetry.onlySpan();
    expect(attributes["gen_ai.usage.input_tokens"]).toBe(1000);
    expect(attributes["gen_ai.usage.output_tokens"]).toBe(100);
    expect(attributes["gen_ai.usage.cache_read.input_tokens"]).toBeUndefined();
    expect(attributes["gen_ai.usage.reasoning.output_tokens"]).toBeUndefined();
    expect(attributes["tokentrace.usage.invalid_fields"]).toEqual([
      "gen_ai.usage.cache_read.input_tokens",
      "gen_ai.usage.reasoning.output_tokens",
    ]);
    // gpt-4o-mini: 1000 × 0.15 + 100 × 0.6 per million, no cache discount guessed.
    expect(attributes["gen_ai.usage.cost"]).toBeCloseTo(0.00021, 12);
    expect(attributes["tokentrace.cost.input_clamped"]).toBeUndefined();
    const metrics = await telemetry.sink.collectMetrics();
    const cacheRead = metrics.scopeMetrics
      .flatMap((scope) => scope.metrics)
      .find((m) => m.descriptor.name === "tokentrace.client.token.cache_read");
    expect(cacheRead?.dataPoints ?? []).toEqual([]);
  });

  it("keeps cache and reasoning counts equal to their totals", async () => {
    answer = completion({
      prompt_tokens: 10,
      completion_tokens: 4,
      prompt_tokens_details: { cached_tokens: 10 },
      completion_tokens_details: { reasoning_tokens: 4 },
    });
    await client().chat.completions.create({ model: "gpt-4o-mini", messages });
    const { attributes } = telemetry.onlySpan();
    expect(attributes["gen_ai.usage.cache_read.input_tokens"]).toBe(10);
    expect(attributes["gen_ai.usage.reasoning.output_tokens"]).toBe(4);
    expect(attributes["tokentrace.usage.invalid_fields"]).toBeUndefined();
  });

  it("records no negative time to first chunk, chunk gap or rate when the injected clock runs backwards", async () => {
    server.close().catch(() => undefined);
    const chunk = (delta: object, finish: string | null) => ({
      id: "c1",
      object: "chat.completion.chunk",
      created: 1,
      model: "gpt-4o-mini",
      choices: [{ index: 0, delta, finish_reason: finish }],
    });
    server = await startScriptedServer(() => ({
      events: [
        chunk({ content: "a" }, null),
        chunk({ content: "b" }, "stop"),
        {
          id: "c1",
          object: "chat.completion.chunk",
          created: 1,
          model: "gpt-4o-mini",
          choices: [],
          usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
        },
        "[DONE]",
      ],
    }));
    // Issued at 1000, chunks at 900 and 800 (backwards), usage chunk at 700, end at 1500.
    const stream = await client({ now: sequenceClock([1000, 900, 800, 700, 1500]) }).chat.completions.create({
      model: "gpt-4o-mini",
      messages,
      stream: true,
    });
    for await (const _ of stream) void _;
    const { attributes } = telemetry.onlySpan();
    expect(attributes["tokentrace.stream.chunk_count"]).toBe(2);
    expect(attributes["gen_ai.response.time_to_first_chunk"]).toBeUndefined();
    expect(attributes["tokentrace.stream.mean_chunk_gap"]).toBeUndefined();
    expect(attributes["tokentrace.stream.output_tokens_per_second"]).toBeUndefined();
    expect(attributes["gen_ai.usage.output_tokens"]).toBe(2);
    const metrics = await telemetry.sink.collectMetrics();
    expect(histogramPoints(metrics, "gen_ai.client.operation.time_to_first_chunk")).toEqual([]);
    expect(histogramPoints(metrics, "gen_ai.client.operation.time_per_output_chunk")).toEqual([]);
    const duration = histogramPoints(metrics, "gen_ai.client.operation.duration");
    expect(duration.map((point) => point.value.sum)).toEqual([0.5]);
  });
});
