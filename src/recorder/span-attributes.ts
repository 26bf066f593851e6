import { SpanStatusCode } from "@opentelemetry/api";
import type { Attributes, AttributeValue, Exception, HrTime, Span } from "@opentelemetry/api";
import type { CallRecord, RequestFacts } from "../call-record.js";
import type { ResolvedOptions } from "../config.js";
import { capMessages, serializeWithin } from "../content.js";
import type { ContentLimits } from "../content.js";
import { ProviderFailure, errorText } from "../error-facts.js";
import type { CostBreakdown } from "../metrics/cost.js";
import type { Redactor } from "../redaction/pipeline.js";
import type { StreamTiming } from "../metrics/timing.js";
import * as names from "../semconv.js";
import { measured } from "../usage.js";
import type { Usage } from "../usage.js";
import type { CallOutcome } from "./error-class.js";
import { guard } from "./guard.js";

/** Span attributes and content: what a call's record says, written onto its span. */

/** The options that shape a span's attributes. */
export type SpanOptions = Pick<
  ResolvedOptions,
  "captureContent" | "contentLimits" | "legacyCacheCreationAttribute" | "redaction"
>;

/** The span's name and the attributes it starts with (samplers see these). */
export function startAttributes(request: RequestFacts): { name: string; attributes: Attributes } {
  const attributes: Attributes = {
    [names.ATTR_GEN_AI_OPERATION_NAME]: request.operationName,
    [names.ATTR_GEN_AI_PROVIDER_NAME]: request.providerName,
    ...request.requestAttributes,
  };
  if (request.requestModel !== undefined) attributes[names.ATTR_GEN_AI_REQUEST_MODEL] = request.requestModel;
  if (request.serverAddress !== undefined) attributes[names.ATTR_SERVER_ADDRESS] = request.serverAddress;
  if (request.serverPort !== undefined) attributes[names.ATTR_SERVER_PORT] = request.serverPort;
  const name = request.requestModel ? `${request.operationName} ${request.requestModel}` : request.operationName;
  return { name, attributes };
}

/** Status ERROR, `error.type`, the HTTP status and the exception: written before anything that may fail. */
export function writeError(
  span: Span,
  error: unknown,
  type: string,
  endTime: HrTime | undefined,
  captureContent: boolean,
  redactor: Redactor,
): void {
  span.setAttribute(names.ATTR_ERROR_TYPE, type);
  const status = (error as { status?: unknown } | null)?.status;
  if (typeof status === "number") span.setAttribute(names.ATTR_HTTP_RESPONSE_STATUS_CODE, status);
  // The status first, with the type alone: building the text reads the error and may fail on odd values.
  span.setStatus({ code: SpanStatusCode.ERROR, message: type });
  const clean = (text: string, attribute: string): string => redactor.text(text, attribute);
  const text = guard("error-text", () => errorText(error, type, captureContent, clean)) ?? {
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
  if (captureContent) span.setAttribute(names.ATTR_TOKENTRACE_CONTENT_PRESENT, true);
}

/** What the end of a call wrote beside the record: its outcome, validated usage and cost, and stream timing. */
export interface CallSummary {
  readonly outcome: CallOutcome;
  readonly usage: Usage;
  readonly cost: CostBreakdown | undefined;
  /** The price gave an impossible amount: the call is priced, but carries no cost. */
  readonly costRejected: boolean;
  /** How the stream itself ended, which a failure reported as data does not change. */
  readonly streamEnd: CallOutcome["kind"];
  readonly timing: StreamTiming | undefined;
  readonly startMs: number;
}

/** Every attribute of a finished call after its error: each group on its own guard. */
export function writeSpan(
  span: Span,
  record: CallRecord,
  summary: CallSummary,
  options: SpanOptions,
  redactor: Redactor | undefined,
): void {
  const { request, response } = record;
  const { outcome, usage, cost } = summary;
  // Straight onto the span: an attributes object for setAttributes() would be built only to be walked.
  const set = (name: string, value: AttributeValue | undefined): void => {
    if (value !== undefined) span.setAttribute(name, value);
  };
  guard("span-attributes", () => {
    set(names.ATTR_GEN_AI_RESPONSE_ID, response.responseId);
    set(names.ATTR_GEN_AI_RESPONSE_MODEL, response.responseModel);
    const finishReasons = finishReasonsFor(response.finishReasons, outcome);
    if (finishReasons.length > 0) set(names.ATTR_GEN_AI_RESPONSE_FINISH_REASONS, finishReasons);
  });

  guard("span-usage", () => {
    set(names.ATTR_GEN_AI_USAGE_INPUT_TOKENS, usage.inputTokens);
    set(names.ATTR_GEN_AI_USAGE_OUTPUT_TOKENS, usage.outputTokens);
    set(names.ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, usage.cacheReadInputTokens);
    set(names.ATTR_GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS, usage.cacheWriteInputTokens);
    set(names.ATTR_TOKENTRACE_USAGE_CACHE_WRITE_5M_INPUT_TOKENS, usage.cacheWrite5mInputTokens);
    set(names.ATTR_TOKENTRACE_USAGE_CACHE_WRITE_1H_INPUT_TOKENS, usage.cacheWrite1hInputTokens);
    if (options.legacyCacheCreationAttribute) {
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
    } else if (!summary.costRejected && (usage.inputTokens !== undefined || usage.outputTokens !== undefined)) {
      // Unknown price: say so, and never report 0.
      set(names.ATTR_TOKENTRACE_COST_UNPRICED_MODEL, response.responseModel ?? request.requestModel ?? "");
    }
  });

  guard("span-response", () => {
    set(names.ATTR_TOKENTRACE_REQUEST_ID, record.requestId);
    // The error's own status (written first) wins over the response's.
    const errorStatus = outcome.kind === "error" ? (outcome.error as { status?: unknown } | null)?.status : undefined;
    if (typeof errorStatus !== "number") set(names.ATTR_HTTP_RESPONSE_STATUS_CODE, record.httpStatusCode);
    span.setAttributes(response.responseAttributes);
    set(names.ATTR_TOKENTRACE_PAYLOAD_IGNORED_ENTRIES, response.ignoredEntries);
  });

  guard("span-timing", () => writeTiming(span, record, summary));

  if (options.captureContent && redactor !== undefined) {
    guard("span-content", () => writeContent(span, record, options.contentLimits, redactor));
  }
}

function writeTiming(span: Span, record: CallRecord, summary: CallSummary): void {
  const { timing, usage } = summary;
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
  const firstContentAtMs = record.response.firstContentAtMs;
  if (firstContentAtMs !== undefined) {
    const firstContentMs = measured(firstContentAtMs - summary.startMs);
    if (firstContentMs !== undefined) set(names.ATTR_TOKENTRACE_RESPONSE_TIME_TO_FIRST_CONTENT, firstContentMs / 1000);
  }
  set(names.ATTR_TOKENTRACE_STREAM_END, summary.streamEnd);
}

function writeContent(span: Span, record: CallRecord, limits: ContentLimits, redactor: Redactor): void {
  const { request, response } = record;
  const truncated: string[] = [];
  let spanBytesLeft = limits.maxSpanBytes;
  const put = (name: string, value: () => unknown): boolean =>
    // Each content attribute on its own: one that cannot be built loses only itself.
    guard("span-content", () => {
      const given = value();
      if (given === undefined) return false;
      const maxBytes = Math.min(limits.maxBytes, spanBytesLeft);
      if (maxBytes < MIN_ATTRIBUTE_BYTES) {
        // The span's content budget is spent: left out, and said so.
        truncated.push(name);
        return false;
      }
      // Messages past the count first (nothing is redacted that is not kept), then redacted, then cut to the
      // limits: redacted before the final cut, so a cut never leaves half of a secret the detectors would find
      // whole.
      const capped = Array.isArray(given) ? capMessages(given, limits.maxMessages) : { items: given, dropped: 0 };
      // A text longer than the limit is cut before it is redacted (with a margin dropped after): bounded work.
      const redacted = redactor.valueWithin(capped.items, name, limits.maxChars);
      const { json, truncated: cut } = serializeWithin(redacted.value, limits.maxChars, maxBytes, capped.dropped);
      span.setAttribute(name, json);
      spanBytesLeft -= Buffer.byteLength(json, "utf8");
      if (cut || redacted.cut) truncated.push(name);
      return true;
    }) ?? false;
  // The answer first, then what was asked, then what framed it: what is cut when the span's budget runs out.
  const written = [
    put(names.ATTR_GEN_AI_OUTPUT_MESSAGES, () => response.outputMessages),
    put(names.ATTR_GEN_AI_INPUT_MESSAGES, () => request.inputMessages?.()),
    put(names.ATTR_GEN_AI_SYSTEM_INSTRUCTIONS, () => request.systemInstructions?.()),
    put(names.ATTR_GEN_AI_TOOL_DEFINITIONS, () => request.toolDefinitions?.()),
  ];
  if (truncated.length > 0) span.setAttribute(names.ATTR_TOKENTRACE_CONTENT_TRUNCATED, truncated);
  if (written.includes(true)) span.setAttribute(names.ATTR_TOKENTRACE_CONTENT_PRESENT, true);
}

/** Below this, an attribute could hold no more than a truncation marker: left out instead. */
const MIN_ATTRIBUTE_BYTES = 64;

/**
 * Finish reasons as the provider gave them; where a stream stopped before the provider gave one, the
 * outcome stands in (`error`, `cancelled`) so dashboards can tell an unfinished answer from a finished one.
 */
function finishReasonsFor(given: readonly (string | undefined)[] = [], outcome: CallOutcome): string[] {
  if (outcome.kind === "completed") return given.filter((reason): reason is string => typeof reason === "string");
  const fallback = outcome.kind === "error" ? names.FINISH_REASON_ERROR : names.FINISH_REASON_CANCELLED;
  if (given.length === 0) return [fallback];
  return given.map((reason) => (typeof reason === "string" ? reason : fallback));
}
