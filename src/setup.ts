import { diag } from "@opentelemetry/api";
import type { Attributes, MeterProvider as ApiMeterProvider, TracerProvider as ApiTracerProvider } from "@opentelemetry/api";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { MeterProvider } from "@opentelemetry/sdk-metrics";
import type { MetricReader } from "@opentelemetry/sdk-metrics";
import { BasicTracerProvider, BatchSpanProcessor } from "@opentelemetry/sdk-trace-base";
import type { SpanExporter, SpanProcessor } from "@opentelemetry/sdk-trace-base";
import { describe, validateObserveOptions } from "./config.js";
import type { ObserveOptions } from "./config.js";
import { InvalidOptionError } from "./errors.js";
import { activeSetup, setActiveSetup } from "./internal/active-providers.js";
import { isSink } from "./sinks/types.js";
import type { SinkLike } from "./sinks/types.js";

/** Options of `setup()`. The `ObserveOptions` here become the defaults of every `observe()` call. */
export interface SetupOptions extends Omit<ObserveOptions, "tracerProvider" | "meterProvider"> {
  /**
   * `service.name` of the resource. Default: `OTEL_SERVICE_NAME`, else `unknown_service:node`.
   *
   * @example setup({ serviceName: "support-bot", sinks: [consoleSink()] })
   */
  serviceName?: string;
  /**
   * Where telemetry goes: tokentrace sinks (`consoleSink()`, `memorySink()`) or any OpenTelemetry
   * `SpanExporter` (batched for you), `SpanProcessor` or `MetricReader`. Default: none (telemetry is
   * created and dropped).
   */
  sinks?: readonly SinkLike[];
  /** Extra resource attributes, e.g. `{ "deployment.environment.name": "prod" }`. Default: none. */
  resourceAttributes?: Attributes;
}

/** What `setup()` returns. */
export interface TokentraceHandle {
  readonly tracerProvider: ApiTracerProvider;
  readonly meterProvider: ApiMeterProvider;
  /** Export everything buffered so far. Call it before a serverless function returns. */
  flush(): Promise<void>;
  /** Flush, then stop the providers; observed clients fall back to the global OpenTelemetry providers. */
  shutdown(): Promise<void>;
}

const setupKeys: ReadonlySet<string> = new Set(["serviceName", "sinks", "resourceAttributes"]);

/**
 * Build tracer and meter providers from sinks, for apps that have no OpenTelemetry set-up of their own.
 * Apps that already registered OpenTelemetry providers do not need it: observed clients use the global
 * providers. The providers are not registered globally, so `setup()` never takes over an app's own
 * OpenTelemetry configuration.
 *
 * @example
 * const telemetry = setup({ serviceName: "support-bot", sinks: [consoleSink()] });
 * // ... on shutdown:
 * await telemetry.shutdown();
 */
export function setup(options: SetupOptions = {}): TokentraceHandle {
  const defaults = validateObserveOptions(options, "setup", setupKeys) as SetupOptions;
  for (const key of ["tracerProvider", "meterProvider"] as const) {
    if ((options as Record<string, unknown>)[key] !== undefined) {
      throw new InvalidOptionError(key, "is an observe() option; setup() builds its providers from `sinks`.");
    }
  }
  const serviceName = options.serviceName ?? process.env["OTEL_SERVICE_NAME"] ?? "unknown_service:node";
  if (typeof serviceName !== "string" || serviceName.trim() === "") {
    throw new InvalidOptionError("serviceName", `expected a non-empty string, received ${describe(serviceName)}.`);
  }
  const { spanProcessors, metricReaders } = collectSinks(options.sinks);
  const resource = resourceFromAttributes({ ...options.resourceAttributes, "service.name": serviceName });
  const tracerProvider = new BasicTracerProvider({ resource, spanProcessors });
  const meterProvider = new MeterProvider({ resource, readers: metricReaders });

  if (activeSetup() !== undefined) diag.warn("tokentrace: setup() called again; the newest set-up replaces the previous one.");
  const state = {
    tracerProvider,
    meterProvider,
    defaults: {
      captureContent: defaults.captureContent,
      maxContentLength: defaults.maxContentLength,
      injectStreamUsage: defaults.injectStreamUsage,
      now: defaults.now,
      pricing: defaults.pricing,
    },
  };
  setActiveSetup(state);

  return {
    tracerProvider,
    meterProvider,
    async flush() {
      await Promise.all([tracerProvider.forceFlush(), meterProvider.forceFlush()]);
    },
    async shutdown() {
      if (activeSetup() === state) setActiveSetup(undefined);
      await Promise.all([tracerProvider.shutdown(), meterProvider.shutdown()]);
    },
  };
}

function collectSinks(sinks: unknown): { spanProcessors: SpanProcessor[]; metricReaders: MetricReader[] } {
  const spanProcessors: SpanProcessor[] = [];
  const metricReaders: MetricReader[] = [];
  if (sinks === undefined) return { spanProcessors, metricReaders };
  if (!Array.isArray(sinks)) {
    throw new InvalidOptionError("sinks", `expected an array of sinks, received ${describe(sinks)}.`);
  }
  sinks.forEach((sink: unknown, index) => {
    if (isSink(sink)) {
      spanProcessors.push(...sink.spanProcessors);
      metricReaders.push(...sink.metricReaders);
    } else if (hasMethods(sink, ["onStart", "onEnd", "shutdown", "forceFlush"])) {
      spanProcessors.push(sink as SpanProcessor);
    } else if (hasMethods(sink, ["export", "shutdown"]) && !hasMethods(sink, ["selectAggregationTemporality"])) {
      spanProcessors.push(new BatchSpanProcessor(sink as SpanExporter));
    } else if (hasMethods(sink, ["collect", "setMetricProducer", "shutdown"])) {
      metricReaders.push(sink as MetricReader);
    } else {
      throw new InvalidOptionError(
        `sinks[${index}]`,
        `expected a tokentrace sink (consoleSink(), memorySink(), ...) or an OpenTelemetry SpanExporter, SpanProcessor or MetricReader, received ${describe(sink)}.`,
      );
    }
  });
  return { spanProcessors, metricReaders };
}

function hasMethods(value: unknown, methods: readonly string[]): boolean {
  if (value === null || typeof value !== "object") return false;
  return methods.every((method) => typeof (value as Record<string, unknown>)[method] === "function");
}
