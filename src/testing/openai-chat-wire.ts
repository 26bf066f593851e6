/*
 * OpenAI's chat completions for the mock LLM server: `POST /v1/chat/completions`, answered with a
 * `chat.completion` JSON body or, with `stream: true`, with its data-only server-sent events (and, when the
 * request asks for `stream_options.include_usage`, a last chunk with the usage and no choices). The server's
 * default route: its queue is `server.enqueue()`.
 */
import type { ServerResponse } from "node:http";
import {
  CREATED_SECONDS,
  DEFAULT_TEXT,
  UNPARSEABLE_BODY_MESSAGE,
  dataLine,
  defaultModelFor,
  isRecord,
  requireInteger,
  sendEvents,
  sendOpenAIError,
  sleep,
  splitContent,
  startEventStream,
  threePieces,
  validateCommon,
  writeJson,
  contentText,
  setReplyHeaders,
} from "./wire-common.js";

/** The route this module answers. */
export const OPENAI_CHAT_PATH = "/v1/chat/completions";

/** An assistant tool call the mock replies with. */
export interface MockToolCall {
  id: string;
  name: string;
  /** The raw JSON arguments string, sent verbatim (in three pieces when streaming). */
  arguments: string;
}

/** Token counts to report instead of the deterministic defaults. */
export interface MockUsage {
  prompt_tokens: number;
  completion_tokens: number;
  /** Reported as `prompt_tokens_details.cached_tokens`; defaults to 0. */
  cached_tokens?: number;
  /** Reported as `completion_tokens_details.reasoning_tokens`; defaults to 0. */
  reasoning_tokens?: number;
}

/**
 * Ways to break the response on purpose:
 * - `"missing-choices"`: the body (or, when streaming, every chunk except the usage chunk) has no `choices` key.
 * - `"non-json"`: a non-streaming body of `this is not json` served as `application/json`; when streaming, an
 *   SSE line `data: {not json` right after the opening role chunk(s), followed by the normal stream.
 * - `"odd-chunks"`: streaming only (ignored otherwise). Before the normal stream: an SSE comment line
 *   `: keep-alive`, a chunk with `choices: []` and no `usage`, a chunk whose `choices[0].delta` is `{}`, and a
 *   chunk whose `choices[0]` has no `delta` at all. None of these counts as a content chunk.
 */
export type MockMalformedKind = "missing-choices" | "non-json" | "odd-chunks";

/**
 * How the mock answers one chat-completions request. Every field is optional; an empty object gives a
 * normal successful reply.
 *
 * Default usage, used when `usage` is not given, is deterministic so tests can assert exact numbers:
 * - `prompt_tokens` = for each request message, `ceil(text length / 4) + 4`, summed. The text is the string
 *   `content`, or the concatenated `text` of the content parts when `content` is an array; anything else
 *   (including assistant `tool_calls` in the request) counts as empty. Lengths are UTF-16 code units.
 * - `completion_tokens` = per choice, the number of content chunks a stream of this reply has (see `chunks`)
 *   plus `ceil(arguments.length / 4)` for each tool call; multiplied by the request's `n` because, as with
 *   OpenAI, every choice is billed.
 * - `cached_tokens` and `reasoning_tokens` are 0; `total_tokens` is always prompt + completion.
 */
export interface MockReply {
  /**
   * Extra response headers, sent with the reply (an error's too): the providers' rate-limit headers, for
   * example. Names are HTTP header names; values strings on one line.
   */
  headers?: Record<string, string>;
  /**
   * The assistant's content. Defaults to `"Hello from the tokentrace mock server."`, or to no content at all
   * when `toolCalls` is given: `message.content` is then `null`, and, as with OpenAI, so is the `content` of a
   * stream's opening `{ role: "assistant" }` delta (otherwise `""`).
   */
  text?: string;
  /**
   * How many content chunks a stream splits `text` into. By default one per whitespace-separated word with
   * the following whitespace attached (leading whitespace joins the first word). When `chunks` is at most the
   * word count, whole words are grouped as evenly as possible, earlier chunks taking the extra word; when it is
   * larger, the text is split by characters (code points) as evenly as possible, capped at one character per
   * chunk. The chunks always concatenate exactly to `text`. Must be a positive integer.
   */
  chunks?: number;
  /**
   * Delay before every SSE event after the first one, including the final `[DONE]`. Default 0. With this and
   * `firstChunkDelayMs` both 0, the whole stream is sent in one write.
   */
  chunkDelayMs?: number;
  /**
   * Delay before the first SSE event, or before a non-streaming (or error) body. Streaming responses send
   * their headers at once, so the SDK call resolves and the delay shows up as time to first chunk.
   */
  firstChunkDelayMs?: number;
  /**
   * Assistant tool calls. When streaming, each call's arguments are split into three pieces (possibly empty
   * for very short arguments): the first delta carries `id`, `type`, `function.name` and the first piece; the
   * other two carry only `index` and `function.arguments`.
   */
  toolCalls?: MockToolCall[];
  /** Defaults to `"tool_calls"` when `toolCalls` is non-empty, otherwise `"stop"`. */
  finishReason?: string;
  usage?: MockUsage;
  /**
   * An HTTP status of 400 or more answers with an OpenAI-style error body
   * `{ error: { message, type, param: null, code } }` (streaming requests too, as OpenAI does). No
   * `retry-after` header is sent. A status below 400 is used as the status of a normal reply.
   */
  status?: number;
  /**
   * Streaming only: after this many content chunks (counted across all choices) the socket is destroyed
   * without finishing the response, like a mid-stream network failure. 0 fails right after the opening role
   * chunk(s); a number at least the total fails after the last content chunk, before the finish chunk.
   */
  errorAfterChunks?: number;
  malformed?: MockMalformedKind;
  /**
   * The response's `model`. Defaults to `"gpt-4o-mini-2024-07-18"` when the request asks for `"gpt-4o-mini"`
   * (mirroring OpenAI's dated snapshot names), otherwise the requested model, or `"mock-model"` without one.
   */
  model?: string;
  /** The response's `service_tier`. Default `"default"`. */
  serviceTier?: string;
  /** The response's `system_fingerprint`. Default `"fp_mock"`. */
  systemFingerprint?: string;
  /** The response's `id`. Default `"chatcmpl-mock-<n>"`, where n counts requests to this server from 1. */
  id?: string;
  /** The `x-request-id` header. Default `"req_mock_<n>"`, with the same n as the default `id`. */
  requestId?: string;
}

/** Throws a `RangeError` naming the field when `reply` cannot be answered. */
export function validateChatReply(reply: MockReply, label: string): void {
  validateCommon(reply, label);
  requireInteger(reply.errorAfterChunks, `${label}.errorAfterChunks`, 0);
}

/** Answers one `POST /v1/chat/completions` request with the next reply `takeReply` gives. */
export async function answerChat(
  response: ServerResponse,
  body: unknown,
  sequence: number,
  takeReply: () => MockReply,
  signal: AbortSignal,
): Promise<void> {
  if (!isRecord(body)) {
    sendOpenAIError(response, 400, `req_mock_${sequence}`, UNPARSEABLE_BODY_MESSAGE);
    return;
  }
  const given = takeReply();
  setReplyHeaders(response, given.headers);
  const reply = resolveReply(given, body, sequence);
  if (reply.errorStatus !== undefined) {
    await sleep(reply.firstChunkDelayMs, signal);
    if (signal.aborted) return;
    sendOpenAIError(response, reply.errorStatus, reply.requestId);
    return;
  }
  if (body["stream"] === true) {
    await sendStream(response, reply, signal);
  } else {
    await sleep(reply.firstChunkDelayMs, signal);
    if (signal.aborted) return;
    sendCompletion(response, reply);
  }
}

/** A reply with every default filled in and the request's parameters applied. */
interface ResolvedReply {
  id: string;
  requestId: string;
  model: string;
  serviceTier: string;
  systemFingerprint: string;
  /** `null` when the reply only has tool calls. */
  content: string | null;
  contentChunks: string[];
  toolCalls: MockToolCall[];
  finishReason: string;
  usage: ChatUsage;
  choiceCount: number;
  includeUsage: boolean;
  status: number;
  errorStatus: number | undefined;
  firstChunkDelayMs: number;
  chunkDelayMs: number;
  errorAfterChunks: number | undefined;
  malformed: MockMalformedKind | undefined;
}

interface ChatUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number; audio_tokens: number };
  completion_tokens_details: {
    reasoning_tokens: number;
    audio_tokens: number;
    accepted_prediction_tokens: number;
    rejected_prediction_tokens: number;
  };
}

function resolveReply(reply: MockReply, body: Record<string, unknown>, sequence: number): ResolvedReply {
  const toolCalls = reply.toolCalls ?? [];
  const hasToolCalls = toolCalls.length > 0;
  const content = reply.text ?? (hasToolCalls ? null : DEFAULT_TEXT);
  const contentChunks = content === null ? [] : splitContent(content, reply.chunks);
  const requestedChoices = body["n"];
  const choiceCount =
    typeof requestedChoices === "number" && Number.isInteger(requestedChoices) && requestedChoices > 1
      ? requestedChoices
      : 1;
  const streamOptions = body["stream_options"];
  const includeUsage = isRecord(streamOptions) && streamOptions["include_usage"] === true;

  const completionTokensPerChoice =
    contentChunks.length + toolCalls.reduce((sum, toolCall) => sum + Math.ceil(toolCall.arguments.length / 4), 0);
  const promptTokens = reply.usage?.prompt_tokens ?? estimatePromptTokens(body["messages"]);
  const completionTokens = reply.usage?.completion_tokens ?? completionTokensPerChoice * choiceCount;

  const status = reply.status ?? 200;
  return {
    id: reply.id ?? `chatcmpl-mock-${sequence}`,
    requestId: reply.requestId ?? `req_mock_${sequence}`,
    model: reply.model ?? defaultModelFor(body["model"]),
    serviceTier: reply.serviceTier ?? "default",
    systemFingerprint: reply.systemFingerprint ?? "fp_mock",
    content,
    contentChunks,
    toolCalls,
    finishReason: reply.finishReason ?? (hasToolCalls ? "tool_calls" : "stop"),
    usage: {
      prompt_tokens: promptTokens,
      completion_tokens: completionTokens,
      total_tokens: promptTokens + completionTokens,
      prompt_tokens_details: { cached_tokens: reply.usage?.cached_tokens ?? 0, audio_tokens: 0 },
      completion_tokens_details: {
        reasoning_tokens: reply.usage?.reasoning_tokens ?? 0,
        audio_tokens: 0,
        accepted_prediction_tokens: 0,
        rejected_prediction_tokens: 0,
      },
    },
    choiceCount,
    includeUsage,
    status: status >= 400 ? 200 : status,
    errorStatus: status >= 400 ? status : undefined,
    firstChunkDelayMs: reply.firstChunkDelayMs ?? 0,
    chunkDelayMs: reply.chunkDelayMs ?? 0,
    errorAfterChunks: reply.errorAfterChunks,
    malformed: reply.malformed,
  };
}

function estimatePromptTokens(messages: unknown): number {
  if (!Array.isArray(messages)) return 0;
  let tokens = 0;
  for (const message of messages) {
    const text = isRecord(message) ? contentText(message["content"]) : "";
    tokens += Math.ceil(text.length / 4) + 4;
  }
  return tokens;
}

function sendCompletion(response: ServerResponse, reply: ResolvedReply): void {
  if (reply.malformed === "non-json") {
    writeJson(response, reply.status, reply.requestId, "this is not json");
    return;
  }
  const message: Record<string, unknown> = { role: "assistant", content: reply.content, refusal: null };
  if (reply.toolCalls.length > 0) {
    message["tool_calls"] = reply.toolCalls.map((toolCall) => ({
      id: toolCall.id,
      type: "function",
      function: { name: toolCall.name, arguments: toolCall.arguments },
    }));
  }
  const completion: Record<string, unknown> = {
    id: reply.id,
    object: "chat.completion",
    created: CREATED_SECONDS,
    model: reply.model,
    system_fingerprint: reply.systemFingerprint,
    service_tier: reply.serviceTier,
  };
  if (reply.malformed !== "missing-choices") {
    completion["choices"] = choiceIndexes(reply.choiceCount).map((index) => ({
      index,
      message,
      logprobs: null,
      finish_reason: reply.finishReason,
    }));
  }
  completion["usage"] = reply.usage;
  writeJson(response, reply.status, reply.requestId, JSON.stringify(completion));
}

/** One SSE event to send, tagged so failures can be injected at the right point. */
interface StreamEvent {
  text: string;
  kind: "role" | "content" | "other";
}

async function sendStream(response: ServerResponse, reply: ResolvedReply, signal: AbortSignal): Promise<void> {
  startEventStream(response, reply.requestId, reply.status);
  const events = buildStreamEvents(reply);
  await sendEvents(
    response,
    events,
    {
      firstDelayMs: reply.firstChunkDelayMs,
      delayMs: reply.chunkDelayMs,
      failAt: failurePoint(events, reply.errorAfterChunks),
    },
    signal,
  );
}

function buildStreamEvents(reply: ResolvedReply): StreamEvent[] {
  const choices = choiceIndexes(reply.choiceCount);
  const omitChoices = reply.malformed === "missing-choices";
  const envelope = {
    id: reply.id,
    object: "chat.completion.chunk",
    created: CREATED_SECONDS,
    model: reply.model,
    system_fingerprint: reply.systemFingerprint,
    service_tier: reply.serviceTier,
  };
  // Mirrors OpenAI: with include_usage, every chunk but the last carries `usage: null`; without it, no chunk
  // has a `usage` key at all.
  const usageField = reply.includeUsage ? { usage: null } : {};
  const chunk = (index: number, delta: Record<string, unknown>, finishReason: string | null = null): string =>
    dataLine(
      omitChoices
        ? { ...envelope, ...usageField }
        : { ...envelope, choices: [{ index, delta, logprobs: null, finish_reason: finishReason }], ...usageField },
    );
  const events: StreamEvent[] = [];
  const push = (kind: StreamEvent["kind"], text: string): void => {
    events.push({ kind, text });
  };

  if (reply.malformed === "odd-chunks") {
    push("other", ": keep-alive\n\n");
    push("other", dataLine({ ...envelope, choices: [] }));
    push("other", chunk(0, {}));
    const choiceWithoutDelta = { index: 0, logprobs: null, finish_reason: null };
    push("other", dataLine({ ...envelope, choices: [choiceWithoutDelta], ...usageField }));
  }
  for (const index of choices) {
    push("role", chunk(index, { role: "assistant", content: reply.content === null ? null : "" }));
  }
  if (reply.malformed === "non-json") push("other", "data: {not json\n\n");
  for (const piece of reply.contentChunks) {
    for (const index of choices) push("content", chunk(index, { content: piece }));
  }
  for (const [toolIndex, toolCall] of reply.toolCalls.entries()) {
    const [firstPiece = "", ...laterPieces] = threePieces(toolCall.arguments);
    for (const index of choices) {
      const firstDelta = {
        index: toolIndex,
        id: toolCall.id,
        type: "function",
        function: { name: toolCall.name, arguments: firstPiece },
      };
      push("other", chunk(index, { tool_calls: [firstDelta] }));
    }
    for (const piece of laterPieces) {
      for (const index of choices) {
        push("other", chunk(index, { tool_calls: [{ index: toolIndex, function: { arguments: piece } }] }));
      }
    }
  }
  for (const index of choices) push("other", chunk(index, {}, reply.finishReason));
  if (reply.includeUsage) push("other", dataLine({ ...envelope, choices: [], usage: reply.usage }));
  push("other", "data: [DONE]\n\n");
  return events;
}

/** The index of the event after which the socket is destroyed, or -1 for none. */
// Not wire-common's eventIndexAfterDeltas: chat counts from its role chunks, which malformed lines may follow.
function failurePoint(events: readonly StreamEvent[], errorAfterChunks: number | undefined): number {
  if (errorAfterChunks === undefined) return -1;
  let lastRoleIndex = -1;
  let contentSeen = 0;
  let lastContentIndex = -1;
  for (const [index, event] of events.entries()) {
    if (event.kind === "role") lastRoleIndex = index;
    if (event.kind !== "content") continue;
    contentSeen++;
    lastContentIndex = index;
    if (contentSeen === errorAfterChunks) return index;
  }
  // Fewer content chunks than asked for (or zero asked for): fail as late, or as early, as the stream allows.
  return errorAfterChunks === 0 || lastContentIndex === -1 ? lastRoleIndex : lastContentIndex;
}

function choiceIndexes(choiceCount: number): number[] {
  return Array.from({ length: choiceCount }, (_, index) => index);
}
