import { SpanStatusCode, trace } from "@opentelemetry/api";
import type { Span, Tracer, TracerProvider } from "@opentelemetry/api";
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import type { MetricData, ResourceMetrics } from "@opentelemetry/sdk-metrics";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { maxMetricAttributeSets } from "../src/metrics/instruments.js";
import { collectGarbageUntil } from "./helpers/gc.js";
import { createHarness, histogramPoints, sequenceClock } from "./helpers/harness.js";
import type { Harness } from "./helpers/harness.js";

const messages = [{ role: "user" as const, content: "Hi" }];

let h: Harness;
beforeEach(async () => {
  h = await createHarness();
});
afterEach(async () => {
  await h.close();
});

function metric(metrics: ResourceMetrics, name: string): MetricData | undefined {
  return metrics.scopeMetrics.flatMap((scope) => scope.metrics).find((candidate) => candidate.descriptor.name === name);
}

function durationNanos(span: ReadableSpan): number {
  return span.duration[0] * 1e9 + span.duration[1];
}

/** A tracer provider whose spans throw on `setAttribute` of the given names: a faulty tracer, as a step that fails. */
function throwingOn(provider: TracerProvider, failing: ReadonlySet<string>): TracerProvider {
  return {
    getTracer(name, version, options): Tracer {
      const tracer = provider.getTracer(name, version, options);
      return {
        startSpan(spanName, spanOptions, context): Span {
          const span = tracer.startSpan(spanName, spanOptions, context);
          const setAttribute = span.setAttribute.bind(span);
          span.setAttribute = (key, value) => {
            if (failing.has(key)) throw new Error(`tracer failure on ${key}`);
            return setAttribute(key, value);
          };
          return span;
        },
        startActiveSpan: tracer.startActiveSpan.bind(tracer),
      };
    },
  };
}

describe("the span and the duration metric share one clock", () => {
  it("gives the span exactly the duration recorded in gen_ai.client.operation.duration with an injected clock", async () => {
    const client = h.observeClient(h.raw, { now: sequenceClock([10_000, 11_234.5]) });
    const before = Date.now();
    await client.chat.completions.create({ model: "gpt-4o-mini", messages });
    const after = Date.now();
    const span = h.onlySpan();
    const [point] = histogramPoints(await h.sink.collectMetrics(), "gen_ai.client.operation.duration");
    expect(point!.value.sum).toBe(1.2345);
    expect(durationNanos(span)).toBe(1_234_500_000);
    // The span sits where the call was made on the wall clock.
    const startMs = span.startTime[0] * 1000 + span.startTime[1] / 1e6;
    expect(startMs).toBeGreaterThanOrEqual(before);
    expect(startMs).toBeLessThanOrEqual(after);
  });

  it("gives the span the duration of the default clock to the nanosecond", async () => {
    await h.openai.chat.completions.create({ model: "gpt-4o-mini", messages });
    const span = h.onlySpan();
    const [point] = histogramPoints(await h.sink.collectMetrics(), "gen_ai.client.operation.duration");
    expect(Math.abs(durationNanos(span) - (point!.value.sum ?? Number.NaN) * 1e9)).toBeLessThan(1);
  });

  it("stamps the exception event of a failed call at the span's end", async () => {
    h.server.enqueue({ status: 500 });
    const client = h.observeClient(h.raw, { now: sequenceClock([0, 250]) });
    await client.chat.completions.create({ model: "gpt-4o-mini", messages }).catch(() => undefined);
    const span = h.onlySpan();
    expect(span.events[0]?.time).toEqual(span.endTime);
    expect(durationNanos(span)).toBe(250_000_000);
  });
});

describe("abandoned calls", () => {
  it("count by outcome but record no duration or time to first chunk", async () => {
    await (async () => {
      await h.openai.chat.completions.create({ model: "gpt-4o-mini", messages, stream: true });
    })();
    await collectGarbageUntil(() => h.spans().length > 0);
    expect(h.onlySpan().attributes["tokentrace.stream.end"]).toBe("abandoned");
    const metrics = await h.sink.collectMetrics();
    expect(histogramPoints(metrics, "gen_ai.client.operation.duration")).toEqual([]);
    expect(histogramPoints(metrics, "gen_ai.client.operation.time_to_first_chunk")).toEqual([]);
    const calls = metric(metrics, "tokentrace.client.calls")!;
    expect(calls.dataPoints.map((point) => [point.attributes["tokentrace.call.outcome"], point.value])).toEqual([
      ["abandoned", 1],
    ]);
  });
});

describe("a failing step of the end of a call", () => {
  it("keeps status ERROR, error.type and the other attributes when content and cost fail", async () => {
    const failing = new Set(["gen_ai.input.messages", "gen_ai.usage.cost", "tokentrace.cost.unpriced_model"]);
    const client = h.observeClient(h.raw, { tracerProvider: throwingOn(h.tracerProvider, failing) });
    h.server.enqueue({ status: 429 });
    const error: unknown = await client.chat.completions
      .create({ model: "gpt-4o-mini", messages })
      .catch((caught: unknown) => caught);
    expect((error as { status?: number }).status).toBe(429);
    const span = h.onlySpan();
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(span.attributes["error.type"]).toBe("RateLimitError");
    expect(span.attributes["http.response.status_code"]).toBe(429);
    expect(span.attributes["gen_ai.response.finish_reasons"]).toEqual(["error"]);
    expect(span.attributes["gen_ai.input.messages"]).toBeUndefined();
    expect(span.events.map((event) => event.name)).toEqual(["exception"]);
  });

  it("loses only the failing step of a completed call", async () => {
    const failing = new Set(["gen_ai.usage.cost", "gen_ai.input.messages"]);
    const client = h.observeClient(h.raw, { tracerProvider: throwingOn(h.tracerProvider, failing) });
    await client.chat.completions.create({ model: "gpt-4o-mini", messages });
    const { attributes } = h.onlySpan();
    expect(attributes["gen_ai.usage.input_tokens"]).toBeTypeOf("number");
    expect(attributes["gen_ai.usage.cost"]).toBeUndefined();
    // The cost step stopped at its first attribute; the content step loses only the failing attribute.
    expect(attributes["tokentrace.cost.input"]).toBeUndefined();
    expect(attributes["gen_ai.input.messages"]).toBeUndefined();
    expect(attributes["gen_ai.output.messages"]).toBeTypeOf("string");
    expect(attributes["tokentrace.request.id"]).toBeTypeOf("string");
    expect(trace.getActiveSpan()).toBeUndefined();
  });
});

describe("counters past the cap on attribute sets", () => {
  it("count every call under the SDK's overflow attribute set, and totals never restart", async () => {
    const calls = maxMetricAttributeSets + 5;
    for (let index = 0; index < calls; index++) {
      await h.openai.chat.completions.create({ model: `model-${index}`, messages });
    }
    const first = await h.sink.collectMetrics();
    const points = metric(first, "tokentrace.client.calls")!.dataPoints;
    const overflow = points.filter((point) => point.attributes["otel.metric.overflow"] === true);
    expect(points).toHaveLength(maxMetricAttributeSets + 1);
    expect(overflow.map((point) => [point.attributes, point.value])).toEqual([[{ "otel.metric.overflow": true }, 5]]);
    expect(points.reduce((sum, point) => sum + (point.value as number), 0)).toBe(calls);
    const duration = histogramPoints(first, "gen_ai.client.operation.duration");
    expect(duration).toHaveLength(maxMetricAttributeSets + 1);
    expect(duration.find((point) => point.attributes["otel.metric.overflow"] === true)?.value.count).toBe(5);

    // The first model again: its total goes on from 1, never from 0.
    await h.openai.chat.completions.create({ model: "model-0", messages });
    const again = metric(await h.sink.collectMetrics(), "tokentrace.client.calls")!.dataPoints;
    expect(again.find((point) => point.attributes["gen_ai.request.model"] === "model-0")?.value).toBe(2);
  });
});

describe("cost that cannot be true", () => {
  it("is left out of the span and the cost counter when a price makes it infinite", async () => {
    const pricing = { models: { "gpt-4o-mini": { inputPerMillionUsd: 1e308, outputPerMillionUsd: 1e308 } } };
    const client = h.observeClient(h.raw, { pricing });
    await client.chat.completions.create({ model: "gpt-4o-mini", messages });
    const { attributes } = h.onlySpan();
    expect(attributes["gen_ai.usage.input_tokens"]).toBeTypeOf("number");
    expect(attributes["gen_ai.usage.cost"]).toBeUndefined();
    expect(attributes["tokentrace.cost.input"]).toBeUndefined();
    // The model has a price: it is not reported as unpriced.
    expect(attributes["tokentrace.cost.unpriced_model"]).toBeUndefined();
    const cost = metric(await h.sink.collectMetrics(), "tokentrace.client.cost");
    expect(cost?.dataPoints ?? []).toEqual([]);
  });
});
