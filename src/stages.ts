/*
 * Stages (issue 12): the parts of an LLM pipeline as spans — workflow, agent, tool, retrieval, step — with the
 * model calls inside nested under them, and roll-ups: when a stage ends, its span carries the tokens, cost and
 * counts of everything that ran under it. One mechanism (`runStage`) under every `with*` function.
 *
 * What a stage's function returns is returned untouched: a value as it is, the same promise object, the same
 * generator (its steps run inside the stage). The stage ends once: when the value is returned, the promise
 * settles, the generator finishes, throws or is closed early, or (for a generator) is garbage-collected.
 */
import { performance } from "node:perf_hooks";
import { SpanKind, SpanStatusCode, context, createContextKey, trace } from "@opentelemetry/api";
import type { AttributeValue, Attributes, Context, Counter, Histogram, Meter, Span, Tracer } from "@opentelemetry/api";
import {
  contentAllowedIn,
  isGenerator,
  metadataValueOf,
  patchGeneratorSteps,
  redactedKindsOf,
  stampContext,
} from "./app-context.js";
import type { AnyGenerator } from "./app-context.js";
import { describe, setupOptions } from "./config.js";
import { capMessages, serializeWithin } from "./content.js";
import type { ContentLimits, SerializedContent } from "./content.js";
import { InvalidOptionError } from "./errors.js";
import { activeSetup, currentMeterProvider, currentTracerProvider } from "./internal/active-providers.js";
import { openStreamCall } from "./internal/open-streams.js";
import { reportAnomaly, reportInternalError } from "./internal/report.js";
import { errorClassifier } from "./recorder/error-class.js";
import { Redactor } from "./redaction/pipeline.js";
import type { RedactionPolicy } from "./redaction/pipeline.js";
import { alwaysReason, inSampledShare } from "./redaction/sampling.js";
import type { ContentSampling, SamplingReason } from "./redaction/sampling.js";
import { ContextValueCap } from "./recorder/metric-points.js";
import * as names from "./semconv.js";
import type { Usage } from "./usage.js";
import { VERSION } from "./version.js";
import { instrumentsFor } from "./metrics/instruments.js";
import { detectorFor, tellAnomalies, writeFlags } from "./signals/anomalies.js";
import type { Anomaly, AnomalySettings } from "./signals/anomalies.js";

export type StageKind = "workflow" | "agent" | "tool" | "retrieval" | "step";

/** What a stage's function may tell its span. Every method is safe to call at any time; none throws. */
export interface StageHandle {
  /** The stage span's trace and span ids (all zeros when tracing is off; empty if the span could not start). */
  readonly traceId: string;
  readonly spanId: string;
  /** Set an attribute on the stage's span (not the roll-up or convention attributes tokentrace writes). */
  setAttribute(key: string, value: AttributeValue): void;
  /** Retrieval: the documents found, by id and score only (never their text). At most 100 are recorded. */
  addDocuments(documents: readonly { id: string; score?: number }[]): void;
  /** Tool: the model's tool call id this execution answers (`gen_ai.tool.call.id`). */
  setToolCallId(id: string): void;
  /** Tokens and cost of model work that did not go through an observed client, added to the roll-ups. */
  recordUsage(usage: { inputTokens?: number; outputTokens?: number; costUsd?: number }): void;
  /** Mark the stage failed although its function returned (a `{ ok: false }`-style result). */
  fail(reason?: string): void;
  /**
   * The stage's input (a tool's arguments, a retrieval's query), recorded as content only when the stage's
   * `capture` option and content capture are on; serialised as JSON now, cut to `maxContentLength`.
   */
  recordInput(value: unknown): void;
}

export interface StageOptions<T = unknown> {
  /** Agent: `gen_ai.agent.description`. Tool: `gen_ai.tool.description`. */
  description?: string;
  /** Tool: `gen_ai.tool.call.id`. */
  callId?: string;
  /** Tool: `gen_ai.tool.type` (`function`, `extension`, `datastore`). Default: `function`. */
  type?: string;
  /** Retrieval: `gen_ai.retrieval.top_k`. */
  topK?: number;
  /** A returned value that means failure: return `true` or a reason (the span's `error.type`). */
  failWhen?: (result: Awaited<T>) => boolean | string;
  /**
   * Record the stage's input (`stage.recordInput()`; a `traced` function's arguments) and output (what `fn`
   * returns, a promise's value) as content: `gen_ai.tool.call.arguments` / `.result` on tools,
   * `tokentrace.stage.input` / `.output` on the others. Only when content capture is on (setup()'s
   * `captureContent`), cut to `maxContentLength` like model content. Default: `false`. A generator's output is
   * not recorded.
   */
  capture?: boolean;
}

const KIND_OPTIONS: Record<StageKind, readonly string[]> = {
  workflow: ["failWhen", "capture"],
  agent: ["description", "failWhen", "capture"],
  tool: ["description", "callId", "type", "failWhen", "capture"],
  retrieval: ["topK", "failWhen", "capture"],
  step: ["failWhen", "capture"],
};

const MAX_NAME_LENGTH = 256;
const MAX_DOCUMENTS = 100;
/** Stage names per kind on metric attributes; past this, `_other`. */
export const MAX_STAGE_NAMES = 100;
const OTHER_NAME = "_other";

const STAGE_KEY = createContextKey("tokentrace.stage");

/** What `setAttribute` may not write: tokentrace's own attributes, the context's, and the error's. */
const RESERVED_KEYS: ReadonlySet<string> = new Set([
  names.ATTR_USER_ID,
  names.ATTR_USER_HASH,
  names.ATTR_SESSION_ID,
  names.ATTR_GEN_AI_CONVERSATION_ID,
  names.ATTR_ERROR_TYPE,
  names.ATTR_GEN_AI_OPERATION_NAME,
  // Content goes through the capture rules only.
  names.ATTR_GEN_AI_TOOL_CALL_ARGUMENTS,
  names.ATTR_GEN_AI_TOOL_CALL_RESULT,
]);
const isReserved = (key: string): boolean => RESERVED_KEYS.has(key) || key.startsWith("tokentrace.");

/** The sums of everything that ran under a stage. */
class Totals {
  inputTokens = 0;
  outputTokens = 0;
  cacheReadInputTokens = 0;
  reasoningOutputTokens = 0;
  costUsd = 0;
  modelCalls = 0;
  toolCalls = 0;
  errors = 0;
  /** Children (calls or stages) that ended after this stage: counted in an enclosing stage still open. */
  late = 0;
  hasInput = false;
  hasOutput = false;
  hasCost = false;

  addUsage(usage: Usage): void {
    if (usage.inputTokens !== undefined) {
      this.inputTokens += usage.inputTokens;
      this.hasInput = true;
    }
    if (usage.outputTokens !== undefined) {
      this.outputTokens += usage.outputTokens;
      this.hasOutput = true;
    }
    this.cacheReadInputTokens += usage.cacheReadInputTokens ?? 0;
    this.reasoningOutputTokens += usage.reasoningOutputTokens ?? 0;
  }

  addCost(usd: number | undefined): void {
    if (usd === undefined || !(usd >= 0) || usd === Infinity) return;
    this.costUsd += usd;
    this.hasCost = true;
  }

  addAll(other: Totals): void {
    this.inputTokens += other.inputTokens;
    this.outputTokens += other.outputTokens;
    this.cacheReadInputTokens += other.cacheReadInputTokens;
    this.reasoningOutputTokens += other.reasoningOutputTokens;
    this.costUsd += other.costUsd;
    this.modelCalls += other.modelCalls;
    this.toolCalls += other.toolCalls;
    this.errors += other.errors;
    this.hasInput ||= other.hasInput;
    this.hasOutput ||= other.hasOutput;
    this.hasCost ||= other.hasCost;
  }
}

/** Where a stage's span and duration go: setup()'s or the global providers, or a run's client's (startRunScope). */
export interface StageTelemetry {
  tracer(): Tracer;
  meter(): Meter;
  /** `metricContextKey` (resolved), when on: the withContext() metadata key the stage metrics carry. */
  metricContextKey(): { key: string; maxValues: number } | undefined;
  /** The content rules (resolved): read at a stage's start. */
  content(): {
    captureContent: boolean;
    contentLimits: ContentLimits;
    redaction: RedactionPolicy;
    contentSampling: ContentSampling | undefined;
  };
  /** The anomaly settings root stages are scored with (issue 15), when on. */
  anomalies?(): AnomalySettings | undefined;
}

/** One stage in flight. */
export class Stage {
  ended = false;
  readonly totals = new Totals();
  failure: string | undefined;
  /** The content limits, when this stage records content (its `capture` option, content capture on). */
  contentLimit: ContentLimits | undefined;
  /** UTF-8 bytes of the content attributes written, by name: the span's budget is what the others left. */
  private contentBytes: Map<string, number> | undefined;
  /** The redaction pipeline, when content capture is on here: for the stage's content and its error's text. */
  redactor: Redactor | undefined;
  /**
   * With `contentSampling`: its outcomes always recorded, and whether the trace is in the sampled share. Out
   * of it, content waits in `pending` (input and output at most) until the end says whether it is recorded.
   */
  sampling: { always: ContentSampling["always"]; inShare: boolean } | undefined;
  /** The pipeline for the app's own attribute values: the content one when capture is on, else its own. */
  private attributeRedactor: Redactor | undefined;

  /** The kinds its context's tags and metadata had: listed on the span beside its own. */
  inheritedKinds: readonly string[] | undefined;

  textRedactor(): Redactor {
    if (this.attributeRedactor === undefined) {
      let redactor = this.redactor;
      if (redactor === undefined) {
        redactor = new Redactor(this.telemetry.content().redaction);
        redactor.inherit(this.inheritedKinds);
      }
      this.attributeRedactor = redactor;
    }
    return this.attributeRedactor;
  }
  private pending: Map<string, SerializedContent> | undefined;
  /** Content attributes that were cut. */
  private truncated: string[] | undefined;

  constructor(
    readonly kind: StageKind,
    readonly name: string,
    readonly span: Span,
    readonly parent: Stage | undefined,
    readonly startMs: number,
    readonly telemetry: StageTelemetry,
    /** False for a run's scope (`startRunScope`): the span, its status and its metrics are the recorder's. */
    readonly ownsSpan = true,
    /** `metricContextKey`'s value in the context the stage started in (not yet capped), when the option is on. */
    readonly metricContextValue?: string,
  ) {}

  /** The nearest stage from here up that has not ended: where a child's totals go. */
  private openTarget(): Stage | undefined {
    if (!this.ended) return this;
    let stage = this.parent;
    while (stage !== undefined && stage.ended) stage = stage.parent;
    return stage;
  }

  /**
   * A model call under this stage ended: add it. Returns true when it came late (this stage had ended; the
   * call is then counted in the nearest enclosing stage still open, if any).
   */
  addCall(usage: Usage, costUsd: number | undefined, failed: boolean): boolean {
    const target = this.openTarget();
    if (target !== undefined) {
      if (target !== this) target.totals.late++;
      target.totals.modelCalls++;
      target.totals.addUsage(usage);
      target.totals.addCost(costUsd);
      if (failed) target.totals.errors++;
    }
    return target !== this;
  }

  /** Tokens and cost the app reports itself (`handle.recordUsage`). */
  addUsage(usage: Usage, costUsd: number | undefined): void {
    const target = this.openTarget();
    if (target === undefined) return;
    target.totals.addUsage(usage);
    target.totals.addCost(costUsd);
  }

  /** Record `value` as the stage's input or output content, when this stage records content; never throws. */
  recordContent(which: "input" | "output", value: unknown): void {
    const limit = this.contentLimit;
    if (limit === undefined || this.ended || value === undefined) return;
    const tool = this.kind === "tool";
    const name =
      which === "input"
        ? tool
          ? names.ATTR_GEN_AI_TOOL_CALL_ARGUMENTS
          : names.ATTR_TOKENTRACE_STAGE_INPUT
        : tool
          ? names.ATTR_GEN_AI_TOOL_CALL_RESULT
          : names.ATTR_TOKENTRACE_STAGE_OUTPUT;
    const redactor = this.redactor;
    if (redactor === undefined) return;
    // Content that can never be written is not redacted: a span not recording, or a trace out of the sampled
    // share when an error (a stage's one outcome `always` can list) would not record it either.
    const sampling = this.sampling;
    if (
      !this.span.isRecording() ||
      (sampling?.inShare === false && alwaysReason(sampling.always, "error", undefined) === undefined)
    )
      return;
    let serialized: SerializedContent;
    try {
      // A value that cannot be JSON fails in the serialiser, which the pipeline's walk (it reads toJSON once)
      // mirrors: the redacted copy is what is serialised.
      let othersBytes = 0;
      for (const [written, bytes] of this.contentBytes ?? []) if (written !== name) othersBytes += bytes;
      const maxBytes = Math.min(limit.maxBytes, limit.maxSpanBytes - othersBytes);
      if (maxBytes < MIN_CONTENT_BYTES) serialized = { json: JSON.stringify({ truncated: true }), truncated: true };
      else {
        // As a call's messages: a list past the count keeps its newest items, a text past the limit is cut
        // before it is redacted (bounded work), then the redacted copy is cut to the limits.
        const capped = Array.isArray(value) ? capMessages(value, limit.maxMessages) : { items: value, dropped: 0 };
        const redacted = redactor.valueWithin(capped.items, name, limit.maxChars);
        serialized = serializeWithin(redacted.value, limit.maxChars, maxBytes, capped.dropped);
        if (redacted.cut && !serialized.truncated) serialized = { json: serialized.json, truncated: true };
      }
      (this.contentBytes ??= new Map()).set(name, Buffer.byteLength(serialized.json, "utf8"));
    } catch {
      // A cycle, a BigInt, a throwing toJSON: the app's value cannot be JSON; it is left out.
      reportAnomaly("stage-content", `${name}: a value that cannot be serialised as JSON`);
      return;
    }
    if (this.sampling?.inShare === false) (this.pending ??= new Map()).set(name, serialized);
    else this.writeContent(name, serialized);
  }

  private writeContent(name: string, serialized: SerializedContent): void {
    safely(() => {
      this.span.setAttribute(name, serialized.json);
      this.span.setAttribute(names.ATTR_TOKENTRACE_CONTENT_PRESENT, true);
      if (serialized.truncated) {
        (this.truncated ??= []).push(name);
        this.span.setAttribute(names.ATTR_TOKENTRACE_CONTENT_TRUNCATED, this.truncated);
      }
    });
  }

  /** `contentSampling` at the end: whether content is recorded, said on the span; pending content written if so. */
  private sampleContent(failed: boolean): boolean {
    const sampling = this.sampling;
    if (sampling === undefined) return true;
    const reason: SamplingReason = sampling.inShare
      ? "rate"
      : (alwaysReason(sampling.always, failed ? "error" : "completed", undefined) ?? "not_sampled");
    const sampled = reason !== "not_sampled";
    safely(() => {
      this.span.setAttribute(names.ATTR_TOKENTRACE_CONTENT_SAMPLED, sampled);
      this.span.setAttribute(names.ATTR_TOKENTRACE_CONTENT_SAMPLING_REASON, reason);
    });
    const pending = this.pending;
    this.pending = undefined;
    if (sampled && pending !== undefined) for (const [name, serialized] of pending) this.writeContent(name, serialized);
    return sampled;
  }

  /** A root stage's totals scored (anomalies on): its flags written on its span and counted. */
  private flagAnomalies(settings: AnomalySettings): Anomaly[] | undefined {
    const totals = this.totals;
    const detector = detectorFor(settings);
    const registered = instrumentsFor(this.telemetry.meter()).anomalyDetectors;
    if (!registered.has(detector)) registered.add(detector);
    const flags = detector.scoreTrace(
      {
        kind: this.kind,
        name: this.name,
        modelCalls: totals.modelCalls,
        costUsd: totals.hasCost ? totals.costUsd : undefined,
        toolCalls: totals.toolCalls,
      },
      performance.now(),
    );
    if (flags === undefined) return undefined;
    return writeFlags(
      flags,
      this.span,
      this.span.isRecording(),
      undefined,
      instrumentsFor(this.telemetry.meter()).anomalies,
      { [names.ATTR_TOKENTRACE_STAGE_KIND]: this.kind },
      { operation: this.kind, provider: undefined, requestModel: undefined, stageName: this.name },
    );
  }

  /** End once: roll-ups on the span, status, the span ended, the duration measured, totals to the parent. */
  end(error: unknown, hasError: boolean, errorType: string | undefined): void {
    if (this.ended) return;
    this.ended = true;
    const failed = hasError || this.failure !== undefined;
    const span = this.span;
    const totals = this.totals;
    const parentTarget = this.parent === undefined ? undefined : this.parent.openTarget();
    const late = this.parent !== undefined && parentTarget !== this.parent;
    const contentSampled = this.redactor !== undefined && this.ownsSpan ? this.sampleContent(failed) : true;
    safely(() => {
      if (span.isRecording()) {
        span.setAttributes(rollupAttributes(this.kind, totals));
        if (late) span.setAttribute(names.ATTR_TOKENTRACE_ROLLUP_LATE, true);
      }
      if (failed && this.ownsSpan) {
        const type = errorType ?? this.failure ?? "_OTHER";
        span.setAttribute(names.ATTR_ERROR_TYPE, type);
        span.setStatus({ code: SpanStatusCode.ERROR, message: type });
        // With content capture off, the type only: an app's error message may carry its users' data. With it
        // on, the message and stack too, through the redaction pipeline.
        const redactor = this.redactor;
        if (hasError && redactor !== undefined && error instanceof Error && contentSampled) {
          const message = redactor.text(error.message, names.ATTR_EXCEPTION_MESSAGE);
          const exception: Attributes = {
            [names.ATTR_EXCEPTION_TYPE]: type,
            [names.ATTR_EXCEPTION_MESSAGE]: message,
          };
          if (typeof error.stack === "string") {
            exception[names.ATTR_EXCEPTION_STACKTRACE] = redactor.text(error.stack, names.ATTR_EXCEPTION_STACKTRACE);
          }
          span.setStatus({ code: SpanStatusCode.ERROR, message });
          span.addEvent("exception", exception);
          span.setAttribute(names.ATTR_TOKENTRACE_CONTENT_PRESENT, true);
        } else if (hasError) span.addEvent("exception", { [names.ATTR_EXCEPTION_TYPE]: type });
      }
    });
    const redactor = this.redactor ?? this.attributeRedactor;
    if (redactor !== undefined && this.ownsSpan) safely(() => redactor.report(span, this.telemetry.meter()));
    // The whole request under a root stage, against the baselines of its kind and name (the runaway agent).
    const settings = this.parent === undefined && this.ownsSpan ? this.telemetry.anomalies?.() : undefined;
    let flagged: Anomaly[] | undefined;
    if (settings !== undefined) {
      safely(() => {
        flagged = this.flagAnomalies(settings);
      });
    }
    if (this.ownsSpan) {
      const durationMs = performance.now() - this.startMs;
      safely(() => span.end());
      const told = flagged;
      if (told !== undefined) safely(() => tellAnomalies(told, settings?.onAnomaly));
      safely(() => recordMetrics(this, durationMs, failed ? (errorType ?? this.failure ?? "_OTHER") : undefined));
    }
    if (this.parent !== undefined) {
      if (parentTarget !== undefined) {
        if (late) parentTarget.totals.late++;
        parentTarget.totals.addAll(totals);
        if (this.kind === "tool") parentTarget.totals.toolCalls++;
        if (failed) parentTarget.totals.errors++;
      }
    }
  }
}

function rollupAttributes(kind: StageKind, totals: Totals): Attributes {
  const attributes: Attributes = {
    [names.ATTR_TOKENTRACE_ROLLUP_MODEL_CALLS]: totals.modelCalls,
    [names.ATTR_TOKENTRACE_ROLLUP_TOOL_CALLS]: totals.toolCalls,
    [names.ATTR_TOKENTRACE_ROLLUP_ERRORS]: totals.errors,
  };
  if (totals.hasInput) attributes[names.ATTR_TOKENTRACE_ROLLUP_INPUT_TOKENS] = totals.inputTokens;
  if (totals.hasOutput) attributes[names.ATTR_TOKENTRACE_ROLLUP_OUTPUT_TOKENS] = totals.outputTokens;
  if (totals.cacheReadInputTokens > 0)
    attributes[names.ATTR_TOKENTRACE_ROLLUP_CACHE_READ_INPUT_TOKENS] = totals.cacheReadInputTokens;
  if (totals.reasoningOutputTokens > 0)
    attributes[names.ATTR_TOKENTRACE_ROLLUP_REASONING_OUTPUT_TOKENS] = totals.reasoningOutputTokens;
  if (totals.hasCost) attributes[names.ATTR_TOKENTRACE_ROLLUP_COST] = totals.costUsd;
  if (totals.late > 0) attributes[names.ATTR_TOKENTRACE_ROLLUP_LATE_CHILDREN] = totals.late;
  // The conventions recommend usage on agent spans: the same sums under their names.
  if (kind === "agent") {
    if (totals.hasInput) attributes[names.ATTR_GEN_AI_USAGE_INPUT_TOKENS] = totals.inputTokens;
    if (totals.hasOutput) attributes[names.ATTR_GEN_AI_USAGE_OUTPUT_TOKENS] = totals.outputTokens;
  }
  return attributes;
}

/** The stage a context holds (the nearest enclosing one), if any. */
export function stageOf(ctx: Context): Stage | undefined {
  return ctx.getValue(STAGE_KEY) as Stage | undefined;
}

/** The name of the innermost agent stage in `ctx` (`gen_ai.agent.name`), if any. */
export function agentNameOf(ctx: Context): string | undefined {
  for (let stage = stageOf(ctx); stage !== undefined; stage = stage.parent)
    if (stage.kind === "agent") return stage.name;
  return undefined;
}

/** Below this, an input or output could hold no more than a marker. */
const MIN_CONTENT_BYTES = 64;

function safely(step: () => void): void {
  try {
    step();
  } catch (error) {
    reportInternalError("stage", error);
  }
}

const classifyError = errorClassifier(undefined);

/** The span name, kind and attributes a stage starts with, per the GenAI conventions. */
function startOf(
  kind: StageKind,
  name: string,
  options: StageOptions,
): { spanName: string; spanKind: SpanKind; attributes: Attributes } {
  const attributes: Attributes = { [names.ATTR_TOKENTRACE_STAGE_KIND]: kind };
  switch (kind) {
    case "workflow":
      attributes[names.ATTR_GEN_AI_OPERATION_NAME] = names.OPERATION_INVOKE_WORKFLOW;
      attributes[names.ATTR_GEN_AI_WORKFLOW_NAME] = name;
      return { spanName: `${names.OPERATION_INVOKE_WORKFLOW} ${name}`, spanKind: SpanKind.INTERNAL, attributes };
    case "agent":
      attributes[names.ATTR_GEN_AI_OPERATION_NAME] = names.OPERATION_INVOKE_AGENT;
      attributes[names.ATTR_GEN_AI_AGENT_NAME] = name;
      if (options.description !== undefined) attributes[names.ATTR_GEN_AI_AGENT_DESCRIPTION] = options.description;
      return { spanName: `${names.OPERATION_INVOKE_AGENT} ${name}`, spanKind: SpanKind.INTERNAL, attributes };
    case "tool":
      attributes[names.ATTR_GEN_AI_OPERATION_NAME] = names.OPERATION_EXECUTE_TOOL;
      attributes[names.ATTR_GEN_AI_TOOL_NAME] = name;
      attributes[names.ATTR_GEN_AI_TOOL_TYPE] = options.type ?? "function";
      if (options.callId !== undefined) attributes[names.ATTR_GEN_AI_TOOL_CALL_ID] = options.callId;
      if (options.description !== undefined) attributes[names.ATTR_GEN_AI_TOOL_DESCRIPTION] = options.description;
      return { spanName: `${names.OPERATION_EXECUTE_TOOL} ${name}`, spanKind: SpanKind.INTERNAL, attributes };
    case "retrieval":
      attributes[names.ATTR_GEN_AI_OPERATION_NAME] = names.OPERATION_RETRIEVAL;
      attributes[names.ATTR_GEN_AI_DATA_SOURCE_ID] = name;
      if (options.topK !== undefined) attributes[names.ATTR_GEN_AI_RETRIEVAL_TOP_K] = options.topK;
      return { spanName: `${names.OPERATION_RETRIEVAL} ${name}`, spanKind: SpanKind.CLIENT, attributes };
    case "step":
      attributes[names.ATTR_TOKENTRACE_STAGE_NAME] = name;
      return { spanName: `step ${name}`, spanKind: SpanKind.INTERNAL, attributes };
  }
}

/**
 * Check a stage's arguments. What only a programming error gives (a name that is not a string, a `fn` that is
 * not a function, an unknown option, an option of the wrong type) throws `InvalidOptionError`. A string that is
 * empty or too long, or a `topK` that is not a positive integer, may come from data (a tool name or call id the
 * model sent): the name becomes `_invalid` and the option is left out, counted as an anomaly, never thrown.
 */
function validate(
  kind: StageKind,
  name: unknown,
  fn: unknown,
  options: unknown,
  where: string,
): { name: string; options: StageOptions } {
  if (typeof name !== "string") {
    throw new InvalidOptionError(where, `expected a name (a string), received ${describe(name)}.`);
  }
  if (typeof fn !== "function") {
    throw new InvalidOptionError(where, `expected a function to run, received ${describe(fn)}.`);
  }
  let usable = name;
  if (!usableString(name)) {
    reportAnomaly("stage-value", `${where}: a name that is empty or over ${MAX_NAME_LENGTH} characters`);
    usable = INVALID_NAME;
  }
  if (options === undefined) return { name: usable, options: {} };
  if (options === null || typeof options !== "object" || Array.isArray(options)) {
    throw new InvalidOptionError(`${where}.options`, `expected an object, received ${describe(options)}.`);
  }
  const accepted = KIND_OPTIONS[kind];
  const record = options as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!accepted.includes(key)) {
      throw new InvalidOptionError(`${where}.${key}`, `unknown option. Accepted options: ${accepted.join(", ")}.`);
    }
  }
  const checked: StageOptions = {};
  for (const key of ["description", "callId", "type"] as const) {
    const value = record[key];
    if (value === undefined) continue;
    if (typeof value !== "string") {
      throw new InvalidOptionError(`${where}.${key}`, `expected a string, received ${describe(value)}.`);
    }
    if (usableString(value)) checked[key] = value;
    else reportAnomaly("stage-value", `${where}.${key}: empty or over ${MAX_NAME_LENGTH} characters`);
  }
  const topK = record["topK"];
  if (topK !== undefined) {
    if (typeof topK !== "number") {
      throw new InvalidOptionError(`${where}.topK`, `expected a positive integer, received ${describe(topK)}.`);
    }
    if (Number.isSafeInteger(topK) && topK >= 1) checked.topK = topK;
    else reportAnomaly("stage-value", `${where}.topK: not a positive integer`);
  }
  const failWhen = record["failWhen"];
  if (failWhen !== undefined) {
    if (typeof failWhen !== "function") {
      throw new InvalidOptionError(`${where}.failWhen`, `expected a function, received ${describe(failWhen)}.`);
    }
    checked.failWhen = failWhen as StageOptions["failWhen"];
  }
  const capture = record["capture"];
  if (capture !== undefined) {
    if (typeof capture !== "boolean") {
      throw new InvalidOptionError(`${where}.capture`, `expected true or false, received ${describe(capture)}.`);
    }
    checked.capture = capture;
  }
  return { name: usable, options: checked };
}

const INVALID_NAME = "_invalid";
const usableString = (value: string): boolean => value.trim() !== "" && value.length <= MAX_NAME_LENGTH;

/** Run `fn` as a stage of `kind`; the one mechanism under every `with*` function. */
export function runStage<T>(
  kind: StageKind,
  name: string,
  fn: (stage: StageHandle) => T,
  options: StageOptions<T> | undefined,
  where: string,
  telemetry: StageTelemetry = globalTelemetry,
  parentContext: Context = context.active(),
): T {
  const validated = validate(kind, name, fn, options, where);
  const checked = validated.options as StageOptions<T>;
  const stageName = validated.name;
  let stage: Stage | undefined;
  let stageContext = parentContext;
  try {
    const { spanName, spanKind, attributes } = startOf(kind, stageName, checked as StageOptions);
    // Stages belong to no client: setup()'s hashUserId applies, as it does to the calls of its clients.
    stampContext(attributes, parentContext, activeSetup()?.defaults.hashUserId?.key);
    const startMs = performance.now();
    const span = telemetry.tracer().startSpan(spanName, { kind: spanKind, attributes }, parentContext);
    const contextKey = telemetry.metricContextKey()?.key;
    const contextValue = contextKey === undefined ? undefined : metadataValueOf(parentContext, contextKey);
    stage = new Stage(kind, stageName, span, stageOf(parentContext), startMs, telemetry, true, contextValue);
    const content = telemetry.content();
    stage.inheritedKinds = redactedKindsOf(parentContext);
    if (content.captureContent && contentAllowedIn(parentContext)) {
      stage.redactor = new Redactor(content.redaction);
      stage.redactor.inherit(stage.inheritedKinds);
      const sampling = content.contentSampling;
      if (sampling !== undefined) {
        stage.sampling = {
          always: sampling.always,
          inShare: inSampledShare(span.spanContext().traceId, sampling.rate),
        };
      }
      if (checked.capture === true) stage.contentLimit = content.contentLimits;
    }
    stageContext = trace.setSpan(parentContext, span).setValue(STAGE_KEY, stage);
  } catch (error) {
    reportInternalError("stage", error);
  }
  if (stage === undefined) return fn(NO_HANDLE);
  const current = stage;
  let handle = NO_HANDLE;
  try {
    handle = handleFor(current);
  } catch (error) {
    reportInternalError("stage", error);
  }
  let result: T;
  try {
    result = context.with(stageContext, fn, undefined, handle);
  } catch (error) {
    endWithError(current, error);
    throw error;
  }
  try {
    settle(current, result, checked.failWhen, stageContext);
  } catch (error) {
    reportInternalError("stage", error);
    current.end(undefined, false, undefined);
  }
  return result;
}

/**
 * A run helper's run (openai's `runTools()`) as the agent stage of what runs under it, on the run's own span: its
 * requests and its tool functions' stages add to it, and `end` writes its roll-ups on the span (call it before the
 * recorder ends the span) and hands them to the enclosing stage. The span's status, end and metrics stay the
 * recorder's.
 */
export interface RunScope {
  /** The run's context with the scope in it: the parent of the run's requests and tools. */
  readonly context: Context;
  /** Run one tool function of the run as an `execute_tool` stage under the run. */
  runTool(name: string, callId: string | undefined, call: () => unknown): unknown;
  end(failed: boolean): void;
}

export function startRunScope(span: Span, runContext: Context, telemetry: StageTelemetry): RunScope {
  const stage = new Stage("agent", "", span, stageOf(runContext), performance.now(), telemetry, false);
  const scopeContext = runContext.setValue(STAGE_KEY, stage);
  return {
    context: scopeContext,
    // Under the run whatever context is active: the helper calls tools from the app's context at runTools().
    runTool: (name, callId, call) =>
      runStage("tool", name, call, callId === undefined ? undefined : { callId }, "runTools", telemetry, scopeContext),
    end: (failed) => stage.end(undefined, failed, failed ? "run_failed" : undefined),
  };
}

function endWithError(stage: Stage, error: unknown): void {
  let type: string | undefined;
  try {
    type = classifyError(error);
  } catch {
    type = undefined;
  }
  stage.end(error, true, type ?? "_OTHER");
}

/**
 * An app's failure reason, as `error.type` (span, status, stage metric): the app's free text, so through the
 * pipeline like its other attribute values, cut to a name's length.
 */
function failureReason(stage: Stage, reason: string): string {
  return stage.textRedactor().text(reason.slice(0, MAX_NAME_LENGTH), names.ATTR_ERROR_TYPE);
}

/** Mark a returned value a failure when `failWhen` says so (its errors are ours, never the app's). */
function checkFailure<T>(stage: Stage, value: Awaited<T>, failWhen: StageOptions<T>["failWhen"]): void {
  if (failWhen === undefined) return;
  try {
    const verdict = failWhen(value);
    if (verdict === true) stage.failure ??= "failed_result";
    else if (typeof verdict === "string" && verdict !== "") stage.failure ??= failureReason(stage, verdict);
  } catch (error) {
    reportInternalError("stage-fail-when", error);
  }
}

/** End the stage when what `fn` returned is done with, without changing it. */
function settle<T>(stage: Stage, result: T, failWhen: StageOptions<T>["failWhen"], stageContext: Context): void {
  if (isGenerator(result)) {
    traceGenerator(stage, result, stageContext);
    return;
  }
  if (result instanceof Promise) {
    // A side branch: the app keeps its own promise object, rejections included. Only a native promise (an SDK's
    // APIPromise is one): calling `then` on another thenable may run it (a query builder), so such a stage ends
    // when its function returns.
    result.then(
      (value) => {
        checkFailure(stage, value as Awaited<T>, failWhen);
        endWithValue(stage, value);
      },
      (error: unknown) => endWithError(stage, error),
    );
    return;
  }
  checkFailure(stage, result as Awaited<T>, failWhen);
  endWithValue(stage, result);
}

/**
 * End a stage whose function returned `value`. An observed SDK stream still being read keeps the stage open until
 * its call ends (its tokens then count in the stage, not as late); its chunks are not content of the stage.
 */
function endWithValue(stage: Stage, value: unknown): void {
  const streamCall = openStreamCall(value);
  if (streamCall !== undefined) {
    streamCall.afterEnd(() => stage.end(undefined, false, undefined));
    return;
  }
  stage.recordContent("output", value);
  stage.end(undefined, false, undefined);
}

/** Generators garbage-collected before they finished end their stage as abandoned. */
const abandonedStages = new FinalizationRegistry<Stage>((stage) => {
  safely(() => stage.span.setAttribute(names.ATTR_TOKENTRACE_STAGE_END, "abandoned"));
  stage.end(undefined, false, undefined);
});

/**
 * A generator's steps run inside the stage; the stage ends when a step says `done`, throws, or `return()` closes
 * it (an early `break`). Each step's result is what the generator returned (the same promise for an async one).
 */
function traceGenerator(stage: Stage, generator: AnyGenerator, stageContext: Context): void {
  abandonedStages.register(generator, stage, stage);
  const finish = (error: unknown, failed: boolean): void => {
    abandonedStages.unregister(stage);
    if (failed) endWithError(stage, error);
    else stage.end(undefined, false, undefined);
  };
  const observe = (step: unknown): void => {
    safely(() => {
      if ((step as IteratorResult<unknown> | null)?.done === true) finish(undefined, false);
    });
  };
  patchGeneratorSteps(generator, (run) => {
    let step: unknown;
    try {
      step = context.with(stageContext, run);
    } catch (error) {
      finish(error, true);
      throw error;
    }
    if (step instanceof Promise) {
      step.then(observe, (error: unknown) => {
        safely(() => finish(error, true));
      });
    } else observe(step);
    return step;
  });
}

function handleFor(stage: Stage): StageHandle {
  const spanContext = stage.span.spanContext();
  return {
    traceId: spanContext.traceId,
    spanId: spanContext.spanId,
    setAttribute(key, value) {
      safely(() => {
        if (typeof key !== "string" || key === "" || isReserved(key)) return;
        // The app's own text (a query, a document title) may carry what content does: through the pipeline,
        // whatever the content switch says, as withContext() metadata is.
        if (typeof value === "string") stage.span.setAttribute(key, stage.textRedactor().text(value, key));
        else if (Array.isArray(value) && value.some((item) => typeof item === "string")) {
          const redactor = stage.textRedactor();
          stage.span.setAttribute(
            key,
            (value as unknown[]).map((item) =>
              typeof item === "string" ? redactor.text(item, key) : item,
            ) as AttributeValue,
          );
        } else stage.span.setAttribute(key, value);
      });
    },
    addDocuments(documents) {
      safely(() => {
        if (!Array.isArray(documents)) return;
        const ids: string[] = [];
        const scores: number[] = [];
        // Bounded by MAX_DOCUMENTS whatever the app passes.
        for (let index = 0; index < documents.length && ids.length < MAX_DOCUMENTS; index++) {
          const document: unknown = documents[index];
          const id = (document as { id?: unknown } | null)?.id;
          if (typeof id !== "string" || id === "" || id.length > MAX_NAME_LENGTH) continue;
          const score = (document as { score?: unknown }).score;
          ids.push(id);
          scores.push(typeof score === "number" && Number.isFinite(score) ? score : Number.NaN);
        }
        stage.span.setAttribute(names.ATTR_TOKENTRACE_RETRIEVAL_DOCUMENT_IDS, ids);
        if (scores.every((score) => !Number.isNaN(score)))
          stage.span.setAttribute(names.ATTR_TOKENTRACE_RETRIEVAL_DOCUMENT_SCORES, scores);
        stage.span.setAttribute(names.ATTR_TOKENTRACE_RETRIEVAL_DOCUMENT_COUNT, ids.length);
      });
    },
    setToolCallId(id) {
      safely(() => {
        if (typeof id === "string" && id !== "" && id.length <= MAX_NAME_LENGTH)
          stage.span.setAttribute(names.ATTR_GEN_AI_TOOL_CALL_ID, id);
      });
    },
    recordUsage(usage) {
      safely(() => {
        const count = (value: unknown): number | undefined =>
          typeof value === "number" && Number.isSafeInteger(value) && value >= 0 ? value : undefined;
        const given = usage as { inputTokens?: unknown; outputTokens?: unknown; costUsd?: unknown } | null;
        const cost = given?.costUsd;
        stage.addUsage(
          { inputTokens: count(given?.inputTokens), outputTokens: count(given?.outputTokens) },
          typeof cost === "number" && Number.isFinite(cost) && cost >= 0 ? cost : undefined,
        );
      });
    },
    fail(reason) {
      safely(() => {
        stage.failure ??= typeof reason === "string" && reason !== "" ? failureReason(stage, reason) : "failed_result";
      });
    },
    recordInput(value) {
      stage.recordContent("input", value);
    },
  };
}

/** The handle a stage function gets when tokentrace could not start its span: every method does nothing. */
const NO_HANDLE: StageHandle = Object.freeze({
  traceId: "",
  spanId: "",
  setAttribute: () => undefined,
  addDocuments: () => undefined,
  setToolCallId: () => undefined,
  recordUsage: () => undefined,
  fail: () => undefined,
  recordInput: () => undefined,
});

// --- metrics ---

interface StageInstruments {
  readonly byKind: Record<StageKind, Histogram>;
  readonly workflowCost: Counter;
  /** `metricContextKey`'s cap for these instruments; replaced when the option changes (a new setup()). */
  contextCap: { key: string; maxValues: number; cap: ContextValueCap } | undefined;
  /** Names seen per kind; past MAX_STAGE_NAMES, `_other`. */
  readonly names: Record<StageKind, Set<string>>;
  readonly errorTypes: Set<string>;
}

let tracerCache: { provider: unknown; tracer: Tracer } | undefined;

/** setup()'s providers, else the global ones. */
const globalTelemetry: StageTelemetry = {
  tracer: stageTracer,
  meter: stageMeter,
  metricContextKey: () => setupOptions().metricContextKey,
  content: () => setupOptions(),
  anomalies: () => setupOptions().anomalies,
};

/** setup()'s tracer, else the global provider's; looked up again only when the provider changed. */
function stageTracer(): Tracer {
  const provider = currentTracerProvider();
  if (tracerCache?.provider !== provider) {
    tracerCache = { provider, tracer: provider.getTracer(names.INSTRUMENTATION_SCOPE, VERSION) };
  }
  return tracerCache.tracer;
}

const instrumentsByMeter = new WeakMap<Meter, StageInstruments>();
let meterCache: { provider: unknown; meter: Meter } | undefined;

function stageMeter(): Meter {
  const provider = currentMeterProvider();
  if (meterCache?.provider !== provider) {
    meterCache = { provider, meter: provider.getMeter(names.INSTRUMENTATION_SCOPE, VERSION) };
  }
  return meterCache.meter;
}

function stageInstruments(meter: Meter): StageInstruments {
  let instruments = instrumentsByMeter.get(meter);
  if (instruments === undefined) {
    const histogram = (name: string, description: string): Histogram =>
      meter.createHistogram(name, {
        description,
        unit: names.UNIT_SECONDS,
        advice: { explicitBucketBoundaries: [...names.DURATION_BUCKETS_SECONDS] },
      });
    instruments = {
      byKind: {
        workflow: histogram(names.METRIC_GEN_AI_WORKFLOW_DURATION, "Duration of a GenAI workflow."),
        agent: histogram(names.METRIC_GEN_AI_INVOKE_AGENT_DURATION, "Duration of a GenAI agent invocation."),
        tool: histogram(names.METRIC_GEN_AI_EXECUTE_TOOL_DURATION, "Duration of a GenAI tool execution."),
        retrieval: histogram(names.METRIC_GEN_AI_CLIENT_OPERATION_DURATION, "Duration of a GenAI client operation."),
        step: histogram(names.METRIC_TOKENTRACE_STEP_DURATION, "Duration of a step of a GenAI pipeline."),
      },
      workflowCost: meter.createCounter(names.METRIC_TOKENTRACE_WORKFLOW_COST, {
        description: "USD spent by the model calls under a workflow, added when it ends.",
        unit: names.UNIT_USD,
      }),
      contextCap: undefined,
      names: { workflow: new Set(), agent: new Set(), tool: new Set(), retrieval: new Set(), step: new Set() },
      errorTypes: new Set(),
    };
    instrumentsByMeter.set(meter, instruments);
  }
  return instruments;
}

const NAME_ATTRIBUTE: Record<StageKind, string> = {
  workflow: names.ATTR_GEN_AI_WORKFLOW_NAME,
  agent: names.ATTR_GEN_AI_AGENT_NAME,
  tool: names.ATTR_GEN_AI_TOOL_NAME,
  retrieval: names.ATTR_GEN_AI_DATA_SOURCE_ID,
  step: names.ATTR_TOKENTRACE_STAGE_NAME,
};

const OPERATION: Record<StageKind, string | undefined> = {
  workflow: names.OPERATION_INVOKE_WORKFLOW,
  agent: names.OPERATION_INVOKE_AGENT,
  tool: names.OPERATION_EXECUTE_TOOL,
  retrieval: names.OPERATION_RETRIEVAL,
  step: undefined,
};

/** Error types on metrics: identifier-shaped, at most MAX_STAGE_ERROR_TYPES distinct, else `_OTHER` (a reason is free text). */
const ERROR_TYPE_SHAPE = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;
const MAX_STAGE_ERROR_TYPES = 50;

function metricErrorType(instruments: StageInstruments, errorType: string): string {
  if (!ERROR_TYPE_SHAPE.test(errorType)) return "_OTHER";
  if (instruments.errorTypes.has(errorType)) return errorType;
  if (instruments.errorTypes.size >= MAX_STAGE_ERROR_TYPES) return "_OTHER";
  instruments.errorTypes.add(errorType);
  return errorType;
}

/** When a stage ends: its duration, and for a workflow the cost under it; the same attributes on both. */
function recordMetrics(stage: Stage, durationMs: number, errorType: string | undefined): void {
  const instruments = stageInstruments(stage.telemetry.meter());
  const seen = instruments.names[stage.kind];
  let name = stage.name;
  if (!seen.has(name)) {
    if (seen.size >= MAX_STAGE_NAMES) name = OTHER_NAME;
    else seen.add(name);
  }
  const attributes: Attributes = { [NAME_ATTRIBUTE[stage.kind]]: name };
  const operation = OPERATION[stage.kind];
  if (operation !== undefined) attributes[names.ATTR_GEN_AI_OPERATION_NAME] = operation;
  if (errorType !== undefined) attributes[names.ATTR_ERROR_TYPE] = metricErrorType(instruments, errorType);
  const contextKey = stage.telemetry.metricContextKey();
  if (contextKey !== undefined) {
    let contextCap = instruments.contextCap;
    if (contextCap?.key !== contextKey.key || contextCap.maxValues !== contextKey.maxValues) {
      contextCap = { ...contextKey, cap: new ContextValueCap(contextKey.maxValues) };
      instruments.contextCap = contextCap;
    }
    const value = contextCap.cap.of(stage.metricContextValue);
    if (value !== undefined) attributes[names.ATTR_TOKENTRACE_METADATA_PREFIX + contextKey.key] = value;
  }
  if (durationMs >= 0 && durationMs !== Infinity) instruments.byKind[stage.kind].record(durationMs / 1000, attributes);
  const totals = stage.totals;
  if (stage.kind === "workflow" && totals.hasCost && totals.costUsd >= 0 && Number.isFinite(totals.costUsd))
    instruments.workflowCost.add(totals.costUsd, attributes);
}

// --- the public functions ---

/**
 * Run `fn` as a workflow (`invoke_workflow {name}`): the whole of one request's pipeline, usually the root.
 *
 * @example await withWorkflow("support-answer", async () => answer(question));
 */
export function withWorkflow<T>(name: string, fn: (stage: StageHandle) => T, options?: StageOptions<T>): T {
  return runStage("workflow", name, fn, options, "withWorkflow");
}

/**
 * Run `fn` as an agent invocation (`invoke_agent {name}`); its spans carry the agent's token sums as
 * `gen_ai.usage.*`, as the conventions recommend.
 *
 * @example await withAgent("planner", async () => plan(goal), { description: "Breaks a goal into steps" });
 */
export function withAgent<T>(
  name: string,
  fn: (stage: StageHandle) => T,
  options?: Pick<StageOptions<T>, "description" | "failWhen" | "capture">,
): T {
  return runStage("agent", name, fn, options, "withAgent");
}

/**
 * Run `fn` as a tool execution (`execute_tool {name}`).
 *
 * @example await withTool("get_weather", () => weather(args.city), { callId: toolCall.id });
 */
export function withTool<T>(
  name: string,
  fn: (stage: StageHandle) => T,
  options?: Pick<StageOptions<T>, "description" | "callId" | "type" | "failWhen" | "capture">,
): T {
  return runStage("tool", name, fn, options, "withTool");
}

/**
 * Run `fn` as a retrieval from a data source (`retrieval {dataSourceId}`); `stage.addDocuments()` records
 * what was found, by id and score.
 *
 * @example await withRetrieval("kb-articles", async (stage) => { const hits = await search(q); stage.addDocuments(hits); return hits; }, { topK: 5 });
 */
export function withRetrieval<T>(
  dataSourceId: string,
  fn: (stage: StageHandle) => T,
  options?: Pick<StageOptions<T>, "topK" | "failWhen" | "capture">,
): T {
  return runStage("retrieval", dataSourceId, fn, options, "withRetrieval");
}

/**
 * Run `fn` as a named step of a pipeline (`step {name}`) that is none of the other kinds.
 *
 * @example const prompt = withStep("build-prompt", () => render(template, facts));
 */
export function withStep<T>(
  name: string,
  fn: (stage: StageHandle) => T,
  options?: Pick<StageOptions<T>, "failWhen" | "capture">,
): T {
  return runStage("step", name, fn, options, "withStep");
}

/**
 * A function of the same type as `fn` whose every call runs as a stage of `kind` named `name`.
 *
 * @example const search = traced("retrieval", "kb-articles", searchArticles);
 */
export function traced<F extends (...args: never[]) => unknown>(
  kind: StageKind,
  name: string,
  fn: F,
  options?: StageOptions<ReturnType<F>>,
): F {
  if (!Object.prototype.hasOwnProperty.call(KIND_OPTIONS, kind)) {
    throw new InvalidOptionError(
      "traced",
      `expected a stage kind (${Object.keys(KIND_OPTIONS).join(", ")}), received ${describe(kind)}.`,
    );
  }
  const checked = validate(kind, name, fn, options, "traced").options as StageOptions<ReturnType<F>>;
  const capture = checked.capture === true;
  const wrapped = function (this: unknown, ...args: Parameters<F>): ReturnType<F> {
    return runStage(
      kind,
      name,
      (stage) => {
        // The arguments, as a JSON array (only recorded when content capture is on).
        if (capture) stage.recordInput(args);
        return fn.apply(this, args) as ReturnType<F>;
      },
      options,
      "traced",
    );
  };
  Object.defineProperty(wrapped, "name", { value: fn.name, configurable: true });
  return wrapped as unknown as F;
}

/** The handle of the stage active here, for code called from a stage (a `traced` function, a helper). */
export function currentStage(): StageHandle | undefined {
  const stage = stageOf(context.active());
  return stage === undefined || stage.ended ? undefined : handleFor(stage);
}
