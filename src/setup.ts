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
export interface SetupOptions extends Omit<ObserveOptions, "tracerProvider" | "meterProvider" | "providerName"> {
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
  /**
   * Flush buffered telemetry when the process is about to end: when its event loop runs dry
   * (`beforeExit`) and on `SIGTERM` / `SIGINT`, waiting at most 5 s for the sinks. After a signal, the
   * signal is raised again once flushed, so the process still ends as it would have, unless the app
   * listens for that signal itself (then ending is the app's call). An explicit `process.exit()` cannot
   * wait: call `await telemetry.shutdown()` before it.
   *
   * Default: `false`. Turn it on for long-running services (a container stopped with SIGTERM loses up to
   * one batch of spans and one metric interval otherwise). In serverless functions it does not help (the
   * platform freezes the process instead of ending it): `await telemetry.flush()` before returning.
   *
   * @example setup({ serviceName: "support-bot", sinks: [otlpSink()], flushOnExit: true })
   */
  flushOnExit?: boolean;
}

/** What `setup()` returns. */
export interface TokentraceHandle {
  readonly tracerProvider: ApiTracerProvider;
  readonly meterProvider: ApiMeterProvider;
  /**
   * Resolves once every sink can take telemetry; rejects with an `InvalidOptionError` naming the option
   * when one cannot start (a Prometheus port in use). Binding a port is asynchronous, so this is where
   * `setup()` reports it; await it at start-up to fail fast. Not awaiting it is safe: the failure is then
   * logged through OpenTelemetry's `diag` and telemetry for that sink is dropped.
   */
  readonly ready: Promise<void>;
  /**
   * Export everything buffered so far. Call it before a serverless function returns. Never rejects:
   * telemetry a sink cannot deliver is dropped and counted by the sink.
   */
  flush(): Promise<void>;
  /** Flush, then stop the providers; observed clients fall back to the global OpenTelemetry providers. */
  shutdown(): Promise<void>;
}

const setupKeys: ReadonlySet<string> = new Set(["serviceName", "sinks", "resourceAttributes", "flushOnExit"]);
/** How long `flushOnExit` waits for the sinks before letting the process end. */
const EXIT_FLUSH_TIMEOUT_MS = 5_000;

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
  if (options.flushOnExit !== undefined && typeof options.flushOnExit !== "boolean") {
    throw new InvalidOptionError("flushOnExit", `expected true or false, received ${describe(options.flushOnExit)}.`);
  }
  const { spanProcessors, metricReaders, ready } = collectSinks(options.sinks);
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
      legacyCacheCreationAttribute: defaults.legacyCacheCreationAttribute,
      chunkTimingMetric: defaults.chunkTimingMetric,
      now: defaults.now,
      pricing: defaults.pricing,
    },
  };
  setActiveSetup(state);

  const flush = async (): Promise<void> => {
    await Promise.all([tracerProvider.forceFlush(), meterProvider.forceFlush()]);
  };
  const removeExitHooks = options.flushOnExit === true ? flushBeforeExit(flush) : undefined;
  return {
    tracerProvider,
    meterProvider,
    ready,
    flush,
    async shutdown() {
      removeExitHooks?.();
      if (activeSetup() === state) setActiveSetup(undefined);
      await Promise.all([tracerProvider.shutdown(), meterProvider.shutdown()]);
    },
  };
}

/**
 * Flush when the event loop runs dry and on SIGTERM/SIGINT (bounded by EXIT_FLUSH_TIMEOUT_MS). Listening
 * for a signal replaces Node's default action (exit), so once flushed the signal is raised again when no
 * one else listens for it. Returns a function that removes the hooks.
 */
function flushBeforeExit(flush: () => Promise<void>): () => void {
  let flushing: Promise<void> | undefined;
  const flushOnce = (): Promise<void> => {
    flushing ??= new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, EXIT_FLUSH_TIMEOUT_MS);
      timer.unref();
      flush().then(resolve, (error: unknown) => {
        diag.warn(`tokentrace: flush before exit failed: ${String(error)}`);
        resolve();
      });
    });
    return flushing;
  };
  const onBeforeExit = (): void => void flushOnce();
  const onSignal = (signal: NodeJS.Signals): void => {
    void flushOnce().then(() => {
      remove();
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
  };
  const remove = (): void => {
    process.off("beforeExit", onBeforeExit);
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
  };
  process.once("beforeExit", onBeforeExit);
  process.once("SIGTERM", onSignal);
  process.once("SIGINT", onSignal);
  return remove;
}

function collectSinks(sinks: unknown): { spanProcessors: SpanProcessor[]; metricReaders: MetricReader[]; ready: Promise<void> } {
  const spanProcessors: SpanProcessor[] = [];
  const metricReaders: MetricReader[] = [];
  const starting: Promise<void>[] = [];
  if (sinks === undefined) return { spanProcessors, metricReaders, ready: Promise.resolve() };
  if (!Array.isArray(sinks)) {
    throw new InvalidOptionError("sinks", `expected an array of sinks, received ${describe(sinks)}.`);
  }
  sinks.forEach((sink: unknown, index) => {
    if (isSink(sink)) {
      spanProcessors.push(...sink.spanProcessors);
      metricReaders.push(...sink.metricReaders);
      if (sink.ready !== undefined) starting.push(sink.ready);
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
  const ready = Promise.all(starting).then(() => undefined);
  // The sink reports its own failure through diag; an app that never awaits `ready` must not crash on it.
  ready.catch(() => undefined);
  return { spanProcessors, metricReaders, ready };
}

function hasMethods(value: unknown, methods: readonly string[]): boolean {
  if (value === null || typeof value !== "object") return false;
  return methods.every((method) => typeof (value as Record<string, unknown>)[method] === "function");
}
