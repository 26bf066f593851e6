import type { MetricReader } from "@opentelemetry/sdk-metrics";
import type { SpanExporter, SpanProcessor } from "@opentelemetry/sdk-trace-base";

/**
 * Where telemetry goes. A sink is a thin bundle of OpenTelemetry's own pieces: span processors for
 * traces and metric readers for metrics. `setup({ sinks })` assembles providers from them.
 */
export interface Sink {
  readonly kind: "tokentrace.sink";
  /** For diagnostics, e.g. `console`. */
  readonly name: string;
  readonly spanProcessors: readonly SpanProcessor[];
  readonly metricReaders: readonly MetricReader[];
}

/** What `setup({ sinks })` accepts: a tokentrace sink, or any OpenTelemetry exporter, processor or reader. */
export type SinkLike = Sink | SpanExporter | SpanProcessor | MetricReader;

export function isSink(value: unknown): value is Sink {
  return value !== null && typeof value === "object" && (value as { kind?: unknown }).kind === "tokentrace.sink";
}

export function defineSink(name: string, parts: { spanProcessors?: SpanProcessor[]; metricReaders?: MetricReader[] }): Sink {
  return {
    kind: "tokentrace.sink",
    name,
    spanProcessors: parts.spanProcessors ?? [],
    metricReaders: parts.metricReaders ?? [],
  };
}
