import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { PrometheusSerializer } from "@opentelemetry/exporter-prometheus";
import { JsonTraceSerializer, ProtobufTraceSerializer } from "@opentelemetry/otlp-transformer";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { MeterProvider } from "@opentelemetry/sdk-metrics";
import { BasicTracerProvider } from "@opentelemetry/sdk-trace-base";
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import type { AttributeValue, Attributes } from "@opentelemetry/api";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { observe, withRetrieval, withStep, withTool, withWorkflow } from "../src/index.js";
import type { ObserveOptions } from "../src/index.js";
import * as names from "../src/semconv.js";
import { memorySink, setup } from "../src/setup-entry.js";
import type { MemorySink, TokentraceHandle } from "../src/setup-entry.js";
import { startMockLLMServer } from "../src/testing/index.js";
import type { MockLLMServer } from "../src/testing/index.js";
import { collect } from "./helpers/harness.js";

/**
 * Retention (issue 13): what one call costs to store in each capture mode, measured on the bytes the OTLP exporter
 * sends; the number of Prometheus series the metrics make; and the collector configurations of examples/collector/,
 * checked against their own definitions and against src/semconv.ts. RETENTION.md quotes the numbers asserted here.
 */

// One support conversation, the same in every scenario: the user's message has an email address and a phone
// number, so the `pii` mode has something to replace.
const SYSTEM = "You are the support assistant of Example Shop. Answer in two sentences at most.";
const USER = "My order 10023 has not arrived. Write to me at jane.doe@example.com or call +1 415 555 0100.";
const ANSWER =
  "Sorry about the delay. Order 10023 left our warehouse yesterday and should arrive within two days; we will email you the tracking link.";
const OPENAI_MODEL = "gpt-4o-mini";
const ANTHROPIC_MODEL = "claude-sonnet-4-6";

const MODES = {
  "capture off": { captureContent: false },
  "capture on": { captureContent: true },
  "capture on, pii: email and phone": { captureContent: true, pii: ["email", "phone"] },
} satisfies Record<string, ObserveOptions>;
type Mode = keyof typeof MODES;

interface Clients {
  openai: OpenAI;
  anthropic: Anthropic;
}

const CALLS = {
  "chat completion": async ({ openai }: Clients): Promise<void> => {
    await openai.chat.completions.create({
      model: OPENAI_MODEL,
      messages: [
        { role: "system", content: SYSTEM },
        { role: "user", content: USER },
      ],
    });
  },
  "streamed chat completion": async ({ openai }: Clients): Promise<void> => {
    const stream = await openai.chat.completions.create({
      model: OPENAI_MODEL,
      messages: [
        { role: "system", content: SYSTEM },
        { role: "user", content: USER },
      ],
      stream: true,
    });
    await collect(stream);
  },
  "Anthropic message": async ({ anthropic }: Clients): Promise<void> => {
    await anthropic.messages.create({
      model: ANTHROPIC_MODEL,
      max_tokens: 256,
      system: SYSTEM,
      messages: [{ role: "user", content: USER }],
    });
  },
};
type CallName = keyof typeof CALLS;

/** Where the calls would go without the mock server: their spans are measured with these endpoints. */
const REAL_ORIGIN: Record<string, { origin: string; host: string }> = {
  [names.PROVIDER_OPENAI]: { origin: "https://api.openai.com", host: "api.openai.com" },
  [names.PROVIDER_ANTHROPIC]: { origin: "https://api.anthropic.com", host: "api.anthropic.com" },
};

/** Reads of `now()` 25 ms apart: the timing attributes (doubles) are the same in every run. */
function steppingClock(): () => number {
  let ms = 1_000;
  return () => (ms += 25);
}

/**
 * The span as a call to the provider's real endpoint would record it: the mock server's host and (OS-chosen) port
 * become the provider's, in `server.*` and in the URLs the Anthropic SDK records. Everything else is the span
 * itself. Protobuf sizes are otherwise deterministic: ids and timestamps are fixed-size fields, the mock server's
 * ids restart with each scenario (`reset()`), and the injected clock fixes every duration.
 */
function asIfFromRealEndpoint(span: ReadableSpan, mockOrigin: string): ReadableSpan {
  const provider = String(span.attributes[names.ATTR_GEN_AI_PROVIDER_NAME]);
  const real = REAL_ORIGIN[provider];
  if (real === undefined) throw new Error(`no real endpoint for provider ${provider}`);
  const attributes: Attributes = {};
  for (const [key, value] of Object.entries(span.attributes)) {
    let normalized: AttributeValue | undefined = value;
    if (key === names.ATTR_SERVER_ADDRESS) normalized = real.host;
    else if (key === names.ATTR_SERVER_PORT) normalized = 443;
    else if (key === names.ATTR_URL_SCHEME) normalized = "https";
    else if (typeof value === "string") normalized = value.replaceAll(mockOrigin, real.origin);
    attributes[key] = normalized;
  }
  // The span's own methods (spanContext()) stay; only its attributes are replaced.
  return Object.create(span, { attributes: { value: attributes } }) as ReadableSpan;
}

/** Reads one protobuf varint at `offset`: its value and the offset after it. */
function readVarint(bytes: Uint8Array, offset: number): [number, number] {
  let value = 0;
  let shift = 0;
  for (;;) {
    const byte = bytes[offset++]!;
    value += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) return [value, offset];
    shift += 7;
  }
}

/** The length-delimited fields numbered `field` in `bytes[start, end)`: where each record begins and ends. */
function lengthDelimited(bytes: Uint8Array, start: number, end: number, field: number): [number, number, number][] {
  const found: [number, number, number][] = [];
  let offset = start;
  while (offset < end) {
    const recordStart = offset;
    const [tag, afterTag] = readVarint(bytes, offset);
    const wireType = tag & 7;
    if (wireType === 0) [, offset] = readVarint(bytes, afterTag);
    else if (wireType === 1) offset = afterTag + 8;
    else if (wireType === 5) offset = afterTag + 4;
    else if (wireType === 2) {
      const [length, afterLength] = readVarint(bytes, afterTag);
      offset = afterLength + length;
      if (tag >>> 3 === field) found.push([recordStart, afterLength, offset]);
    } else throw new Error(`unexpected wire type ${wireType}`);
  }
  return found;
}

/**
 * The span's record inside an ExportTraceServiceRequest (opentelemetry/proto/collector/trace/v1): request field 1
 * `resource_spans`, then ResourceSpans field 2 `scope_spans`, then ScopeSpans field 2 `spans`. Its size with its
 * tag and length is what each more call adds to a batch of the same resource and scope.
 */
function spanRecordBytes(request: Uint8Array): number {
  const [resourceSpans] = lengthDelimited(request, 0, request.length, 1);
  const [scopeSpans] = lengthDelimited(request, resourceSpans![1], resourceSpans![2], 2);
  const spans = lengthDelimited(request, scopeSpans![1], scopeSpans![2], 2);
  expect(spans).toHaveLength(1);
  return spans[0]![2] - spans[0]![0];
}

interface Measured {
  /** The span's record in an OTLP/protobuf batch: what each call adds. */
  protobufSpan: number;
  /** OTLP/protobuf ExportTraceServiceRequest with this call alone (resource and scope included), uncompressed. */
  protobufRequest: number;
  /** The same request as OTLP/JSON (`protocol: "http/json"`). */
  jsonRequest: number;
}

describe("bytes per call", () => {
  let server: MockLLMServer;
  let sink: MemorySink;
  let tracerProvider: BasicTracerProvider;
  let meterProvider: MeterProvider;
  beforeAll(async () => {
    server = await startMockLLMServer();
    sink = memorySink();
    // A resource of the service name alone: the SDK's default resource names the SDK's version, which would make
    // the request sizes change with every OpenTelemetry release.
    tracerProvider = new BasicTracerProvider({
      resource: resourceFromAttributes({ "service.name": "support-bot" }),
      spanProcessors: [...sink.spanProcessors],
    });
    meterProvider = new MeterProvider({ readers: [...sink.metricReaders] });
  });
  afterAll(async () => {
    await server.close();
    await tracerProvider.shutdown();
    await meterProvider.shutdown();
  });

  async function measure(call: CallName, mode: Mode): Promise<Measured> {
    server.reset();
    sink.reset();
    server.enqueue({ text: ANSWER });
    server.enqueueAnthropic({ content: [{ type: "text", text: ANSWER }] });
    const options: ObserveOptions = { ...MODES[mode], tracerProvider, meterProvider, now: steppingClock() };
    const clients: Clients = {
      openai: observe(new OpenAI({ baseURL: server.openaiBaseURL, apiKey: "sk-test", maxRetries: 0 }), options),
      anthropic: observe(
        new Anthropic({ baseURL: server.anthropicBaseURL, apiKey: "sk-ant-test", maxRetries: 0 }),
        options,
      ),
    };
    await CALLS[call](clients);
    const spans = sink.getSpans();
    expect(spans).toHaveLength(1);
    const span = asIfFromRealEndpoint(spans[0]!, server.url);
    const protobuf = ProtobufTraceSerializer.serializeRequest([span])!;
    const json = JsonTraceSerializer.serializeRequest([span])!;
    return { protobufSpan: spanRecordBytes(protobuf), protobufRequest: protobuf.length, jsonRequest: json.length };
  }

  it("records content only with capture on, and replaces the email and phone number with pii on", async () => {
    await measure("chat completion", "capture off");
    const off = sink.getSpans()[0]!.attributes;
    expect(off[names.ATTR_TOKENTRACE_CONTENT_PRESENT]).toBeUndefined();
    expect(off[names.ATTR_GEN_AI_INPUT_MESSAGES]).toBeUndefined();

    await measure("chat completion", "capture on");
    const on = sink.getSpans()[0]!.attributes;
    expect(on[names.ATTR_TOKENTRACE_CONTENT_PRESENT]).toBe(true);
    expect(on[names.ATTR_GEN_AI_INPUT_MESSAGES]).toContain("jane.doe@example.com");
    expect(on[names.ATTR_TOKENTRACE_REDACTION_KINDS]).toBeUndefined();

    await measure("chat completion", "capture on, pii: email and phone");
    const pii = sink.getSpans()[0]!.attributes;
    expect(pii[names.ATTR_GEN_AI_INPUT_MESSAGES]).toBe(
      JSON.stringify([
        { role: "system", parts: [{ type: "text", content: SYSTEM }] },
        {
          role: "user",
          parts: [
            {
              type: "text",
              content: "My order 10023 has not arrived. Write to me at [EMAIL] or call [PHONE].",
            },
          ],
        },
      ]),
    );
    expect(pii[names.ATTR_TOKENTRACE_REDACTION_KINDS]).toEqual(["email", "phone"]);
  });

  it("measures the exact OTLP bytes of one span per call and capture mode (RETENTION.md's table)", async () => {
    const measured: Record<string, Record<string, Measured>> = {};
    for (const call of Object.keys(CALLS) as CallName[]) {
      measured[call] = {};
      for (const mode of Object.keys(MODES) as Mode[]) measured[call][mode] = await measure(call, mode);
    }
    expect(measured).toEqual({
      "chat completion": {
        "capture off": { protobufSpan: 1074, protobufRequest: 1136, jsonRequest: 2328 },
        "capture on": { protobufSpan: 1676, protobufRequest: 1738, jsonRequest: 3060 },
        "capture on, pii: email and phone": { protobufSpan: 1707, protobufRequest: 1769, jsonRequest: 3160 },
      },
      "streamed chat completion": {
        "capture off": { protobufSpan: 1389, protobufRequest: 1451, jsonRequest: 2846 },
        "capture on": { protobufSpan: 1991, protobufRequest: 2053, jsonRequest: 3578 },
        "capture on, pii: email and phone": { protobufSpan: 2022, protobufRequest: 2084, jsonRequest: 3678 },
      },
      "Anthropic message": {
        "capture off": { protobufSpan: 1282, protobufRequest: 1344, jsonRequest: 2656 },
        "capture on": { protobufSpan: 1896, protobufRequest: 1958, jsonRequest: 3423 },
        "capture on, pii: email and phone": { protobufSpan: 1926, protobufRequest: 1988, jsonRequest: 3523 },
      },
    });
  });
});

/** Prometheus sample lines (series) per name in an exposition: `_bucket`, `_sum`, `_count` and `_total` kept apart. */
function seriesByName(exposition: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const line of exposition.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const name = /^[A-Za-z_:][A-Za-z0-9_:]*/.exec(line)![0];
    counts[name] = (counts[name] ?? 0) + 1;
  }
  return counts;
}

describe("Prometheus series", () => {
  let server: MockLLMServer;
  let telemetry: TokentraceHandle;
  let sink: MemorySink;
  beforeAll(async () => {
    server = await startMockLLMServer();
    sink = memorySink();
    telemetry = setup({ serviceName: "support-bot", sinks: [sink] });
  });
  afterAll(async () => {
    await telemetry.shutdown();
    await server.close();
  });

  it("counts, per metric, the series RETENTION.md's formula gives for providers, models, operations and errors", async () => {
    // A histogram label set is its buckets (the boundaries and +Inf), _sum and _count in Prometheus.
    const histogram = names.DURATION_BUCKETS_SECONDS.length + 1 + 2;
    expect(histogram).toBe(17);
    expect(names.TOKEN_USAGE_BUCKETS.length + 1 + 2).toBe(histogram);

    const openai = observe(new OpenAI({ baseURL: server.openaiBaseURL, apiKey: "sk-test", maxRetries: 0 }));
    const anthropic = observe(
      new Anthropic({ baseURL: server.anthropicBaseURL, apiKey: "sk-ant-test", maxRetries: 0 }),
    );
    const messages = [{ role: "user" as const, content: "Where is my order?" }];
    // Two providers, three models, one operation (chat): three label sets, one of them also streamed...
    await openai.chat.completions.create({ model: "gpt-4o-mini", messages });
    await collect(await openai.chat.completions.create({ model: "gpt-4o-mini", messages, stream: true }));
    await openai.chat.completions.create({ model: "gpt-4o", messages });
    await anthropic.messages.create({ model: ANTHROPIC_MODEL, max_tokens: 64, messages });
    // ...one error type on one of them (an error has no response model: a label set of its own)...
    server.enqueue({ status: 429 });
    await expect(openai.chat.completions.create({ model: "gpt-4o-mini", messages })).rejects.toThrow();
    // ...and stages: a workflow with a tool and a model call in it, a retrieval, and a step that fails.
    await withWorkflow("support-answer", async () => {
      withTool("lookup-order", () => ({ status: "shipped" }));
      await openai.chat.completions.create({ model: "gpt-4o-mini", messages });
    });
    withRetrieval("orders-index", () => []);
    expect(() =>
      withStep("parse-reply", () => {
        throw new TypeError("unexpected reply");
      }),
    ).toThrow(TypeError);

    const series = seriesByName(new PrometheusSerializer().serialize(await sink.collectMetrics()));
    const successful = 3; // label sets without error.type
    const failed = 1; // label sets with one (model, error type)
    expect(series).toEqual({
      target_info: 1,
      // One series per label set and outcome: `completed` on each successful set, `error` on each failed one.
      tokentrace_client_calls_total: successful + failed,
      // Priced calls, and calls that reported cache reads (both providers report 0): the successful sets.
      tokentrace_client_cost_total: successful,
      tokentrace_client_token_cache_read_total: successful,
      // One finish reason on each successful set (`stop`, `end_turn`); the rate-limited call ended with none.
      tokentrace_client_finish_reasons_total: successful,
      // Per request model, not per label set: a response model and, from OpenAI, a system fingerprint.
      tokentrace_client_model_changes_total: 2 + 2 + 1,
      // The always-on stores' sizes: the model watch and the rate limits.
      tokentrace_signals_series: 2,
      // Input and output, on the sets that reported usage (the rate-limited call has none).
      gen_ai_client_token_usage_bucket: successful * 2 * (histogram - 2),
      gen_ai_client_token_usage_sum: successful * 2,
      gen_ai_client_token_usage_count: successful * 2,
      // Every call's set, and the retrieval's own (gen_ai.data_source.id, operation retrieval).
      gen_ai_client_operation_duration_bucket: (successful + failed + 1) * (histogram - 2),
      gen_ai_client_operation_duration_sum: successful + failed + 1,
      gen_ai_client_operation_duration_count: successful + failed + 1,
      // Streamed label sets only (time_per_output_chunk is off unless chunkTimingMetric: true).
      gen_ai_client_operation_time_to_first_chunk_bucket: 1 * (histogram - 2),
      gen_ai_client_operation_time_to_first_chunk_sum: 1,
      gen_ai_client_operation_time_to_first_chunk_count: 1,
      // Stages: one label set per (kind, name, error type).
      gen_ai_workflow_duration_bucket: histogram - 2,
      gen_ai_workflow_duration_sum: 1,
      gen_ai_workflow_duration_count: 1,
      gen_ai_execute_tool_duration_bucket: histogram - 2,
      gen_ai_execute_tool_duration_sum: 1,
      gen_ai_execute_tool_duration_count: 1,
      tokentrace_step_duration_bucket: histogram - 2,
      tokentrace_step_duration_sum: 1,
      tokentrace_step_duration_count: 1,
      tokentrace_workflow_cost_total: 1,
    });
    // The per-label-set totals RETENTION.md gives: 72 streamed, 55 not streamed, 18 per error type.
    const perSet = {
      streamed: 1 + 1 + 1 + 1 + 2 * histogram + histogram + histogram,
      plain: 1 + 1 + 1 + 1 + 3 * histogram,
    };
    expect(perSet).toEqual({ streamed: 72, plain: 55 });
    const callSeries = Object.entries(series)
      .filter(
        ([name]) =>
          /^(tokentrace_client_|gen_ai_client_)/.test(name) && name !== "tokentrace_client_model_changes_total",
      )
      .reduce((sum, [, count]) => sum + count, 0);
    expect(callSeries).toBe(perSet.streamed + 2 * perSet.plain + failed * (1 + histogram) + histogram);
  });
});

interface Pipeline {
  receivers?: string[];
  processors?: string[];
  exporters?: string[];
}
interface CollectorConfig {
  receivers?: Record<string, unknown>;
  processors?: Record<string, unknown>;
  exporters?: Record<string, unknown>;
  connectors?: Record<string, unknown>;
  service: { pipelines: Record<string, Pipeline> };
}
interface RoutingConnector {
  default_pipelines?: string[];
  table: { context?: string; condition?: string; statement?: string; pipelines: string[] }[];
}
interface TransformProcessor {
  trace_statements?: (string | { statements: string[] })[];
  log_statements?: (string | { statements: string[] })[];
}
interface TailSamplingPolicy {
  name: string;
  type: string;
  [settings: string]: unknown;
}

const COLLECTOR_CONFIGS = ["content-routing.yaml", "tail-sampling.yaml", "redaction.yaml"] as const;

function collectorConfig(file: (typeof COLLECTOR_CONFIGS)[number]): CollectorConfig {
  return parse(readFileSync(new URL(`../examples/collector/${file}`, import.meta.url), "utf8")) as CollectorConfig;
}

/** A component id's type: `otlp_grpc/short` is an `otlp_grpc`. */
const typeOf = (id: string): string => id.split("/")[0]!;

/** An OTTL string literal's value: OTTL unescapes `\\` and `\"` inside double quotes. */
const ottlString = (literal: string): string => literal.replace(/\\(["\\])/g, "$1");

/** The collector's RE2 pattern as a global JavaScript RegExp (the patterns use only syntax both share). */
function jsRegExp(pattern: string): RegExp {
  return pattern.startsWith("(?i)") ? new RegExp(pattern.slice(4), "gi") : new RegExp(pattern, "g");
}

describe("collector configurations", () => {
  it.each(COLLECTOR_CONFIGS)(
    "%s parses, and each pipeline uses only components it defines, every one of them",
    (file) => {
      const config = collectorConfig(file);
      const defined = (section: Record<string, unknown> | undefined): Set<string> =>
        new Set(Object.keys(section ?? {}));
      const receivers = defined(config.receivers);
      const processors = defined(config.processors);
      const exporters = defined(config.exporters);
      const connectors = defined(config.connectors);
      const used = { receivers: new Set<string>(), processors: new Set<string>(), exporters: new Set<string>() };
      const pipelines = Object.entries(config.service.pipelines);
      expect(pipelines.length).toBeGreaterThan(0);
      for (const [id, pipeline] of pipelines) {
        expect(["traces", "metrics", "logs"]).toContain(typeOf(id));
        expect(pipeline.receivers?.length, `${id} has no receiver`).toBeGreaterThan(0);
        expect(pipeline.exporters?.length, `${id} has no exporter`).toBeGreaterThan(0);
        for (const receiver of pipeline.receivers ?? []) {
          expect(receivers.has(receiver) || connectors.has(receiver), `${id}: receiver ${receiver}`).toBe(true);
          used.receivers.add(receiver);
        }
        for (const processor of pipeline.processors ?? []) {
          expect(processors.has(processor), `${id}: processor ${processor}`).toBe(true);
          used.processors.add(processor);
        }
        for (const exporter of pipeline.exporters ?? []) {
          expect(exporters.has(exporter) || connectors.has(exporter), `${id}: exporter ${exporter}`).toBe(true);
          used.exporters.add(exporter);
        }
        // The memory limiter first (it refuses data before any work is done on it), the batch processor last.
        const chain = pipeline.processors ?? [];
        if (chain.includes("memory_limiter")) expect(chain[0]).toBe("memory_limiter");
        if (chain.includes("batch")) expect(chain.at(-1)).toBe("batch");
      }
      expect([...receivers].filter((id) => !used.receivers.has(id))).toEqual([]);
      expect([...processors].filter((id) => !used.processors.has(id))).toEqual([]);
      expect([...exporters].filter((id) => !used.exporters.has(id))).toEqual([]);
      // A connector ends one pipeline and starts others.
      for (const connector of connectors) {
        expect(used.exporters.has(connector), `${connector} ends no pipeline`).toBe(true);
        expect(used.receivers.has(connector), `${connector} starts no pipeline`).toBe(true);
        if (typeOf(connector) !== "routing") continue;
        const routing = config.connectors![connector] as RoutingConnector;
        const targets = [...(routing.default_pipelines ?? []), ...routing.table.flatMap((route) => route.pipelines)];
        for (const target of targets) {
          expect(config.service.pipelines[target]?.receivers, `${connector} routes to ${target}`).toContain(connector);
        }
      }
      // otlpSink() sends traces, metrics and feedback's log records to <url>/v1/traces, /v1/metrics and /v1/logs:
      // each must be received.
      const otlpPipelines = pipelines.filter(([, pipeline]) => pipeline.receivers?.includes("otlp"));
      expect(new Set(otlpPipelines.map(([id]) => typeOf(id)))).toEqual(new Set(["traces", "metrics", "logs"]));
      expect(config.receivers).toMatchObject({
        otlp: { protocols: { grpc: { endpoint: "0.0.0.0:4317" }, http: { endpoint: "0.0.0.0:4318" } } },
      });
    },
  );

  it("routes on tokentrace.content.present, and strips every content attribute from the long-term copy", () => {
    const config = collectorConfig("content-routing.yaml");
    const routing = config.connectors!["routing"] as RoutingConnector;
    expect(routing.table).toEqual([
      {
        context: "span",
        condition: `attributes["${names.ATTR_TOKENTRACE_CONTENT_PRESENT}"] == true`,
        pipelines: ["traces/short", "traces/long-stripped"],
      },
    ]);
    expect(routing.default_pipelines).toEqual(["traces/long"]);
    const { pipelines } = config.service;
    expect(pipelines["traces/short"]!.exporters).toEqual(["otlp_grpc/short"]);
    expect(pipelines["traces/long-stripped"]!.exporters).toEqual(["otlp_grpc/long"]);
    expect(pipelines["traces/long-stripped"]!.processors![0]).toBe("transform/strip-content");
    expect(pipelines["traces/long"]!.exporters).toEqual(["otlp_grpc/long"]);

    const flat = (groups: (string | { statements: string[] })[] | undefined): string[] =>
      (groups ?? []).flatMap((group) => (typeof group === "string" ? [group] : group.statements));
    const statements = flat((config.processors!["transform/strip-content"] as TransformProcessor).trace_statements);
    const logStatements = flat(
      (config.processors!["transform/strip-log-content"] as TransformProcessor).log_statements,
    );
    const deleted = (target: string, from = statements): string[] =>
      from.flatMap((statement) => {
        const match = new RegExp(`^delete_key\\(${target.replace(".", "\\.")}, "([^"]+)"\\)$`).exec(statement);
        return match === null ? [] : [match[1]!];
      });
    // Span events carry the exception text, the status message repeats it (`otel.status_description` is its
    // name in Jaeger and Zipkin), and tags and stop sequences are the app's own settings, written (redacted) in
    // every capture mode: the rest of CONTENT_ATTRIBUTES are span attributes, removed.
    const elsewhere = new Set<string>([
      names.ATTR_EXCEPTION_MESSAGE,
      names.ATTR_EXCEPTION_STACKTRACE,
      "otel.status_description",
      names.ATTR_TOKENTRACE_TAGS,
      names.ATTR_GEN_AI_REQUEST_STOP_SEQUENCES,
    ]);
    expect(deleted("span.attributes")).toEqual(names.CONTENT_ATTRIBUTES.filter((name) => !elsewhere.has(name)));
    expect(deleted("spanevent.attributes")).toEqual([names.ATTR_EXCEPTION_MESSAGE, names.ATTR_EXCEPTION_STACKTRACE]);
    expect(statements).toContain(
      `set(span.status.message, span.attributes["${names.ATTR_ERROR_TYPE}"]) where span.attributes["${names.ATTR_ERROR_TYPE}"] != nil`,
    );
    expect(statements).toContain(`set(span.attributes["${names.ATTR_TOKENTRACE_CONTENT_PRESENT}"], false)`);

    // Feedback's log records: one with a comment goes to short retention as it is, and to long retention without it.
    const logRouting = config.connectors!["routing/logs"] as RoutingConnector;
    expect(logRouting.table).toEqual([
      {
        context: "log",
        condition: `attributes["${names.ATTR_TOKENTRACE_CONTENT_PRESENT}"] == true`,
        pipelines: ["logs/short", "logs/long-stripped"],
      },
    ]);
    expect(logRouting.default_pipelines).toEqual(["logs/long"]);
    expect(pipelines["logs/in"]!.exporters).toEqual(["routing/logs"]);
    expect(pipelines["logs/short"]!.exporters).toEqual(["otlp_http/logs-short"]);
    expect(pipelines["logs/long-stripped"]!.processors![0]).toBe("transform/strip-log-content");
    expect(pipelines["logs/long-stripped"]!.exporters).toEqual(["otlp_http/logs-long"]);
    expect(pipelines["logs/long"]!.exporters).toEqual(["otlp_http/logs-long"]);
    // The comment is the only content a feedback log record carries.
    expect(deleted("log.attributes", logStatements)).toEqual([names.ATTR_GEN_AI_EVALUATION_EXPLANATION]);
    expect(logStatements).toContain(`set(log.attributes["${names.ATTR_TOKENTRACE_CONTENT_PRESENT}"], false)`);
  });

  it("keeps errors, redacted spans, recorded anomalies, unpriced models, flagged and slow traces, and a share of the rest", () => {
    const config = collectorConfig("tail-sampling.yaml");
    const tailSampling = config.processors!["tail_sampling"] as {
      decision_wait: string;
      policies: TailSamplingPolicy[];
    };
    expect(tailSampling.decision_wait).toBe("60s");
    expect(tailSampling.policies).toEqual([
      { name: "errors", type: "status_code", status_code: { status_codes: ["ERROR"] } },
      {
        name: "redacted",
        type: "ottl_condition",
        ottl_condition: {
          error_mode: "ignore",
          span: [`attributes["${names.ATTR_TOKENTRACE_REDACTION_KINDS}"] != nil`],
        },
      },
      {
        name: "anomalies",
        type: "ottl_condition",
        ottl_condition: {
          error_mode: "ignore",
          span: [
            `attributes["${names.ATTR_TOKENTRACE_USAGE_INVALID_FIELDS}"] != nil`,
            `attributes["${names.ATTR_TOKENTRACE_PAYLOAD_IGNORED_ENTRIES}"] != nil`,
          ],
        },
      },
      {
        name: "flagged-anomaly",
        type: "boolean_attribute",
        boolean_attribute: { key: names.ATTR_TOKENTRACE_ANOMALY_FLAGGED, value: true },
      },
      {
        name: "unpriced",
        type: "string_attribute",
        string_attribute: {
          key: names.ATTR_TOKENTRACE_COST_UNPRICED_MODEL,
          values: [".+"],
          enabled_regex_matching: true,
        },
      },
      { name: "flagged", type: "boolean_attribute", boolean_attribute: { key: "app.flagged", value: true } },
      { name: "slow", type: "latency", latency: { threshold_ms: 30_000 } },
      { name: "baseline", type: "probabilistic", probabilistic: { sampling_percentage: 10 } },
    ]);
  });

  it("masks secrets and personal data in every attribute and in the status message, and leaves tokentrace's markers alone", () => {
    const config = collectorConfig("redaction.yaml");
    const redaction = config.processors!["redaction"] as { allow_all_keys: boolean; blocked_values: string[] };
    expect(redaction.allow_all_keys).toBe(true);
    const patterns = redaction.blocked_values;

    // The status message gets the same patterns, in the same order.
    const transform = config.processors!["transform/status-message"] as { trace_statements: string[] };
    const statusPatterns = transform.trace_statements.map((statement) => {
      const match = /^replace_pattern\(span\.status\.message, "((?:[^"\\]|\\.)*)", "\*\*\*\*"\)$/.exec(statement);
      expect(match, statement).not.toBeNull();
      return ottlString(match![1]!);
    });
    expect(statusPatterns).toEqual(patterns);

    const mask = (text: string): string =>
      patterns.reduce((masked, pattern) => masked.replace(jsRegExp(pattern), "****"), text);
    // Made-up values of each kind (AKIAIOSFODNN7EXAMPLE is AWS's documentation example).
    const secrets = [
      "jane.doe@example.com",
      "4111 1111 1111 1111",
      "4111-1111-1111-1111",
      "378282246310005",
      "sk-proj-" + "A1b2C3d4E5".repeat(4),
      "sk-ant-api03-" + "x9Y8z7W6v5".repeat(3),
      "AKIAIOSFODNN7EXAMPLE",
      "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk",
      "Bearer " + "t0k3nV4lu3".repeat(3),
    ];
    for (const secret of secrets)
      expect(mask(`[{"content":"it is ${secret}, thanks"}]`)).toBe(`[{"content":"it is ****, thanks"}]`);
    // What tokentrace writes after its own redaction, and the ordinary values of its spans, pass unchanged.
    const untouched = [
      "Write to me at [EMAIL] or call [PHONE].",
      "key [API_KEY], token [JWT], [REDACTED]",
      "chatcmpl-mock-1",
      "gpt-4o-mini-2024-07-18",
      "2026-11-27",
      "Order 10023 left our warehouse yesterday.",
      "+1 415 555 0100", // phone numbers are left to tokentrace's `pii: ["phone"]`, which knows their formats
    ];
    for (const value of untouched) expect(mask(value)).toBe(value);
  });
});
