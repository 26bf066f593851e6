import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { observe } from "../src/index.js";
import { memorySink, setup } from "../src/setup-entry.js";
import type { MemorySink } from "../src/setup-entry.js";
import { ANTHROPIC_RATE_LIMIT_HEADERS, OPENAI_RATE_LIMIT_HEADERS, readRateLimits } from "../src/signals/rate-limits.js";
import { ModelWatch, RateLimitStore } from "../src/signals/call-signals.js";
import { RunningTotals } from "../src/metrics/instruments.js";
import { startMockLLMServer } from "../src/testing/mock-server.js";
import { sumPoints } from "./helpers/harness.js";
import { setupSuite } from "./helpers/telemetry.js";

/**
 * The always-on signals (issue 15): finish reasons and refusals by model, a silently changed model, and the
 * providers' rate-limit headroom, from fields and headers every call reads anyway.
 */

const messages = [{ role: "user" as const, content: "Hello" }];
let sink: MemorySink;
const suite = setupSuite(startMockLLMServer);

function start(): { openai: OpenAI; anthropic: Anthropic } {
  sink = memorySink();
  suite.telemetry = setup({ serviceName: "signals", sinks: [sink] });
  return {
    openai: observe(new OpenAI({ baseURL: suite.server.openaiBaseURL, apiKey: "sk-test", maxRetries: 0 })),
    anthropic: observe(new Anthropic({ baseURL: suite.server.anthropicBaseURL, apiKey: "sk-ant-test", maxRetries: 0 })),
  };
}

/** A gauge's points by metric name (the same shape as a counter's). */
const gaugePoints = sumPoints;

describe("finish reasons and refusals", () => {
  it("counts every choice's finish reason and each refused call, by model", async () => {
    const { openai, anthropic } = start();
    suite.server.enqueue({}, { finishReason: "length" }, { finishReason: "content_filter" });
    await openai.chat.completions.create({ model: "gpt-4o-mini", messages, n: 2 });
    await openai.chat.completions.create({ model: "gpt-4o-mini", messages });
    await openai.chat.completions.create({ model: "gpt-4o", messages });
    suite.server.enqueueAnthropic({ stopReason: "refusal" }, {});
    await anthropic.messages.create({ model: "claude-3-5-haiku-latest", max_tokens: 50, messages });
    await anthropic.messages.create({ model: "claude-3-5-haiku-latest", max_tokens: 50, messages });
    const metrics = await sink.collectMetrics();
    const reasons = sumPoints(metrics, "tokentrace.client.finish_reasons").map((point) => [
      point.attributes["gen_ai.request.model"],
      point.attributes["tokentrace.finish_reason"],
      point.value,
    ]);
    expect(reasons.sort()).toEqual([
      ["claude-3-5-haiku-latest", "end_turn", 1],
      ["claude-3-5-haiku-latest", "refusal", 1],
      ["gpt-4o", "content_filter", 1],
      // n: 2, both choices stopped.
      ["gpt-4o-mini", "length", 1],
      ["gpt-4o-mini", "stop", 2],
    ]);
    const refusals = sumPoints(metrics, "tokentrace.client.refusals").map((point) => [
      point.attributes["gen_ai.request.model"],
      point.value,
    ]);
    expect(refusals.sort()).toEqual([
      ["claude-3-5-haiku-latest", 1],
      ["gpt-4o", 1],
    ]);
    // The same attribute sets as the call counts: the response model is among them.
    expect(
      sumPoints(metrics, "tokentrace.client.finish_reasons")[0]?.attributes["gen_ai.response.model"],
    ).toBeDefined();
  });

  it("labels at most 32 distinct reasons per meter, the rest _other", async () => {
    const { openai } = start();
    for (let index = 0; index < 34; index++) suite.server.enqueue({ finishReason: `reason_${index}` });
    for (let index = 0; index < 34; index++) await openai.chat.completions.create({ model: "gpt-4o-mini", messages });
    const points = sumPoints(await sink.collectMetrics(), "tokentrace.client.finish_reasons");
    expect(points).toHaveLength(33);
    expect(points.find((point) => point.attributes["tokentrace.finish_reason"] === "_other")?.value).toBe(2);
    expect(points.find((point) => point.attributes["tokentrace.finish_reason"] === "reason_31")?.value).toBe(1);
  });
});

describe("finish reasons named like Object.prototype's members", () => {
  it("are counted as any other", async () => {
    const { openai } = start();
    suite.server.enqueue(
      { finishReason: "constructor" },
      { finishReason: "__proto__" },
      { finishReason: "constructor" },
    );
    for (let index = 0; index < 3; index++) await openai.chat.completions.create({ model: "gpt-4o-mini", messages });
    const points = sumPoints(await sink.collectMetrics(), "tokentrace.client.finish_reasons");
    expect(points.map((point) => [point.attributes["tokentrace.finish_reason"], point.value]).sort()).toEqual([
      ["__proto__", 1],
      ["constructor", 2],
    ]);
  });
});

describe("a silently changed model", () => {
  it("counts a response model or system fingerprint new for its request model, once, with a span event", async () => {
    const { openai } = start();
    suite.server.enqueue(
      { model: "gpt-4o-2024-08-06", systemFingerprint: "fp_a" },
      { model: "gpt-4o-2024-08-06", systemFingerprint: "fp_a" },
      // The alias moved, and the backend with it.
      { model: "gpt-4o-2024-11-20", systemFingerprint: "fp_b" },
      // Back to one seen before, then the new one again: alternation is no change.
      { model: "gpt-4o-2024-08-06", systemFingerprint: "fp_a" },
      { model: "gpt-4o-2024-11-20", systemFingerprint: "fp_b" },
    );
    for (let index = 0; index < 5; index++) await openai.chat.completions.create({ model: "gpt-4o", messages });
    const spans = sink.getSpans();
    expect(spans.map((span) => span.events.map((event) => event.name))).toEqual([
      [],
      [],
      ["tokentrace.model_change", "tokentrace.model_change"],
      [],
      [],
    ]);
    expect(spans[2]!.events.map((event) => event.attributes)).toEqual([
      {
        "tokentrace.model_change.kind": "response_model",
        "tokentrace.model_change.previous": "gpt-4o-2024-08-06",
        "tokentrace.model_change.current": "gpt-4o-2024-11-20",
      },
      {
        "tokentrace.model_change.kind": "system_fingerprint",
        "tokentrace.model_change.previous": "fp_a",
        "tokentrace.model_change.current": "fp_b",
      },
    ]);
    const changes = sumPoints(await sink.collectMetrics(), "tokentrace.client.model_changes");
    expect(changes.map((point) => point.attributes)).toEqual([
      {
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "tokentrace.model_change.kind": "response_model",
      },
      {
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "tokentrace.model_change.kind": "system_fingerprint",
      },
    ]);
    expect(changes.map((point) => point.value)).toEqual([1, 1]);
  });

  it("remembers a bounded number of values per request model", () => {
    const totals = new RunningTotals();
    const watch = new ModelWatch(totals);
    expect(watch.see("openai", "m", "v0", undefined)).toBeUndefined();
    for (let index = 1; index <= 16; index++) expect(watch.see("openai", "m", `v${index}`, undefined)).toHaveLength(1);
    // v0 was the oldest of 17: forgotten, so it is new again.
    expect(watch.see("openai", "m", "v0", undefined)).toEqual([
      { kind: "response_model", previous: "v16", current: "v0" },
    ]);
    expect(watch.see("openai", "m", "v16", undefined)).toBeUndefined();
    // No request model, or nothing answered: nothing watched.
    expect(watch.see("openai", undefined, "v1", "fp")).toBeUndefined();
    // 17 new values after the first; no fingerprint ever, so no fingerprint series.
    const observed: Array<[number, unknown]> = [];
    totals.report({ observe: (value: number, attributes?: object) => observed.push([value, attributes]) });
    expect(observed).toEqual([
      [
        17,
        {
          "gen_ai.provider.name": "openai",
          "gen_ai.request.model": "m",
          "tokentrace.model_change.kind": "response_model",
        },
      ],
    ]);
  });
});

describe("retries", () => {
  it("mark the span of a call the SDK retried before its answer", async () => {
    sink = memorySink();
    suite.telemetry = setup({ serviceName: "signals", sinks: [sink] });
    const openai = observe(new OpenAI({ baseURL: suite.server.openaiBaseURL, apiKey: "sk-test", maxRetries: 1 }));
    // A 429 the SDK waits 0 ms on (retry-after-ms), then the answer.
    suite.server.enqueue({ status: 429, headers: { "retry-after-ms": "0" } }, {});
    const completion = await openai.chat.completions.create({ model: "gpt-4o-mini", messages });
    expect(completion.choices[0]?.finish_reason).toBe("stop");
    await openai.chat.completions.create({ model: "gpt-4o-mini", messages });
    expect(sink.getSpans().map((span) => span.attributes["tokentrace.request.retried"])).toEqual([true, undefined]);
    const anthropic = observe(
      new Anthropic({ baseURL: suite.server.anthropicBaseURL, apiKey: "sk-ant-test", maxRetries: 1 }),
    );
    suite.server.enqueueAnthropic({ status: 529, headers: { "retry-after-ms": "0" } }, {});
    await anthropic.messages.create({ model: "claude-3-5-haiku-latest", max_tokens: 50, messages });
    expect(sink.getSpans()[2]?.attributes["tokentrace.request.retried"]).toBe(true);
  });
});

describe("rate-limit headroom", () => {
  const openaiHeaders = {
    "x-ratelimit-limit-requests": "10000",
    "x-ratelimit-remaining-requests": "9999",
    "x-ratelimit-reset-requests": "6ms",
    "x-ratelimit-limit-tokens": "2000000",
    "x-ratelimit-remaining-tokens": "1999950",
    "x-ratelimit-reset-tokens": "1m30.5s",
  };

  it("writes OpenAI's headers on the span and to the gauges, a 429's included", async () => {
    const { openai } = start();
    suite.server.enqueue({ headers: openaiHeaders });
    await openai.chat.completions.create({ model: "gpt-4o-mini", messages });
    const [span] = sink.getSpans();
    expect(
      Object.fromEntries(Object.entries(span!.attributes).filter(([key]) => key.startsWith("tokentrace.ratelimit."))),
    ).toEqual({
      "tokentrace.ratelimit.requests.remaining": 9999,
      "tokentrace.ratelimit.requests.limit": 10000,
      "tokentrace.ratelimit.requests.reset": 0.006,
      "tokentrace.ratelimit.tokens.remaining": 1999950,
      "tokentrace.ratelimit.tokens.limit": 2000000,
      "tokentrace.ratelimit.tokens.reset": 90.5,
    });
    const limits = gaugePoints(await sink.collectMetrics(), "tokentrace.ratelimit.limit");
    expect(limits.map((point) => [point.attributes["tokentrace.ratelimit.kind"], point.value])).toEqual([
      ["requests", 10000],
      ["tokens", 2000000],
    ]);
    expect(limits[0]!.attributes).toEqual({
      "gen_ai.provider.name": "openai",
      "gen_ai.request.model": "gpt-4o-mini",
      "server.address": "127.0.0.1",
      "tokentrace.ratelimit.kind": "requests",
    });

    // Exhausted: the 429 says so, and the gauge follows.
    suite.server.enqueue({
      status: 429,
      headers: { ...openaiHeaders, "x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "20s" },
    });
    await openai.chat.completions.create({ model: "gpt-4o-mini", messages }).catch(() => undefined);
    expect(sink.getSpans()[1]!.attributes["tokentrace.ratelimit.tokens.remaining"]).toBe(0);
    // Past the requests window's 6 ms.
    await new Promise((resolve) => setTimeout(resolve, 10));
    const metrics = await sink.collectMetrics();
    const remaining = gaugePoints(metrics, "tokentrace.ratelimit.remaining");
    // The requests window has reset: its limit is what remains. The tokens one has 20 s to go.
    expect(remaining.map((point) => [point.attributes["tokentrace.ratelimit.kind"], point.value])).toEqual([
      ["requests", 10000],
      ["tokens", 0],
    ]);
    const reset = gaugePoints(metrics, "tokentrace.ratelimit.reset");
    expect(reset[0]!.value).toBe(0);
    expect(reset[1]!.value).toBeGreaterThan(19);
    expect(reset[1]!.value).toBeLessThanOrEqual(20);
  });

  it("writes Anthropic's headers, each kind apart, the reset from its instant", async () => {
    const { anthropic } = start();
    const resetAt = new Date(Date.now() + 60_000).toISOString();
    suite.server.enqueueAnthropic({
      headers: {
        "anthropic-ratelimit-requests-limit": "50",
        "anthropic-ratelimit-requests-remaining": "49",
        "anthropic-ratelimit-requests-reset": resetAt,
        "anthropic-ratelimit-input-tokens-limit": "40000",
        "anthropic-ratelimit-input-tokens-remaining": "39000",
        "anthropic-ratelimit-input-tokens-reset": resetAt,
        "anthropic-ratelimit-output-tokens-limit": "8000",
        "anthropic-ratelimit-output-tokens-remaining": "7990",
        "anthropic-ratelimit-output-tokens-reset": resetAt,
        "anthropic-ratelimit-tokens-limit": "48000",
        "anthropic-ratelimit-tokens-remaining": "46990",
        "anthropic-ratelimit-tokens-reset": resetAt,
      },
    });
    await anthropic.messages.create({ model: "claude-3-5-haiku-latest", max_tokens: 50, messages });
    const [span] = sink.getSpans();
    expect(span!.attributes["tokentrace.ratelimit.input_tokens.remaining"]).toBe(39000);
    expect(span!.attributes["tokentrace.ratelimit.output_tokens.limit"]).toBe(8000);
    const resetSeconds = span!.attributes["tokentrace.ratelimit.requests.reset"] as number;
    expect(resetSeconds).toBeGreaterThan(58);
    expect(resetSeconds).toBeLessThanOrEqual(60);
    const remaining = gaugePoints(await sink.collectMetrics(), "tokentrace.ratelimit.remaining");
    expect(remaining.map((point) => [point.attributes["tokentrace.ratelimit.kind"], point.value])).toEqual([
      ["requests", 49],
      ["tokens", 46990],
      ["input_tokens", 39000],
      ["output_tokens", 7990],
    ]);
  });

  it("leaves out what is not a plain count, a duration or an instant, and a remaining count over its limit", () => {
    const at = Date.parse("2026-12-01T00:00:00Z");
    const clock = () => at;
    const read = (headers: Record<string, string>) =>
      readRateLimits(new Headers(headers), OPENAI_RATE_LIMIT_HEADERS, clock)?.readings;
    expect(read({})).toBeUndefined();
    expect(
      read({
        "x-ratelimit-remaining-requests": "-1",
        "x-ratelimit-limit-requests": "1e3",
        "x-ratelimit-reset-requests": "soon",
        "x-ratelimit-remaining-tokens": "500",
        "x-ratelimit-limit-tokens": "100",
        "x-ratelimit-reset-tokens": "1h2m3.5s",
      }),
    ).toEqual([{ kind: "tokens", limit: 100, remaining: undefined, resetSeconds: 3723.5 }]);
    expect(read({ "x-ratelimit-remaining-requests": "1".repeat(41) })).toBeUndefined();
    for (const duration of ["1s2", "s", "1.s", "1 s", "m5s", "1d"]) {
      expect(read({ "x-ratelimit-remaining-requests": "5", "x-ratelimit-reset-requests": duration })).toEqual([
        { kind: "requests", limit: undefined, remaining: 5, resetSeconds: undefined },
      ]);
    }
    // Anthropic: an instant; one already past is 0 seconds away; a plain object of headers (older SDK errors) too.
    const anthropic = (reset: string) =>
      readRateLimits(
        { "anthropic-ratelimit-requests-remaining": "7", "anthropic-ratelimit-requests-reset": reset },
        ANTHROPIC_RATE_LIMIT_HEADERS,
        clock,
      )?.readings;
    expect(anthropic("2026-12-01T00:00:30Z")).toEqual([
      { kind: "requests", limit: undefined, remaining: 7, resetSeconds: 30 },
    ]);
    expect(anthropic("2026-11-30T23:59:00Z")?.[0]?.resetSeconds).toBe(0);
    expect(anthropic("tomorrow")?.[0]?.resetSeconds).toBeUndefined();
    expect(readRateLimits(null, ANTHROPIC_RATE_LIMIT_HEADERS, clock)).toBeUndefined();
    // The first kind's remaining header absent: nothing else is read.
    expect(read({ "x-ratelimit-remaining-tokens": "5" })).toBeUndefined();
  });

  it("keeps the newest reading: one from a response older than the series' latest (a long stream) is not taken", () => {
    const store = new RateLimitStore(() => 0);
    const reading = (remaining: number) => [{ kind: "requests", limit: 100, remaining, resetSeconds: 60 }];
    store.note("openai", undefined, "m", reading(10), 2000);
    store.note("openai", undefined, "m", reading(90), 1000);
    const observed: number[] = [];
    store.reportRemaining({ observe: (value: number) => observed.push(value) });
    expect(observed).toEqual([10]);
  });

  it("keeps a bounded number of series, and reports the limit as remaining once the window reset", () => {
    let now = 1_000_000;
    const store = new RateLimitStore(() => now);
    const observed: Array<[number, unknown]> = [];
    const result = { observe: (value: number, attributes?: object) => observed.push([value, attributes]) };
    for (let index = 0; index < 300; index++) {
      store.note(
        "openai",
        "api.openai.com",
        `m${index}`,
        [{ kind: "requests", limit: 10, remaining: 3, resetSeconds: 2 }],
        now,
      );
    }
    store.reportRemaining(result);
    expect(observed).toHaveLength(256);
    expect(observed[0]![0]).toBe(3);
    observed.length = 0;
    now += 2000;
    store.reportRemaining(result);
    store.reportReset(result);
    expect(observed.slice(0, 1).map(([value]) => value)).toEqual([10]);
    expect(observed[256]![0]).toBe(0);
  });
});
