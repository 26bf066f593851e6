/**
 * `callInfo(result)` (issue 14): what tokentrace knows of the call behind anything an observed client returned
 * (a response, a stream), for naming that call where feedback arrives. The SDK's objects are not changed: a
 * weak map keyed by the returned object holds a small record of the call (ids, model, usage, cost), filled in
 * when the call ends. It holds nothing of the call's span or content, so a result the app keeps costs a few
 * hundred bytes, and one it drops leaves nothing.
 */
import { context, createContextKey, trace } from "@opentelemetry/api";
import type { Context } from "@opentelemetry/api";
import { activeSetup } from "../internal/active-providers.js";
import { stageOf } from "../stages.js";
import type { RedactionPolicy } from "../redaction/pipeline.js";
import type { Usage } from "../usage.js";
import { RecentCalls } from "./recent.js";
import { encodeRef } from "./ref.js";

/** What `callInfo()` returns: a snapshot, taken when asked (a stream's usage and cost arrive when it ends). */
export interface CallInfo {
  /** The call's span: its trace id and span id (W3C, lower-case hex). */
  readonly traceId: string;
  readonly spanId: string;
  /** `gen_ai.provider.name`. */
  readonly provider: string;
  /** The model asked for, and the one that answered (once it has). */
  readonly requestModel: string | undefined;
  readonly model: string | undefined;
  /** The provider's id of the response (`gen_ai.response.id`), once known. */
  readonly responseId: string | undefined;
  /** Token usage as recorded on the span (validated), once the call has ended. */
  readonly usage: Readonly<Usage> | undefined;
  /** `gen_ai.usage.cost` in USD, when the call was priced. */
  readonly costUsd: number | undefined;
  /** Whether the call has ended (a stream still being read has not). */
  readonly ended: boolean;
  /**
   * A compact string naming the call's span, safe to send to a browser and back to `recordFeedback()`; signed
   * when `setup({ feedback: { secret } })` set a secret. Undefined when the span has no valid ids (no tracer).
   */
  readonly ref: string | undefined;
}

/** The record a call fills in; held by the weak map for each object the call returned. */
export class CallFacts {
  responseId: string | undefined = undefined;
  model: string | undefined = undefined;
  usage: Readonly<Usage> | undefined = undefined;
  costUsd: number | undefined = undefined;
  ended = false;
  /** A `parse()` helper made the call: at its end it is noted by response id, which the helper's result carries. */
  parsed = false;

  constructor(
    readonly traceId: string,
    readonly spanId: string,
    readonly provider: string,
    readonly requestModel: string | undefined,
    /** `withContext({ messageId })` around the call. */
    readonly messageId?: string,
    /** The agent stage the call ran in (`gen_ai.agent.name`), for the feedback metrics. */
    readonly agentName?: string,
    /**
     * How a comment on this call is recorded: the call's client's redaction rules and credentials, when that
     * client and the call's scope capture content; undefined when they do not (the comment is left out).
     */
    readonly content?: CommentRules,
  ) {}
}

/** A call's content rules, shared by every call of its client (a policy and its credentials' reader). */
export interface CommentRules {
  readonly redaction: RedactionPolicy;
  readonly secrets: () => readonly string[];
}

const byResult = new WeakMap<object, CallFacts>();
/** The process's recent calls, by span id and message id (bounded: see recent.ts). */
export const recentCalls = new RecentCalls();

/** Remember that `result` (what the SDK hands the app) came from the call `facts` describes. */
export function rememberResult(result: unknown, facts: CallFacts): void {
  if (result === null || typeof result !== "object") return;
  byResult.set(result, facts);
  recentCalls.noteMessage(facts);
}

/**
 * An SDK helper's result (`chat.completions.stream()`'s ChatCompletionStream, `messages.stream()`'s
 * MessageStream) is made before the request it runs: the link it is remembered by gets the facts of the first
 * call made under it (the helper runs in a context that carries the link). A `parse()` helper's result is made
 * after the request, by the SDK, as a copy of the response: its link notes the call by its response id
 * (`byResponseId`), which the copy carries as its `id`.
 */
export class HelperLink {
  facts: CallFacts | undefined = undefined;
  constructor(readonly byResponseId = false) {}
}

/** The context key a helper's link travels under, into the call the helper makes. */
export const HELPER_LINK_KEY = createContextKey("tokentrace.helper-link");
const byHelper = new WeakMap<object, HelperLink>();

/** Remember that `result`, a helper's, names whichever call `link` will be given. */
export function rememberHelper(result: unknown, link: HelperLink): void {
  if (result !== null && typeof result === "object" && !byResult.has(result)) byHelper.set(result, link);
}

/** A call made under a helper's link gives the link its facts (the first call only). */
export function linkCall(callContext: Context, facts: CallFacts): void {
  const link = callContext.getValue(HELPER_LINK_KEY);
  if (link instanceof HelperLink && link.facts === undefined) {
    link.facts = facts;
    if (link.byResponseId) facts.parsed = true;
  }
}

/** The call that returned `result`, if an observed client (or one of its helpers) did. */
export function factsOf(result: object): CallFacts | undefined {
  const facts = byResult.get(result) ?? byHelper.get(result)?.facts;
  if (facts !== undefined) return facts;
  // A parse() helper's result: its own `id` is the response id of the call it was parsed from.
  const id: unknown = Object.getOwnPropertyDescriptor(result, "id")?.value;
  return typeof id === "string" ? recentCalls.byResponseId(id) : undefined;
}

/**
 * What tokentrace knows of the call that returned `result`: a response, a stream or a helper's result an
 * observed client gave the app. Undefined for anything else. Never throws.
 *
 * @example const info = callInfo(completion); res.json({ answer, feedbackRef: info?.ref });
 */
export function callInfo(result: unknown): CallInfo | undefined {
  if (result === null || typeof result !== "object") return undefined;
  const facts = factsOf(result);
  if (facts === undefined) return undefined;
  // The ref handed out names this call: recordFeedback() on it finds the call's model, agent and rules.
  recentCalls.noteSpan(facts);
  return Object.freeze({
    traceId: facts.traceId,
    spanId: facts.spanId,
    provider: facts.provider,
    requestModel: facts.requestModel,
    model: facts.model,
    responseId: facts.responseId,
    usage: facts.usage,
    costUsd: facts.costUsd,
    ended: facts.ended,
    ref: encodeRef(facts.traceId, facts.spanId, feedbackSecret()),
  });
}

/**
 * The ref of the innermost tokentrace stage running now, else of the active span (the app's own, a server
 * span); undefined outside any span. Never throws.
 *
 * @example withTool("lookup", () => { pending.set(jobId, currentRef()); ... })
 */
export function currentRef(): string | undefined {
  try {
    const active = context.active();
    const span = stageOf(active)?.span ?? trace.getSpan(active);
    if (span === undefined) return undefined;
    const { traceId, spanId } = span.spanContext();
    return encodeRef(traceId, spanId, feedbackSecret());
  } catch {
    return undefined;
  }
}

/** `setup({ feedback: { secret } })`, if set. */
export function feedbackSecret(): string | undefined {
  return activeSetup()?.feedback?.secret;
}
