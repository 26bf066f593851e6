import { SpanKind, context, trace } from "@opentelemetry/api";
import type { Attributes, Context, HrTime, Meter, Span, Tracer } from "@opentelemetry/api";
import { messageIdOf, metadataValueOf, redactedKindsOf, stampContext } from "../app-context.js";
import { agentNameOf, stageOf } from "../stages.js";
import { isRefusal, noResponseFacts, stoppedAtLimit } from "../call-record.js";
import type { CallRecord, RequestFacts, ResponseFacts } from "../call-record.js";
import type { ResolvedOptions } from "../config.js";
import { ProviderFailure } from "../error-facts.js";
import { reportAnomaly } from "../internal/report.js";
import { currentMeterProvider, currentTracerProvider } from "../internal/active-providers.js";
import { createPricer } from "../metrics/cost.js";
import type { CostBreakdown, Pricer } from "../metrics/cost.js";
import type { StreamTiming } from "../metrics/timing.js";
import { CallFacts, recentCalls } from "../feedback/call-info.js";
import type { CommentRules } from "../feedback/call-info.js";
import { sampledEvaluators, scheduleEvaluations } from "../feedback/evaluators.js";
import type { EvaluatedCall } from "../feedback/evaluators.js";
import { evaluationSink } from "../feedback/record.js";
import { FAILED_MARKER, Redactor } from "../redaction/pipeline.js";
import { alwaysReason, inSampledShare } from "../redaction/sampling.js";
import type { ContentSampling, SamplingReason } from "../redaction/sampling.js";
import type { LiveCall, StreamAccumulator } from "../providers/types.js";
import * as names from "../semconv.js";
import { measured, validateUsage } from "../usage.js";
import type { Usage } from "../usage.js";
import { VERSION } from "../version.js";
import { errorClassifier } from "./error-class.js";
import type { CallOutcome, ErrorClassifier } from "./error-class.js";
import { guard } from "./guard.js";
import { lendSpan } from "./lent-span.js";
import { ContextValueCap, MetricPoints } from "./metric-points.js";
import { instrumentsFor } from "../metrics/instruments.js";
import type { RateLimitReading } from "../signals/rate-limits.js";
import { detectorFor, tellAnomalies, writeFlags } from "../signals/anomalies.js";
import type { Anomaly, AnomalySettings } from "../signals/anomalies.js";
import { driftDetectorFor } from "../signals/drift.js";
import type { DriftSettings } from "../signals/drift.js";
import type { MetricFacts } from "./metric-points.js";
import { startAttributes, writeError, writeSpan } from "./span-attributes.js";
import type { CallSummary } from "./span-attributes.js";

/** One call in flight. `end()` may be called any number of times; only the first counts. */
export interface ActiveCall extends LiveCall {
  readonly request: RequestFacts;
  readonly span: Span;
  readonly startMs: number;
  readonly context: Context;
  readonly ended: boolean;
  /** The HTTP exchange's facts, from the interceptor: the first report counts. */
  setTransport(httpStatusCode: number | undefined, requestId: string | undefined): void;
  /** The provider's rate-limit headers on the response (or the error), read when it arrived: the first report counts. */
  setRateLimits(readings: readonly RateLimitReading[], receivedAtEpochMs: number): void;
  /** The SDK retried the request before the response that answered it (issue 15). */
  retried: boolean;
  /**
   * The call's response is a stream: its facts come from `accumulator` (finished once, however the call ends)
   * and its timing from `timing`. The first report counts.
   */
  streamStarted(accumulator: StreamAccumulator, timing: StreamTiming): void;
  /** End the call; `response`: the facts of a whole response, where one was read. */
  end(outcome: CallOutcome, response?: ResponseFacts): void;
  /** Run `callback` once, right after the call ended and reported to its stage (at once if it has ended). */
  afterEnd(callback: () => void): void;
  /** The record `callInfo()` reads for what this call returned (made on first ask, filled in when it ends). */
  resultFacts(): CallFacts;
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

/** What `price` returns for a price that gave an amount that cannot be true (infinite, negative, NaN). */
const IMPOSSIBLE_COST = Symbol("impossible cost");

/** No credentials known: nothing to redact. */
const noSecrets = (): readonly string[] => [];

/**
 * Owns the span lifecycle of a client's calls, and is the one writer of their spans and metric points: it
 * assembles each call's record once, when the call ends. Never throws.
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
  /** What this client's last call was answered with (model changes, issue 15). */
  private lastAnswer:
    | {
        meter: Meter;
        requestModel: string | undefined;
        responseModel: string | undefined;
        fingerprint: string | undefined;
      }
    | undefined;
  private readonly metricPoints: MetricPoints;
  /** `metricContextKey`: the key and its value cap, when on. */
  private readonly metricContext: { key: string; cap: ContextValueCap } | undefined;
  private readonly errorType: ErrorClassifier;
  /** `hashUserId`'s key, or undefined when ids are written as given. */
  private readonly userHashKey: string | undefined;

  constructor(
    private readonly options: ResolvedOptions,
    /** The client's credentials, read when an error is recorded (see `ClientDescription.secrets`). */
    private readonly secrets: () => readonly string[] = noSecrets,
    /** The adapter's naming of its SDK's errors (`ProviderAdapter.errorType`). */
    adapterErrorType?: (error: unknown) => string | undefined,
  ) {
    this.errorType = errorClassifier(adapterErrorType);
    this.userHashKey = options.hashUserId?.key;
    const contextKey = options.metricContextKey;
    this.metricPoints = new MetricPoints(contextKey?.key);
    this.metricContext =
      contextKey === undefined ? undefined : { key: contextKey.key, cap: new ContextValueCap(contextKey.maxValues) };
  }

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
    request: RequestFacts,
    startMs: number,
    parent: Context = context.active(),
    startEpochMs: number = Date.now(),
    /** False where a withContext() scope turned content capture off for this call. */
    captureContent = true,
  ): ActiveCall {
    const { name, attributes } = startAttributes(request);
    // The request's own metadata and its stop sequences are the app's free text: through the pipeline before the
    // span starts.
    const redactedAtStart =
      request.hasRequestMetadata === true || attributes[names.ATTR_GEN_AI_REQUEST_STOP_SEQUENCES] !== undefined
        ? this.redactRequestMetadata(attributes)
        : undefined;
    // The application context (withContext) is stamped at start, so samplers and onStart processors see it.
    stampContext(attributes, parent, this.userHashKey);
    if (redactedAtStart !== undefined) {
      // The scope's kinds (stamped over the request's) and the request metadata's, listed together.
      const scope = redactedKindsOf(parent);
      if (scope !== undefined)
        attributes[names.ATTR_TOKENTRACE_REDACTION_KINDS] = [...new Set([...scope, ...redactedAtStart])];
    }
    const startTime = millisToHrTime(startEpochMs);
    const span = this.tracer().startSpan(name, { kind: SpanKind.CLIENT, attributes, startTime }, parent);
    openCalls++;
    const call = new Call(
      this,
      request,
      span,
      startMs,
      trace.setSpan(parent, span),
      startEpochMs,
      startTime,
      captureContent && this.options.captureContent,
    );
    if (redactedAtStart !== undefined) call.redactedAtStart = redactedAtStart;
    return call;
  }

  /**
   * `tokentrace.request.metadata.*` values and `gen_ai.request.stop_sequences` in `attributes` redacted in place;
   * the kinds found, which the span lists at its end (and which are counted now, once). When the redaction itself
   * fails, they are left out.
   */
  private redactRequestMetadata(attributes: Attributes): readonly string[] | undefined {
    const redacted = guard("redaction", () => {
      const redactor = new Redactor(this.options.redaction, guard("secrets", () => this.secrets()) ?? []);
      for (const [key, value] of Object.entries(attributes)) {
        if (typeof value === "string" && key.startsWith(names.ATTR_TOKENTRACE_REQUEST_METADATA_PREFIX)) {
          attributes[key] = redactor.text(value, key);
        }
      }
      const stop = attributes[names.ATTR_GEN_AI_REQUEST_STOP_SEQUENCES];
      if (Array.isArray(stop)) {
        // stopSequences() kept strings only.
        attributes[names.ATTR_GEN_AI_REQUEST_STOP_SEQUENCES] = (stop as string[]).map((sequence) =>
          redactor.text(sequence, names.ATTR_GEN_AI_REQUEST_STOP_SEQUENCES),
        );
      }
      const kinds = redactor.kinds();
      if (kinds.length > 0) {
        attributes[names.ATTR_TOKENTRACE_REDACTION_KINDS] = kinds;
        redactor.report(undefined, this.meter());
      }
      return { kinds };
    });
    if (redacted === undefined) {
      // Fails closed: text that did not pass the pipeline is not recorded.
      for (const key of Object.keys(attributes)) {
        if (key.startsWith(names.ATTR_TOKENTRACE_REQUEST_METADATA_PREFIX)) attributes[key] = FAILED_MARKER;
        else if (key === names.ATTR_GEN_AI_REQUEST_STOP_SEQUENCES) attributes[key] = [FAILED_MARKER];
      }
      return undefined;
    }
    return redacted.kinds.length > 0 ? redacted.kinds : undefined;
  }

  /**
   * Called by Call.end: never throws. The record first, then the error, then each step of the end of the call
   * on its own guard, so a step that fails (content, cost, a tracer that throws) loses only itself (issue 10).
   */
  finish(call: Call, ended: CallOutcome, given: ResponseFacts | undefined): void {
    const accumulator = call.accumulator;
    const response =
      (accumulator !== undefined ? guard("finish-record", () => accumulator.finish()) : given) ?? NO_RESPONSE;
    call.response = response;
    const ignoredEntries = response.ignoredEntries;
    if (ignoredEntries !== undefined) {
      // Not a failure of tokentrace but a payload it refuses to believe: counted with the other impossible data.
      guard("finish-record", () =>
        reportAnomaly(
          "payload-index",
          `${ignoredEntries} payload entries with an invalid index or one beyond tokentrace's bounds`,
        ),
      );
    }
    const { span } = call;
    // A failure the provider reported as data ends an otherwise completed call as an error.
    let outcome: CallOutcome = ended;
    guard("finish-record", () => {
      const failure = response.failure;
      if (ended.kind === "completed" && failure !== undefined) {
        outcome = { kind: "error", error: new ProviderFailure(failure.type, failure.message) };
      }
    });
    call.outcome = outcome;
    call.streamEnd = ended.kind;
    guard("clock", () => {
      call.durationMs = measured(this.options.now() - call.startMs);
      if (call.durationMs === undefined) reportAnomaly("duration", "the clock went backwards or returned a non-number");
    });
    const endTime =
      call.durationMs === undefined ? undefined : addHrTimes(call.startTime, millisToHrTime(call.durationMs));
    // A span the sampler dropped (or a no-op provider's) takes no attributes: skip building them, content
    // above all. Metrics below still count every call.
    const recording = guard("span-attributes", () => span.isRecording()) ?? false;
    let capture = call.captureContent;
    const sampling = this.options.contentSampling;
    if (capture && recording && sampling !== undefined) {
      capture = guard("content-sampling", () => sampleContent(span, sampling, outcome, response)) ?? false;
    }
    // The redaction pipeline, for a span that will hold text: content, or an error's.
    const redactor = recording && (capture || outcome.kind === "error") ? this.redactorFor(call) : undefined;
    if (outcome.kind === "error") {
      const error = outcome.error;
      const type = guard("error-type", () => this.errorType(error)) ?? "_OTHER";
      call.errorType = type;
      if (redactor !== undefined) {
        guard("span-error", () => writeError(span, error, type, endTime, capture, redactor));
      }
    }
    guard("usage", () => {
      const checked = validateUsage(response.usage);
      call.usage = checked.usage;
      if (checked.invalidFields.length > 0) {
        reportAnomaly("usage", checked.invalidFields.join(", "));
        if (recording) span.setAttribute(names.ATTR_TOKENTRACE_USAGE_INVALID_FIELDS, checked.invalidFields);
      }
    });
    call.cost = guard("cost", () => {
      const priced = this.price(call, call.usage);
      if (priced === IMPOSSIBLE_COST) call.costRejected = true;
      return priced === IMPOSSIBLE_COST ? undefined : priced;
    });
    // The enclosing stage's roll-ups (issue 12): a call that ends after its stage counts in the nearest one open.
    guard("stage-rollup", () => {
      const stage = stageOf(call.context);
      // A run (runTools) is no model call: its scope hands the run's sums to the enclosing stage (startRunScope).
      if (stage === undefined || call.request.operationName === names.OPERATION_INVOKE_AGENT) return;
      const late = stage.addCall(call.usage, call.cost?.totalUsd, outcome.kind === "error");
      if (late && recording) span.setAttribute(names.ATTR_TOKENTRACE_ROLLUP_LATE, true);
    });
    if (recording) {
      writeSpan(span, call, call, capture ? this.options : this.contentlessOptions(), redactor);
    }
    if (redactor !== undefined) guard("redaction", () => redactor.report(span, this.meter()));
    guard("signals", () => this.writeSignals(call, response, recording, endTime));
    const anomalies = this.options.anomalies;
    const drift = this.options.drift;
    if (drift !== undefined && outcome.kind === "completed") {
      guard("drift", () => this.compareDrift(drift, call, recording, endTime));
    }
    const flagged =
      anomalies === undefined
        ? undefined
        : guard("anomalies", () => this.flagAnomalies(anomalies, call, recording, endTime));
    const metricContext = this.metricContext;
    if (metricContext !== undefined) {
      guard("metrics", () => {
        call.metricContextValue = metricContext.cap.of(metadataValueOf(call.context, metricContext.key));
      });
    }
    // The evaluators that sample this call in (by trace id) rate it through its facts: made here when the app
    // kept no result of it.
    const evaluators =
      this.options.evaluators.length === 0
        ? this.options.evaluators
        : (guard("evaluation", () => sampledEvaluators(this.options.evaluators, span.spanContext().traceId)) ?? []);
    const facts = evaluators.length > 0 ? call.resultFacts() : call.facts;
    if (facts !== undefined) {
      guard("call-info", () => {
        facts.responseId = response.responseId;
        facts.model = response.responseModel;
        facts.usage = call.usage;
        facts.costUsd = call.cost?.totalUsd;
        facts.ended = true;
        if (facts.parsed) recentCalls.noteResponse(facts);
      });
    }
    guard("metrics", () => this.metricPoints.write(this.meter(), call));
    guard("span-end", () => span.end(endTime));
    if (flagged !== undefined) guard("anomalies", () => tellAnomalies(flagged, anomalies?.onAnomaly));
    if (facts !== undefined && evaluators.length > 0) {
      // Off the call's path: the evaluators run in a later turn, on what this call's client let it see.
      guard("evaluation", () =>
        scheduleEvaluations(evaluators, facts, () => evaluatedCall(call, outcome, response), evaluationSink),
      );
    }
  }

  /**
   * The always-on signals (issue 15): a response model or system fingerprint new for the request model is
   * counted and marked on the call's span; rate-limit readings go on the span and to the headroom gauges.
   */
  private writeSignals(call: Call, response: ResponseFacts, recording: boolean, endTime: HrTime | undefined): void {
    if (call.retried && recording) call.span.setAttribute(names.ATTR_TOKENTRACE_REQUEST_RETRIED, true);
    const readings = call.rateLimits;
    const { responseModel } = response;
    if (responseModel === undefined && readings === undefined) return;
    const { providerName, requestModel, serverAddress } = call.request;
    const printed = response.responseAttributes[names.ATTR_OPENAI_RESPONSE_SYSTEM_FINGERPRINT];
    const fingerprint = typeof printed === "string" ? printed : undefined;
    const meter = this.meter();
    // The answer this client's previous call got, again: it was seen then, so it is no change now.
    const last = this.lastAnswer;
    const again =
      last !== undefined &&
      last.meter === meter &&
      last.requestModel === requestModel &&
      last.responseModel === responseModel &&
      last.fingerprint === fingerprint;
    if (again && readings === undefined) return;
    const instruments = instrumentsFor(meter);
    const changes = again
      ? undefined
      : instruments.modelWatch.see(providerName, requestModel, responseModel, fingerprint);
    if (!again) this.lastAnswer = { meter, requestModel, responseModel, fingerprint };
    if (recording) {
      for (const change of changes ?? []) {
        call.span.addEvent(
          names.EVENT_TOKENTRACE_MODEL_CHANGE,
          {
            [names.ATTR_TOKENTRACE_MODEL_CHANGE_KIND]: change.kind,
            [names.ATTR_TOKENTRACE_MODEL_CHANGE_PREVIOUS]: change.previous,
            [names.ATTR_TOKENTRACE_MODEL_CHANGE_CURRENT]: change.current,
          },
          endTime,
        );
      }
    }
    if (readings === undefined) return;
    instruments.rateLimits.note(providerName, serverAddress, requestModel, readings, call.rateLimitsAtEpochMs);
    if (!recording) return;
    for (const reading of readings) {
      const prefix = `${names.ATTR_TOKENTRACE_RATELIMIT_PREFIX}${reading.kind}.`;
      if (reading.remaining !== undefined) call.span.setAttribute(`${prefix}remaining`, reading.remaining);
      if (reading.limit !== undefined) call.span.setAttribute(`${prefix}limit`, reading.limit);
      if (reading.resetSeconds !== undefined) call.span.setAttribute(`${prefix}reset`, reading.resetSeconds);
    }
  }

  /**
   * Anomaly flags (issue 15, opt-in): the call scored against its series' baselines; each flag a
   * `tokentrace.anomaly` event on its span (which is marked `tokentrace.anomaly.flagged = true`) and a count.
   */
  private flagAnomalies(
    settings: AnomalySettings,
    call: Call,
    recording: boolean,
    endTime: HrTime | undefined,
  ): Anomaly[] | undefined {
    const { outcome, usage, timing, request } = call;
    // A call the app cancelled, aborted or dropped says nothing of the provider: not scored.
    if (outcome.kind !== "completed" && outcome.kind !== "error") return undefined;
    const completed = outcome.kind === "completed";
    const maxGapMs = timing !== undefined && timing.chunkCount > 1 ? timing.maxGapMs : undefined;
    const detector = detectorFor(settings);
    const registered = instrumentsFor(this.meter()).anomalyDetectors;
    if (!registered.has(detector)) registered.add(detector);
    const flags = detector.score(
      {
        operation: request.operationName,
        provider: request.providerName,
        requestModel: request.requestModel,
        durationSeconds: completed && call.durationMs !== undefined ? call.durationMs / 1000 : undefined,
        timeToFirstChunkSeconds: completed ? secondsOf(timing?.timeToFirstChunkMs) : undefined,
        inputTokens: completed ? usage.inputTokens : undefined,
        outputTokens: completed ? usage.outputTokens : undefined,
        costUsd: completed ? call.cost?.totalUsd : undefined,
        maxChunkGapSeconds: completed ? secondsOf(maxGapMs) : undefined,
        failed: !completed,
        lengthStop: completed ? stoppedAtLimit(call.response.finishReasons) : undefined,
      },
      this.options.now(),
    );
    if (flags === undefined) return undefined;
    const attributes: Attributes = {
      [names.ATTR_GEN_AI_OPERATION_NAME]: request.operationName,
      [names.ATTR_GEN_AI_PROVIDER_NAME]: request.providerName,
    };
    if (request.requestModel !== undefined) attributes[names.ATTR_GEN_AI_REQUEST_MODEL] = request.requestModel;
    return writeFlags(flags, call.span, recording, endTime, instrumentsFor(this.meter()).anomalies, attributes, {
      operation: request.operationName,
      provider: request.providerName,
      requestModel: request.requestModel,
      stageName: undefined,
    });
  }

  /** Output drift (issue 15, opt-in): the call added to its series' window; a crossing marked on its span. */
  private compareDrift(settings: DriftSettings, call: Call, recording: boolean, endTime: HrTime | undefined): void {
    const detector = driftDetectorFor(settings);
    const instruments = instrumentsFor(this.meter());
    if (!instruments.drift.has(detector)) instruments.drift.add(detector);
    const { request } = call;
    if (request.operationName === names.OPERATION_EMBEDDINGS) {
      const entries = call.response.embeddings;
      if (entries !== undefined) detector.addEmbeddings(request.providerName, request.requestModel, entries);
      return;
    }
    const crossings = detector.add({
      operation: request.operationName,
      provider: request.providerName,
      requestModel: request.requestModel,
      outputTokens: call.usage.outputTokens,
      finishReason: call.response.finishReasons?.[0],
    });
    if (crossings === undefined || !recording) return;
    for (const crossing of crossings) {
      call.span.addEvent(
        names.EVENT_TOKENTRACE_DRIFT,
        {
          [names.ATTR_TOKENTRACE_DRIFT_FEATURE]: crossing.feature,
          [names.ATTR_TOKENTRACE_DRIFT_PSI]: crossing.psi,
          [names.ATTR_TOKENTRACE_DRIFT_THRESHOLD]: settings.threshold,
        },
        endTime,
      );
    }
  }

  /** This client's redaction rules and credentials, for comments on its calls (feedback, issue 14). */
  commentRules(): CommentRules {
    return (this.commentRulesCache ??= { redaction: this.options.redaction, secrets: this.secrets });
  }

  private commentRulesCache: CommentRules | undefined;

  /** A call's pipeline: this client's rules and credentials, listing the kinds its scope's metadata had. */
  private redactorFor(call: Call): Redactor {
    let secrets: readonly string[] = [];
    guard("secrets", () => {
      secrets = this.secrets();
    });
    const redactor = new Redactor(this.options.redaction, secrets);
    guard("redaction", () => {
      const scope = redactedKindsOf(call.context);
      const start = call.redactedAtStart;
      redactor.inherit(start === undefined ? scope : [...(scope ?? []), ...start]);
    });
    return redactor;
  }

  /** Price a call that used tokens; undefined when it used none, its model has no known price, or the price is not a sound amount. */
  private price(call: Call, usage: Usage): CostBreakdown | typeof IMPOSSIBLE_COST | undefined {
    if (usage.inputTokens === undefined && usage.outputTokens === undefined) return undefined;
    const cost = this.pricer()({
      providerName: call.request.providerName,
      requestModel: call.request.requestModel,
      responseModel: call.response.responseModel,
      usage,
      serviceTier: call.response.serviceTier,
      timestampMs: call.startEpochMs,
    });
    if (cost === undefined) return undefined;
    const parts = [cost.totalUsd, cost.inputUsd, cost.cachedInputUsd, cost.cacheWriteUsd, cost.outputUsd];
    if (parts.some((part) => measured(part) === undefined)) {
      reportAnomaly("cost", `${cost.model}: ${parts.join(", ")}`);
      return IMPOSSIBLE_COST;
    }
    return cost;
  }

  /** The client's tracer: its `tracerProvider` option, else setup()'s or the global one. */
  tracer(): Tracer {
    const provider = this.options.tracerProvider ?? currentTracerProvider();
    if (this.tracerCache?.provider !== provider) {
      this.tracerCache = { provider, tracer: provider.getTracer(names.INSTRUMENTATION_SCOPE, VERSION) };
    }
    return this.tracerCache.tracer;
  }

  /** The client's meter, as `tracer()`. */
  private contentless: ResolvedOptions | undefined;

  /** This client's options with content capture off: for the calls of a scope that turned it off. */
  private contentlessOptions(): ResolvedOptions {
    return (this.contentless ??= { ...this.options, captureContent: false });
  }

  /** The content rules, resolved: the tool stages of this client's runs follow them too. */
  contentOptions(): Pick<ResolvedOptions, "captureContent" | "contentLimits" | "redaction" | "contentSampling"> {
    return this.options;
  }

  /** `metricContextKey`, resolved: the stages of this client's runs label their metrics with it too. */
  metricContextKey(): ResolvedOptions["metricContextKey"] {
    return this.options.metricContextKey;
  }

  meter(): Meter {
    const provider = this.options.meterProvider ?? currentMeterProvider();
    if (this.meterCache?.provider !== provider) {
      this.meterCache = { provider, meter: provider.getMeter(names.INSTRUMENTATION_SCOPE, VERSION) };
    }
    return this.meterCache.meter;
  }
}

/** What an evaluator is given of a finished call; content only where the call's client and scope capture it. */
function evaluatedCall(call: Call, outcome: CallOutcome, response: ResponseFacts): EvaluatedCall {
  const { request } = call;
  const { traceId, spanId } = call.span.spanContext();
  const maxTokens = request.requestAttributes[names.ATTR_GEN_AI_REQUEST_MAX_TOKENS];
  const outputType = request.requestAttributes[names.ATTR_GEN_AI_OUTPUT_TYPE];
  const content = call.captureContent;
  return {
    traceId,
    spanId,
    operation: request.operationName,
    provider: request.providerName,
    requestModel: request.requestModel,
    responseModel: response.responseModel,
    responseId: response.responseId,
    outcome: outcome.kind,
    finishReasons: Object.freeze([...(response.finishReasons ?? [])]),
    refused: isRefusal(response),
    usage: Object.freeze({ ...call.usage }),
    maxTokens: typeof maxTokens === "number" ? maxTokens : undefined,
    outputType: typeof outputType === "string" ? outputType : undefined,
    outputSchema: request.outputSchema,
    output: content ? response.outputMessages : undefined,
    toolDefinitions: content ? request.toolDefinitions?.() : undefined,
  };
}

/**
 * `contentSampling` for a call that would record content: whether it does, written on its span with the reason.
 * The trace's share first (known from the start), else the outcomes always recorded (known now, at the end).
 */
function sampleContent(span: Span, sampling: ContentSampling, outcome: CallOutcome, response: ResponseFacts): boolean {
  const reason: SamplingReason = inSampledShare(span.spanContext().traceId, sampling.rate)
    ? "rate"
    : (alwaysReason(sampling.always, outcome.kind, response.finishReasons) ?? "not_sampled");
  const sampled = reason !== "not_sampled";
  span.setAttribute(names.ATTR_TOKENTRACE_CONTENT_SAMPLED, sampled);
  span.setAttribute(names.ATTR_TOKENTRACE_CONTENT_SAMPLING_REASON, reason);
  return sampled;
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

const NOT_ENDED: CallOutcome = { kind: "completed" };

/**
 * A call in flight, and once it ends its final record: the recorder fills the end's fields (response,
 * outcome, usage, cost) once, in `finish`, so that the writers read one object and nothing is allocated
 * for them.
 */
class Call implements ActiveCall, CallRecord, CallSummary, MetricFacts {
  ended = false;
  /** Kinds redacted in the request's metadata when the call started, listed again with the span's own. */
  redactedAtStart: readonly string[] | undefined = undefined;
  metricContextValue: string | undefined = undefined;
  httpStatusCode: number | undefined = undefined;
  requestId: string | undefined = undefined;
  accumulator: StreamAccumulator | undefined = undefined;
  timing: StreamTiming | undefined = undefined;
  private transportSet = false;

  // Set once, by Recorder.finish.
  response: ResponseFacts = NO_RESPONSE;
  outcome: CallOutcome = NOT_ENDED;
  streamEnd: CallOutcome["kind"] = "completed";
  errorType: string | undefined = undefined;
  durationMs: number | undefined = undefined;
  usage: Usage = NO_USAGE;
  cost: CostBreakdown | undefined = undefined;
  costRejected = false;

  constructor(
    private readonly recorder: Recorder,
    readonly request: RequestFacts,
    readonly span: Span,
    readonly startMs: number,
    readonly context: Context,
    /** Wall-clock time the request was issued: where the span starts; picks date-dependent prices. */
    readonly startEpochMs: number,
    /** The span's start time (`startEpochMs`); its end is this plus the measured duration. */
    readonly startTime: HrTime,
    /** Whether this call records content: the client's `captureContent`, unless its scope turned it off. */
    readonly captureContent: boolean,
  ) {}

  private watched = false;
  /** What waits for this call's end (a stage that returned this call's stream); at most a few. */
  private endCallbacks: (() => void)[] | undefined;

  rateLimits: readonly RateLimitReading[] | undefined = undefined;
  rateLimitsAtEpochMs = 0;
  retried = false;

  setRateLimits(readings: readonly RateLimitReading[], receivedAtEpochMs: number): void {
    if (this.rateLimits !== undefined || this.ended) return;
    this.rateLimits = readings;
    this.rateLimitsAtEpochMs = receivedAtEpochMs;
  }

  setTransport(httpStatusCode: number | undefined, requestId: string | undefined): void {
    if (this.transportSet || this.ended) return;
    this.transportSet = true;
    this.httpStatusCode = httpStatusCode;
    this.requestId = requestId;
  }

  streamStarted(accumulator: StreamAccumulator, timing: StreamTiming): void {
    if (this.accumulator !== undefined || this.ended) return;
    this.accumulator = accumulator;
    this.timing = timing;
  }

  lendSpan(acceptedAttributes: ReadonlySet<string>): Span | undefined {
    return lendSpan(this, acceptedAttributes);
  }

  end(outcome: CallOutcome, response?: ResponseFacts): void {
    if (this.ended) return;
    this.ended = true;
    openCalls--;
    if (this.watched) {
      abandoned.unregister(this);
      this.watched = false;
    }
    this.recorder.finish(this, outcome, response);
    const callbacks = this.endCallbacks;
    if (callbacks !== undefined) {
      this.endCallbacks = undefined;
      for (const callback of callbacks) guard("call-end-callback", callback);
    }
  }

  afterEnd(callback: () => void): void {
    if (this.ended) guard("call-end-callback", callback);
    else (this.endCallbacks ??= []).push(callback);
  }

  facts: CallFacts | undefined = undefined;

  resultFacts(): CallFacts {
    if (this.facts === undefined) {
      const { traceId, spanId } = this.span.spanContext();
      this.facts = new CallFacts(
        traceId,
        spanId,
        this.request.providerName,
        this.request.requestModel,
        messageIdOf(this.context),
        agentNameOf(this.context),
        this.captureContent ? this.recorder.commentRules() : undefined,
      );
    }
    return this.facts;
  }

  watch(target: object): void {
    if (this.ended) return;
    if (this.watched) abandoned.unregister(this);
    abandoned.register(target, this, this);
    this.watched = true;
  }
}

const NO_RESPONSE: ResponseFacts = Object.freeze(noResponseFacts());
const NO_USAGE: Usage = Object.freeze({});

/** Milliseconds as seconds; undefined stays undefined. */
function secondsOf(ms: number | undefined): number | undefined {
  return ms === undefined ? undefined : ms / 1000;
}
