import { ExportResultCode } from "@opentelemetry/core";
import type { ExportResult } from "@opentelemetry/core";
import { AggregationTemporality, MetricReader } from "@opentelemetry/sdk-metrics";
import type { ResourceMetrics } from "@opentelemetry/sdk-metrics";
import { SimpleLogRecordProcessor } from "@opentelemetry/sdk-logs";
import type { LogRecordExporter, ReadableLogRecord } from "@opentelemetry/sdk-logs";
import { SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import type { ReadableSpan, SpanExporter } from "@opentelemetry/sdk-trace-base";
import { InvalidOptionError } from "../errors.js";
import { describeValue } from "../internal/describe-value.js";
import { warnOnce } from "../internal/report.js";
import { defineSink } from "./types.js";
import type { Sink } from "./types.js";

export interface MemorySinkOptions {
  /**
   * At most this many ended spans are kept; past it, the oldest span is dropped for each new one (counted in
   * `droppedSpans()`, and warned about once). Default: `10_000`; an integer from 1 to 1,000,000. Raise it for
   * a test that needs more spans at once, or call `reset()` between tests of a long-lived sink.
   *
   * @example memorySink({ maxSpans: 100_000 })
   */
  maxSpans?: number;
}

/** A sink that keeps spans, metrics and log records in memory, for tests (yours and ours). */
export interface MemorySink extends Sink {
  /** Spans ended so far, oldest first: the newest `maxSpans` of them. */
  getSpans(): ReadableSpan[];
  /** Log records emitted so far (feedback's `gen_ai.evaluation.result` events), oldest first: the newest `maxSpans`. */
  getLogRecords(): ReadableLogRecord[];
  /** Collect the current metric points (cumulative since start). */
  collectMetrics(): Promise<ResourceMetrics>;
  /** Spans dropped because `maxSpans` were already kept, since the sink was created or last `reset()`. */
  droppedSpans(): number;
  /** Forget the spans and log records collected so far, and the count of dropped spans. */
  reset(): void;
}

const DEFAULT_MAX_SPANS = 10_000;
const MAX_MAX_SPANS = 1_000_000;

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

/**
 * Keeps the newest `max` items in a ring (issue 13: every store tokentrace owns is bounded): once full, each new
 * item overwrites the oldest in place, O(1), where shifting an array of 10,000 would copy it per item. Otherwise
 * as OpenTelemetry's in-memory exporters: after shutdown it keeps nothing and refuses new items. `what` and `one`
 * name the items in the one warning when it first drops (`spans`, `span`).
 */
class RingExporter<T> {
  /** Grows to `max` (no up-front array of a million slots), then is overwritten in place. */
  private items: T[] = [];
  /** Once full, the index of the oldest item: the next one overwritten. */
  private oldest = 0;
  private dropped = 0;
  private stopped = false;

  constructor(
    private readonly max: number,
    private readonly what: string,
    private readonly one: string,
  ) {}

  export(items: T[], done: (result: ExportResult) => void): void {
    if (this.stopped) {
      done({ code: ExportResultCode.FAILED, error: new Error("memorySink has been shut down") });
      return;
    }
    for (const item of items) this.keep(item);
    done({ code: ExportResultCode.SUCCESS });
  }

  private keep(item: T): void {
    if (this.items.length < this.max) {
      this.items.push(item);
      return;
    }
    this.items[this.oldest] = item;
    this.oldest = this.oldest + 1 === this.max ? 0 : this.oldest + 1;
    this.dropped += 1;
    if (this.dropped === 1) {
      warnOnce(
        `memorySink() keeps at most ${this.max} ${this.what} (maxSpans); dropping the oldest ${this.one} for each new one. Raise it with memorySink({ maxSpans }) (up to ${MAX_MAX_SPANS}), or call reset() between tests.`,
      );
    }
  }

  getItems(): T[] {
    return [...this.items.slice(this.oldest), ...this.items.slice(0, this.oldest)];
  }

  droppedItems(): number {
    return this.dropped;
  }

  reset(): void {
    this.items = [];
    this.oldest = 0;
    this.dropped = 0;
  }

  shutdown(): Promise<void> {
    this.stopped = true;
    this.items = [];
    this.oldest = 0;
    return Promise.resolve();
  }

  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * Keeps ended spans (the newest `maxSpans`, default 10,000), log records (as many) and metrics in memory, for
 * tests: read them with `getSpans()`, `getLogRecords()` and `collectMetrics()`, and `reset()` between tests.
 *
 * @example const sink = memorySink({ maxSpans: 100_000 }); setup({ sinks: [sink] });
 */
export function memorySink(options: MemorySinkOptions = {}): MemorySink {
  const { maxSpans } = resolveOptions(options);
  const exporter: RingExporter<ReadableSpan> & SpanExporter = new RingExporter<ReadableSpan>(maxSpans, "spans", "span");
  const reader = new CollectingMetricReader();
  const logExporter: RingExporter<ReadableLogRecord> & LogRecordExporter = new RingExporter<ReadableLogRecord>(
    maxSpans,
    "log records",
    "log record",
  );
  const sink = defineSink("memory", {
    spanProcessors: [new SimpleSpanProcessor(exporter)],
    metricReaders: [reader],
    logRecordProcessors: [new SimpleLogRecordProcessor({ exporter: logExporter })],
  });
  return {
    ...sink,
    getSpans: () => exporter.getItems(),
    getLogRecords: () => logExporter.getItems(),
    collectMetrics: async () => {
      const { resourceMetrics } = await reader.collect();
      return resourceMetrics;
    },
    droppedSpans: () => exporter.droppedItems(),
    reset: () => {
      exporter.reset();
      logExporter.reset();
    },
  };
}

/** Checks options as JavaScript callers may pass them (anything at all) and fills in the defaults. */
function resolveOptions(value: unknown): { maxSpans: number } {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new InvalidOptionError("memorySink", `expected an options object, received ${describeValue(value)}.`);
  }
  const options = value as { readonly [K in keyof MemorySinkOptions]?: unknown };
  for (const key of Object.keys(options)) {
    if (key !== "maxSpans") {
      throw new InvalidOptionError(`memorySink.${key}`, "unknown option. Accepted options: maxSpans.");
    }
  }
  const { maxSpans = DEFAULT_MAX_SPANS } = options;
  if (!(typeof maxSpans === "number" && Number.isInteger(maxSpans) && maxSpans >= 1 && maxSpans <= MAX_MAX_SPANS)) {
    throw new InvalidOptionError(
      "memorySink.maxSpans",
      `expected an integer from 1 to ${MAX_MAX_SPANS} (spans kept), received ${describeValue(maxSpans)}.`,
    );
  }
  return { maxSpans };
}
