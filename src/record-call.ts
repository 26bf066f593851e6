import { SpanKind, SpanStatusCode, context, trace } from "@opentelemetry/api";
import type { Attributes, AttributeValue, Context, Exception, HrTime, Meter, Span, Tracer } from "@opentelemetry/api";
import type { CallRecord } from "./call-record.js";
import type { ResolvedOptions } from "./config.js";
import { serializeContent } from "./content.js";
import { ProviderFailure, errorText, errorType, isUserAbort } from "./error-facts.js";
import { reportAnomaly, reportInternalError } from "./internal/report.js";
import { currentMeterProvider, currentTracerProvider } from "./internal/active-providers.js";
import { createPricer } from "./metrics/cost.js";
import type { CostBreakdown, Pricer } from "./metrics/cost.js";
import { instrumentsFor } from "./metrics/instruments.js";
import type { Instruments, MetricAttributeSet } from "./metrics/instruments.js";
import type { StreamTiming } from "./metrics/timing.js";
import * as names from "./semconv.js";
import { measured, validateUsage } from "./usage.js";
import type { Usage } from "./usage.js";
import { VERSION } from "./version.js";

/** How a call ended. */
export type CallOutcome =
  | { kind: "completed" }
  | { kind: "error"; error: unknown }
  /** The app stopped reading a stream early (`break`, `return()`). */
  | { kind: "cancelled" }
  /** The app aborted the request (`controller.abort()`, an AbortSignal). */
  | { kind: "aborted" }
  /** The app dropped the result without reading it; noticed when it was garbage-collected. */
  | { kind: "abandoned" };

/** One call in flight. `end()` may be called any number of times; only the first counts. */
export interface ActiveCall {
  readonly record: CallRecord;
  readonly span: Span;
  readonly startMs: number;
  readonly context: Context;
  timing: StreamTiming | undefined;
  /** Runs once, just before the span ends, to finish the record (e.g. a stream accumulator). */
  beforeEnd: ((outcome: CallOutcome) => void) | undefined;
  readonly ended: boolean;
  end(outcome: CallOutcome): void;
  /**
   * End the call as `abandoned` if `target` (the promise or stream the app holds) is garbage-collected
   * before the call ends. Watching a new target stops watching the previous one.
   */
  watch(target: object): void;
}

/**
 * Results dropped without being read (an APIPromise never awaited, a Stream never iterated) still end
 * their span, when the garbage collector reclaims them. A call leaves the registry as soon as it ends, so
 * finished calls are not kept alive until their promise is collected.
 */
const abandoned = new FinalizationRegistry<ActiveCall>((call) => {
  if (!call.ended) call.end({ kind: "abandoned" });
});

/** The bundled snapshot's pricer, shared by every client without pricing options; built on first use. */
let defaultPricer: Pricer | undefined;

/** Calls started but not yet ended; a leak test watches this. */
let openCalls = 0;
export function openCallCount(): number {
  return openCalls;
}

/** The identity fields of the metric attribute set a client used last: most calls of a client use the same one. */
interface LastMetricAttributeSet {
  readonly instruments: Instruments;
  readonly operationName: string;
  readonly providerName: string;
  readonly requestModel: string | undefined;
  readonly responseModel: string | undefined;
  readonly serverAddress: string | undefined;
  readonly serverPort: number | undefined;
  readonly errorType: string | undefined;
  readonly set: MetricAttributeSet;
}

/** What `price` returns for a price that gave an amount that cannot be true (infinite, negative, NaN). */
const IMPOSSIBLE_COST = Symbol("impossible cost");

/** No credentials known: nothing to redact. */
const noSecrets = (): readonly string[] => [];

/**
 * Owns the span lifecycle of a client's calls and is the one place where a CallRecord becomes span
 * attributes and metric points. Never throws.
 *
 * Clock (issue 10): the call's clock (`now`, default `performance.now`) measures every duration; the span
 * starts at the wall-clock time the call was issued (`Date.now()`, read with the clock's first reading, as
 * the OpenTelemetry SDK would) and ends at that start plus the measured duration, so span duration and
 * `gen_ai.client.operation.duration` are the same number, with the default clock and an injected one alike.
 */
export class Recorder {
  private tracerCache: { provider: unknown; tracer: Tracer } | undefined;
  private meterCache: { provider: unknown; meter: Meter } | undefined;
  private pricerCache: Pricer | undefined;
  private lastMetricAttributeSet: LastMetricAttributeSet | undefined;

  constructor(
    private readonly options: ResolvedOptions,
    /** The client's credentials, read when an error is recorded (see `ClientDescription.secrets`). */
    private readonly secrets: () => readonly string[] = noSecrets,
  ) {}

  private pricer(): Pricer {
    if (this.pricerCache === undefined) {
      this.pricerCache = this.options.pricing ? createPricer(this.options.pricing) : (defaultPricer ??= createPricer());
    }
    return this.pricerCache;
  }

  /**
   * Start a call's span, as a child of `parent` (default: the active context). `startEpochMs`: the wall-clock
   * time read together with `startMs`, where the span starts.
   */
  start(
    record: CallRecord,
    startMs: number,
    parent: Context = context.active(),
    startEpochMs: number = Date.now(),
  ): ActiveCall {
    const attributes: Attributes = {
      [names.ATTR_GEN_AI_OPERATION_NAME]: record.operationName,
      [names.ATTR_GEN_AI_PROVIDER_NAME]: record.providerName,
      ...record.requestAttributes,
    };
    if (record.requestModel !== undefined) attributes[names.ATTR_GEN_AI_REQUEST_MODEL] = record.requestModel;
    if (record.serverAddress !== undefined) attributes[names.ATTR_SERVER_ADDRESS] = record.serverAddress;
    if (record.serverPort !== undefined) attributes[names.ATTR_SERVER_PORT] = record.serverPort;
    const spanName = record.requestModel ? `${record.operationName} ${record.requestModel}` : record.operationName;
    const startTime = millisToHrTime(startEpochMs);
    const span = this.tracer().startSpan(spanName, { kind: SpanKind.CLIENT, attributes, startTime }, parent);
    openCalls++;
    return new Call(this, record, span, startMs, trace.setSpan(parent, span), startEpochMs, startTime);
  }

  /**
   * Called by Call.end: never throws. The error first, then each step of the end of the call on its own
   * guard, so a step that fails (content, cost, a tracer that throws) loses only itself (issue 10).
   */
  finish(call: Call, ended: CallOutcome): void {
    guard("finish-record", () => call.beforeEnd?.(ended));
    const { record, span } = call;
    // A failure the provider reported as data ends an otherwise completed call as an error.
    let outcome: CallOutcome = ended;
    guard("finish-record", () => {
      const failure = record.failure;
      if (ended.kind === "completed" && failure !== undefined) {
        outcome = { kind: "error", error: new ProviderFailure(failure.type, failure.message) };
      }
    });
    let durationMs: number | undefined;
    guard("clock", () => {
      durationMs = measured(this.options.now() - call.startMs);
      if (durationMs === undefined) reportAnomaly("duration", "the clock went backwards or returned a non-number");
    });
    const endTime = durationMs === undefined ? undefined : addHrTimes(call.startTime, millisToHrTime(durationMs));
    let recording = false;
    guard("span-attributes", () => {
      // A span the sampler dropped (or a no-op provider's) takes no attributes: skip building them, content
      // above all. Metrics below still count every call.
      recording = span.isRecording();
    });
    let errorTypeValue: string | undefined;
    if (outcome.kind === "error") {
      const error = outcome.error;
      errorTypeValue = guard("error-type", () => errorType(error)) ?? "_OTHER";
      const type = errorTypeValue;
      if (recording) guard("span-error", () => this.writeError(call, error, type, endTime));
    }
    let usage: Usage = {};
    guard("usage", () => {
      const checked = validateUsage(record.usage);
      usage = checked.usage;
      if (checked.invalidFields.length > 0) {
        reportAnomaly("usage", checked.invalidFields.join(", "));
        if (recording) span.setAttribute(names.ATTR_TOKENTRACE_USAGE_INVALID_FIELDS, checked.invalidFields);
      }
    });
    let costRejected = false;
    const cost = guard("cost", () => {
      const priced = this.price(call, usage);
      if (priced === IMPOSSIBLE_COST) costRejected = true;
      return priced === IMPOSSIBLE_COST ? undefined : priced;
    });
    if (recording) this.writeSpan(call, outcome, usage, cost, costRejected, ended.kind);
    guard("metrics", () => this.writeMetrics(call, outcome, errorTypeValue, durationMs, usage, cost));
    guard("span-end", () => span.end(endTime));
  }

  /** Price a call that used tokens; undefined when it used none, its model has no known price, or the price is not a sound amount. */
  private price(call: Call, usage: Usage): CostBreakdown | typeof IMPOSSIBLE_COST | undefined {
    const { record } = call;
    if (usage.inputTokens === undefined && usage.outputTokens === undefined) return undefined;
    const cost = this.pricer()({
      providerName: record.providerName,
      requestModel: record.requestModel,
      responseModel: record.responseModel,
      usage,
      serviceTier: record.serviceTier,
      timestampMs: call.startedAtEpochMs,
    });
    if (cost === undefined) return undefined;
    const parts = [cost.totalUsd, cost.inputUsd, cost.cachedInputUsd, cost.cacheWriteUsd, cost.outputUsd];
    if (parts.some((part) => measured(part) === undefined)) {
      reportAnomaly("cost", `${cost.model}: ${parts.join(", ")}`);
      return IMPOSSIBLE_COST;
    }
    return cost;
  }

  /** Status ERROR, `error.type`, the HTTP status and the exception: written before anything that may fail. */
  private writeError(call: Call, error: unknown, type: string, endTime: HrTime | undefined): void {
    const { span } = call;
    span.setAttribute(names.ATTR_ERROR_TYPE, type);
    const status = (error as { status?: unknown } | null)?.status;
    if (typeof status === "number") span.setAttribute(names.ATTR_HTTP_RESPONSE_STATUS_CODE, status);
    let secrets: readonly string[] = [];
    guard("secrets", () => {
      secrets = this.secrets();
    });
    // The status first, with the type alone: building the text reads the error and may fail on odd values.
    span.setStatus({ code: SpanStatusCode.ERROR, message: type });
    const text = guard("error-text", () => errorText(error, type, this.options.captureContent, secrets)) ?? {
      message: type,
      stack: undefined,
    };
    span.setStatus({ code: SpanStatusCode.ERROR, message: text.message });
    // A failure reported as data was never thrown: it is not an exception.
    if (error instanceof Error && !(error instanceof ProviderFailure)) {
      const exception: Exception = { name: type, message: text.message };
      if (text.stack !== undefined) exception.stack = text.stack;
      span.recordException(exception, endTime);
    }
  }

  /** `streamEnd`: how the stream itself ended, which a failure reported as data does not change. */
  private writeSpan(
    call: Call,
    outcome: CallOutcome,
    usage: Usage,
    cost: CostBreakdown | undefined,
    /** The price gave an impossible amount: the call is priced, but carries no cost. */
    costRejected: boolean,
    streamEnd: CallOutcome["kind"],
  ): void {
    const { record, span } = call;
    // Straight onto the span: an attributes object for setAttributes() would be built only to be walked.
    const set = (name: string, value: AttributeValue | undefined): void => {
      if (value !== undefined) span.setAttribute(name, value);
    };
    guard("span-attributes", () => {
      set(names.ATTR_GEN_AI_RESPONSE_ID, record.responseId);
      set(names.ATTR_GEN_AI_RESPONSE_MODEL, record.responseModel);
      const finishReasons = finishReasonsFor(record, outcome);
      if (finishReasons.length > 0) set(names.ATTR_GEN_AI_RESPONSE_FINISH_REASONS, finishReasons);
    });

    guard("span-usage", () => {
      set(names.ATTR_GEN_AI_USAGE_INPUT_TOKENS, usage.inputTokens);
      set(names.ATTR_GEN_AI_USAGE_OUTPUT_TOKENS, usage.outputTokens);
      set(names.ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, usage.cacheReadInputTokens);
      set(names.ATTR_GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS, usage.cacheWriteInputTokens);
      set(names.ATTR_TOKENTRACE_USAGE_CACHE_WRITE_5M_INPUT_TOKENS, usage.cacheWrite5mInputTokens);
      set(names.ATTR_TOKENTRACE_USAGE_CACHE_WRITE_1H_INPUT_TOKENS, usage.cacheWrite1hInputTokens);
      if (this.options.legacyCacheCreationAttribute) {
        set(names.ATTR_GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS, usage.cacheWriteInputTokens);
      }
      set(names.ATTR_GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, usage.reasoningOutputTokens);
      if (usage.estimated) {
        set(names.ATTR_TOKENTRACE_USAGE_ESTIMATED, true);
        set(names.ATTR_TOKENTRACE_USAGE_ESTIMATE_METHOD, usage.estimateMethod);
      }
    });

    guard("span-cost", () => {
      if (cost !== undefined) {
        set(names.ATTR_GEN_AI_USAGE_COST, cost.totalUsd);
        set(names.ATTR_TOKENTRACE_COST_INPUT, cost.inputUsd);
        set(names.ATTR_TOKENTRACE_COST_CACHED_INPUT, cost.cachedInputUsd);
        set(names.ATTR_TOKENTRACE_COST_CACHE_WRITE, cost.cacheWriteUsd);
        set(names.ATTR_TOKENTRACE_COST_OUTPUT, cost.outputUsd);
        set(names.ATTR_TOKENTRACE_COST_SOURCE, cost.source);
        set(names.ATTR_TOKENTRACE_COST_SNAPSHOT_DATE, cost.snapshotDate);
        set(names.ATTR_TOKENTRACE_COST_MODEL, cost.model);
        if (cost.inputClamped) set(names.ATTR_TOKENTRACE_COST_INPUT_CLAMPED, true);
      } else if (!costRejected && (usage.inputTokens !== undefined || usage.outputTokens !== undefined)) {
        // Unknown price: say so, and never report 0.
        set(names.ATTR_TOKENTRACE_COST_UNPRICED_MODEL, record.responseModel ?? record.requestModel ?? "");
      }
    });

    guard("span-response", () => {
      set(names.ATTR_TOKENTRACE_REQUEST_ID, record.requestId);
      // The error's own status (written first) wins over the response's.
      const errorStatus = outcome.kind === "error" ? (outcome.error as { status?: unknown } | null)?.status : undefined;
      if (typeof errorStatus !== "number") set(names.ATTR_HTTP_RESPONSE_STATUS_CODE, record.httpStatusCode);
      span.setAttributes(record.responseAttributes);
    });

    guard("span-timing", () => this.writeTiming(call, usage, streamEnd));

    if (this.options.captureContent) guard("span-content", () => this.writeContent(record, span));
  }

  private writeTiming(call: Call, usage: Usage, streamEnd: CallOutcome["kind"]): void {
    const { record, span, timing } = call;
    if (timing === undefined) return;
    const set = (name: string, value: number | string | undefined): void => {
      if (value !== undefined) span.setAttribute(name, value);
    };
    set(names.ATTR_TOKENTRACE_STREAM_CHUNK_COUNT, timing.chunkCount);
    const firstMs = timing.timeToFirstChunkMs;
    if (firstMs !== undefined) set(names.ATTR_GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, firstMs / 1000);
    const meanGapMs = timing.meanGapMs;
    if (meanGapMs !== undefined) {
      set(names.ATTR_TOKENTRACE_STREAM_MEAN_CHUNK_GAP, meanGapMs / 1000);
      set(names.ATTR_TOKENTRACE_STREAM_MAX_CHUNK_GAP, timing.maxGapMs / 1000);
    }
    const streamingMs = timing.streamingMs;
    if (streamingMs !== undefined && streamingMs > 0 && usage.outputTokens !== undefined) {
      set(names.ATTR_TOKENTRACE_STREAM_OUTPUT_TOKENS_PER_SECOND, measured(usage.outputTokens / (streamingMs / 1000)));
    }
    if (record.firstContentAtMs !== undefined) {
      const firstContentMs = measured(record.firstContentAtMs - call.startMs);
      if (firstContentMs !== undefined)
        set(names.ATTR_TOKENTRACE_RESPONSE_TIME_TO_FIRST_CONTENT, firstContentMs / 1000);
    }
    set(names.ATTR_TOKENTRACE_STREAM_END, streamEnd);
  }

  private writeContent(record: CallRecord, span: Span): void {
    const truncated: string[] = [];
    const put = (name: string, value: () => unknown): void => {
      // Each content attribute on its own: one that cannot be built loses only itself.
      guard("span-content", () => {
        const given = value();
        if (given === undefined) return;
        const { json, truncated: cut } = serializeContent(given, this.options.maxContentLength);
        span.setAttribute(name, json);
        if (cut) truncated.push(name);
      });
    };
    put(names.ATTR_GEN_AI_SYSTEM_INSTRUCTIONS, () => record.systemInstructions?.());
    put(names.ATTR_GEN_AI_INPUT_MESSAGES, () => record.inputMessages?.());
    put(names.ATTR_GEN_AI_OUTPUT_MESSAGES, () => record.outputMessages);
    put(names.ATTR_GEN_AI_TOOL_DEFINITIONS, () => record.toolDefinitions?.());
    if (truncated.length > 0) span.setAttribute(names.ATTR_TOKENTRACE_CONTENT_TRUNCATED, truncated);
  }

  /**
   * `durationMs`: undefined when the clock failed; the call is then counted without a duration. A call
   * abandoned to the garbage collector is counted by outcome only: the time until collection is no latency.
   */
  private writeMetrics(
    call: Call,
    outcome: CallOutcome,
    errorTypeValue: string | undefined,
    durationMs: number | undefined,
    usage: Usage,
    cost: CostBreakdown | undefined,
  ): void {
    const { record, timing } = call;
    const instruments = instrumentsFor(this.meter());
    const set = this.metricAttributes(instruments, record, errorTypeValue);

    // Built only the first time a set sees an outcome.
    const callTotal = (set.calls[outcome.kind] ??= set.overflow
      ? instruments.calls.totalFor(set.key, set.base)
      : instruments.calls.totalFor(`${set.key}\u0000${outcome.kind}`, {
          ...set.base,
          [names.ATTR_TOKENTRACE_CALL_OUTCOME]: outcome.kind,
        }));
    callTotal.add(1);
    if (outcome.kind !== "abandoned") {
      if (durationMs !== undefined) instruments.operationDuration.record(durationMs / 1000, set.base);
      const firstMs = timing?.timeToFirstChunkMs;
      if (firstMs !== undefined) instruments.timeToFirstChunk.record(firstMs / 1000, set.base);
    }
    timing?.forEachGapPoint((gapMs) => instruments.timePerOutputChunk.record(gapMs / 1000, set.base));

    const { inputTokens, outputTokens, cacheReadInputTokens } = usage;
    if (inputTokens !== undefined) instruments.tokenUsage.record(inputTokens, set.input);
    if (outputTokens !== undefined) instruments.tokenUsage.record(outputTokens, set.output);
    if (cacheReadInputTokens !== undefined) {
      (set.cacheRead ??= instruments.cacheRead.totalFor(set.key, set.base)).add(cacheReadInputTokens);
    }
    if (cost !== undefined) (set.cost ??= instruments.cost.totalFor(set.key, set.base)).add(cost.totalUsd);
  }

  /**
   * Metric attribute sets, built once per meter and distinct (operation, models, server, error) and reused:
   * low-cardinality attributes only, never ids, users or content. Capped per meter; past the cap, the
   * overflow set (`otel.metric.overflow: true`).
   */
  private metricAttributes(
    instruments: Instruments,
    record: CallRecord,
    errorTypeValue: string | undefined,
  ): MetricAttributeSet {
    const last = this.lastMetricAttributeSet;
    if (
      last !== undefined &&
      last.instruments === instruments &&
      last.operationName === record.operationName &&
      last.providerName === record.providerName &&
      last.requestModel === record.requestModel &&
      last.responseModel === record.responseModel &&
      last.serverAddress === record.serverAddress &&
      last.serverPort === record.serverPort &&
      last.errorType === errorTypeValue
    ) {
      return last.set;
    }
    const key = [
      record.operationName,
      record.providerName,
      record.requestModel ?? "",
      record.responseModel ?? "",
      record.serverAddress ?? "",
      record.serverPort ?? "",
      errorTypeValue ?? "",
    ].join("\u0000");
    const set = instruments.attributeSets.get(key, () => {
      const base: Attributes = {
        [names.ATTR_GEN_AI_OPERATION_NAME]: record.operationName,
        [names.ATTR_GEN_AI_PROVIDER_NAME]: record.providerName,
      };
      if (record.requestModel !== undefined) base[names.ATTR_GEN_AI_REQUEST_MODEL] = record.requestModel;
      if (record.responseModel !== undefined) base[names.ATTR_GEN_AI_RESPONSE_MODEL] = record.responseModel;
      if (record.serverAddress !== undefined) base[names.ATTR_SERVER_ADDRESS] = record.serverAddress;
      if (record.serverPort !== undefined) base[names.ATTR_SERVER_PORT] = record.serverPort;
      if (errorTypeValue !== undefined) base[names.ATTR_ERROR_TYPE] = errorTypeValue;
      return base;
    });
    this.lastMetricAttributeSet = {
      instruments,
      operationName: record.operationName,
      providerName: record.providerName,
      requestModel: record.requestModel,
      responseModel: record.responseModel,
      serverAddress: record.serverAddress,
      serverPort: record.serverPort,
      errorType: errorTypeValue,
      set,
    };
    return set;
  }

  private tracer(): Tracer {
    const provider = this.options.tracerProvider ?? currentTracerProvider();
    if (this.tracerCache?.provider !== provider) {
      this.tracerCache = { provider, tracer: provider.getTracer(names.INSTRUMENTATION_SCOPE, VERSION) };
    }
    return this.tracerCache.tracer;
  }

  private meter(): Meter {
    const provider = this.options.meterProvider ?? currentMeterProvider();
    if (this.meterCache?.provider !== provider) {
      this.meterCache = { provider, meter: provider.getMeter(names.INSTRUMENTATION_SCOPE, VERSION) };
    }
    return this.meterCache.meter;
  }
}

/** Milliseconds as OpenTelemetry's `[seconds, nanoseconds]`, rounded to the nanosecond (as the SDK rounds). */
function millisToHrTime(ms: number): HrTime {
  const seconds = Math.trunc(ms / 1000);
  const nanos = Math.round((ms - seconds * 1000) * 1_000_000);
  return nanos >= 1e9 ? [seconds + 1, nanos - 1e9] : [seconds, nanos];
}

function addHrTimes(a: HrTime, b: HrTime): HrTime {
  const nanos = a[1] + b[1];
  return nanos >= 1e9 ? [a[0] + b[0] + 1, nanos - 1e9] : [a[0] + b[0], nanos];
}

/** Run one step of the end of a call; a failure is reported and loses only that step. */
function guard<T>(kind: string, step: () => T): T | undefined {
  try {
    return step();
  } catch (error) {
    reportInternalError(kind, error);
    return undefined;
  }
}

class Call implements ActiveCall {
  timing: StreamTiming | undefined = undefined;
  beforeEnd: ((outcome: CallOutcome) => void) | undefined = undefined;
  ended = false;

  constructor(
    private readonly recorder: Recorder,
    readonly record: CallRecord,
    readonly span: Span,
    readonly startMs: number,
    readonly context: Context,
    /** Wall-clock time the request was issued: picks date-dependent prices. */
    readonly startedAtEpochMs: number,
    /** The span's start time (`startedAtEpochMs`); its end is this plus the measured duration. */
    readonly startTime: HrTime,
  ) {}

  private watched = false;

  end(outcome: CallOutcome): void {
    if (this.ended) return;
    this.ended = true;
    openCalls--;
    if (this.watched) {
      abandoned.unregister(this);
      this.watched = false;
    }
    this.recorder.finish(this, outcome);
  }

  watch(target: object): void {
    if (this.ended) return;
    if (this.watched) abandoned.unregister(this);
    abandoned.register(target, this, this);
    this.watched = true;
  }
}

/**
 * Finish reasons as the provider gave them; where a stream stopped before the provider gave one, the
 * outcome stands in (`error`, `cancelled`) so dashboards can tell an unfinished answer from a finished one.
 */
function finishReasonsFor(record: CallRecord, outcome: CallOutcome): string[] {
  const given: readonly (string | undefined)[] = record.finishReasons ?? [];
  if (outcome.kind === "completed") return given.filter((reason): reason is string => typeof reason === "string");
  const fallback = outcome.kind === "error" ? names.FINISH_REASON_ERROR : names.FINISH_REASON_CANCELLED;
  if (given.length === 0) return [fallback];
  return given.map((reason) => (typeof reason === "string" ? reason : fallback));
}

export { errorType };

/** A user's abort (the SDK's APIUserAbortError, a DOM AbortError) is not a failure of the call. */
export function outcomeOf(error: unknown): CallOutcome {
  return isUserAbort(error) ? { kind: "aborted" } : { kind: "error", error };
}
