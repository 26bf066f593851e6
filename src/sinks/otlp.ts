import { TraceFlags } from "@opentelemetry/api";
import type { Context } from "@opentelemetry/api";
import { ExportResultCode } from "@opentelemetry/core";
import type { ExportResult } from "@opentelemetry/core";
// Types only: the exporters are optional peer dependencies, loaded when a sink needs one (loadExporters).
import type { OTLPMetricExporterOptions } from "@opentelemetry/exporter-metrics-otlp-http";
import type { OTLPTraceExporter as OTLPProtobufTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { BatchLogRecordProcessor } from "@opentelemetry/sdk-logs";
import type {
  LogRecordExporter,
  LogRecordProcessor,
  ReadableLogRecord,
  ReadWriteLogRecord,
} from "@opentelemetry/sdk-logs";
import { AggregationTemporality, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics";
import type { PushMetricExporter, ResourceMetrics } from "@opentelemetry/sdk-metrics";
import { BatchSpanProcessor } from "@opentelemetry/sdk-trace-base";
import type { ReadableSpan, Span, SpanExporter, SpanProcessor } from "@opentelemetry/sdk-trace-base";
import { InvalidOptionError, TokentraceError } from "../errors.js";
import { describeValue } from "../internal/describe-value.js";
import { envChoice, envInteger, envString } from "../internal/env.js";
import { requireOptional } from "../internal/optional-package.js";
import { emit, warnOnce } from "../internal/report.js";
import { VERSION } from "../version.js";
import { defineSink } from "./types.js";
import type { Sink } from "./types.js";

/** OTLP/HTTP encodings. gRPC is not offered: it would pull in a gRPC stack, and collectors take OTLP/HTTP on 4318. */
export type OtlpProtocol = "http/protobuf" | "http/json";

export interface OtlpSinkOptions {
  /**
   * Base URL of the OTLP/HTTP endpoint; `/v1/traces`, `/v1/metrics` and `/v1/logs` are appended (after any
   * base path, as `OTEL_EXPORTER_OTLP_ENDPOINT` is). Default: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` /
   * `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` / `OTEL_EXPORTER_OTLP_LOGS_ENDPOINT` (full URLs), else
   * `OTEL_EXPORTER_OTLP_ENDPOINT`, else `http://localhost:4318` (a local OpenTelemetry Collector or agent).
   *
   * @example otlpSink({ url: "https://otlp.last9.io" })
   */
  url?: string;
  /**
   * HTTP headers sent with every export, typically credentials. Merged over `OTEL_EXPORTER_OTLP_HEADERS`
   * (and the per-signal variables). Default: none.
   *
   * @example otlpSink({ headers: { "dd-api-key": process.env.DD_API_KEY! } })
   */
  headers?: Record<string, string>;
  /**
   * Wire encoding. Default: `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` / `..._METRICS_PROTOCOL` / `..._LOGS_PROTOCOL`, else
   * `OTEL_EXPORTER_OTLP_PROTOCOL`, else `"http/protobuf"` (smaller; what the OTLP spec recommends). Use
   * `"http/json"` for a backend that only takes JSON, or to read payloads while debugging.
   *
   * @example otlpSink({ protocol: "http/json" })
   */
  protocol?: OtlpProtocol;
  /**
   * Compress request bodies. Default: `OTEL_EXPORTER_OTLP_COMPRESSION`, else `"none"`. `"gzip"` cuts
   * egress several-fold when content capture is on, for a little CPU off the call path.
   *
   * @example otlpSink({ compression: "gzip" })
   */
  compression?: "gzip" | "none";
  /**
   * Send traces. Default: `true`. Turn off to use this sink for metrics only (for a backend whose trace
   * and metric endpoints need different settings, pass two sinks).
   *
   * @example otlpSink({ traces: false, temporality: "delta" })
   */
  traces?: boolean;
  /** Send metrics. Default: `true`. @example otlpSink({ metrics: false }) */
  metrics?: boolean;
  /**
   * Send log records: the `gen_ai.evaluation.result` events of `recordFeedback()` and evaluators, on the span
   * they rate. Default: on when the log exporter package is installed (`true` requires it). Turn off for a
   * backend that takes no OTLP logs; feedback is then recorded as `evaluation {name}` spans instead (setup's
   * `feedback.spans: "auto"`) unless another sink takes log records.
   *
   * @example otlpSink({ logs: false })
   */
  logs?: boolean;
  /**
   * Aggregation temporality of exported metrics. Default: `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`,
   * else `"cumulative"` (what Prometheus-style backends expect). Datadog's OTLP intake wants `"delta"`.
   *
   * @example otlpSink({ temporality: "delta" })
   */
  temporality?: "cumulative" | "delta";
  /**
   * How often metrics are exported, in milliseconds. Default: `OTEL_METRIC_EXPORT_INTERVAL`, else 60000.
   * Lower it for fresher dashboards at the cost of more requests.
   *
   * @example otlpSink({ metricExportIntervalMs: 10_000 })
   */
  metricExportIntervalMs?: number;
  /**
   * Longest time one export request may take, retries included, in milliseconds. Default:
   * `OTEL_EXPORTER_OTLP_TIMEOUT`, else 10000. It bounds how long `flush()` and `shutdown()` can wait on
   * a collector that is down or slow; it never delays model calls.
   *
   * @example otlpSink({ timeoutMs: 3_000 })
   */
  timeoutMs?: number;
  /**
   * Most spans kept waiting for export, and apart from them most log records. When the collector cannot keep
   * up, further ones are dropped (and counted) instead of growing memory. Default: 2048.
   *
   * @example otlpSink({ maxQueueSize: 10_000 })
   */
  maxQueueSize?: number;
}

/** Telemetry an OTLP sink could not deliver (collector down, slow or refusing, or a queue full). */
export interface OtlpDroppedCounts {
  spans: number;
  metricDataPoints: number;
  logRecords: number;
}

/** The sink `otlpSink()` returns. */
export interface OtlpSink extends Sink {
  /** Telemetry dropped so far. The first drop of each kind is also reported once (through `diag`, and on stderr while no diag logger is registered). */
  dropped(): OtlpDroppedCounts;
  /** The URLs exported to, after defaults and environment variables (`undefined` for a signal turned off). */
  readonly endpoints: {
    readonly traces: string | undefined;
    readonly metrics: string | undefined;
    readonly logs: string | undefined;
  };
}

type Signal = "traces" | "metrics" | "logs";
const SIGNALS: readonly Signal[] = ["traces", "metrics", "logs"];
type TraceExporterConfig = NonNullable<ConstructorParameters<typeof OTLPProtobufTraceExporter>[0]>;
type TraceExporterClass = new (config: TraceExporterConfig) => SpanExporter;
type MetricExporterClass = new (config: TraceExporterConfig & OTLPMetricExporterOptions) => PushMetricExporter;
/** The log exporters take the trace exporters' configuration (both are otlp-exporter-base's node config). */
type LogExporterClass = new (config: TraceExporterConfig) => LogRecordExporter;

/** The package of each signal's exporter, by protocol. */
const exporterPackages = {
  traces: {
    "http/protobuf": "@opentelemetry/exporter-trace-otlp-proto",
    "http/json": "@opentelemetry/exporter-trace-otlp-http",
  },
  metrics: {
    "http/protobuf": "@opentelemetry/exporter-metrics-otlp-proto",
    "http/json": "@opentelemetry/exporter-metrics-otlp-http",
  },
  logs: {
    "http/protobuf": "@opentelemetry/exporter-logs-otlp-proto",
    "http/json": "@opentelemetry/exporter-logs-otlp-http",
  },
} as const;

/** The class each signal's exporter package exports. */
const exporterClasses = {
  traces: "OTLPTraceExporter",
  metrics: "OTLPMetricExporter",
  logs: "OTLPLogExporter",
} as const;

/**
 * The exporter classes for the signals that are on, loaded now: a missing package throws at `otlpSink()`,
 * naming every package missing and the command that installs them.
 */
function loadExporters(protocols: { readonly [S in Signal]: OtlpProtocol | undefined }): {
  TraceExporter?: TraceExporterClass;
  MetricExporter?: MetricExporterClass;
  LogExporter?: LogExporterClass;
} {
  const wanted: Signal[] = [];
  const names: string[] = [];
  for (const signal of SIGNALS) {
    const protocol = protocols[signal];
    if (protocol === undefined) continue;
    wanted.push(signal);
    names.push(exporterPackages[signal][protocol]);
  }
  const modules = requireOptional("otlpSink()", names);
  const exported = (signal: Signal): unknown => {
    const index = wanted.indexOf(signal);
    if (index === -1) return undefined;
    const name = exporterClasses[signal];
    const value = (modules[index] as Record<string, unknown> | undefined)?.[name];
    if (typeof value !== "function") {
      throw new TokentraceError(
        `otlpSink(): ${names[index] ?? "?"} does not export ${name}; install a supported version (^0.223.0).`,
      );
    }
    return value;
  };
  return {
    TraceExporter: exported("traces") as TraceExporterClass | undefined,
    MetricExporter: exported("metrics") as MetricExporterClass | undefined,
    LogExporter: exported("logs") as LogExporterClass | undefined,
  };
}

/**
 * The log exporter for `protocol` when its package loads; undefined when it does not (not installed: quietly; any
 * other failure, a broken or mismatched install: said once). Logs are on by default only where they can be.
 */
function installedLogExporter(protocol: OtlpProtocol): LogExporterClass | undefined {
  try {
    return loadExporters({ traces: undefined, metrics: undefined, logs: protocol }).LogExporter;
  } catch (error) {
    const missing = error instanceof TokentraceError && error.message.includes("not installed");
    if (!missing) {
      warnOnce(
        `otlpSink(): the log exporter ${exporterPackages.logs[protocol]} did not load (${describeReason(error)}); ` +
          "the sink sends no log records (feedback is recorded as evaluation spans). otlpSink({ logs: true }) fails on it instead.",
      );
    }
    return undefined;
  }
}

const DEFAULT_ENDPOINT = "http://localhost:4318";
const DEFAULT_PROTOCOL: OtlpProtocol = "http/protobuf";
const OTLP_PROTOCOLS: readonly OtlpProtocol[] = ["http/protobuf", "http/json"];
const DEFAULT_METRIC_EXPORT_INTERVAL_MS = 60_000;
const DEFAULT_MAX_QUEUE_SIZE = 2048;
const MAX_EXPORT_BATCH_SIZE = 512;
const knownOptions: ReadonlySet<string> = new Set([
  "url",
  "headers",
  "protocol",
  "compression",
  "traces",
  "metrics",
  "logs",
  "temporality",
  "metricExportIntervalMs",
  "timeoutMs",
  "maxQueueSize",
]);

/**
 * Sends traces, metrics and log records (feedback's `gen_ai.evaluation.result` events) over OTLP/HTTP
 * (protobuf or JSON) with OpenTelemetry's own exporters: to an OpenTelemetry Collector, or straight to a
 * backend that accepts OTLP (Grafana Cloud, Honeycomb, Last9, Datadog, Jaeger, ...). Configured by the
 * options, else by the standard `OTEL_EXPORTER_OTLP_*` variables.
 *
 * Exports run in the background with bounded queues: a collector that is down, slow or failing never
 * changes a model call's result or latency; what cannot be delivered is dropped, counted (`dropped()`)
 * and reported once through OpenTelemetry's `diag`.
 *
 * @example
 * setup({ serviceName: "support-bot", sinks: [otlpSink({ url: "http://otel-collector:4318" })] });
 */
export function otlpSink(options: OtlpSinkOptions = {}): OtlpSink {
  validateOptions(options);
  const counts: OtlpDroppedCounts = { spans: 0, metricDataPoints: 0, logRecords: 0 };
  const reported = new Set<Signal>();
  const endpoints = {
    traces: options.traces === false ? undefined : signalUrl(options.url, "traces"),
    metrics: options.metrics === false ? undefined : signalUrl(options.url, "metrics"),
    logs: options.logs === false ? undefined : signalUrl(options.url, "logs"),
  };
  const drop = (signal: Signal, count: number, reason: unknown): void => {
    const [key, unit] = droppedUnits[signal];
    counts[key] += count;
    if (reported.has(signal)) return;
    reported.add(signal);
    const what = `${count} ${unit}${count === 1 ? "" : "s"}`;
    emit(
      `otlpSink dropped ${what} for ${endpoints[signal] ?? "?"}: ${describeReason(reason)}. ` +
        "The app is not affected; further drops are only counted (see the sink's dropped()).",
    );
  };

  const shared = {
    headers: options.headers,
    timeoutMillis: options.timeoutMs,
    // eslint-disable-next-line @typescript-eslint/no-unsafe-enum-assignment -- CompressionAlgorithm's values are these very strings ("gzip", "none"); its package (otlp-exporter-base) is not one of ours to import.
    compression: options.compression as TraceExporterConfig["compression"],
    userAgent: `tokentrace/${VERSION}`,
  };

  const protocolOf = (signal: Signal): OtlpProtocol | undefined =>
    endpoints[signal] === undefined ? undefined : protocolFor(options.protocol, signal);
  // Logs by default only where their exporter is installed: an app that installed the trace and metric exporters
  // alone keeps a working sink, and feedback falls back to `evaluation {name}` spans. `logs: true` requires it.
  const {
    TraceExporter,
    MetricExporter,
    LogExporter: requiredLogExporter,
  } = loadExporters({
    traces: protocolOf("traces"),
    metrics: protocolOf("metrics"),
    logs: options.logs === true ? protocolOf("logs") : undefined,
  });
  const logsProtocol = protocolOf("logs");
  const LogExporter =
    options.logs === true || logsProtocol === undefined ? requiredLogExporter : installedLogExporter(logsProtocol);
  if (LogExporter === undefined) endpoints.logs = undefined;
  const maxQueueSize = options.maxQueueSize ?? DEFAULT_MAX_QUEUE_SIZE;

  const spanProcessors: SpanProcessor[] = [];
  if (endpoints.traces !== undefined && TraceExporter !== undefined) {
    const config = { ...shared, url: endpoints.traces };
    const exporter = new TraceExporter(config);
    spanProcessors.push(
      new BoundedBatchSpanProcessor(exporter, maxQueueSize, options.timeoutMs, (count, reason) =>
        drop("traces", count, reason),
      ),
    );
  }

  const metricReaders: PeriodicExportingMetricReader[] = [];
  if (endpoints.metrics !== undefined && MetricExporter !== undefined) {
    const config = {
      ...shared,
      url: endpoints.metrics,
      // The SDK's AggregationTemporality: the exporters accept it, with the values of their own
      // AggregationTemporalityPreference (DELTA 0, CUMULATIVE 1), so protobuf needs no JSON exporter package.
      temporalityPreference:
        options.temporality === undefined
          ? undefined
          : options.temporality === "delta"
            ? AggregationTemporality.DELTA
            : AggregationTemporality.CUMULATIVE,
    };
    const exporter = new MetricExporter(config);
    const intervalMs = options.metricExportIntervalMs ?? metricExportIntervalFromEnv();
    metricReaders.push(
      new PeriodicExportingMetricReader({
        exporter: new BackgroundMetricExporter(exporter, (count, reason) => drop("metrics", count, reason)),
        exportIntervalMillis: intervalMs,
        // The exporter below answers at once, so this timeout only bounds collection.
        exportTimeoutMillis: intervalMs,
      }),
    );
  }

  const logRecordProcessors: LogRecordProcessor[] = [];
  if (endpoints.logs !== undefined && LogExporter !== undefined) {
    const exporter = new LogExporter({ ...shared, url: endpoints.logs });
    logRecordProcessors.push(
      new BoundedBatchLogRecordProcessor(exporter, maxQueueSize, options.timeoutMs, (count, reason) =>
        drop("logs", count, reason),
      ),
    );
  }

  return {
    ...defineSink("otlp", { spanProcessors, metricReaders, logRecordProcessors }),
    endpoints,
    dropped: () => ({ ...counts }),
  };
}

/** What `dropped()` counts for each signal, and the unit its drop warning names. */
const droppedUnits = {
  traces: ["spans", "span"],
  metrics: ["metricDataPoints", "metric data point"],
  logs: ["logRecords", "log record"],
} as const satisfies Record<Signal, readonly [keyof OtlpDroppedCounts, string]>;

/** What the span and log record exporters have in common. */
interface BatchExporter<T> {
  export(items: T[], done: (result: ExportResult) => void): void;
  shutdown(): Promise<void>;
  forceFlush?(): Promise<void>;
}

/**
 * `exporter` for one of OpenTelemetry's batch processors, with failures counted: `taken(n)` when the processor
 * takes a batch off its queue (right before it calls `export`), `onDrop` for a batch not delivered. Failed
 * batches are reported to the processor as delivered so it does not log every failure at error level;
 * `onDrop` reports the first one.
 */
function countingExporter<T>(
  exporter: BatchExporter<T>,
  taken: (count: number) => void,
  onDrop: (count: number, reason: unknown) => void,
): Required<BatchExporter<T>> {
  return {
    export: (items: T[], done: (result: ExportResult) => void): void => {
      taken(items.length);
      const finish = (result: ExportResult): void => {
        if (result.code !== ExportResultCode.SUCCESS) onDrop(items.length, result.error ?? "export failed");
        done({ code: ExportResultCode.SUCCESS });
      };
      try {
        exporter.export(items, finish);
      } catch (error) {
        finish({ code: ExportResultCode.FAILED, error: error instanceof Error ? error : new Error(String(error)) });
      }
    },
    shutdown: () => exporter.shutdown(),
    forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve(),
  };
}

/** The batch processors' options shared by spans and log records. */
function batchOptions(maxQueueSize: number, timeoutMs: number | undefined) {
  return {
    maxQueueSize,
    maxExportBatchSize: Math.min(MAX_EXPORT_BATCH_SIZE, maxQueueSize),
    // Longer than the exporter's own deadline, so the exporter always answers first.
    exportTimeoutMillis: Math.max(30_000, (timeoutMs ?? 10_000) + 5_000),
  };
}

/**
 * The bound of a batch processor's queue, with drops counted: what waits for export over `maxQueueSize` is
 * dropped here (OpenTelemetry's processors would drop it too, but only say so in a debug line, or not at all),
 * and batches the exporter fails to deliver are counted (`countingExporter`).
 */
class QueueGate<T> {
  /** Items handed to the batch processor that it has not yet passed to the exporter. */
  private queued = 0;
  /** The exporter the batch processor is given: it releases what it takes. */
  readonly exporter: Required<BatchExporter<T>>;

  constructor(
    exporter: BatchExporter<T>,
    private readonly maxQueueSize: number,
    private readonly what: string,
    private readonly onDrop: (count: number, reason: unknown) => void,
  ) {
    this.exporter = countingExporter<T>(exporter, (count) => (this.queued = Math.max(0, this.queued - count)), onDrop);
  }

  /** Whether one more item may be queued (counted); one that may not is counted as dropped. */
  admit(): boolean {
    if (this.queued >= this.maxQueueSize) {
      this.onDrop(1, `the queue of ${this.maxQueueSize} ${this.what} waiting for export is full`);
      return false;
    }
    this.queued++;
    return true;
  }
}

/** OpenTelemetry's BatchSpanProcessor behind a QueueGate. */
class BoundedBatchSpanProcessor implements SpanProcessor {
  private readonly batch: BatchSpanProcessor;
  private readonly gate: QueueGate<ReadableSpan>;

  constructor(
    exporter: SpanExporter,
    maxQueueSize: number,
    timeoutMs: number | undefined,
    onDrop: (count: number, reason: unknown) => void,
  ) {
    this.gate = new QueueGate<ReadableSpan>(exporter, maxQueueSize, "spans", onDrop);
    this.batch = new BatchSpanProcessor(this.gate.exporter, batchOptions(maxQueueSize, timeoutMs));
  }

  onStart(span: Span, parentContext: Context): void {
    this.batch.onStart(span, parentContext);
  }

  onEnd(span: ReadableSpan): void {
    if ((span.spanContext().traceFlags & TraceFlags.SAMPLED) === 0) return;
    if (this.gate.admit()) this.batch.onEnd(span);
  }

  forceFlush(): Promise<void> {
    return this.batch.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.batch.shutdown();
  }
}

/** OpenTelemetry's BatchLogRecordProcessor behind a QueueGate: `onEmit` only queues, never waits on the collector. */
class BoundedBatchLogRecordProcessor implements LogRecordProcessor {
  private readonly batch: BatchLogRecordProcessor;
  private readonly gate: QueueGate<ReadableLogRecord>;

  constructor(
    exporter: LogRecordExporter,
    maxQueueSize: number,
    timeoutMs: number | undefined,
    onDrop: (count: number, reason: unknown) => void,
  ) {
    this.gate = new QueueGate<ReadableLogRecord>(exporter, maxQueueSize, "log records", onDrop);
    this.batch = new BatchLogRecordProcessor({
      exporter: this.gate.exporter,
      ...batchOptions(maxQueueSize, timeoutMs),
    });
  }

  onEmit(record: ReadWriteLogRecord): void {
    if (this.gate.admit()) this.batch.onEmit(record);
  }

  forceFlush(): Promise<void> {
    return this.batch.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.batch.shutdown();
  }
}

/**
 * Hands each collection to the OTLP exporter and answers the reader at once, so a slow collector never
 * holds the reader (which would log a timeout at error level every interval). The exporter caps requests
 * in flight (`concurrencyLimit`) and fails the rest, which are counted as dropped. `forceFlush()` still
 * waits for the requests in flight.
 */
class BackgroundMetricExporter implements PushMetricExporter {
  constructor(
    private readonly exporter: PushMetricExporter,
    private readonly onDrop: (count: number, reason: unknown) => void,
  ) {
    if (exporter.selectAggregationTemporality) {
      this.selectAggregationTemporality = exporter.selectAggregationTemporality.bind(exporter);
    }
    if (exporter.selectAggregation) this.selectAggregation = exporter.selectAggregation.bind(exporter);
  }

  selectAggregationTemporality?: PushMetricExporter["selectAggregationTemporality"];
  selectAggregation?: PushMetricExporter["selectAggregation"];

  export(metrics: ResourceMetrics, done: (result: ExportResult) => void): void {
    const fail = (reason: unknown): void => this.onDrop(countDataPoints(metrics), reason);
    try {
      this.exporter.export(metrics, (result) => {
        if (result.code !== ExportResultCode.SUCCESS) fail(result.error ?? "export failed");
      });
    } catch (error) {
      fail(error);
    }
    done({ code: ExportResultCode.SUCCESS });
  }

  forceFlush(): Promise<void> {
    return this.exporter.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.exporter.shutdown();
  }
}

function countDataPoints(metrics: ResourceMetrics): number {
  let count = 0;
  for (const scope of metrics.scopeMetrics) for (const metric of scope.metrics) count += metric.dataPoints.length;
  return count;
}

function describeReason(reason: unknown): string {
  if (reason instanceof Error) {
    const code = (reason as { code?: unknown }).code;
    const message = reason.message !== "" ? reason.message : reason.name;
    return typeof code === "number" ? `HTTP ${code} ${message}` : message;
  }
  return String(reason);
}

/** The URL a signal is exported to: option, then signal-specific variable, then generic variable, then default. */
function signalUrl(url: string | undefined, signal: Signal): string {
  if (url !== undefined) return appendSignalPath(url, signal);
  const specificName = `OTEL_EXPORTER_OTLP_${signal.toUpperCase()}_ENDPOINT`;
  const specific = envString(specificName);
  if (specific !== undefined) {
    if (isHttpUrl(specific)) return specific;
    warnOnce(`${specificName}="${specific}" is not an http(s) URL; ignoring it.`);
  }
  const generic = envString("OTEL_EXPORTER_OTLP_ENDPOINT");
  if (generic !== undefined) {
    if (isHttpUrl(generic)) return appendSignalPath(generic, signal);
    warnOnce(`OTEL_EXPORTER_OTLP_ENDPOINT="${generic}" is not an http(s) URL; using ${DEFAULT_ENDPOINT}.`);
  }
  return appendSignalPath(DEFAULT_ENDPOINT, signal);
}

function appendSignalPath(base: string, signal: Signal): string {
  return `${base.replace(/\/+$/, "")}/v1/${signal}`;
}

function protocolFor(option: OtlpProtocol | undefined, signal: Signal): OtlpProtocol {
  if (option !== undefined) return option;
  for (const name of [`OTEL_EXPORTER_OTLP_${signal.toUpperCase()}_PROTOCOL`, "OTEL_EXPORTER_OTLP_PROTOCOL"]) {
    if (envString(name) === undefined) continue;
    // The most specific variable that is set decides, even when it is wrong (then the default holds).
    const protocol = envChoice(name, OTLP_PROTOCOLS, (raw) => {
      warnOnce(
        `${name}="${raw}" is not supported by otlpSink (accepted: ${OTLP_PROTOCOLS.join(", ")}); using ${DEFAULT_PROTOCOL}.`,
      );
    });
    return protocol ?? DEFAULT_PROTOCOL;
  }
  return DEFAULT_PROTOCOL;
}

function metricExportIntervalFromEnv(): number {
  const name = "OTEL_METRIC_EXPORT_INTERVAL";
  return (
    envInteger(name, 1, Number.MAX_SAFE_INTEGER, (raw) => {
      warnOnce(`${name}="${raw}" is not a positive integer; using ${DEFAULT_METRIC_EXPORT_INTERVAL_MS}.`);
    }) ?? DEFAULT_METRIC_EXPORT_INTERVAL_MS
  );
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:";
  } catch {
    return false;
  }
}

/** Checks options as JavaScript callers may pass them: anything at all. */
function validateOptions(value: unknown): asserts value is OtlpSinkOptions {
  if (value === null || typeof value !== "object") {
    throw new InvalidOptionError("otlpSink", `expected an options object, received ${describeValue(value)}.`);
  }
  const options = value as { readonly [K in keyof OtlpSinkOptions]?: unknown };
  for (const key of Object.keys(options)) {
    if (!knownOptions.has(key)) {
      throw new InvalidOptionError(
        `otlpSink.${key}`,
        `unknown option. Accepted options: ${[...knownOptions].join(", ")}.`,
      );
    }
  }
  const { url, headers, protocol, compression, temporality } = options;
  if (url !== undefined) {
    if (typeof url !== "string" || !isHttpUrl(url)) {
      throw new InvalidOptionError(
        "otlpSink.url",
        `expected an http:// or https:// URL such as "http://localhost:4318", received ${describeValue(url)}.`,
      );
    }
    const signalPath = /\/v1\/(traces|metrics|logs)\/?$/.exec(new URL(url).pathname);
    if (signalPath !== null) {
      throw new InvalidOptionError(
        "otlpSink.url",
        `expected the base URL of the endpoint (tokentrace appends /v1/traces, /v1/metrics and /v1/logs), received "${url}", which already ends in ${signalPath[0]}.`,
      );
    }
  }
  if (headers !== undefined) {
    const valid =
      headers !== null &&
      typeof headers === "object" &&
      !Array.isArray(headers) &&
      Object.values(headers).every((value) => typeof value === "string");
    if (!valid) {
      throw new InvalidOptionError(
        "otlpSink.headers",
        `expected an object of string header values, received ${describeValue(headers)}.`,
      );
    }
  }
  if (protocol !== undefined && protocol !== "http/protobuf" && protocol !== "http/json") {
    throw new InvalidOptionError(
      "otlpSink.protocol",
      `expected "http/protobuf" or "http/json", received ${describeValue(protocol)}.${protocol === "grpc" ? " gRPC is not supported; collectors accept OTLP/HTTP on port 4318." : ""}`,
    );
  }
  if (compression !== undefined && compression !== "gzip" && compression !== "none") {
    throw new InvalidOptionError(
      "otlpSink.compression",
      `expected "gzip" or "none", received ${describeValue(compression)}.`,
    );
  }
  if (temporality !== undefined && temporality !== "cumulative" && temporality !== "delta") {
    throw new InvalidOptionError(
      "otlpSink.temporality",
      `expected "cumulative" or "delta", received ${describeValue(temporality)}.`,
    );
  }
  for (const key of SIGNALS) {
    if (options[key] !== undefined && typeof options[key] !== "boolean") {
      throw new InvalidOptionError(
        `otlpSink.${key}`,
        `expected true or false, received ${describeValue(options[key])}.`,
      );
    }
  }
  if (SIGNALS.every((key) => options[key] === false)) {
    throw new InvalidOptionError(
      "otlpSink.traces",
      "traces, metrics and logs are all turned off: the sink would send nothing.",
    );
  }
  for (const key of ["metricExportIntervalMs", "timeoutMs", "maxQueueSize"] as const) {
    const value = options[key];
    if (value !== undefined && !(typeof value === "number" && Number.isInteger(value) && value > 0)) {
      throw new InvalidOptionError(`otlpSink.${key}`, `expected a positive integer, received ${describeValue(value)}.`);
    }
  }
}
