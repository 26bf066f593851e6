import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import OpenAI from "openai";
import { OTLPMetricExporter } from "@opentelemetry/exporter-metrics-otlp-http";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics";
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { InvalidOptionError, VERSION, callInfo, observe, recordFeedback } from "../src/index.js";
import { memorySink, setup } from "../src/setup-entry.js";
import type { TokentraceHandle } from "../src/setup-entry.js";
import { otlpSink } from "../src/otlp.js";
import type { OtlpSink, OtlpSinkOptions } from "../src/otlp.js";
import { DURATION_BUCKETS_SECONDS, TOKEN_USAGE_BUCKETS } from "../src/semconv.js";
import type { MockLLMServer } from "../src/testing/index.js";
import { collect } from "./helpers/harness.js";
import { startOtlpFixture } from "./helpers/otlp-fixture.js";
import type { OtlpFixture } from "./helpers/otlp-fixture.js";
import { startOtlpReceiver } from "./helpers/otlp-receiver.js";
import type { OtlpReceiver, ReceivedMetric } from "./helpers/otlp-receiver.js";

const messages = [{ role: "user" as const, content: "What is the capital of France?" }];

let server: MockLLMServer;
let receiver: OtlpReceiver;
let telemetry: TokentraceHandle | undefined;
let warnings: string[];

let fixture: OtlpFixture;

beforeEach(async () => {
  fixture = await startOtlpFixture();
  ({ server, receiver, warnings } = fixture);
});

afterEach(async () => {
  // Shut down while the receiver still answers (tests that slow it down also set a short timeoutMs).
  await telemetry?.shutdown();
  telemetry = undefined;
  await fixture.close();
});

function newClient(): OpenAI {
  return new OpenAI({ baseURL: server.openaiBaseURL, apiKey: "sk-test", maxRetries: 0 });
}

/**
 * One plain call, one stream of 4 content chunks, one rate-limited call: known tokens and outcomes. Returns the
 * plain call's completion (for feedback on it).
 */
async function makeKnownCalls(openai: OpenAI): Promise<OpenAI.Chat.Completions.ChatCompletion> {
  server.enqueue({ id: "chatcmpl-otlp-plain", usage: { prompt_tokens: 12, completion_tokens: 5 } });
  const plain = await openai.chat.completions.create({ model: "gpt-4o-mini", messages, max_tokens: 50 });
  server.enqueue({ usage: { prompt_tokens: 20, completion_tokens: 4 }, chunks: 4 });
  await collect(await openai.chat.completions.create({ model: "gpt-4o-mini", messages, stream: true }));
  server.enqueue({ status: 429 });
  await openai.chat.completions.create({ model: "gpt-4o-mini", messages }).catch(() => undefined);
  return plain;
}

/** What the receiver decodes of feedback `{ name: "thumbs", value: 1 }` on the plain call of makeKnownCalls(). */
function thumbsUpRecord(traceId: string, spanId: string, serviceName: string) {
  return {
    eventName: "gen_ai.evaluation.result",
    traceId,
    spanId,
    flags: 1, // sampled
    severityNumber: 9, // INFO
    severityText: "INFO",
    body: undefined,
    attributes: {
      "gen_ai.evaluation.name": "thumbs",
      "gen_ai.evaluation.score.value": 1,
      "tokentrace.evaluation.source": "human",
      "gen_ai.response.id": "chatcmpl-otlp-plain",
    },
    timeUnixNano: expect.stringMatching(/^\d+000000$/) as unknown,
    observedTimeUnixNano: expect.stringMatching(/^\d+$/) as unknown,
    resource: { "service.name": serviceName },
    scope: { name: "tokentrace", version: VERSION },
  };
}

function pointsBy(
  metric: ReceivedMetric | undefined,
  key: string,
): Record<string, { count?: number; sum?: number; value?: number }> {
  const result: Record<string, { count?: number; sum?: number; value?: number }> = {};
  for (const point of metric?.points ?? []) {
    const { count, sum, value } = point;
    result[String(point.attributes[key])] = count === undefined ? { value } : { count, sum };
  }
  return result;
}

describe("otlpSink()", () => {
  for (const protocol of ["http/protobuf", "http/json"] as const) {
    it(`exports spans, metrics and feedback's log records over ${protocol} that decode into exactly what was recorded`, async () => {
      const memory = memorySink();
      const sink = otlpSink({ url: receiver.url, protocol, headers: { "x-tenant": "acme" } });
      telemetry = setup({ serviceName: "otlp-test", sinks: [sink, memory], chunkTimingMetric: true });
      const completion = await makeKnownCalls(observe(newClient()));
      const feedback = recordFeedback(callInfo(completion)!.ref!, { name: "thumbs", value: 1 });
      expect(await telemetry.flush()).toMatchObject({ ok: true, failed: [], pending: [] });

      const contentType = protocol === "http/json" ? "application/json" : "application/x-protobuf";
      expect(receiver.requests.map((request) => [request.path, request.contentType])).toEqual(
        expect.arrayContaining([
          ["/v1/traces", contentType],
          ["/v1/metrics", contentType],
          ["/v1/logs", contentType],
        ]),
      );
      for (const request of receiver.requests) {
        expect(request.headers["x-tenant"]).toBe("acme");
        expect(request.headers["user-agent"]).toMatch(
          new RegExp(`^tokentrace/${VERSION} OTel-OTLP-Exporter-JavaScript/`),
        );
      }
      expect(sink.endpoints).toEqual({
        traces: `${receiver.url}/v1/traces`,
        metrics: `${receiver.url}/v1/metrics`,
        logs: `${receiver.url}/v1/logs`,
      });

      // Spans: every attribute arrives with its value and type, as the in-memory sink saw it.
      const recorded = memory.getSpans();
      expect(receiver.spans).toHaveLength(3);
      receiver.spans.forEach((span, index) => {
        const original = recorded[index]!;
        expect(span.name).toBe("chat gpt-4o-mini");
        expect(span.kind).toBe(3); // SPAN_KIND_CLIENT
        expect(span.traceId).toBe(original.spanContext().traceId);
        expect(span.spanId).toBe(original.spanContext().spanId);
        expect(span.attributes).toEqual(original.attributes);
        expect(span.resource["service.name"]).toBe("otlp-test");
        expect(span.scope).toEqual({ name: "tokentrace", version: VERSION });
      });
      const [plain, streamed, failed] = receiver.spans;
      expect(plain!.attributes).toMatchObject({
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.request.max_tokens": 50,
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.response.finish_reasons": ["stop"],
        "gen_ai.usage.input_tokens": 12,
        "gen_ai.usage.output_tokens": 5,
        "server.address": "127.0.0.1",
        "server.port": server.port,
      });
      expect(streamed!.attributes).toMatchObject({
        "gen_ai.request.stream": true,
        "gen_ai.usage.input_tokens": 20,
        "gen_ai.usage.output_tokens": 4,
      });
      expect(failed!.attributes["error.type"]).toBe("RateLimitError");
      expect(failed!.status.code).toBe(2); // STATUS_CODE_ERROR
      expect(failed!.events).toEqual(["exception"]);

      // Log records: the feedback's `gen_ai.evaluation.result` event, on the plain call's span (the very ids the
      // in-memory sink saw), and no `evaluation` span (the sink takes log records).
      expect(feedback).toEqual({ ok: true, traceId: plain!.traceId, spanId: plain!.spanId });
      expect(receiver.logs).toEqual([thumbsUpRecord(plain!.traceId, plain!.spanId, "otlp-test")]);
      expect(memory.getLogRecords().map((record) => record.spanContext)).toEqual([
        { traceId: plain!.traceId, spanId: plain!.spanId, traceFlags: 1, isRemote: true },
      ]);

      // Metrics: names, units, bucket boundaries, temporality and the values of the known calls.
      const tokens = receiver.latestMetric("gen_ai.client.token.usage");
      expect(tokens).toMatchObject({ type: "histogram", unit: "{token}", temporality: 2 });
      expect(
        tokens!.points.every((point) => JSON.stringify(point.explicitBounds) === JSON.stringify(TOKEN_USAGE_BUCKETS)),
      ).toBe(true);
      expect(pointsBy(tokens, "gen_ai.token.type")).toEqual({
        input: { count: 2, sum: 32 },
        output: { count: 2, sum: 9 },
      });
      expect(tokens!.points[0]!.attributes).toEqual({
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "server.address": "127.0.0.1",
        "server.port": server.port,
        "gen_ai.token.type": "input",
      });

      const duration = receiver.latestMetric("gen_ai.client.operation.duration");
      expect(duration).toMatchObject({ type: "histogram", unit: "s" });
      expect(duration!.points[0]!.explicitBounds).toEqual(DURATION_BUCKETS_SECONDS);
      expect(pointsBy(duration, "error.type")).toMatchObject({ undefined: { count: 2 }, RateLimitError: { count: 1 } });
      expect(
        pointsBy(receiver.latestMetric("gen_ai.client.operation.time_to_first_chunk"), "gen_ai.request.model"),
      ).toMatchObject({
        "gpt-4o-mini": { count: 1 },
      });
      expect(
        receiver.latestMetric("gen_ai.client.operation.time_per_output_chunk")?.points.map((point) => point.count),
      ).toEqual([5]);

      const calls = receiver.latestMetric("tokentrace.client.calls");
      expect(calls).toMatchObject({ type: "sum", unit: "{call}", isMonotonic: true, temporality: 2 });
      expect(pointsBy(calls, "tokentrace.call.outcome")).toEqual({ completed: { value: 2 }, error: { value: 1 } });
      const cost = receiver.latestMetric("tokentrace.client.cost");
      expect(cost).toMatchObject({ type: "sum", unit: "{USD}" });
      // gpt-4o-mini: $0.15 per million input tokens, $0.60 per million output tokens.
      expect(cost!.points[0]!.value).toBeCloseTo((32 * 0.15 + 9 * 0.6) / 1e6, 15);
      expect(sink.dropped()).toEqual({ spans: 0, metricDataPoints: 0, logRecords: 0 });
    });
  }

  it("compresses requests with gzip when asked", async () => {
    telemetry = setup({ sinks: [otlpSink({ url: receiver.url, compression: "gzip" })] });
    const completion = await makeKnownCalls(observe(newClient()));
    expect(recordFeedback(completion, { name: "thumbs", value: 1 })).toMatchObject({ ok: true });
    await telemetry.flush();
    expect(new Set(receiver.requests.map((request) => request.path))).toEqual(
      new Set(["/v1/traces", "/v1/metrics", "/v1/logs"]),
    );
    expect(receiver.requests.every((request) => request.contentEncoding === "gzip")).toBe(true);
    expect(receiver.spans).toHaveLength(3);
    expect(receiver.logs).toEqual([
      thumbsUpRecord(receiver.spans[0]!.traceId, receiver.spans[0]!.spanId, "unknown_service:node"),
    ]);
    expect(receiver.latestMetric("tokentrace.client.calls")?.points).toHaveLength(2);
  });

  it("takes its endpoint, headers, protocol and temporality from the OTEL_EXPORTER_OTLP_* variables", async () => {
    const variables: Record<string, string> = {
      OTEL_EXPORTER_OTLP_ENDPOINT: `${receiver.url}/`,
      OTEL_EXPORTER_OTLP_HEADERS: "x-from-env=yes,x-tenant=env",
      OTEL_EXPORTER_OTLP_LOGS_HEADERS: "x-logs-only=yes",
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      // The signal's own variable wins over the generic one.
      OTEL_EXPORTER_OTLP_LOGS_PROTOCOL: "http/protobuf",
      OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: "delta",
    };
    Object.assign(process.env, variables);
    try {
      const sink = otlpSink({ headers: { "x-tenant": "option" } });
      expect(sink.endpoints).toEqual({
        traces: `${receiver.url}/v1/traces`,
        metrics: `${receiver.url}/v1/metrics`,
        logs: `${receiver.url}/v1/logs`,
      });
      telemetry = setup({ sinks: [sink] });
      const completion = await makeKnownCalls(observe(newClient()));
      expect(recordFeedback(callInfo(completion)!.ref!, { name: "thumbs", value: 1 })).toMatchObject({ ok: true });
      await telemetry.flush();
    } finally {
      for (const name of Object.keys(variables)) Reflect.deleteProperty(process.env, name);
    }
    expect(new Set(receiver.requests.map((request) => request.path))).toEqual(
      new Set(["/v1/traces", "/v1/metrics", "/v1/logs"]),
    );
    for (const request of receiver.requests) {
      const logs = request.path === "/v1/logs";
      expect(request.contentType).toBe(logs ? "application/x-protobuf" : "application/json");
      expect(request.headers["x-from-env"]).toBe("yes");
      expect(request.headers["x-logs-only"]).toBe(logs ? "yes" : undefined);
      expect(request.headers["x-tenant"]).toBe("option"); // the option wins over the variable
    }
    expect(receiver.latestMetric("tokentrace.client.calls")?.temporality).toBe(1); // AGGREGATION_TEMPORALITY_DELTA
    expect(receiver.spans).toHaveLength(3);
    const [plain] = receiver.spans;
    expect(receiver.logs).toEqual([thumbsUpRecord(plain!.traceId, plain!.spanId, "unknown_service:node")]);
  });

  it("sends only the signals it is asked for, with a signal-specific endpoint variable taking precedence", () => {
    process.env["OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"] = `${receiver.url}/custom/metrics`;
    process.env["OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"] = `${receiver.url}/custom/logs`;
    process.env["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://generic.example.com:4318";
    try {
      const sink = otlpSink({ traces: false });
      expect(sink.endpoints).toEqual({
        traces: undefined,
        metrics: `${receiver.url}/custom/metrics`,
        logs: `${receiver.url}/custom/logs`,
      });
      expect(sink.spanProcessors).toHaveLength(0);
      expect(sink.metricReaders).toHaveLength(1);
      expect(sink.logRecordProcessors).toHaveLength(1);
      // Logs alone: a sink for feedback's log records only.
      const logsOnly = otlpSink({ traces: false, metrics: false });
      expect(logsOnly.endpoints).toEqual({
        traces: undefined,
        metrics: undefined,
        logs: `${receiver.url}/custom/logs`,
      });
      expect([logsOnly.spanProcessors.length, logsOnly.metricReaders.length]).toEqual([0, 0]);
      expect(logsOnly.logRecordProcessors).toHaveLength(1);
      // The url option wins over every variable.
      expect(otlpSink({ url: "https://otlp.example.com/otlp/", metrics: false }).endpoints).toEqual({
        traces: "https://otlp.example.com/otlp/v1/traces",
        metrics: undefined,
        logs: "https://otlp.example.com/otlp/v1/logs",
      });
    } finally {
      delete process.env["OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"];
      delete process.env["OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"];
      delete process.env["OTEL_EXPORTER_OTLP_ENDPOINT"];
    }
    const noLogs = otlpSink({ url: "https://otlp.example.com", logs: false });
    expect(noLogs.endpoints).toEqual({
      traces: "https://otlp.example.com/v1/traces",
      metrics: "https://otlp.example.com/v1/metrics",
      logs: undefined,
    });
    expect(noLogs.logRecordProcessors).toEqual([]);
  });

  it('with logs: false, records feedback as an `evaluation {name}` span of the call instead (feedback.spans "auto")', async () => {
    const sink = otlpSink({ url: receiver.url, logs: false });
    telemetry = setup({ serviceName: "otlp-test", sinks: [sink] });
    const completion = await makeKnownCalls(observe(newClient()));
    expect(recordFeedback(callInfo(completion)!.ref!, { name: "thumbs", value: 1 })).toMatchObject({ ok: true });
    await telemetry.flush();
    expect(receiver.requests.map((request) => request.path)).not.toContain("/v1/logs");
    expect(receiver.logs).toEqual([]);
    const [plain] = receiver.spans;
    const evaluation = receiver.spans.find((span) => span.name === "evaluation thumbs");
    expect(evaluation).toMatchObject({ traceId: plain!.traceId, parentSpanId: plain!.spanId });
  });

  it("loses feedback's log record when the collector for logs is unreachable: counted like spans, reported once, and recordFeedback() still answers ok", async () => {
    const dead = await startOtlpReceiver();
    const deadLogs = `${dead.url}/v1/logs`;
    await dead.close(); // nothing listens there any more: ECONNREFUSED
    process.env["OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"] = deadLogs;
    let sink: OtlpSink;
    try {
      // Below the exporter's first retry back-off (1 s), so the refused export fails at once instead of retrying.
      sink = otlpSink({ timeoutMs: 500, traces: false, metrics: false });
    } finally {
      delete process.env["OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"];
    }
    expect(sink.endpoints.logs).toBe(deadLogs);
    // The call's span goes to the live receiver, to read its ids.
    const live = otlpSink({ url: receiver.url, logs: false, metrics: false });
    telemetry = setup({ serviceName: "otlp-test", sinks: [live, sink] });
    const openai = observe(newClient());
    server.enqueue({ id: "chatcmpl-otlp-plain" });
    const completion = await openai.chat.completions.create({ model: "gpt-4o-mini", messages });

    const started = performance.now();
    const feedback = recordFeedback(callInfo(completion)!.ref!, { name: "thumbs", value: 1 });
    expect(performance.now() - started).toBeLessThan(50); // it only queues the record
    const report = await telemetry.flush();
    expect(report).toEqual({
      ok: true,
      timedOut: false,
      flushed: ["sinks[0] (otlp)", "sinks[1] (otlp)"],
      failed: [],
      pending: [],
    });
    const [call] = receiver.spans;
    expect(receiver.spans.map((span) => span.name)).toEqual(["chat gpt-4o-mini"]);
    expect(feedback).toEqual({ ok: true, traceId: call!.traceId, spanId: call!.spanId });
    expect(receiver.logs).toEqual([]);
    expect(sink.dropped()).toEqual({ spans: 0, metricDataPoints: 0, logRecords: 1 });
    expect(live.dropped()).toEqual({ spans: 0, metricDataPoints: 0, logRecords: 0 });
    const drops = warnings.filter((warning) => warning.includes("otlpSink dropped"));
    expect(drops).toHaveLength(1);
    expect(drops[0]).toMatch(
      new RegExp(
        `^tokentrace: otlpSink dropped 1 log record for ${deadLogs}: .*ECONNREFUSED.*\\. The app is not affected; further drops are only counted \\(see the sink's dropped\\(\\)\\)\\.$`,
      ),
    );
    // A second record is counted, not reported again.
    expect(recordFeedback(completion, { name: "thumbs", value: 0 })).toMatchObject({ ok: true });
    await telemetry.flush();
    expect(sink.dropped().logRecords).toBe(2);
    expect(warnings.filter((warning) => warning.includes("otlpSink dropped"))).toHaveLength(1);
    expect(warnings.filter((warning) => warning.startsWith("error:"))).toEqual([]);
  });

  it("fails at set-up with a message naming the option for a bad URL or setting", () => {
    const cases: Array<[OtlpSinkOptions, string, string]> = [
      [
        { url: "localhost:4318" },
        "otlpSink.url",
        'expected an http:// or https:// URL such as "http://localhost:4318", received the string "localhost:4318"',
      ],
      [{ url: "not a url" }, "otlpSink.url", "expected an http:// or https:// URL"],
      [{ url: "http://collector:4318/v1/traces" }, "otlpSink.url", "already ends in /v1/traces"],
      [
        { protocol: "grpc" as never },
        "otlpSink.protocol",
        'expected "http/protobuf" or "http/json", received the string "grpc". gRPC is not supported',
      ],
      [{ compression: "br" as never }, "otlpSink.compression", 'expected "gzip" or "none"'],
      [{ headers: { "x-key": 1 } as never }, "otlpSink.headers", "expected an object of string header values"],
      [{ timeoutMs: -1 }, "otlpSink.timeoutMs", "expected a positive integer, received number -1"],
      [
        { traces: false, metrics: false, logs: false },
        "otlpSink.traces",
        "traces, metrics and logs are all turned off",
      ],
      [{ logs: "yes" as never }, "otlpSink.logs", 'expected true or false, received the string "yes"'],
      [{ url: "http://collector:4318/v1/logs" }, "otlpSink.url", "appends /v1/traces, /v1/metrics and /v1/logs"],
      [
        { endpoint: "http://x" } as never,
        "otlpSink.endpoint",
        "unknown option. Accepted options: url, headers, protocol",
      ],
    ];
    for (const [options, option, fragment] of cases) {
      let thrown: unknown;
      try {
        setup({ sinks: [otlpSink(options)] });
      } catch (error) {
        thrown = error;
      }
      expect(thrown, option).toBeInstanceOf(InvalidOptionError);
      expect((thrown as InvalidOptionError).option).toBe(option);
      expect((thrown as Error).message).toContain(`\`${option}\``);
      expect((thrown as Error).message).toContain(fragment);
    }
  });

  it("is not needed for OpenTelemetry's own exporters, processors and readers: any of them works as a sink", async () => {
    const inMemory = new InMemorySpanExporter();
    telemetry = setup({
      sinks: [
        new OTLPTraceExporter({ url: `${receiver.url}/v1/traces` }), // a SpanExporter: batched by setup()
        new SimpleSpanProcessor(inMemory), // a SpanProcessor
        new PeriodicExportingMetricReader({ exporter: new OTLPMetricExporter({ url: `${receiver.url}/v1/metrics` }) }), // a MetricReader
      ],
    });
    await makeKnownCalls(observe(newClient()));
    await telemetry.flush();
    expect(receiver.spans.map((span) => span.name)).toEqual([
      "chat gpt-4o-mini",
      "chat gpt-4o-mini",
      "chat gpt-4o-mini",
    ]);
    expect(inMemory.getFinishedSpans()).toHaveLength(3);
    expect(pointsBy(receiver.latestMetric("tokentrace.client.calls"), "tokentrace.call.outcome")).toEqual({
      completed: { value: 2 },
      error: { value: 1 },
    });
  });

  it("warns once and falls back to the default for an invalid protocol variable", () => {
    process.env["OTEL_EXPORTER_OTLP_PROTOCOL"] = "grpc";
    try {
      otlpSink({ url: receiver.url });
      otlpSink({ url: receiver.url });
    } finally {
      delete process.env["OTEL_EXPORTER_OTLP_PROTOCOL"];
    }
    expect(warnings.filter((warning) => warning.includes("OTEL_EXPORTER_OTLP_PROTOCOL"))).toEqual([
      'tokentrace: OTEL_EXPORTER_OTLP_PROTOCOL="grpc" is not supported by otlpSink (accepted: http/protobuf, http/json); using http/protobuf.',
    ]);
  });
});

describe("setup({ flushOnExit })", () => {
  const child = fileURLToPath(new URL("./helpers/flush-on-exit-child.ts", import.meta.url));

  function runChild(
    mode: "signal" | "natural",
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }> {
    return new Promise((resolve, reject) => {
      const process_ = spawn(process.execPath, ["--import", "tsx", child, mode], {
        env: { ...process.env, RECEIVER_URL: receiver.url, MOCK_BASE_URL: server.openaiBaseURL },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let output = "";
      process_.stdout.on("data", (chunk: Buffer) => {
        output += chunk.toString();
        if (mode === "signal" && output.includes("called")) process_.kill("SIGTERM");
      });
      process_.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
      process_.on("error", reject);
      process_.on("exit", (code, signal) => resolve({ code, signal, output }));
    });
  }

  it("exports buffered telemetry on SIGTERM, then lets the signal end the process", async () => {
    const { code, signal, output } = await runChild("signal");
    expect({ code, signal }, output).toEqual({ code: null, signal: "SIGTERM" });
    expect(receiver.spans.map((span) => span.name)).toEqual(["chat gpt-4o-mini"]);
    expect(receiver.latestMetric("tokentrace.client.calls")?.points[0]?.value).toBe(1);
  });

  it("accepts only true or false", () => {
    expect(() => setup({ flushOnExit: "yes" as never })).toThrow(
      new InvalidOptionError("flushOnExit", 'expected true or false, received the string "yes".'),
    );
  });

  it("exports buffered telemetry when the event loop runs dry", async () => {
    const { code, signal, output } = await runChild("natural");
    expect({ code, signal }, output).toEqual({ code: 0, signal: null });
    expect(receiver.spans.map((span) => span.name)).toEqual(["chat gpt-4o-mini"]);
  });
});
