import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { context, diag, DiagLogLevel, trace } from "@opentelemetry/api";
import type { DiagLogger } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  InvalidOptionError,
  TokentraceError,
  UnsupportedClientError,
  VERSION,
  isTokentraceError,
  observe,
} from "../src/index.js";
import { consoleSink, memorySink, setup } from "../src/setup-entry.js";
import { internalErrorCounts } from "../src/internal/report.js";
import { openCallCount } from "../src/recorder/call.js";
import { API_KEY, collect, createHarness, histogramPoints, sequenceClock } from "./helpers/harness.js";
import type { Harness } from "./helpers/harness.js";
import { collectGarbageUntil } from "./helpers/gc.js";
import { majorOf, openaiSdkVersion } from "./helpers/sdk-versions.js";
import packageJson from "../package.json" with { type: "json" };

const messages = [{ role: "user" as const, content: "What is the capital of France?" }];

let h: Harness;
beforeEach(async () => {
  h = await createHarness();
});
afterEach(async () => {
  await h.close();
});

describe("observe()", () => {
  it("returns the same wrapper when a client or its wrapper is observed again", () => {
    const client = new OpenAI({ baseURL: h.server.openaiBaseURL, apiKey: "sk-x" });
    const observed = observe(client);
    expect(observe(client)).toBe(observed);
    expect(observe(observed)).toBe(observed);
  });

  it("keeps instanceof, plain properties and untraced methods of the real client", async () => {
    expect(h.openai).toBeInstanceOf(OpenAI);
    expect(h.openai.baseURL).toBe(h.server.openaiBaseURL);
    expect(h.openai.apiKey).toBe(API_KEY);
    // An untraced resource method (private #fields inside the SDK) goes straight through.
    const error = await h.openai.models.list().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
    expect(h.spans()).toHaveLength(0);
  });

  // OpenAI clients have withOptions() from openai 5 on; the 4.x projects run everything else.
  it.skipIf(majorOf(openaiSdkVersion) < 5)("observes the client that withOptions() returns", async () => {
    const derived = h.openai.withOptions({ timeout: 5_000 });
    expect(derived).toBeInstanceOf(OpenAI);
    expect(derived.timeout).toBe(5_000);
    await derived.chat.completions.create({ model: "gpt-4o-mini", messages });
    expect(h.onlySpan().name).toBe("chat gpt-4o-mini");
  });

  it("rejects what is not a supported client with a TokentraceError naming what it received", () => {
    const attempts: Array<[unknown, string]> = [
      [{}, "received an object"],
      [null, "received null"],
      ["sk-abc", 'received the string "sk-abc"'],
      [new Map(), "received an instance of Map"],
    ];
    for (const [value, fragment] of attempts) {
      let thrown: unknown;
      try {
        observe(value as object);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(UnsupportedClientError);
      expect(thrown).toBeInstanceOf(TokentraceError);
      expect(isTokentraceError(thrown)).toBe(true);
      expect((thrown as Error).message).toContain(fragment);
      expect((thrown as Error).message).toContain("OpenAI (openai package)");
    }
  });

  it("fails fast on invalid options, naming the option and what it accepts", () => {
    const client = new OpenAI({ apiKey: "sk-x" });
    const cases: Array<[object, string, string]> = [
      [{ captureContent: "yes" }, "captureContent", 'expected true or false, received the string "yes"'],
      [{ maxContentLength: 3 }, "maxContentLength", "expected an integer of at least 64"],
      [{ injectStreamUsage: 1 }, "injectStreamUsage", "expected true or false, received number 1"],
      [{ tracerProvider: {} }, "tracerProvider", "getTracer()"],
      [{ now: 5 }, "now", "expected a function"],
      [{ captureContnet: true }, "captureContnet", "unknown option. Accepted options: captureContent"],
      // The content limits and redaction options (issue 13).
      [{ pii: ["secrets"] }, "pii[0]", 'unknown preset the string "secrets". Accepted presets: email, phone'],
      [
        { redactPatterns: [{ kind: "email", pattern: /x/ }] },
        "redactPatterns[0].kind",
        'the string "email" names a built-in kind or one of the pipeline\'s own',
      ],
      [
        { redactPatterns: [{ kind: "redaction_failed", pattern: /x/ }] },
        "redactPatterns[0].kind",
        "choose another name",
      ],
      [
        { maxContentBytes: 10 },
        "maxContentBytes",
        "expected an integer of at least 64 (UTF-8 bytes), received number 10",
      ],
      [
        { maxSpanContentBytes: "1MB" },
        "maxSpanContentBytes",
        'expected an integer of at least 64 (UTF-8 bytes), received the string "1MB"',
      ],
      [
        { maxContentMessages: 0 },
        "maxContentMessages",
        "expected an integer from 1 to 10000 (messages), received number 0",
      ],
      [
        { pii: "email" },
        "pii",
        'expected an array of presets (email, phone, credit_card, iban, ip_address, us_ssn), received the string "email"',
      ],
      [
        { pii: ["email", "passport"] },
        "pii[1]",
        'unknown preset the string "passport". Accepted presets: email, phone, credit_card, iban, ip_address, us_ssn (secrets are always redacted).',
      ],
      [
        { redactPatterns: [{ kind: "Ticket", pattern: /T-\d+/ }] },
        "redactPatterns[0].kind",
        'expected a lower-case name (a letter, then up to 31 of a-z, 0-9, "_"), received the string "Ticket"',
      ],
      [
        { redactPatterns: [{ kind: "ticket", pattern: "T-[0-9]+" }] },
        "redactPatterns[0].pattern",
        'expected a RegExp, received the string "T-[0-9]+"',
      ],
      [
        { redactPatterns: [{ kind: "ticket", pattern: /x/, flags: "g" }] },
        "redactPatterns[0].flags",
        "unknown option. Accepted options: kind, pattern.",
      ],
      [
        { redactPatterns: Array.from({ length: 33 }, () => ({ kind: "x", pattern: /x/ })) },
        "redactPatterns",
        "expected an array of at most 32 { kind, pattern } entries, received 33 entries",
      ],
      [{ redact: "mask" }, "redact", 'expected a function (text, field) => string | null, received the string "mask"'],
      [
        { redact: async (text: string) => Promise.resolve(text) },
        "redact",
        "expected a synchronous function (text, field) => string | null; an async function is not accepted",
      ],
      [{ redactReplacement: "sha256" }, "redactReplacement", 'expected "kind" or "hash", received the string "sha256"'],
      [
        { redactHashKey: "short" },
        "redactHashKey",
        "expected a secret string of at least 16 characters, received a string of 5",
      ],
    ];
    for (const [options, option, fragment] of cases) {
      let thrown: unknown;
      try {
        observe(client, options);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(InvalidOptionError);
      expect((thrown as InvalidOptionError).option).toBe(option);
      expect((thrown as Error).message).toContain(`\`${option}\``);
      expect((thrown as Error).message).toContain(fragment);
    }
  });

  it("uses the options as checked: changing the options object afterwards changes nothing", async () => {
    const sink = memorySink();
    const pii: string[] = ["email"];
    const contentSampling = { rate: 1, always: ["error"] };
    const given = { serviceName: "snapshot", sinks: [sink], captureContent: true, pii, contentSampling };
    const telemetry = setup(given as Parameters<typeof setup>[0]);
    try {
      // After set-up: an unknown preset (which set-up would have refused) and another rate.
      pii.push("passport");
      contentSampling.rate = 0;
      contentSampling.always.push("sometimes");
      const h = await createHarness();
      try {
        const client = observe(new OpenAI({ baseURL: h.server.openaiBaseURL, apiKey: API_KEY, maxRetries: 0 }));
        await client.chat.completions.create({
          model: "gpt-4o-mini",
          messages: [{ role: "user", content: "mail ann@example.com" }],
        });
      } finally {
        await h.close();
      }
      const [span] = sink.getSpans();
      expect(span?.attributes["gen_ai.input.messages"]).toBe(
        JSON.stringify([{ role: "user", parts: [{ type: "text", content: "mail [EMAIL]" }] }]),
      );
      expect(span?.attributes["tokentrace.content.sampling_reason"]).toBe("rate");
    } finally {
      await telemetry.shutdown();
    }
  });

  it("recognises its errors from another copy of the package by name", () => {
    const foreign = new Error("from another copy");
    foreign.name = "InvalidOptionError";
    expect(isTokentraceError(foreign)).toBe(true);
    expect(isTokentraceError(new Error("plain"))).toBe(false);
  });

  it("keeps the package version and the instrumentation scope version in step", () => {
    expect(VERSION).toBe(packageJson.version);
  });
});

describe("content capture", () => {
  it("is off by default, as the GenAI conventions require: no messages, tools or error text leave the process", async () => {
    expect(process.env["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"]).toBeUndefined();
    const client = h.observeClient(new OpenAI({ baseURL: h.server.openaiBaseURL, apiKey: "sk-x", maxRetries: 0 }), {
      captureContent: undefined,
    });
    await client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "my card is 4111 1111 1111 1111" },
      ],
      tools: [{ type: "function", function: { name: "f", parameters: {} } }],
    });
    await collect(await client.chat.completions.create({ model: "gpt-4o-mini", messages, stream: true }));
    h.server.enqueue({ status: 400 }); // its message: "The request was rejected with status 400. (…)"
    await client.chat.completions.create({ model: "gpt-4o-mini", messages }).catch(() => undefined);
    const spans = h.spans();
    expect(spans).toHaveLength(3);
    const recorded = JSON.stringify(spans.map((span) => [span.attributes, span.events, span.status]));
    for (const text of ["Be brief", "4111", "capital of France", "Hello from", "rejected with status"]) {
      expect(recorded, text).not.toContain(text);
    }
    expect(spans.map((span) => span.attributes["gen_ai.input.messages"])).toEqual([undefined, undefined, undefined]);
    expect(spans[2]!.attributes["error.type"]).toBe("BadRequestError");
  });

  it("records no content attributes when captureContent is false", async () => {
    const client = h.observeClient(new OpenAI({ baseURL: h.server.openaiBaseURL, apiKey: "sk-x", maxRetries: 0 }), {
      captureContent: false,
    });
    await client.chat.completions.create({
      model: "gpt-4o-mini",
      messages,
      tools: [{ type: "function", function: { name: "f", parameters: {} } }],
    });
    await collect(await client.chat.completions.create({ model: "gpt-4o-mini", messages, stream: true }));
    for (const span of h.spans()) {
      const keys = Object.keys(span.attributes);
      expect(
        keys.filter(
          (key) =>
            key.startsWith("gen_ai.input") || key.startsWith("gen_ai.output.messages") || key.startsWith("gen_ai.tool"),
        ),
      ).toEqual([]);
      expect(span.attributes["gen_ai.usage.output_tokens"]).toBe(6);
    }
  });

  it("follows OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT, and turns capture off with one warning for an invalid value", async () => {
    const warnings: string[] = [];
    const logger: DiagLogger = {
      error: () => {},
      warn: (message) => warnings.push(message),
      info: () => {},
      debug: () => {},
      verbose: () => {},
    };
    diag.setLogger(logger, DiagLogLevel.WARN);
    try {
      // No captureContent option (the harness opts in by default): the variable decides.
      const fromEnv = (): OpenAI =>
        h.observeClient(new OpenAI({ baseURL: h.server.openaiBaseURL, apiKey: "sk-x", maxRetries: 0 }), {
          captureContent: undefined,
        });
      process.env["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = "true";
      const on = fromEnv();
      process.env["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = "false";
      const off = fromEnv();
      process.env["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = "maybe";
      const fallback = fromEnv();
      await on.chat.completions.create({ model: "gpt-4o-mini", messages });
      await off.chat.completions.create({ model: "gpt-4o-mini", messages });
      await fallback.chat.completions.create({ model: "gpt-4o-mini", messages });
      const [onSpan, offSpan, fallbackSpan] = h.spans();
      expect(onSpan!.attributes["gen_ai.input.messages"]).toBe(
        '[{"role":"user","parts":[{"type":"text","content":"What is the capital of France?"}]}]',
      );
      expect(offSpan!.attributes["gen_ai.input.messages"]).toBeUndefined();
      expect(fallbackSpan!.attributes["gen_ai.input.messages"]).toBeUndefined();
      expect(
        warnings.filter((warning) => warning.includes("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT")),
      ).toEqual([
        'tokentrace: OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="maybe" is not one of true, false, NO_CONTENT, SPAN_ONLY, EVENT_ONLY, SPAN_AND_EVENT; content capture is off.',
      ]);
    } finally {
      delete process.env["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"];
      diag.disable();
    }
  });

  it("cuts long content to maxContentLength while keeping valid JSON, and says which attribute was cut", async () => {
    const client = h.observeClient(new OpenAI({ baseURL: h.server.openaiBaseURL, apiKey: "sk-x", maxRetries: 0 }), {
      maxContentLength: 200,
    });
    const long = "x".repeat(5_000);
    await client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: long }] });
    const attributes = h.onlySpan().attributes;
    const input = attributes["gen_ai.input.messages"] as string;
    expect(input.length).toBeLessThanOrEqual(200);
    const parsed = JSON.parse(input) as Array<{ parts: Array<{ content: string }> }>;
    expect(parsed[0]!.parts[0]!.content).toMatch(/^x+…\[truncated\]$/);
    expect(attributes["tokentrace.content.truncated"]).toEqual(["gen_ai.input.messages"]);
    // Short attributes are left whole.
    expect(JSON.parse(attributes["gen_ai.output.messages"] as string)).toHaveLength(1);
  });

  it("never puts the API key or auth headers in any attribute", async () => {
    await h.openai.chat.completions.create({ model: "gpt-4o-mini", messages });
    await collect(await h.openai.chat.completions.create({ model: "gpt-4o-mini", messages, stream: true }));
    h.server.enqueue({ status: 401 });
    await h.openai.chat.completions.create({ model: "gpt-4o-mini", messages }).catch(() => undefined);
    expect(h.spans()).toHaveLength(3);
    for (const span of h.spans()) {
      const dump = JSON.stringify({ attributes: span.attributes, events: span.events });
      expect(dump).not.toContain(API_KEY);
      expect(dump.toLowerCase()).not.toContain("authorization");
      expect(dump.toLowerCase()).not.toContain("bearer");
    }
  });
});

describe("never breaking the host", () => {
  it("keeps calls working when the injected clock throws, at the start or at the end of a call", async () => {
    let reads = 0;
    // The first call's start fails; the second call starts, and its end fails.
    const clock = (): number => {
      reads++;
      if (reads === 1 || reads === 3) throw new Error("clock exploded");
      return 1_000;
    };
    const client = h.observeClient(h.raw, { now: clock });
    const prepareErrors = internalErrorCounts().get("prepare") ?? 0;
    const clockErrors = internalErrorCounts().get("clock") ?? 0;
    const first = await client.chat.completions.create({ model: "gpt-4o-mini", messages });
    const second = await client.chat.completions.create({ model: "gpt-4o-mini", messages });
    expect(first.choices[0]?.message.content).toBe("Hello from the tokentrace mock server.");
    expect(second.choices[0]?.message.content).toBe("Hello from the tokentrace mock server.");
    expect(internalErrorCounts().get("prepare")).toBe(prepareErrors + 1);
    expect(internalErrorCounts().get("clock")).toBe(clockErrors + 1);
    // The untraced first call has no span; the second has its span, and no duration point.
    expect(h.onlySpan().attributes["gen_ai.usage.output_tokens"]).toBe(6);
    const metrics = await h.sink.collectMetrics();
    expect(histogramPoints(metrics, "gen_ai.client.operation.duration")).toHaveLength(0);
    expect(histogramPoints(metrics, "gen_ai.client.token.usage")).toHaveLength(2);
  });

  it("keeps calls working and counts the failure when the tracer itself throws", async () => {
    const broken = {
      getTracer: () => {
        throw new Error("tracer exploded");
      },
    };
    const client = observe(new OpenAI({ baseURL: h.server.openaiBaseURL, apiKey: "sk-x", maxRetries: 0 }), {
      tracerProvider: broken,
    });
    const before = internalErrorCounts().get("prepare") ?? 0;
    const result = await client.chat.completions.create({ model: "gpt-4o-mini", messages });
    expect(result.choices[0]?.message.content).toBe("Hello from the tokentrace mock server.");
    expect(internalErrorCounts().get("prepare")).toBe(before + 1);
  });

  it("ends the span of a request aborted through its AbortSignal before any response", async () => {
    h.server.enqueue({ firstChunkDelayMs: 200 });
    const controller = new AbortController();
    const promise = h.openai.chat.completions.create({ model: "gpt-4o-mini", messages }, { signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    const error: unknown = await promise.catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.APIUserAbortError);
    const span = h.onlySpan();
    expect(span.attributes["gen_ai.response.finish_reasons"]).toEqual(["cancelled"]);
    expect(span.attributes["error.type"]).toBeUndefined();
  });

  it("ends the span of a stream that is never read once the stream is garbage-collected", async () => {
    await (async () => {
      const stream = await h.openai.chat.completions.create({ model: "gpt-4o-mini", messages, stream: true });
      expect(stream.controller).toBeInstanceOf(AbortController);
    })();
    await collectGarbageUntil(() => h.spans().length > 0);
    const span = h.onlySpan();
    expect(span.attributes["tokentrace.stream.end"]).toBe("abandoned");
    expect(span.attributes["gen_ai.response.finish_reasons"]).toEqual(["cancelled"]);
  });

  it("ends the span of a non-streaming call whose promise is dropped unread once it is garbage-collected", async () => {
    await (async () => {
      const promise = h.openai.chat.completions.create({ model: "gpt-4o-mini", messages });
      // The response arrives while nobody has asked for its parse.
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(typeof promise.then).toBe("function");
    })();
    await collectGarbageUntil(() => h.spans().length > 0);
    const span = h.onlySpan();
    expect(span.attributes["http.response.status_code"]).toBe(200);
    expect(span.attributes["gen_ai.response.finish_reasons"]).toEqual(["cancelled"]);
    expect(span.attributes["gen_ai.usage.output_tokens"]).toBeUndefined();
  });

  it("leaves no open calls behind after finished, failed, cancelled and abandoned calls", async () => {
    const before = openCallCount();
    await h.openai.chat.completions.create({ model: "gpt-4o-mini", messages });
    h.server.enqueue({ status: 500 });
    await h.openai.chat.completions.create({ model: "gpt-4o-mini", messages }).catch(() => undefined);
    for await (const _chunk of await h.openai.chat.completions.create({
      model: "gpt-4o-mini",
      messages,
      stream: true,
    })) {
      break;
    }
    await (async () => {
      await h.openai.chat.completions.create({ model: "gpt-4o-mini", messages, stream: true });
    })();
    await collectGarbageUntil(() => openCallCount() <= before);
    expect(openCallCount()).toBe(before);
    expect(h.spans()).toHaveLength(4);
  });
});

describe("metrics", () => {
  it("records operation duration, time to first chunk and token usage with low-cardinality attributes", async () => {
    await h.close();
    h = await createHarness({
      chunkTimingMetric: true,
      now: sequenceClock([
        0, 500, 10_000, 10_100, 10_200, 10_300, 10_400, 10_500, 10_600, 10_700, 10_800, 10_900, 11_000,
      ]),
    });
    await h.openai.chat.completions.create({ model: "gpt-4o-mini", messages }); // 0 → 500
    await collect(await h.openai.chat.completions.create({ model: "gpt-4o-mini", messages, stream: true }));
    const metrics = await h.sink.collectMetrics();
    const base = {
      "gen_ai.operation.name": "chat",
      "gen_ai.provider.name": "openai",
      "gen_ai.request.model": "gpt-4o-mini",
      "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
      "server.address": "127.0.0.1",
      "server.port": h.server.port,
    };
    const duration = histogramPoints(metrics, "gen_ai.client.operation.duration");
    expect(duration).toHaveLength(1);
    expect(duration[0]!.attributes).toEqual(base);
    expect(duration[0]!.value.count).toBe(2);
    // 0.5 s, and the stream from 10 s to its end after 8 chunks and the usage chunk (11 s).
    expect(duration[0]!.value.sum).toBeCloseTo(0.5 + 1.0, 12);
    const firstChunk = histogramPoints(metrics, "gen_ai.client.operation.time_to_first_chunk");
    expect(firstChunk.map((point) => [point.value.count, point.value.sum])).toEqual([[1, 0.1]]);
    const tokens = histogramPoints(metrics, "gen_ai.client.token.usage");
    expect(tokens.map((point) => [point.attributes["gen_ai.token.type"], point.value.count, point.value.sum])).toEqual([
      ["input", 2, 24],
      ["output", 2, 12],
    ]);
    expect(tokens[0]!.attributes).toEqual({ ...base, "gen_ai.token.type": "input" });
    // 8 visible chunks 100 ms apart: 7 gaps of 0.1 s, all in the (0.08, 0.16] bucket.
    const perChunk = histogramPoints(metrics, "gen_ai.client.operation.time_per_output_chunk");
    expect(perChunk).toHaveLength(1);
    expect(perChunk[0]!.value.count).toBe(7);
    expect(perChunk[0]!.value.sum).toBeCloseTo(0.7, 12);
    expect(perChunk[0]!.value.buckets.counts[4]).toBe(7);
    const calls = metrics.scopeMetrics
      .flatMap((scope) => scope.metrics)
      .find((metric) => metric.descriptor.name === "tokentrace.client.calls");
    expect(calls!.dataPoints.map((point) => [point.attributes["tokentrace.call.outcome"], point.value])).toEqual([
      ["completed", 2],
    ]);
  });

  it("records no time per output chunk unless chunkTimingMetric is on", async () => {
    await collect(await h.openai.chat.completions.create({ model: "gpt-4o-mini", messages, stream: true }));
    const metrics = await h.sink.collectMetrics();
    expect(histogramPoints(metrics, "gen_ai.client.operation.time_per_output_chunk")).toEqual([]);
    expect(histogramPoints(metrics, "gen_ai.client.operation.time_to_first_chunk")).toHaveLength(1);
  });

  it("counts calls whose span the sampler dropped, without building their attributes", async () => {
    const { AlwaysOffSampler, BasicTracerProvider } = await import("@opentelemetry/sdk-trace-base");
    const sampledOut = new BasicTracerProvider({
      sampler: new AlwaysOffSampler(),
      spanProcessors: [...h.sink.spanProcessors],
    });
    const client = observe(new OpenAI({ baseURL: h.server.openaiBaseURL, apiKey: "sk-x", maxRetries: 0 }), {
      tracerProvider: sampledOut,
      meterProvider: h.meterProvider,
    });
    const result = await client.chat.completions.create({ model: "gpt-4o-mini", messages });
    expect(result.choices[0]?.message.content).toBe("Hello from the tokentrace mock server.");
    expect(h.spans()).toEqual([]);
    const tokens = histogramPoints(await h.sink.collectMetrics(), "gen_ai.client.token.usage");
    expect(tokens.map((point) => [point.attributes["gen_ai.token.type"], point.value.sum])).toEqual([
      ["input", 12],
      ["output", 6],
    ]);
  });

  it("adds error.type to the duration of failed calls", async () => {
    h.server.enqueue({ status: 429 });
    await h.openai.chat.completions.create({ model: "gpt-4o-mini", messages }).catch(() => undefined);
    const duration = histogramPoints(await h.sink.collectMetrics(), "gen_ai.client.operation.duration");
    expect(duration[0]!.attributes["error.type"]).toBe("RateLimitError");
  });
});

describe("joining OpenTelemetry", () => {
  it("uses the globally registered tracer provider when neither setup() nor an option gives one, under the app's active span", async () => {
    const sink = memorySink();
    const { BasicTracerProvider } = await import("@opentelemetry/sdk-trace-base");
    const provider = new BasicTracerProvider({ spanProcessors: [...sink.spanProcessors] });
    const contextManager = new AsyncLocalStorageContextManager().enable();
    context.setGlobalContextManager(contextManager);
    trace.setGlobalTracerProvider(provider);
    try {
      const client = observe(new OpenAI({ baseURL: h.server.openaiBaseURL, apiKey: "sk-x", maxRetries: 0 }));
      const appTracer = provider.getTracer("app");
      await appTracer.startActiveSpan("handle-request", async (parent) => {
        await client.chat.completions.create({ model: "gpt-4o-mini", messages });
        parent.end();
      });
      const spans = sink.getSpans();
      const call = spans.find((span) => span.name === "chat gpt-4o-mini")!;
      const parent = spans.find((span) => span.name === "handle-request")!;
      expect(call.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
      expect(call.spanContext().traceId).toBe(parent.spanContext().traceId);
      expect(call.instrumentationScope).toEqual({ name: "tokentrace", version: VERSION, schemaUrl: undefined });
    } finally {
      trace.disable();
      context.disable();
      await provider.shutdown();
    }
  });

  it("setup() builds providers from sinks, prints one line per call to the console sink, and shuts down cleanly", async () => {
    const lines: string[] = [];
    const sink = memorySink();
    const telemetry = setup({
      serviceName: "support-bot",
      sinks: [consoleSink({ write: (line) => lines.push(line) }), sink],
    });
    try {
      const client = observe(new OpenAI({ baseURL: h.server.openaiBaseURL, apiKey: "sk-x", maxRetries: 0 }), {
        now: sequenceClock([0, 412]),
      });
      await client.chat.completions.create({ model: "gpt-4o-mini", messages });
      await telemetry.flush();
      const [span] = sink.getSpans();
      expect(span!.resource.attributes["service.name"]).toBe("support-bot");
      expect(lines).toHaveLength(1);
      // 12 input and 6 output tokens of gpt-4o-mini: 12 × $0.15/M + 6 × $0.60/M = $0.0000054.
      expect(lines[0]).toMatch(
        /^\[tokentrace\] chat gpt-4o-mini {2}\d+ ms {2}tokens 12 in \/ 6 out {2}finish stop {2}cost \$0\.000005 \(total \$0\.000005\)$/,
      );
    } finally {
      await telemetry.shutdown();
    }
  });

  it("setup() rejects a sink it cannot use, naming its position", () => {
    expect(() => setup({ sinks: [consoleSink(), { export: 1 } as never] })).toThrow(
      /Invalid tokentrace option `sinks\[1\]`: expected a tokentrace sink/,
    );
    expect(() => setup({ serviceName: "" })).toThrow(/`serviceName`: expected a non-empty string/);
    expect(() => setup({ captureContent: "no" } as never)).toThrow(/`captureContent`/);
  });

  it("works with clients of other SDKs' shapes when supported: an Anthropic client is observed, as itself", () => {
    const client = new Anthropic({ apiKey: "sk-ant" });
    const observed = observe(client);
    expect(observed).toBeInstanceOf(Anthropic);
    expect(observe(client)).toBe(observed);
  });
});
