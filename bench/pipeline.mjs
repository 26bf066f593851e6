// The exporting pipeline every bench gives the observed clients: real OpenTelemetry SDK providers, spans batched
// to an exporter that counts and discards them, and a meter provider with a reader so histograms really aggregate.
import { ExportResultCode } from "@opentelemetry/core";
import { MeterProvider, MetricReader } from "@opentelemetry/sdk-metrics";
import { BasicTracerProvider, BatchSpanProcessor } from "@opentelemetry/sdk-trace-base";

/** Discards spans but counts them (and keeps the last), so a run can show that every observed call made a span. */
export class CountingDiscardExporter {
  spanCount = 0;
  lastSpan = undefined;
  export(spans, resultCallback) {
    this.spanCount += spans.length;
    this.lastSpan = spans[spans.length - 1] ?? this.lastSpan;
    resultCallback({ code: ExportResultCode.SUCCESS });
  }
  shutdown() {
    return Promise.resolve();
  }
  forceFlush() {
    return Promise.resolve();
  }
}

/** A reader that is never collected from: metric points are aggregated as in production, never exported. */
export class IdleMetricReader extends MetricReader {
  onForceFlush() {
    return Promise.resolve();
  }
  onShutdown() {
    return Promise.resolve();
  }
}

/**
 * A fresh pipeline: the exporter (to count spans), the reader, and the two providers to hand to `observe()`.
 * `{ exportByHand: true }` (the deterministic bench): the batch span processor never exports on its own timer
 * (its scheduled delay is the longest a timer takes, its batch as large as its queue), so the caller exports between measured calls with
 * `tracerProvider.forceFlush()` and no export lands inside one.
 */
export function benchPipeline({ exportByHand = false } = {}) {
  const exporter = new CountingDiscardExporter();
  const batching = exportByHand
    ? { scheduledDelayMillis: 2 ** 31 - 1, maxExportBatchSize: 8192, maxQueueSize: 8192 }
    : {};
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(exporter, batching)] });
  const reader = new IdleMetricReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  return { exporter, reader, tracerProvider, meterProvider };
}
