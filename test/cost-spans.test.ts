import OpenAI from "openai";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { InvalidOptionError, observe } from "../src/index.js";
import { consoleSink, memorySink, setup } from "../src/setup-entry.js";
import { PRICE_SNAPSHOT } from "../src/metrics/price-snapshot.js";
import { createHarness, collect } from "./helpers/harness.js";
import type { Harness } from "./helpers/harness.js";

const messages = [{ role: "user" as const, content: "What is the capital of France?" }];

let h: Harness;
beforeEach(async () => {
  h = await createHarness();
});
afterEach(async () => {
  await h.close();
});

/** `expect.closeTo(value, 15)`, typed as the matcher it is (vitest types it `any`). */
const closeTo = (value: number): unknown => expect.closeTo(value, 15);

function costOf(index = 0): Record<string, unknown> {
  const attributes = h.spans()[index]!.attributes;
  return Object.fromEntries(Object.entries(attributes).filter(([key]) => key.includes("cost")));
}

describe("cost on spans", () => {
  it("prices gpt-4o-mini at 1000 input and 500 output tokens at $0.00045", async () => {
    h.server.enqueue({ usage: { prompt_tokens: 1000, completion_tokens: 500 } });
    await h.openai.chat.completions.create({ model: "gpt-4o-mini", messages });
    // 1000 × $0.15/M + 500 × $0.60/M = $0.00015 + $0.0003
    expect(costOf()).toEqual({
      "gen_ai.usage.cost": closeTo(0.00045),
      "tokentrace.cost.input": closeTo(0.00015),
      "tokentrace.cost.cached_input": 0,
      "tokentrace.cost.cache_write": 0,
      "tokentrace.cost.output": closeTo(0.0003),
      "tokentrace.cost.model": "gpt-4o-mini",
      "tokentrace.cost.source": "snapshot",
      "tokentrace.cost.snapshot_date": PRICE_SNAPSHOT.generatedDate,
    });
  });

  it("charges cached input at the cache rate, inside the total input OpenAI reports", async () => {
    h.server.enqueue({
      model: "gpt-4o-2024-08-06",
      usage: { prompt_tokens: 2000, completion_tokens: 300, cached_tokens: 1500 },
    });
    await collect(await h.openai.chat.completions.create({ model: "gpt-4o", messages, stream: true }));
    // gpt-4o: 500 uncached × $2.50/M + 1500 cached × $1.25/M + 300 × $10/M
    const cost = costOf();
    expect(cost["tokentrace.cost.input"]).toBeCloseTo(0.00125, 15);
    expect(cost["tokentrace.cost.cached_input"]).toBeCloseTo(0.001875, 15);
    expect(cost["tokentrace.cost.output"]).toBeCloseTo(0.003, 15);
    expect(cost["gen_ai.usage.cost"]).toBeCloseTo(0.006125, 15);
  });

  it("halves the price when the response says it ran on the flex tier", async () => {
    h.server.enqueue({ serviceTier: "flex", usage: { prompt_tokens: 1000, completion_tokens: 500 } });
    await h.openai.chat.completions.create({ model: "gpt-4o-mini", messages, service_tier: "flex" });
    expect(costOf()["gen_ai.usage.cost"]).toBeCloseTo(0.000225, 15);
  });

  it("prices by the tier the response reports, not the one requested", async () => {
    h.server.enqueue({ serviceTier: "default", usage: { prompt_tokens: 1000, completion_tokens: 500 } });
    await h.openai.chat.completions.create({ model: "gpt-4o-mini", messages, service_tier: "flex" });
    expect(costOf()["gen_ai.usage.cost"]).toBeCloseTo(0.00045, 15);
  });

  it("gives an unknown model no cost at all, never zero, and names the model", async () => {
    await h.openai.chat.completions.create({ model: "my-own-model", messages });
    const attributes = h.onlySpan().attributes;
    expect(attributes["gen_ai.usage.cost"]).toBeUndefined();
    expect(attributes["tokentrace.cost.unpriced_model"]).toBe("my-own-model");
    expect(attributes["gen_ai.usage.input_tokens"]).toBe(12);
  });

  it("uses the app's own prices and discount for a client, marked as an override", async () => {
    const client = h.observeClient(new OpenAI({ baseURL: h.server.openaiBaseURL, apiKey: "sk-x", maxRetries: 0 }), {
      pricing: { models: { "my-own-model": { inputPerMillionUsd: 3, outputPerMillionUsd: 12 } }, discount: 0.8 },
    });
    h.server.enqueue({ usage: { prompt_tokens: 1000, completion_tokens: 500 } });
    await client.chat.completions.create({ model: "my-own-model", messages });
    // (1000 × $3/M + 500 × $12/M) × 0.8 = $0.0072
    expect(costOf()["gen_ai.usage.cost"]).toBeCloseTo(0.0072, 15);
    expect(costOf()["tokentrace.cost.source"]).toBe("override");
    expect(costOf()["tokentrace.cost.model"]).toBe("my-own-model");
  });

  it("applies setup()'s pricing to clients observed without their own", async () => {
    const sink = memorySink();
    const telemetry = setup({ sinks: [sink], pricing: { aliases: { "prod-chat": "gpt-4o-mini" } } });
    try {
      const client = observe(new OpenAI({ baseURL: h.server.openaiBaseURL, apiKey: "sk-x", maxRetries: 0 }));
      h.server.enqueue({ model: "prod-chat", usage: { prompt_tokens: 1000, completion_tokens: 500 } });
      await client.chat.completions.create({ model: "prod-chat", messages });
      const [span] = sink.getSpans();
      expect(span!.attributes["gen_ai.usage.cost"]).toBeCloseTo(0.00045, 15);
      expect(span!.attributes["tokentrace.cost.source"]).toBe("override");
    } finally {
      await telemetry.shutdown();
    }
  });

  it("rejects invalid pricing at observe(), naming the field", () => {
    const client = new OpenAI({ apiKey: "sk-x" });
    expect(() =>
      observe(client, { pricing: { models: { m: { inputPerMillionUsd: -1, outputPerMillionUsd: 1 } } } }),
    ).toThrow(InvalidOptionError);
    expect(() =>
      observe(client, { pricing: { models: { m: { inputPerMillionUsd: -1, outputPerMillionUsd: 1 } } } }),
    ).toThrow(/pricing\.models\.m\.inputPerMillionUsd/);
    expect(() => observe(client, { pricing: { discount: 2 } })).toThrow(/pricing\.discount/);
  });

  it("counts spend in the cost counter and shows it, with a running total, in the console sink", async () => {
    const lines: string[] = [];
    const sink = memorySink();
    const telemetry = setup({ sinks: [sink, consoleSink({ write: (line) => lines.push(line) })] });
    try {
      const client = observe(new OpenAI({ baseURL: h.server.openaiBaseURL, apiKey: "sk-x", maxRetries: 0 }));
      h.server.enqueue(
        { usage: { prompt_tokens: 1000, completion_tokens: 500 } },
        { usage: { prompt_tokens: 1000, completion_tokens: 500 } },
      );
      await client.chat.completions.create({ model: "gpt-4o-mini", messages });
      await client.chat.completions.create({ model: "gpt-4o-mini", messages });
      expect(lines.map((line) => line.slice(line.indexOf("cost")))).toEqual([
        "cost $0.000450 (total $0.000450)",
        "cost $0.000450 (total $0.000900)",
      ]);
      const metrics = await sink.collectMetrics();
      const points = metrics.scopeMetrics
        .flatMap((scope) => scope.metrics)
        .filter((metric) => metric.descriptor.name === "tokentrace.client.cost");
      expect(points).toHaveLength(1);
      expect(points[0]!.descriptor.unit).toBe("{USD}");
      expect(points[0]!.dataPoints.map((point) => point.value)).toEqual([expect.closeTo(0.0009, 15)]);
      expect(points[0]!.dataPoints[0]!.attributes).toEqual({
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "server.address": "127.0.0.1",
        "server.port": h.server.port,
      });
    } finally {
      await telemetry.shutdown();
    }
  });
});
