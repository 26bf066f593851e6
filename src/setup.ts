import type {
  Attributes,
  MeterProvider as ApiMeterProvider,
  TracerProvider as ApiTracerProvider,
} from "@opentelemetry/api";
import { context } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { LoggerProvider } from "@opentelemetry/sdk-logs";
import type { LogRecordProcessor } from "@opentelemetry/sdk-logs";
import { MeterProvider } from "@opentelemetry/sdk-metrics";
import type { MetricReader } from "@opentelemetry/sdk-metrics";
import { BasicTracerProvider, BatchSpanProcessor } from "@opentelemetry/sdk-trace-base";
import type { SpanExporter, SpanProcessor } from "@opentelemetry/sdk-trace-base";
import { contextManagerWorks } from "./app-context.js";
import { describe, validateObserveOptions } from "./config.js";
import type { ObserveOptions } from "./config.js";
import { InvalidOptionError } from "./errors.js";
import { activeSetup, setActiveSetup } from "./internal/active-providers.js";
import type { FeedbackSettings } from "./internal/active-providers.js";
import { envString } from "./internal/env.js";
import { WARNING_MODES, setWarningMode, warnOnce, warnOncePerKind } from "./internal/report.js";
import type { WarningMode } from "./internal/report.js";
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
   * Feedback (issue 14). `secret` (at least 16 characters, the same in every process that reads the refs):
   * `callInfo(result).ref` and `currentRef()` are signed with it (HMAC-SHA256), and a ref that was edited or
   * forged is refused. Without it refs are plain: anyone who can send feedback can name any span.
   *
   * @example setup({ sinks: [otlpSink()], feedback: { secret: process.env.FEEDBACK_SECRET! } })
   */
  feedback?: {
    secret?: string;
    /**
     * Also record each feedback result as a zero-length child span `evaluation {name}` of the span it rates, for
     * backends that store traces only. `"auto"` (the default): when no OpenTelemetry logger provider is
     * registered (the results' log records would go nowhere).
     */
    spans?: boolean | "auto";
  };
  /**
   * Flush buffered telemetry when the process is about to end: when its event loop runs dry
   * (`beforeExit`) and on `SIGTERM` / `SIGINT`, waiting at most `flushTimeoutMs` for the sinks. After a
   * signal, the signal is raised again once flushed (or once the bound ran out), so the process still ends
   * as it would have (killed by that signal), unless the app listens for that signal itself (then ending
   * is the app's call). When the event loop ran dry, the process ends with its own `process.exitCode` at
   * the latest when the bound runs out, even if a sink still holds a socket open. An explicit
   * `process.exit()` cannot wait: call `await telemetry.shutdown()` before it.
   *
   * Default: `false`. Turn it on for long-running services (a container stopped with SIGTERM loses up to
   * one batch of spans and one metric interval otherwise). In serverless functions it does not help (the
   * platform freezes the process instead of ending it): `await telemetry.flush()` before returning.
   *
   * @example setup({ serviceName: "support-bot", sinks: [otlpSink()], flushOnExit: true })
   */
  flushOnExit?: boolean;
  /**
   * Longest time, in milliseconds, that `flush()`, `shutdown()` and `flushOnExit` wait for the sinks.
   * What a sink has not delivered by then is left to it (it may still arrive, or be dropped); the report
   * lists the sink under `pending`.
   *
   * Default: `5000`. Lower it where a platform gives a process little time to stop (a container's grace
   * period); raise it for a slow collector that you would rather wait for.
   *
   * @example setup({ sinks: [otlpSink()], flushOnExit: true, flushTimeoutMs: 2_000 })
   */
  flushTimeoutMs?: number;
  /**
   * Where tokentrace's own warnings go (an invalid environment variable, a sink that drops telemetry, an
   * internal error), each kind once per process:
   * `"auto"`: OpenTelemetry's `diag`, and one line on stderr (prefixed `tokentrace:`) while no diag logger
   * is registered; `"stderr"`: `diag` and stderr; `"diag"`: `diag` only; `"off"`: nowhere.
   *
   * Default: `TOKENTRACE_WARNINGS`, else `"auto"`. Turn it to `"diag"` or `"off"` if stderr is not the
   * place for them.
   *
   * @example setup({ sinks: [otlpSink()], warnings: "diag" })
   */
  warnings?: WarningMode;
}

/**
 * What `flush()` and `shutdown()` resolve with: they never reject. Sinks are named by their position and
 * kind, e.g. `sinks[0] (otlp)` or `sinks[1] (InMemorySpanExporter)`.
 */
export interface FlushReport {
  /** Every sink finished in time without failure. */
  readonly ok: boolean;
  /** The bound (`flushTimeoutMs`) ran out before every sink answered. */
  readonly timedOut: boolean;
  /** Sinks that finished in time. */
  readonly flushed: readonly string[];
  /** Sinks that threw, rejected, or reported a failed export, with the error's message. */
  readonly failed: readonly { readonly sink: string; readonly error: string }[];
  /** Sinks that had not answered when the bound ran out. */
  readonly pending: readonly string[];
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
   * Export everything buffered so far. Call it before a serverless function returns. Resolves within
   * `flushTimeoutMs` whatever the sinks do, and never rejects: the report says which sinks flushed, failed
   * or were still busy. Telemetry a sink cannot deliver is dropped and counted by the sink.
   */
  flush(): Promise<FlushReport>;
  /**
   * Stop the sinks (each flushes what it holds first), within `flushTimeoutMs`, never rejecting; observed
   * clients fall back to the global OpenTelemetry providers (and `setup()`'s defaults no longer apply).
   */
  shutdown(): Promise<FlushReport>;
}

const setupKeys: ReadonlySet<string> = new Set([
  "serviceName",
  "feedback",
  "sinks",
  "resourceAttributes",
  "flushOnExit",
  "flushTimeoutMs",
  "warnings",
]);
/** How long `flush()`, `shutdown()` and `flushOnExit` wait for the sinks by default. */
export const DEFAULT_FLUSH_TIMEOUT_MS = 5_000;
/** setTimeout's largest delay; a longer one fires at once. */
const MAX_TIMEOUT_MS = 2_147_483_647;

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
  const serviceName = options.serviceName ?? envString("OTEL_SERVICE_NAME") ?? "unknown_service:node";
  if (typeof serviceName !== "string" || serviceName.trim() === "") {
    throw new InvalidOptionError("serviceName", `expected a non-empty string, received ${describe(serviceName)}.`);
  }
  if (options.flushOnExit !== undefined && typeof options.flushOnExit !== "boolean") {
    throw new InvalidOptionError("flushOnExit", `expected true or false, received ${describe(options.flushOnExit)}.`);
  }
  const flushTimeoutMs = options.flushTimeoutMs ?? DEFAULT_FLUSH_TIMEOUT_MS;
  if (!(
    typeof flushTimeoutMs === "number" &&
    Number.isInteger(flushTimeoutMs) &&
    flushTimeoutMs >= 1 &&
    flushTimeoutMs <= MAX_TIMEOUT_MS
  )) {
    throw new InvalidOptionError(
      "flushTimeoutMs",
      `expected an integer number of milliseconds from 1 to ${MAX_TIMEOUT_MS}, received ${describe(options.flushTimeoutMs)}.`,
    );
  }
  if (options.warnings !== undefined && !WARNING_MODES.includes(options.warnings)) {
    throw new InvalidOptionError(
      "warnings",
      `expected one of ${WARNING_MODES.map((mode) => `"${mode}"`).join(", ")}, received ${describe(options.warnings)}.`,
    );
  }
  const feedback = validateFeedback(options.feedback);
  const { spanProcessors, metricReaders, logRecordProcessors, ready, parts } = collectSinks(options.sinks);
  const resource = resourceFromAttributes({ ...options.resourceAttributes, "service.name": serviceName });
  const tracerProvider = new BasicTracerProvider({ resource, spanProcessors });
  const meterProvider = new MeterProvider({ resource, readers: metricReaders });
  // Feedback results are log records: with a sink that takes them, through a provider of setup()'s own (not
  // registered globally, as the others).
  const loggerProvider =
    logRecordProcessors.length > 0 ? new LoggerProvider({ resource, processors: logRecordProcessors }) : undefined;

  // Each set-up decides anew (undefined: back to TOKENTRACE_WARNINGS or the default), and shutdown() undoes it.
  setWarningMode(options.warnings);
  ensureContextManager();
  if (activeSetup() !== undefined) warnOnce("setup() called again; the newest set-up replaces the previous one.");
  const state = {
    tracerProvider,
    meterProvider,
    loggerProvider,
    feedback,
    defaults: {
      captureContent: defaults.captureContent,
      maxContentLength: defaults.maxContentLength,
      maxContentBytes: defaults.maxContentBytes,
      maxSpanContentBytes: defaults.maxSpanContentBytes,
      maxContentMessages: defaults.maxContentMessages,
      injectStreamUsage: defaults.injectStreamUsage,
      legacyCacheCreationAttribute: defaults.legacyCacheCreationAttribute,
      chunkTimingMetric: defaults.chunkTimingMetric,
      now: defaults.now,
      pricing: defaults.pricing,
      hashUserId: defaults.hashUserId,
      metricContextKey: defaults.metricContextKey,
      pii: defaults.pii,
      redactPatterns: defaults.redactPatterns,
      redact: defaults.redact,
      redactReplacement: defaults.redactReplacement,
      redactHashKey: defaults.redactHashKey,
      contentSampling: defaults.contentSampling,
      evaluators: defaults.evaluators,
      anomalies: defaults.anomalies,
      drift: defaults.drift,
    },
  };
  setActiveSetup(state);

  const flush = (): Promise<FlushReport> => settleWithin(parts, "forceFlush", flushTimeoutMs);
  const removeExitHooks = options.flushOnExit === true ? flushBeforeExit(flush, flushTimeoutMs) : undefined;
  let stopping: Promise<FlushReport> | undefined;
  return {
    tracerProvider,
    meterProvider,
    ready,
    flush,
    shutdown() {
      if (stopping !== undefined) return stopping;
      removeExitHooks?.();
      if (activeSetup() === state) {
        setActiveSetup(undefined);
        setWarningMode(undefined);
      }
      // Each sink's own shutdown (SDK processors and readers flush first), not the providers': a provider
      // waits for all of its parts, so one hanging sink would hide what the others did.
      stopping = settleWithin(parts, "shutdown", flushTimeoutMs);
      return stopping;
    },
  };
}

/**
 * Without a working context manager, spans do not nest (a call inside the app's span starts a trace of its own)
 * and `withContext()` reaches no call (issue 12). When none is registered, register OpenTelemetry's
 * AsyncLocalStorage one, the one the NodeSDK registers; never replace one that works. It stays registered after
 * `shutdown()`: the app's own spans may rely on it by then.
 */
function ensureContextManager(): void {
  if (contextManagerWorks()) return;
  const manager = new AsyncLocalStorageContextManager().enable();
  if (!context.setGlobalContextManager(manager) || !contextManagerWorks()) {
    manager.disable();
    warnOnce(
      "setup(): the registered OpenTelemetry context manager does not carry context, and another cannot be " +
        "registered beside it; spans will not nest and withContext() reaches no call.",
    );
  }
}

/** One entry of `sinks`, with the OpenTelemetry pieces it brought. */
interface SinkParts {
  readonly label: string;
  readonly pieces: readonly { forceFlush(): Promise<void>; shutdown(): Promise<void> }[];
}

/**
 * Run `forceFlush` or `shutdown` on every sink at once and resolve with what each did, at the latest when
 * `timeoutMs` runs out. Never rejects: a sink that throws synchronously, rejects or reports a failed
 * export (the SDK's batch processors and periodic readers reject their flush then) is listed as failed.
 */
function settleWithin(
  parts: readonly SinkParts[],
  method: "forceFlush" | "shutdown",
  timeoutMs: number,
): Promise<FlushReport> {
  const flushed: string[] = [];
  const failed: { sink: string; error: string }[] = [];
  const settled = new Set<string>();
  return new Promise<FlushReport>((resolve) => {
    let remaining = parts.length;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const finish = (timedOut: boolean): void => {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      const labels = parts.map((part) => part.label);
      const pending = labels.filter((label) => !settled.has(label));
      // In the order of `sinks`, whatever order they answered in.
      const order = (label: string): number => labels.indexOf(label);
      flushed.sort((a, b) => order(a) - order(b));
      failed.sort((a, b) => order(a.sink) - order(b.sink));
      const report: FlushReport = {
        ok: !timedOut && failed.length === 0,
        timedOut,
        flushed: [...flushed],
        failed: [...failed],
        pending,
      };
      if (!report.ok) {
        const what = [
          ...failed.map((entry) => `${entry.sink} failed (${entry.error})`),
          ...pending.map((label) => `${label} did not answer within ${timeoutMs} ms`),
        ];
        warnOncePerKind(
          `${method}-incomplete`,
          `${method === "shutdown" ? "shutdown" : "flush"} incomplete: ${what.join("; ")}. The app is not affected; see the FlushReport.`,
        );
      }
      resolve(report);
    };
    if (remaining === 0) {
      finish(false);
      return;
    }
    timer = setTimeout(() => finish(true), timeoutMs);
    // A flush must never be what keeps a process alive.
    timer.unref();
    for (const part of parts) {
      let outcome: Promise<unknown>;
      try {
        outcome = Promise.all(part.pieces.map((piece) => piece[method]()));
      } catch (error) {
        // Whatever a provider threw synchronously, as its rejection would carry it: reported, never rethrown.
        outcome = Promise.reject(error instanceof Error ? error : new Error(String(error)));
      }
      outcome
        .then(
          () => {
            if (timer === undefined) return;
            settled.add(part.label);
            flushed.push(part.label);
          },
          (error: unknown) => {
            if (timer === undefined) return;
            settled.add(part.label);
            failed.push({ sink: part.label, error: errorMessage(error) });
          },
        )
        .finally(() => {
          if (timer !== undefined && --remaining === 0) finish(false);
        })
        .catch(() => undefined);
    }
  });
}

function errorMessage(error: unknown): string {
  try {
    if (error instanceof Error) return error.message === "" ? error.name : error.message;
    return String(error);
  } catch {
    return "unknown error";
  }
}

/**
 * Flush when the event loop runs dry and on SIGTERM/SIGINT, bounded by `timeoutMs`. Listening for a signal
 * replaces Node's default action (exit), so once flushed (or out of time) the signal is raised again when no
 * one else listens for it: the process dies of it as it would have. When the loop ran dry and a sink still
 * holds the process open once the bound is out, the process exits with its own exit code. Returns a
 * function that removes the hooks.
 */
function flushBeforeExit(flush: () => Promise<FlushReport>, timeoutMs: number): () => void {
  let flushing: Promise<FlushReport> | undefined;
  // flush() settles within the bound by itself and never rejects.
  const flushOnce = (): Promise<FlushReport> => (flushing ??= flush());
  const onBeforeExit = (): void => {
    // The loop ran dry: the process would have ended now. If a sink still holds it open once the bound is
    // out (a socket to a collector that never answers), end it with its own exit code.
    void flushOnce().then((report) => {
      if (report.timedOut) process.exit();
    });
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    remove();
    // Keep the process up until flushed (bounded): the app's own handles may be gone already.
    const keepAlive = setTimeout(() => undefined, Math.min(timeoutMs + 1_000, MAX_TIMEOUT_MS));
    void flushOnce().then(() => {
      clearTimeout(keepAlive);
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

function collectSinks(sinks: unknown): {
  spanProcessors: SpanProcessor[];
  metricReaders: MetricReader[];
  logRecordProcessors: LogRecordProcessor[];
  ready: Promise<void>;
  parts: SinkParts[];
} {
  const spanProcessors: SpanProcessor[] = [];
  const metricReaders: MetricReader[] = [];
  const logRecordProcessors: LogRecordProcessor[] = [];
  const starting: Promise<void>[] = [];
  const parts: SinkParts[] = [];
  if (sinks === undefined)
    return { spanProcessors, metricReaders, logRecordProcessors, ready: Promise.resolve(), parts };
  if (!Array.isArray(sinks)) {
    throw new InvalidOptionError("sinks", `expected an array of sinks, received ${describe(sinks)}.`);
  }
  sinks.forEach((sink: unknown, index) => {
    const label = `sinks[${index}] (${isSink(sink) ? sink.name : describe(sink).replace(/^an instance of /, "")})`;
    if (isSink(sink)) {
      spanProcessors.push(...sink.spanProcessors);
      metricReaders.push(...sink.metricReaders);
      const logs = sink.logRecordProcessors ?? [];
      logRecordProcessors.push(...logs);
      parts.push({ label, pieces: [...sink.spanProcessors, ...sink.metricReaders, ...logs] });
      if (sink.ready !== undefined) starting.push(sink.ready);
    } else if (hasMethods(sink, ["onStart", "onEnd", "shutdown", "forceFlush"])) {
      spanProcessors.push(sink as SpanProcessor);
      parts.push({ label, pieces: [sink as SpanProcessor] });
    } else if (hasMethods(sink, ["export", "shutdown"]) && !hasMethods(sink, ["selectAggregationTemporality"])) {
      const processor = new BatchSpanProcessor(sink as SpanExporter);
      spanProcessors.push(processor);
      parts.push({ label, pieces: [processor] });
    } else if (hasMethods(sink, ["collect", "setMetricProducer", "shutdown"])) {
      metricReaders.push(sink as MetricReader);
      parts.push({ label, pieces: [sink as MetricReader] });
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
  return { spanProcessors, metricReaders, logRecordProcessors, ready, parts };
}

function hasMethods(value: unknown, methods: readonly string[]): boolean {
  if (value === null || typeof value !== "object") return false;
  return methods.every((method) => typeof (value as Record<string, unknown>)[method] === "function");
}

const MIN_FEEDBACK_SECRET_LENGTH = 16;

/** `feedback`: `{ secret?, spans? }`: a secret of at least 16 characters; `spans` true, false or "auto". */
function validateFeedback(option: unknown): FeedbackSettings | undefined {
  if (option === undefined) return undefined;
  if (option === null || typeof option !== "object" || Array.isArray(option)) {
    throw new InvalidOptionError("feedback", `expected an object { secret?, spans? }, received ${describe(option)}.`);
  }
  const given = { ...(option as Record<string, unknown>) };
  for (const key of Object.keys(given)) {
    if (key !== "secret" && key !== "spans") {
      throw new InvalidOptionError(`feedback.${key}`, "unknown option. Accepted options: secret, spans.");
    }
  }
  const settings: { secret?: string; spans?: boolean | "auto" } = {};
  const { secret, spans } = given;
  if (spans !== undefined) {
    if (spans !== true && spans !== false && spans !== "auto") {
      throw new InvalidOptionError("feedback.spans", `expected true, false or "auto", received ${describe(spans)}.`);
    }
    settings.spans = spans;
  }
  if (secret === undefined) return Object.freeze(settings);
  if (typeof secret !== "string" || secret.length < MIN_FEEDBACK_SECRET_LENGTH) {
    throw new InvalidOptionError(
      "feedback.secret",
      `expected a secret string of at least ${MIN_FEEDBACK_SECRET_LENGTH} characters, received ${typeof secret === "string" ? `a string of ${secret.length}` : describe(secret)}.`,
    );
  }
  settings.secret = secret;
  return Object.freeze(settings);
}
