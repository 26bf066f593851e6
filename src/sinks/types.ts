import type { LogRecordProcessor } from "@opentelemetry/sdk-logs";
import type { MetricReader } from "@opentelemetry/sdk-metrics";
import type { SpanExporter, SpanProcessor } from "@opentelemetry/sdk-trace-base";

/**
 * Where telemetry goes. A sink is a thin bundle of OpenTelemetry's own pieces: span processors for
 * traces, metric readers for metrics and log record processors for events (feedback results).
 * `setup({ sinks })` assembles providers from them.
 */
export interface Sink {
  readonly kind: "tokentrace.sink";
  /** For diagnostics, e.g. `console`. */
  readonly name: string;
  readonly spanProcessors: readonly SpanProcessor[];
  readonly metricReaders: readonly MetricReader[];
  /** For log records: the `gen_ai.evaluation.result` events of feedback (issue 14). Absent: none. */
  readonly logRecordProcessors?: readonly LogRecordProcessor[];
  /**
   * Settles once the sink can take telemetry, for sinks that start something asynchronously (the
   * Prometheus sink's HTTP server). Rejects with an `InvalidOptionError` naming the option when it cannot
   * start (a port in use). `setup()` gathers these into its handle's `ready`. Absent: ready at once.
   */
  readonly ready?: Promise<void>;
}

/** What `setup({ sinks })` accepts: a tokentrace sink, or any OpenTelemetry exporter, processor or reader. */
export type SinkLike = Sink | SpanExporter | SpanProcessor | MetricReader;

export function isSink(value: unknown): value is Sink {
  return value !== null && typeof value === "object" && (value as { kind?: unknown }).kind === "tokentrace.sink";
}

export function defineSink(
  name: string,
  parts: {
    spanProcessors?: SpanProcessor[];
    metricReaders?: MetricReader[];
    logRecordProcessors?: LogRecordProcessor[];
    ready?: Promise<void>;
  },
): Sink {
  const sink: { -readonly [K in keyof Sink]: Sink[K] } = {
    kind: "tokentrace.sink",
    name,
    spanProcessors: parts.spanProcessors ?? [],
    metricReaders: parts.metricReaders ?? [],
  };
  if (parts.logRecordProcessors !== undefined) sink.logRecordProcessors = parts.logRecordProcessors;
  if (parts.ready !== undefined) sink.ready = parts.ready;
  return sink;
}
