/**
 * A local OTLP/HTTP receiver for tests: decodes what OpenTelemetry's exporters really send, protobuf
 * (with the protobufjs code generated from the published opentelemetry-proto definitions, as shipped in
 * `@opentelemetry/otlp-transformer` 0.216, installed here as `otlp-proto-root`) and JSON, into one plain
 * shape. That generated code covers traces and metrics only (0.216 already wrote logs by hand), so logs are
 * decoded by protobufjs's reflection, from the OTLP logs messages written out below. It can also play a
 * collector that fails (an HTTP status) or is slow (delayed answers).
 */
import { createServer } from "node:http";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo, Socket } from "node:net";
import { gunzipSync } from "node:zlib";

interface ProtoMessageType {
  decode(buffer: Uint8Array): unknown;
  toObject(message: unknown, options: Record<string, unknown>): unknown;
}
interface ProtoRoot {
  opentelemetry: {
    proto: {
      collector: {
        trace: { v1: { ExportTraceServiceRequest: ProtoMessageType } };
        metrics: { v1: { ExportMetricsServiceRequest: ProtoMessageType } };
      };
    };
  };
}

const require = createRequire(import.meta.url);
const root = require("otlp-proto-root/build/src/generated/root.js") as ProtoRoot;
const { ExportTraceServiceRequest } = root.opentelemetry.proto.collector.trace.v1;
const { ExportMetricsServiceRequest } = root.opentelemetry.proto.collector.metrics.v1;

interface ProtobufJs {
  parse(source: string): { root: { lookupType(name: string): ProtoMessageType } };
}

/**
 * `ExportLogsServiceRequest` (opentelemetry-proto's `collector/logs/v1/logs_service.proto`) and the messages it
 * uses, with their published field names and numbers; fields left out here (a resource's entity refs) are skipped
 * when decoding. The severity enum is declared as its wire type (a varint): it decodes to the same number.
 */
const LOGS_PROTO = `
syntax = "proto3";
package otlp_logs;

message AnyValue {
  oneof value {
    string string_value = 1;
    bool bool_value = 2;
    int64 int_value = 3;
    double double_value = 4;
    ArrayValue array_value = 5;
    KeyValueList kvlist_value = 6;
    bytes bytes_value = 7;
  }
}
message ArrayValue { repeated AnyValue values = 1; }
message KeyValueList { repeated KeyValue values = 1; }
message KeyValue { string key = 1; AnyValue value = 2; }
message InstrumentationScope {
  string name = 1;
  string version = 2;
  repeated KeyValue attributes = 3;
  uint32 dropped_attributes_count = 4;
}
message Resource { repeated KeyValue attributes = 1; uint32 dropped_attributes_count = 2; }

message ExportLogsServiceRequest { repeated ResourceLogs resource_logs = 1; }
message ResourceLogs { Resource resource = 1; repeated ScopeLogs scope_logs = 2; string schema_url = 3; }
message ScopeLogs { InstrumentationScope scope = 1; repeated LogRecord log_records = 2; string schema_url = 3; }
message LogRecord {
  fixed64 time_unix_nano = 1;
  fixed64 observed_time_unix_nano = 11;
  int32 severity_number = 2;
  string severity_text = 3;
  AnyValue body = 5;
  repeated KeyValue attributes = 6;
  uint32 dropped_attributes_count = 7;
  fixed32 flags = 8;
  bytes trace_id = 9;
  bytes span_id = 10;
  string event_name = 12;
}
`;
// The protobufjs that otlp-proto-root's generated code runs on (its dependency), with reflection.
const protobuf = createRequire(require.resolve("otlp-proto-root/build/src/generated/root.js"))(
  "protobufjs",
) as ProtobufJs;
const ExportLogsServiceRequest = protobuf.parse(LOGS_PROTO).root.lookupType("otlp_logs.ExportLogsServiceRequest");
/** protobufjs conversion: 64-bit integers as strings (no precision loss), bytes as base64, enums as numbers. */
const toObjectOptions = { longs: String, bytes: String, defaults: false, arrays: true };

export interface ReceivedRequest {
  path: string;
  contentType: string | undefined;
  contentEncoding: string | undefined;
  headers: Record<string, string | string[] | undefined>;
}

export interface ReceivedSpan {
  name: string;
  /** OTLP span kind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  /** Nanoseconds since the epoch, as decimal strings (exact: they exceed a double's integers). */
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: Record<string, unknown>;
  /** OTLP status code: 0 unset, 1 ok, 2 error. */
  status: { code: number; message: string | undefined };
  events: string[];
  resource: Record<string, unknown>;
  scope: { name: string; version: string | undefined };
}

export interface ReceivedLogRecord {
  /** `event_name`: set for events (e.g. `gen_ai.evaluation.result`); undefined for a plain log. */
  eventName: string | undefined;
  /** The span the record was emitted in (lower-case hex); undefined when it carried no span context. */
  traceId: string | undefined;
  spanId: string | undefined;
  /** OTLP trace flags (bit 0: sampled); 0 when absent. */
  flags: number;
  /** OTLP severity number (9 is INFO); 0 when unspecified. */
  severityNumber: number;
  severityText: string | undefined;
  /** The body as an attribute value is decoded (a string, a number, an array, an object); undefined when absent. */
  body: unknown;
  attributes: Record<string, unknown>;
  /** Nanoseconds since the epoch, as decimal strings; undefined when absent (0). */
  timeUnixNano: string | undefined;
  observedTimeUnixNano: string | undefined;
  resource: Record<string, unknown>;
  scope: { name: string; version: string | undefined };
}

export interface ReceivedDataPoint {
  attributes: Record<string, unknown>;
  /** Sum and gauge points. */
  value?: number;
  /** Histogram points. */
  count?: number;
  sum?: number;
  bucketCounts?: number[];
  explicitBounds?: number[];
}

export interface ReceivedMetric {
  name: string;
  description: string;
  unit: string;
  type: "histogram" | "sum" | "gauge" | "other";
  /** OTLP aggregation temporality: 1 delta, 2 cumulative. */
  temporality: number | undefined;
  isMonotonic: boolean | undefined;
  points: ReceivedDataPoint[];
  resource: Record<string, unknown>;
  scope: { name: string; version: string | undefined };
}

export interface CollectorBehaviour {
  /** Answer with this HTTP status (default 200). */
  status?: number;
  /** Wait this long before answering (default 0); the request is still decoded and recorded at once. */
  delayMs?: number;
}

export interface OtlpReceiver {
  /** Base URL, e.g. `http://127.0.0.1:43210`: pass it as `otlpSink({ url })`. */
  url: string;
  requests: ReceivedRequest[];
  spans: ReceivedSpan[];
  /** Every metric of every export, in arrival order (cumulative exports repeat metrics). */
  metrics: ReceivedMetric[];
  /** Every log record of every export, in arrival order. */
  logs: ReceivedLogRecord[];
  /** The most recent export of the metric with this name. */
  latestMetric(name: string): ReceivedMetric | undefined;
  /** Wait until `predicate` holds, polling every 10 ms. */
  waitFor(predicate: () => boolean, timeoutMs?: number, what?: string): Promise<void>;
  setBehaviour(behaviour: CollectorBehaviour): void;
  reset(): void;
  close(): Promise<void>;
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const requests: ReceivedRequest[] = [];
  const spans: ReceivedSpan[] = [];
  const metrics: ReceivedMetric[] = [];
  const logs: ReceivedLogRecord[] = [];
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let behaviour: CollectorBehaviour = {};

  const server = createServer((request, response) => {
    void handle(request, response);
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    let body = Buffer.concat(chunks);
    const contentType = request.headers["content-type"];
    const contentEncoding = request.headers["content-encoding"];
    const path = request.url ?? "";
    requests.push({ path, contentType, contentEncoding, headers: { ...request.headers } });
    if (contentEncoding === "gzip") body = gunzipSync(body);
    const json = contentType?.includes("json") === true;
    try {
      if (path === "/v1/traces") {
        const payload = json
          ? (JSON.parse(body.toString("utf8")) as unknown)
          : ExportTraceServiceRequest.toObject(ExportTraceServiceRequest.decode(body), toObjectOptions);
        spans.push(...spansOf(payload));
      } else if (path === "/v1/metrics") {
        const payload = json
          ? (JSON.parse(body.toString("utf8")) as unknown)
          : ExportMetricsServiceRequest.toObject(ExportMetricsServiceRequest.decode(body), toObjectOptions);
        metrics.push(...metricsOf(payload));
      } else if (path === "/v1/logs") {
        const payload = json
          ? (JSON.parse(body.toString("utf8")) as unknown)
          : ExportLogsServiceRequest.toObject(ExportLogsServiceRequest.decode(body), toObjectOptions);
        logs.push(...logsOf(payload));
      } else {
        response.statusCode = 404;
        response.end();
        return;
      }
    } catch (error) {
      response.statusCode = 400;
      response.end(String(error));
      return;
    }
    const answer = (): void => {
      if (response.destroyed) return;
      response.statusCode = behaviour.status ?? 200;
      // An empty protobuf message, or `{}`: both decode as a full success.
      response.setHeader("content-type", json ? "application/json" : "application/x-protobuf");
      response.end(json ? "{}" : "");
    };
    const delayMs = behaviour.delayMs ?? 0;
    if (delayMs === 0) {
      answer();
      return;
    }
    const timer = setTimeout(() => {
      timers.delete(timer);
      answer();
    }, delayMs);
    timers.add(timer);
  }

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    spans,
    metrics,
    logs,
    latestMetric(name) {
      for (let index = metrics.length - 1; index >= 0; index--)
        if (metrics[index]!.name === name) return metrics[index];
      return undefined;
    },
    async waitFor(predicate, timeoutMs = 5_000, what = "the condition") {
      const deadline = Date.now() + timeoutMs;
      while (!predicate()) {
        if (Date.now() > deadline) throw new Error(`OTLP receiver: timed out waiting for ${what}`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    setBehaviour(next) {
      behaviour = next;
    },
    reset() {
      requests.length = 0;
      spans.length = 0;
      metrics.length = 0;
      logs.length = 0;
      behaviour = {};
    },
    close() {
      for (const timer of timers) clearTimeout(timer);
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
    },
  };
}

// --- decoding: protobufjs objects and OTLP/JSON share field names (lowerCamelCase) ---

type Json = Record<string, unknown>;

/* eslint-disable @typescript-eslint/no-base-to-string -- decoded OTLP values are strings, numbers or booleans
   (OTLP/JSON, or protobufjs toObject with longs and bytes as strings): String() is the conversion we want. */

function list(value: unknown): Json[] {
  return Array.isArray(value) ? (value as Json[]) : [];
}

function spansOf(payload: unknown): ReceivedSpan[] {
  const result: ReceivedSpan[] = [];
  for (const resourceSpans of list((payload as Json).resourceSpans)) {
    const resource = attributesOf((resourceSpans.resource as Json | undefined)?.attributes);
    for (const scopeSpans of list(resourceSpans.scopeSpans)) {
      const scope = scopeOf(scopeSpans.scope);
      for (const span of list(scopeSpans.spans)) {
        const status = (span.status ?? {}) as Json;
        result.push({
          name: String(span.name),
          kind: Number(span.kind ?? 0),
          traceId: idOf(span.traceId),
          spanId: idOf(span.spanId),
          parentSpanId:
            span.parentSpanId === undefined || span.parentSpanId === "" ? undefined : idOf(span.parentSpanId),
          startTimeUnixNano: String(span.startTimeUnixNano ?? "0"),
          endTimeUnixNano: String(span.endTimeUnixNano ?? "0"),
          attributes: attributesOf(span.attributes),
          status: {
            code: Number(status.code ?? 0),
            message: status.message === undefined ? undefined : String(status.message),
          },
          events: list(span.events).map((event) => String(event.name)),
          resource,
          scope,
        });
      }
    }
  }
  return result;
}

function logsOf(payload: unknown): ReceivedLogRecord[] {
  const result: ReceivedLogRecord[] = [];
  const optionalId = (value: unknown): string | undefined =>
    value === undefined || value === "" ? undefined : idOf(value);
  const optionalTime = (value: unknown): string | undefined =>
    value === undefined || String(value) === "0" ? undefined : String(value);
  for (const resourceLogs of list((payload as Json).resourceLogs)) {
    const resource = attributesOf((resourceLogs.resource as Json | undefined)?.attributes);
    for (const scopeLogs of list(resourceLogs.scopeLogs)) {
      const scope = scopeOf(scopeLogs.scope);
      for (const record of list(scopeLogs.logRecords)) {
        result.push({
          eventName: record.eventName === undefined || record.eventName === "" ? undefined : String(record.eventName),
          traceId: optionalId(record.traceId),
          spanId: optionalId(record.spanId),
          flags: Number(record.flags ?? 0),
          severityNumber: Number(record.severityNumber ?? 0),
          severityText:
            record.severityText === undefined || record.severityText === "" ? undefined : String(record.severityText),
          body: record.body === undefined ? undefined : anyValueOf(record.body),
          attributes: attributesOf(record.attributes),
          timeUnixNano: optionalTime(record.timeUnixNano),
          observedTimeUnixNano: optionalTime(record.observedTimeUnixNano),
          resource,
          scope,
        });
      }
    }
  }
  return result;
}

function metricsOf(payload: unknown): ReceivedMetric[] {
  const result: ReceivedMetric[] = [];
  for (const resourceMetrics of list((payload as Json).resourceMetrics)) {
    const resource = attributesOf((resourceMetrics.resource as Json | undefined)?.attributes);
    for (const scopeMetrics of list(resourceMetrics.scopeMetrics)) {
      const scope = scopeOf(scopeMetrics.scope);
      for (const metric of list(scopeMetrics.metrics)) {
        const [type, data] = metric.histogram
          ? (["histogram", metric.histogram] as const)
          : metric.sum
            ? (["sum", metric.sum] as const)
            : metric.gauge
              ? (["gauge", metric.gauge] as const)
              : (["other", {}] as const);
        const body = data as Json;
        result.push({
          name: String(metric.name),
          description: String(metric.description ?? ""),
          unit: String(metric.unit ?? ""),
          type,
          temporality: body.aggregationTemporality === undefined ? undefined : Number(body.aggregationTemporality),
          isMonotonic: body.isMonotonic === undefined ? undefined : Boolean(body.isMonotonic),
          points: list(body.dataPoints).map((point) => pointOf(point, type)),
          resource,
          scope,
        });
      }
    }
  }
  return result;
}

function pointOf(point: Json, type: ReceivedMetric["type"]): ReceivedDataPoint {
  const attributes = attributesOf(point.attributes);
  if (type === "histogram") {
    return {
      attributes,
      count: Number(point.count ?? 0),
      sum: Number(point.sum ?? 0),
      bucketCounts: list(point.bucketCounts).map(Number),
      explicitBounds: list(point.explicitBounds).map(Number),
    };
  }
  const value = point.asDouble !== undefined ? Number(point.asDouble) : Number(point.asInt ?? 0);
  return { attributes, value };
}

function scopeOf(scope: unknown): { name: string; version: string | undefined } {
  const value = (scope ?? {}) as Json;
  return { name: String(value.name ?? ""), version: value.version === undefined ? undefined : String(value.version) };
}

function attributesOf(attributes: unknown): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const attribute of list(attributes)) result[String(attribute.key)] = anyValueOf(attribute.value);
  return result;
}

function anyValueOf(value: unknown): unknown {
  const v = (value ?? {}) as Json;
  if (v.stringValue !== undefined) return String(v.stringValue);
  if (v.boolValue !== undefined) return Boolean(v.boolValue);
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return Number(v.doubleValue);
  if (v.arrayValue !== undefined) return list((v.arrayValue as Json).values).map(anyValueOf);
  if (v.kvlistValue !== undefined) return attributesOf((v.kvlistValue as Json).values);
  if (v.bytesValue !== undefined) return String(v.bytesValue);
  return undefined;
}

/** Trace and span ids: hex in OTLP/JSON, base64 bytes from protobufjs. Always returned as hex. */
function idOf(value: unknown): string {
  const text = String(value ?? "");
  return /^[0-9a-f]+$/i.test(text) && (text.length === 32 || text.length === 16)
    ? text.toLowerCase()
    : Buffer.from(text, "base64").toString("hex");
}
/* eslint-enable @typescript-eslint/no-base-to-string */
