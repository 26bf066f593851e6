/*
 * Content sampling (issue 13): content is recorded for a deterministic share of traces, decided from the trace
 * id so that every span of a trace (and every service that uses the same rule and rate) agrees, and always for
 * the outcomes the app lists, which are known only when a call ends. Spans, usage, cost and metrics are not
 * sampled: only the content attributes are left out.
 */

/** What `contentSampling.always` accepts: a call's or stage's outcome, or a finish reason that ends an answer early. */
export type ContentSamplingOutcome = "error" | "cancelled" | "length" | "content_filter";

export const CONTENT_SAMPLING_OUTCOMES: readonly ContentSamplingOutcome[] = Object.freeze([
  "error",
  "cancelled",
  "length",
  "content_filter",
]);

/** `contentSampling`: the share of traces whose content is recorded, and the outcomes always recorded. */
export interface ContentSampling {
  /** From 0 (none, but for `always`) to 1 (every trace). */
  rate: number;
  /** Outcomes whose content is recorded whatever the rate: `error`, `cancelled`, `length`, `content_filter`. */
  always?: readonly ContentSamplingOutcome[];
}

/** Why a span's content was or was not recorded (`tokentrace.content.sampling_reason`). */
export type SamplingReason = "rate" | ContentSamplingOutcome | "not_sampled";

const TWO_TO_THE_32 = 2 ** 32;

/**
 * Whether a trace is in the sampled share: its id's last 8 hex digits (the random part of a W3C trace id) read
 * as a number below `rate` × 2^32. An id that is not hex (never from a real SDK) is not sampled.
 */
export function inSampledShare(traceId: string, rate: number): boolean {
  if (rate >= 1) return true;
  if (rate <= 0) return false;
  const tail = Number.parseInt(traceId.slice(-8), 16);
  return Number.isFinite(tail) && tail < rate * TWO_TO_THE_32;
}

/**
 * The reason to record content of a span that ended with `outcome` (a call's `completed`, `error`, ...) and
 * these finish reasons, when the trace is not in the sampled share: the first listed outcome it matches.
 */
export function alwaysReason(
  always: readonly ContentSamplingOutcome[] | undefined,
  outcome: string,
  finishReasons: readonly (string | undefined)[] | undefined,
): ContentSamplingOutcome | undefined {
  if (always === undefined) return undefined;
  for (const listed of always) {
    if (listed === outcome || (listed === "cancelled" && CANCELLED.has(outcome))) return listed;
    const reasons = FINISH_REASONS[listed];
    if (reasons !== undefined && finishReasons?.some((reason) => reasons.includes(reason)) === true) return listed;
  }
  return undefined;
}

/** The outcomes `cancelled` stands for: a stream the app stopped reading, a request it aborted, a result it dropped. */
const CANCELLED: ReadonlySet<string> = new Set(["cancelled", "aborted", "abandoned"]);

/** The finish reasons each early-ending outcome stands for, as OpenAI and Anthropic write them. */
const FINISH_REASONS: Partial<Record<ContentSamplingOutcome, readonly (string | undefined)[]>> = {
  length: ["length", "max_tokens", "max_output_tokens"],
  content_filter: ["content_filter", "refusal"],
};
