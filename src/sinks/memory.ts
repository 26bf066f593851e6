import { AggregationTemporality, MetricReader } from "@opentelemetry/sdk-metrics";
import type { ResourceMetrics } from "@opentelemetry/sdk-metrics";
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { defineSink } from "./types.js";
import type { Sink } from "./types.js";

/** A sink that keeps spans and metrics in memory, for tests (yours and ours). */
export interface MemorySink extends Sink {
  /** Spans ended so far, oldest first. */
  getSpans(): ReadableSpan[];
  /** Collect the current metric points (cumulative since start). */
  collectMetrics(): Promise<ResourceMetrics>;
  /** Forget the spans collected so far. */
  reset(): void;
}

class CollectingMetricReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

export function memorySink(): MemorySink {
  const exporter = new InMemorySpanExporter();
  const reader = new CollectingMetricReader();
  const sink = defineSink("memory", { spanProcessors: [new SimpleSpanProcessor(exporter)], metricReaders: [reader] });
  return {
    ...sink,
    getSpans: () => exporter.getFinishedSpans().slice(),
    collectMetrics: async () => {
      const { resourceMetrics } = await reader.collect();
      return resourceMetrics;
    },
    reset: () => exporter.reset(),
  };
}
