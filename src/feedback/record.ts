/**
 * `recordFeedback()` (issue 14): a user's thumbs up, a rating, a correction, or an evaluator's score, tied to the
 * exact span it rates. It runs in request handlers on user input, so it never throws: it answers `{ ok: true }`
 * or `{ ok: false, reason }` and counts refusals by reason.
 *
 * Each result becomes the conventions' `gen_ai.evaluation.result` event, as an OpenTelemetry log record in the
 * rated span's context (parented even after that span ended), through the Logs API; for backends that store
 * traces only, also (`setup({ feedback: { spans } })`, by default when no logger provider is registered) a
 * zero-length child span `evaluation {name}` with the same attributes. Metrics: the score as a histogram and the
 * result as a counter, by name, label, source, model and agent, every label bounded.
 */
import { logs, SeverityNumber } from "@opentelemetry/api-logs";
import type { LoggerProvider } from "@opentelemetry/api-logs";
import { ROOT_CONTEXT, SpanKind, TraceFlags, trace } from "@opentelemetry/api";
import type { Attributes, Context, Counter, Histogram, Meter, MeterProvider } from "@opentelemetry/api";
import { setupOptions } from "../config.js";
import { activeSetup, currentMeterProvider, currentTracerProvider } from "../internal/active-providers.js";
import { reportInternalError } from "../internal/report.js";
import { Redactor } from "../redaction/pipeline.js";
import { guard } from "../recorder/guard.js";
import { ContextValueCap } from "../recorder/metric-points.js";
import * as names from "../semconv.js";
import { VERSION } from "../version.js";
import { factsOf, feedbackSecret, recentCalls } from "./call-info.js";
import type { CallFacts } from "./call-info.js";
import type { EvaluationSink } from "./evaluators.js";
import { MAX_LABEL_LENGTH, definitionOf, isPrintableLabel, isValidName } from "./definitions.js";
import { parseRef } from "./ref.js";

export type FeedbackSource = "human" | "llm" | "code";

/** What `recordFeedback()` rates: a ref, an observed client's result, or the app's message id. */
export type FeedbackTarget = string | { ref: string } | { messageId: string } | object;

/** One piece of feedback or one evaluation's result. */
export interface Feedback {
  /** `gen_ai.evaluation.name`: what is rated (`thumbs`, `rating`, `json_valid`). */
  name: string;
  /** `gen_ai.evaluation.score.value`: a finite number (`true` / `false` count as 1 / 0). */
  value?: number | boolean;
  /** `gen_ai.evaluation.score.label`: a low-cardinality label (`up`, `correct`, `refused`), at most 64 characters. */
  label?: string;
  /**
   * `gen_ai.evaluation.explanation`: a user's comment or an evaluator's reasoning. Content: recorded only with
   * content capture on, through the redaction pipeline, cut to the content limit.
   */
  comment?: string;
  /** Who rated: a person (default), an LLM judge, or code (the built-in evaluators). */
  source?: FeedbackSource;
  /** The evaluator's name, at most 128 characters (`tokentrace.evaluation.evaluator`). */
  evaluator?: string;
  /** The app's id of this feedback, at most 128 characters, for de-duplicating a resubmission downstream. */
  id?: string;
}

/** Why `recordFeedback()` refused a result; counted by `tokentrace.feedback.rejections`. */
export type FeedbackRejection =
  | "bad_ref"
  | "bad_signature"
  | "unknown_ref"
  | "bad_feedback"
  | "bad_name"
  | "unknown_name"
  | "value_not_finite"
  | "missing_value"
  | "out_of_range"
  | "label_too_long"
  | "unknown_label"
  | "internal_error";

export type FeedbackResult =
  | { readonly ok: true; readonly traceId: string; readonly spanId: string }
  | { readonly ok: false; readonly reason: FeedbackRejection };

const SOURCES: readonly FeedbackSource[] = ["human", "llm", "code"];
const MAX_ID_LENGTH = 128;
/** Distinct values kept per metric label (names, labels, agents): past it, `_other`. */
const MAX_LABEL_VALUES = 64;

/**
 * Record feedback on a call or stage. `target` is a ref (from `callInfo(result).ref` or `currentRef()`, sent to a
 * browser and back), `{ ref }`, the result an observed client returned, or `{ messageId }` (from
 * `withContext({ messageId })`, in this process, within an hour). Never throws.
 *
 * @example recordFeedback(request.body.ref, { name: "thumbs", value: request.body.up, source: "human" });
 */
export function recordFeedback(target: FeedbackTarget, feedback: Feedback): FeedbackResult {
  let result: FeedbackResult;
  try {
    result = record(target, feedback);
  } catch (error) {
    reportInternalError("feedback", error);
    result = { ok: false, reason: "internal_error" };
  }
  if (!result.ok) countRejection(result.reason);
  return result;
}

interface Rated {
  readonly traceId: string;
  readonly spanId: string;
  /** What this process knows of the rated call, when it is one of its recent calls. */
  readonly facts: CallFacts | undefined;
}

function record(target: FeedbackTarget, feedback: Feedback): FeedbackResult {
  const rated = resolveTarget(target);
  if ("reason" in rated) return rated;
  const checked = checkFeedback(feedback);
  if ("reason" in checked) return checked;
  emit(rated, checked);
  return { ok: true, traceId: rated.traceId, spanId: rated.spanId };
}

function resolveTarget(target: unknown): Rated | { ok: false; reason: FeedbackRejection } {
  const fromRef = (ref: unknown): Rated | { ok: false; reason: FeedbackRejection } => {
    const parsed = parseRef(ref, feedbackSecret());
    if (!parsed.ok) return parsed;
    return { traceId: parsed.traceId, spanId: parsed.spanId, facts: recentCalls.bySpanId(parsed.spanId) };
  };
  if (typeof target === "string") return fromRef(target);
  if (target === null || typeof target !== "object") return { ok: false, reason: "bad_ref" };
  const facts = factsOf(target);
  if (facts !== undefined) return { traceId: facts.traceId, spanId: facts.spanId, facts };
  const own = (key: string): unknown =>
    Object.hasOwn(target, key) ? (target as Record<string, unknown>)[key] : undefined;
  const messageId = own("messageId");
  if (messageId !== undefined) {
    if (typeof messageId !== "string") return { ok: false, reason: "bad_ref" };
    const found = recentCalls.byMessageId(messageId);
    if (found === undefined) return { ok: false, reason: "unknown_ref" };
    return { traceId: found.traceId, spanId: found.spanId, facts: found };
  }
  const ref = own("ref");
  if (ref !== undefined) return fromRef(ref);
  // An object no observed client returned, and neither a ref nor a message id.
  return { ok: false, reason: "unknown_ref" };
}

interface Checked {
  readonly name: string;
  readonly value: number | undefined;
  readonly label: string | undefined;
  readonly comment: string | undefined;
  readonly source: FeedbackSource;
  readonly evaluator: string | undefined;
  readonly id: string | undefined;
}

function checkFeedback(given: unknown): Checked | { ok: false; reason: FeedbackRejection } {
  const reject = (reason: FeedbackRejection) => ({ ok: false as const, reason });
  if (given === null || typeof given !== "object" || Array.isArray(given)) return reject("bad_feedback");
  // Read once: a getter answers once.
  const fields: Record<string, unknown> = { ...(given as Record<string, unknown>) };
  const { name, value: rawValue, comment, evaluator, id } = fields;
  let label = fields["label"];
  const source = fields["source"] ?? "human";
  if (!isValidName(name)) return reject("bad_name");
  const definition = definitionOf(name);
  if (definition === null) return reject("unknown_name");
  let value: number | undefined;
  if (typeof rawValue === "boolean") value = rawValue ? 1 : 0;
  else if (typeof rawValue === "number") {
    if (!Number.isFinite(rawValue)) return reject("value_not_finite");
    value = rawValue;
  } else if (rawValue !== undefined) return reject("bad_feedback");
  if (label !== undefined) {
    if (typeof label !== "string" || !isPrintableLabel(label)) return reject("bad_feedback");
    if (label.length > MAX_LABEL_LENGTH) return reject("label_too_long");
  }
  if (comment !== undefined && typeof comment !== "string") return reject("bad_feedback");
  if (!(SOURCES as readonly unknown[]).includes(source)) return reject("bad_feedback");
  for (const text of [evaluator, id]) {
    if (text !== undefined && (typeof text !== "string" || text === "" || text.length > MAX_ID_LENGTH))
      return reject("bad_feedback");
  }
  if (definition !== undefined) {
    const labels = definition.labels;
    if (label !== undefined && labels !== undefined && !labels.includes(label)) return reject("unknown_label");
    switch (definition.type) {
      case "boolean":
        // A label alone stands for its value: the first label is true (1), the second false (0).
        if (value === undefined && label !== undefined && labels !== undefined)
          value = labels.indexOf(label) === 0 ? 1 : 0;
        if (value === undefined) return reject("missing_value");
        if (value !== 0 && value !== 1) return reject("out_of_range");
        // A value alone gets its label, so the results counter tells the two apart.
        if (label === undefined && labels !== undefined) label = labels[value === 1 ? 0 : 1];
        break;
      case "numeric": {
        if (value === undefined) return reject("missing_value");
        const range = definition.range;
        if (range !== undefined && (value < range[0] || value > range[1])) return reject("out_of_range");
        break;
      }
      case "categorical":
        if (label === undefined) return reject("missing_value");
        break;
    }
  } else if (value === undefined && label === undefined) return reject("missing_value");
  return {
    name,
    value,
    label: label as string | undefined,
    comment,
    source: source as FeedbackSource,
    evaluator: evaluator as string | undefined,
    id: id as string | undefined,
  };
}

/**
 * Where evaluators' results go (evaluators.ts): checked as feedback is, with the evaluator's name and source,
 * on the call's span; a result that does not fit is counted as the evaluator's `invalid_result`.
 */
export const evaluationSink: EvaluationSink = {
  record(facts, evaluator, result) {
    try {
      const checked = checkFeedback({
        name: result.name ?? evaluator.name,
        value: result.value,
        label: result.label,
        comment: result.comment,
        source: evaluator.source ?? "code",
        evaluator: evaluator.name,
      });
      if ("reason" in checked) {
        evaluationSink.fail(evaluator, "invalid_result");
        return;
      }
      emit({ traceId: facts.traceId, spanId: facts.spanId, facts }, checked);
    } catch (error) {
      reportInternalError("evaluation", error);
    }
  },
  fail(evaluator, failure) {
    safely(() => {
      const found = instruments();
      found.failures.add(1, {
        [names.ATTR_TOKENTRACE_EVALUATION_EVALUATOR]: found.evaluators.of(evaluator.name),
        [names.ATTR_ERROR_TYPE]: failure,
      });
    });
  },
};

// --- emitting ----------------------------------------------------------------------------------------------

function emit(rated: Rated, feedback: Checked): void {
  const now = Date.now();
  const parent: Context = trace.setSpanContext(ROOT_CONTEXT, {
    traceId: rated.traceId,
    spanId: rated.spanId,
    // The rated span was recorded (it has a ref): its trace is kept, so is what is said of it.
    traceFlags: TraceFlags.SAMPLED,
    isRemote: true,
  });
  const attributes = eventAttributes(rated, feedback);
  // Each signal on its own: one that fails (a throwing exporter, a provider's bug) loses only itself.
  safely(() =>
    loggerProvider().getLogger(names.INSTRUMENTATION_SCOPE, VERSION).emit({
      eventName: names.EVENT_GEN_AI_EVALUATION_RESULT,
      timestamp: now,
      severityNumber: SeverityNumber.INFO,
      severityText: "INFO",
      context: parent,
      attributes,
    }),
  );
  if (wantSpans()) {
    safely(() => {
      const tracer = currentTracerProvider().getTracer(names.INSTRUMENTATION_SCOPE, VERSION);
      const span = tracer.startSpan(
        `evaluation ${feedback.name}`,
        { kind: SpanKind.INTERNAL, startTime: now, attributes },
        parent,
      );
      span.end(now);
    });
  }
  safely(() => recordMetrics(rated, feedback));
}

function eventAttributes(rated: Rated, feedback: Checked): Attributes {
  const attributes: Attributes = { [names.ATTR_GEN_AI_EVALUATION_NAME]: feedback.name };
  if (feedback.value !== undefined) attributes[names.ATTR_GEN_AI_EVALUATION_SCORE_VALUE] = feedback.value;
  if (feedback.label !== undefined) attributes[names.ATTR_GEN_AI_EVALUATION_SCORE_LABEL] = feedback.label;
  attributes[names.ATTR_TOKENTRACE_EVALUATION_SOURCE] = feedback.source;
  if (feedback.evaluator !== undefined) attributes[names.ATTR_TOKENTRACE_EVALUATION_EVALUATOR] = feedback.evaluator;
  if (feedback.id !== undefined) attributes[names.ATTR_TOKENTRACE_FEEDBACK_ID] = feedback.id;
  const responseId = rated.facts?.responseId;
  if (responseId !== undefined) attributes[names.ATTR_GEN_AI_RESPONSE_ID] = responseId;
  if (feedback.comment !== undefined && feedback.comment !== "") {
    const options = setupOptions();
    // A call this process knows: its client's capture switch, rules and credentials; else setup()'s.
    const facts = rated.facts;
    const rules = facts !== undefined ? facts.content : options.captureContent ? options : undefined;
    if (rules !== undefined) {
      const secrets = facts?.content !== undefined ? (guard("secrets", facts.content.secrets) ?? []) : [];
      const redactor = new Redactor(rules.redaction, secrets);
      const text = redactor.text(
        feedback.comment.slice(0, options.contentLimits.maxChars),
        names.ATTR_GEN_AI_EVALUATION_EXPLANATION,
      );
      attributes[names.ATTR_GEN_AI_EVALUATION_EXPLANATION] = text;
      // Content, marked as on every span that carries some: a collector routes it to short retention.
      attributes[names.ATTR_TOKENTRACE_CONTENT_PRESENT] = true;
      const kinds = redactor.kinds();
      if (kinds.length > 0) attributes[names.ATTR_TOKENTRACE_REDACTION_KINDS] = kinds;
      redactor.report(undefined, meterOf(currentMeterProvider()));
    }
  }
  return attributes;
}

/** setup()'s logger provider (when a sink takes log records), else the global one. */
function loggerProvider(): LoggerProvider {
  return activeSetup()?.loggerProvider ?? logs.getLoggerProvider();
}

/**
 * Whether results are also recorded as spans: `feedback.spans`, or, by default, when their log records go
 * nowhere (no sink of setup()'s takes them, and no logger provider is registered globally).
 */
function wantSpans(): boolean {
  const active = activeSetup();
  const spans = active?.feedback?.spans ?? "auto";
  if (spans !== "auto") return spans;
  return active?.loggerProvider === undefined && !loggerProviderRegistered();
}

/** The key `@opentelemetry/api-logs` registers a global logger provider under (its `setGlobalLoggerProvider`). */
const LOGS_API_KEY = Symbol.for("io.opentelemetry.js.api.logs");

function loggerProviderRegistered(): boolean {
  return (globalThis as Record<symbol, unknown>)[LOGS_API_KEY] !== undefined;
}

// --- metrics -------------------------------------------------------------------------------------------------

interface Instruments {
  readonly score: Histogram;
  readonly results: Counter;
  readonly rejections: Counter;
  readonly failures: Counter;
  readonly names: ContextValueCap;
  readonly labels: ContextValueCap;
  readonly agents: ContextValueCap;
  readonly evaluators: ContextValueCap;
}

const instrumentsByProvider = new WeakMap<MeterProvider, Instruments>();

function meterOf(provider: MeterProvider): Meter {
  return provider.getMeter(names.INSTRUMENTATION_SCOPE, VERSION);
}

function instruments(): Instruments {
  const provider = currentMeterProvider();
  let found = instrumentsByProvider.get(provider);
  if (found === undefined) {
    const meter = meterOf(provider);
    found = {
      score: meter.createHistogram(names.METRIC_TOKENTRACE_EVALUATION_SCORE, {
        description: "Scores of feedback and evaluations, by name, label, source, model and agent.",
        unit: names.UNIT_SCORE,
        // Scores are usually 0 to 1, or 1 to 5 (or 10).
        advice: { explicitBucketBoundaries: [0, 0.1, 0.25, 0.5, 0.75, 0.9, 1, 2, 3, 4, 5, 10] },
      }),
      results: meter.createCounter(names.METRIC_TOKENTRACE_EVALUATION_RESULTS, {
        description: "Feedback and evaluation results recorded, by name, label, source, model and agent.",
        unit: names.UNIT_RESULT,
      }),
      rejections: meter.createCounter(names.METRIC_TOKENTRACE_FEEDBACK_REJECTIONS, {
        description: "Feedback recordFeedback() refused, by reason.",
        unit: names.UNIT_FEEDBACK,
      }),
      failures: meter.createCounter(names.METRIC_TOKENTRACE_EVALUATION_FAILURES, {
        description: "Evaluations that failed (threw, timed out, or returned what is not a result), by evaluator.",
        unit: names.UNIT_EVALUATION,
      }),
      names: new ContextValueCap(MAX_LABEL_VALUES),
      labels: new ContextValueCap(MAX_LABEL_VALUES),
      agents: new ContextValueCap(MAX_LABEL_VALUES),
      evaluators: new ContextValueCap(MAX_LABEL_VALUES),
    };
    instrumentsByProvider.set(provider, found);
  }
  return found;
}

function recordMetrics(rated: Rated, feedback: Checked): void {
  const found = instruments();
  const attributes: Attributes = {
    [names.ATTR_GEN_AI_EVALUATION_NAME]: found.names.of(feedback.name),
    [names.ATTR_TOKENTRACE_EVALUATION_SOURCE]: feedback.source,
  };
  const label = found.labels.of(feedback.label);
  if (label !== undefined) attributes[names.ATTR_GEN_AI_EVALUATION_SCORE_LABEL] = label;
  const facts = rated.facts;
  if (facts !== undefined) {
    attributes[names.ATTR_GEN_AI_PROVIDER_NAME] = facts.provider;
    if (facts.requestModel !== undefined) attributes[names.ATTR_GEN_AI_REQUEST_MODEL] = facts.requestModel;
    const agent = found.agents.of(facts.agentName);
    if (agent !== undefined) attributes[names.ATTR_GEN_AI_AGENT_NAME] = agent;
  }
  found.results.add(1, attributes);
  // A histogram takes no negative value (the SDK drops it with a warning): such scores are counted, and on the event.
  if (feedback.value !== undefined && feedback.value >= 0) found.score.record(feedback.value, attributes);
}

function countRejection(reason: FeedbackRejection): void {
  safely(() => instruments().rejections.add(1, { [names.ATTR_TOKENTRACE_FEEDBACK_REJECTION_REASON]: reason }));
}

/** A step of its own: one that fails is reported and loses only itself. */
const safely = (step: () => void): void => {
  guard("feedback", step);
};
