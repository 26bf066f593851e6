import { SpanKind, SpanStatusCode, context, trace } from "@opentelemetry/api";
import type { Attributes, AttributeValue, Context, Meter, Span, Tracer } from "@opentelemetry/api";
import type { CallRecord } from "./call-record.js";
import type { ResolvedOptions } from "./config.js";
import { serializeContent } from "./content.js";
import { reportInternalError } from "./internal/report.js";
import { currentMeterProvider, currentTracerProvider } from "./internal/active-providers.js";
import { createPricer } from "./metrics/cost.js";
import type { CostBreakdown, Pricer } from "./metrics/cost.js";
import { instrumentsFor } from "./metrics/instruments.js";
import type { Instruments, Total } from "./metrics/instruments.js";
import type { StreamTiming } from "./metrics/timing.js";
import * as names from "./semconv.js";
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

/**
 * The metric attributes of one (operation, provider, models, server, error type), and its running
 * totals, built once and reused by every call that matches.
 */
interface MetricAttributeSet {
  readonly instruments: Instruments;
  readonly operationName: string;
  readonly providerName: string;
  readonly requestModel: string | undefined;
  readonly responseModel: string | undefined;
  readonly serverAddress: string | undefined;
  readonly serverPort: number | undefined;
  readonly errorType: string | undefined;
  readonly key: string;
  readonly base: Attributes;
  readonly input: Attributes;
  readonly output: Attributes;
  /** Per outcome kind, opened on first use. */
  readonly calls: Partial<Record<CallOutcome["kind"], Total>>;
  cost: Total | undefined;
  cacheRead: Total | undefined;
}

/** The bundled snapshot's pricer, shared by every client without pricing options; built on first use. */
let defaultPricer: Pricer | undefined;

/** Calls started but not yet ended; a leak test watches this. */
let openCalls = 0;
export function openCallCount(): number {
  return openCalls;
}

/**
 * Owns the span lifecycle of a client's calls and is the one place where a CallRecord becomes span
 * attributes and metric points. Never throws.
 */
export class Recorder {
  private tracerCache: { provider: unknown; tracer: Tracer } | undefined;
  private meterCache: { provider: unknown; meter: Meter } | undefined;
  private pricerCache: Pricer | undefined;
  private readonly metricAttributeSets = new Map<string, MetricAttributeSet>();
  /** The set the previous call used: most calls of a client use the same one. */
  private lastMetricAttributeSet: MetricAttributeSet | undefined;

  constructor(private readonly options: ResolvedOptions) {}

  private pricer(): Pricer {
    if (this.pricerCache === undefined) {
      this.pricerCache = this.options.pricing ? createPricer(this.options.pricing) : (defaultPricer ??= createPricer());
    }
    return this.pricerCache;
  }

  /** Start a call's span, as a child of `parent` (default: the active context). */
  start(record: CallRecord, startMs: number, parent: Context = context.active()): ActiveCall {
    const attributes: Attributes = {
      [names.ATTR_GEN_AI_OPERATION_NAME]: record.operationName,
      [names.ATTR_GEN_AI_PROVIDER_NAME]: record.providerName,
      ...record.requestAttributes,
    };
    if (record.requestModel !== undefined) attributes[names.ATTR_GEN_AI_REQUEST_MODEL] = record.requestModel;
    if (record.serverAddress !== undefined) attributes[names.ATTR_SERVER_ADDRESS] = record.serverAddress;
    if (record.serverPort !== undefined) attributes[names.ATTR_SERVER_PORT] = record.serverPort;
    const spanName = record.requestModel ? `${record.operationName} ${record.requestModel}` : record.operationName;
    const span = this.tracer().startSpan(spanName, { kind: SpanKind.CLIENT, attributes }, parent);
    openCalls++;
    return new Call(this, record, span, startMs, trace.setSpan(parent, span), Date.now());
  }

  /** Called by Call.end: never throws. */
  finish(call: Call, ended: CallOutcome): void {
    try {
      call.beforeEnd?.(ended);
    } catch (error) {
      reportInternalError("finish-record", error);
    }
    const failure = call.record.failure;
    // A failure the provider reported as data ends an otherwise completed call as an error.
    const outcome: CallOutcome =
      ended.kind === "completed" && failure !== undefined
        ? { kind: "error", error: new ProviderFailure(failure.type, failure.message) }
        : ended;
    let endMs: number | undefined;
    try {
      endMs = this.options.now();
    } catch (error) {
      reportInternalError("clock", error);
    }
    let cost: CostBreakdown | undefined;
    try {
      cost = this.price(call);
    } catch (error) {
      reportInternalError("cost", error);
    }
    try {
      // A span the sampler dropped (or a no-op provider's) takes no attributes: skip building them, content
      // above all. Metrics below still count every call.
      if (call.span.isRecording()) this.writeSpan(call, outcome, cost, ended.kind);
    } catch (error) {
      reportInternalError("span-attributes", error);
    }
    try {
      this.writeMetrics(call, outcome, endMs, cost);
    } catch (error) {
      reportInternalError("metrics", error);
    }
    try {
      call.span.end();
    } catch (error) {
      reportInternalError("span-end", error);
    }
  }

  /** Price a call that used tokens; undefined when it used none or its model has no known price. */
  private price(call: Call): CostBreakdown | undefined {
    const { record } = call;
    const { inputTokens, outputTokens } = record.usage;
    if (inputTokens === undefined && outputTokens === undefined) return undefined;
    return this.pricer()({
      providerName: record.providerName,
      requestModel: record.requestModel,
      responseModel: record.responseModel,
      usage: record.usage,
      serviceTier: record.serviceTier,
      timestampMs: call.startedAtEpochMs,
    });
  }

  /** `streamEnd`: how the stream itself ended, which a failure reported as data does not change. */
  private writeSpan(call: Call, outcome: CallOutcome, cost: CostBreakdown | undefined, streamEnd: CallOutcome["kind"]): void {
    const { record, span, timing } = call;
    // Straight onto the span: an attributes object for setAttributes() would be built only to be walked.
    const set = (name: string, value: AttributeValue | undefined): void => {
      if (value !== undefined) span.setAttribute(name, value);
    };
    set(names.ATTR_GEN_AI_RESPONSE_ID, record.responseId);
    set(names.ATTR_GEN_AI_RESPONSE_MODEL, record.responseModel);
    const finishReasons = finishReasonsFor(record, outcome);
    if (finishReasons.length > 0) set(names.ATTR_GEN_AI_RESPONSE_FINISH_REASONS, finishReasons);

    const usage = record.usage;
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
    if (usage.estimated) set(names.ATTR_TOKENTRACE_USAGE_ESTIMATED, true);

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
    } else if (usage.inputTokens !== undefined || usage.outputTokens !== undefined) {
      // Unknown price: say so, and never report 0.
      set(names.ATTR_TOKENTRACE_COST_UNPRICED_MODEL, record.responseModel ?? record.requestModel ?? "");
    }

    set(names.ATTR_TOKENTRACE_REQUEST_ID, record.requestId);
    set(names.ATTR_HTTP_RESPONSE_STATUS_CODE, record.httpStatusCode);
    span.setAttributes(record.responseAttributes);

    if (timing !== undefined) {
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
        set(names.ATTR_TOKENTRACE_STREAM_OUTPUT_TOKENS_PER_SECOND, usage.outputTokens / (streamingMs / 1000));
      }
      if (record.firstContentAtMs !== undefined) {
        set(names.ATTR_TOKENTRACE_RESPONSE_TIME_TO_FIRST_CONTENT, (record.firstContentAtMs - call.startMs) / 1000);
      }
      set(names.ATTR_TOKENTRACE_STREAM_END, streamEnd);
    }

    if (this.options.captureContent) this.writeContent(record, span);

    if (outcome.kind === "error") {
      const error = outcome.error;
      set(names.ATTR_ERROR_TYPE, errorType(error));
      const status = (error as { status?: unknown } | null)?.status;
      if (typeof status === "number") set(names.ATTR_HTTP_RESPONSE_STATUS_CODE, status);
      // A failure reported as data was never thrown: it is not an exception.
      if (error instanceof Error && !(error instanceof ProviderFailure)) span.recordException(error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
    }
  }

  private writeContent(record: CallRecord, span: Span): void {
    const truncated: string[] = [];
    const put = (name: string, value: unknown): void => {
      if (value === undefined) return;
      const { json, truncated: cut } = serializeContent(value, this.options.maxContentLength);
      span.setAttribute(name, json);
      if (cut) truncated.push(name);
    };
    put(names.ATTR_GEN_AI_SYSTEM_INSTRUCTIONS, record.systemInstructions?.());
    put(names.ATTR_GEN_AI_INPUT_MESSAGES, record.inputMessages?.());
    put(names.ATTR_GEN_AI_OUTPUT_MESSAGES, record.outputMessages);
    put(names.ATTR_GEN_AI_TOOL_DEFINITIONS, record.toolDefinitions?.());
    if (truncated.length > 0) span.setAttribute(names.ATTR_TOKENTRACE_CONTENT_TRUNCATED, truncated);
  }

  /** `endMs`: undefined when the clock failed; the call is then counted without a duration. */
  private writeMetrics(call: Call, outcome: CallOutcome, endMs: number | undefined, cost: CostBreakdown | undefined): void {
    const { record, timing } = call;
    const set = this.metricAttributes(
      instrumentsFor(this.meter()),
      record,
      outcome.kind === "error" ? errorType(outcome.error) : undefined,
    );
    const { instruments } = set;

    if (endMs !== undefined) instruments.operationDuration.record((endMs - call.startMs) / 1000, set.base);
    const callTotal = (set.calls[outcome.kind] ??= instruments.calls.totalFor(`${set.key}\u0000${outcome.kind}`, {
      ...set.base,
      [names.ATTR_TOKENTRACE_CALL_OUTCOME]: outcome.kind,
    }));
    callTotal.value += 1;
    const firstMs = timing?.timeToFirstChunkMs;
    if (firstMs !== undefined) instruments.timeToFirstChunk.record(firstMs / 1000, set.base);
    timing?.forEachGapPoint((gapMs) => instruments.timePerOutputChunk.record(gapMs / 1000, set.base));

    const { inputTokens, outputTokens, cacheReadInputTokens } = record.usage;
    if (inputTokens !== undefined) instruments.tokenUsage.record(inputTokens, set.input);
    if (outputTokens !== undefined) instruments.tokenUsage.record(outputTokens, set.output);
    if (cacheReadInputTokens !== undefined) {
      (set.cacheRead ??= instruments.cacheRead.totalFor(set.key, set.base)).value += cacheReadInputTokens;
    }
    if (cost !== undefined) (set.cost ??= instruments.cost.totalFor(set.key, set.base)).value += cost.totalUsd;
  }

  /**
   * Metric attribute sets, built once per distinct (operation, models, server, error) and reused:
   * low-cardinality attributes only, never ids, users or content.
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
      return last;
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
    let set = this.metricAttributeSets.get(key);
    // Totals belong to one meter's instruments: a set made for another meter is made again.
    if (set === undefined || set.instruments !== instruments) {
      const base: Attributes = {
        [names.ATTR_GEN_AI_OPERATION_NAME]: record.operationName,
        [names.ATTR_GEN_AI_PROVIDER_NAME]: record.providerName,
      };
      if (record.requestModel !== undefined) base[names.ATTR_GEN_AI_REQUEST_MODEL] = record.requestModel;
      if (record.responseModel !== undefined) base[names.ATTR_GEN_AI_RESPONSE_MODEL] = record.responseModel;
      if (record.serverAddress !== undefined) base[names.ATTR_SERVER_ADDRESS] = record.serverAddress;
      if (record.serverPort !== undefined) base[names.ATTR_SERVER_PORT] = record.serverPort;
      if (errorTypeValue !== undefined) base[names.ATTR_ERROR_TYPE] = errorTypeValue;
      set = {
        instruments,
        operationName: record.operationName,
        providerName: record.providerName,
        requestModel: record.requestModel,
        responseModel: record.responseModel,
        serverAddress: record.serverAddress,
        serverPort: record.serverPort,
        errorType: errorTypeValue,
        key,
        base,
        input: { ...base, [names.ATTR_GEN_AI_TOKEN_TYPE]: names.TOKEN_TYPE_INPUT },
        output: { ...base, [names.ATTR_GEN_AI_TOKEN_TYPE]: names.TOKEN_TYPE_OUTPUT },
        calls: {},
        cost: undefined,
        cacheRead: undefined,
      };
      if (this.metricAttributeSets.size >= 256) this.metricAttributeSets.clear();
      this.metricAttributeSets.set(key, set);
    }
    this.lastMetricAttributeSet = set;
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

/** A failure the provider reported in its payload (CallRecord.failure), as an outcome's error. */
class ProviderFailure extends Error {
  constructor(
    readonly type: string,
    message: string | undefined,
  ) {
    super(message ?? type);
    this.name = "ProviderFailure";
  }
}

/**
 * `error.type`: the SDK's error class name (e.g. `RateLimitError`), else the error's name. An error that
 * arrived as an event inside a stream (the SDKs' base `APIError`, no HTTP status) is named by the event's own
 * error type instead (e.g. Anthropic's `overloaded_error`): the class says nothing there.
 */
export function errorType(error: unknown): string {
  if (error instanceof ProviderFailure) return error.type;
  if (error !== null && typeof error === "object") {
    const { status, type, code } = error as { status?: unknown; type?: unknown; code?: unknown };
    if (status === undefined && error.constructor?.name === "APIError") {
      // openai v7 gives an `error` event's APIError the literal type "error": its code says more.
      if (type === "error" && typeof code === "string" && code !== "") return code;
      if (typeof type === "string" && type !== "") return type;
    }
    const constructorName = (error as { constructor?: { name?: unknown } }).constructor?.name;
    if (typeof constructorName === "string" && constructorName !== "" && constructorName !== "Object") {
      return constructorName;
    }
    const name = (error as { name?: unknown }).name;
    if (typeof name === "string" && name !== "") return name;
  }
  return "_OTHER";
}

/** A user's abort (the SDK's APIUserAbortError, a DOM AbortError) is not a failure of the call. */
export function outcomeOf(error: unknown): CallOutcome {
  const type = errorType(error);
  if (type === "APIUserAbortError" || (error as { name?: unknown } | null)?.name === "AbortError") {
    return { kind: "aborted" };
  }
  return { kind: "error", error };
}
