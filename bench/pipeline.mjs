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

/** A fresh pipeline: the exporter (to count spans) and the two providers to hand to `observe()`. */
export function benchPipeline() {
  const exporter = new CountingDiscardExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(exporter)] });
  const meterProvider = new MeterProvider({ readers: [new IdleMetricReader()] });
  return { exporter, tracerProvider, meterProvider };
}
