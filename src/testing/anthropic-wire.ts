/*
 * The Anthropic Messages wire format for the mock LLM server: `POST /v1/messages`, answered with a Message
 * JSON body or, when the request has `stream: true`, with the Messages API's server-sent events
 * (`message_start`, `content_block_start` / `_delta` / `_stop`, `ping`, `message_delta`, `message_stop`, and
 * `error`). The real `@anthropic-ai/sdk` client drives it end to end.
 *
 * Self-contained on purpose (only `node:http` types): `mock-server.ts` routes to it, and it must not import
 * from there.
 */
import type { ServerResponse } from "node:http";
import {
  DEFAULT_TEXT,
  isRecord,
  namedEvent,
  requireInteger,
  sendEvents,
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
export const ANTHROPIC_MESSAGES_PATH = "/v1/messages";

/** A text block. Streamed as `text_delta` events (see {@link MockAnthropicReply.chunks}). */
export interface MockAnthropicTextBlock {
  type: "text";
  text: string;
}

/** A thinking block. Streamed as `thinking_delta` events, then one `signature_delta`. */
export interface MockAnthropicThinkingBlock {
  type: "thinking";
  thinking: string;
  /** Default `"sig_mock"`. */
  signature?: string;
}

/** A redacted thinking block: its opaque `data` comes whole in `content_block_start`. */
export interface MockAnthropicRedactedThinkingBlock {
  type: "redacted_thinking";
  data: string;
}

/**
 * A tool call. Streamed as `content_block_start` with `input: {}`, then the JSON of `input` in three
 * `input_json_delta` pieces (possibly empty for very short input).
 */
export interface MockAnthropicToolUseBlock {
  type: "tool_use";
  id: string;
  name: string;
  input: Record<string, unknown>;
}

/**
 * Any other block, sent verbatim: whole in `content_block_start` (no deltas) and in the JSON body. Use it
 * for server tool blocks or for block types of API versions newer than your client.
 */
export interface MockAnthropicRawBlock {
  type: "raw";
  block: { type: string; [field: string]: unknown };
}

export type MockAnthropicBlock =
  | MockAnthropicTextBlock
  | MockAnthropicThinkingBlock
  | MockAnthropicRedactedThinkingBlock
  | MockAnthropicToolUseBlock
  | MockAnthropicRawBlock;

/** Token counts to report instead of the deterministic defaults; each field is optional. */
export interface MockAnthropicUsage {
  /** Uncached input tokens, as the API reports them (cache tokens are counted apart). */
  input_tokens?: number;
  output_tokens?: number;
  /** Default 0. */
  cache_read_input_tokens?: number;
  /** Default: `ephemeral_5m_input_tokens + ephemeral_1h_input_tokens`, else 0. */
  cache_creation_input_tokens?: number;
  /** Default: `cache_creation_input_tokens - ephemeral_1h_input_tokens` (all of it, when no 1-hour part is given). */
  ephemeral_5m_input_tokens?: number;
  /** Default 0. */
  ephemeral_1h_input_tokens?: number;
  /**
   * Reported as `output_tokens_details.thinking_tokens`. Default: the number of thinking deltas when the reply
   * has thinking blocks; otherwise `output_tokens_details` is `null`.
   */
  thinking_tokens?: number;
  /** The usage's `service_tier`. Default `"standard"`. */
  service_tier?: string;
}

/**
 * How the mock answers one `POST /v1/messages` request (queue it with `server.enqueueAnthropic()`). Every
 * field is optional; an empty object gives a normal successful reply.
 *
 * Default usage is deterministic, so tests can assert exact numbers, and the same for a streamed and a
 * non-streamed request:
 * - `input_tokens` = for each request message `ceil(text length / 4) + 4`, plus `ceil(system text length / 4)`
 *   when the request has a `system`. The text is the string content, or the concatenated `text` of the
 *   content blocks; anything else counts as empty.
 * - `output_tokens` = the number of deltas the text and thinking blocks stream in (see `chunks`), plus
 *   `ceil(input JSON length / 4)` for each tool_use block. Redacted thinking and raw blocks count 0.
 * - No cache tokens; `service_tier` `"standard"`.
 *
 * Streams mirror the API: `message_start` carries the input and cache counts with `output_tokens: 1` (a
 * placeholder); each `message_delta` carries cumulative totals (`output_tokens` and, as the API does now, the
 * input and cache counts again). A `ping` follows the first `content_block_start`.
 */
export interface MockAnthropicReply {
  /**
   * Extra response headers, sent with the reply (an error's too): the providers' rate-limit headers, for
   * example. Names are HTTP header names; values strings on one line.
   */
  headers?: Record<string, string>;
  /** The assistant's content blocks. Default: one text block, `"Hello from the tokentrace mock server."`. */
  content?: MockAnthropicBlock[];
  /**
   * How many deltas each text and thinking block streams in: by default one per whitespace-separated word
   * (with its following whitespace); otherwise split as `MockReply.chunks` documents. A positive integer.
   */
  chunks?: number;
  /** Default `"tool_use"` when the content has a tool_use block, else `"end_turn"`. */
  stopReason?: string;
  /** Default `null`. */
  stopSequence?: string | null;
  usage?: MockAnthropicUsage;
  /**
   * An HTTP status of 400 or more answers with an Anthropic error body
   * `{ type: "error", error: { type, message }, request_id }` (streaming requests too). The error type follows
   * the status (429 `rate_limit_error`, 529 `overloaded_error`, 500 `api_error`, ...) unless `errorType` says
   * otherwise. A status below 400 is used as the status of a normal reply.
   */
  status?: number;
  /** The error type of an error status, or of the `error` event (default `"overloaded_error"`). */
  errorType?: string;
  /**
   * Streaming only: after this many content deltas (text, thinking and tool input, counted across blocks), an
   * `error` event is sent and the response ends, as the API does when it fails mid-stream. 0 sends it right
   * after `message_start`.
   */
  errorEventAfterDeltas?: number;
  /**
   * Streaming only: after this many content deltas the socket is destroyed without finishing the response,
   * like a network failure. 0 fails right after `message_start`.
   */
  disconnectAfterDeltas?: number;
  /**
   * Streaming only: also send what no API version defines yet, as a newer API might: an event
   * `tokentrace_mock_future_event` right after `message_start`, and after the last block a content block of
   * type `tokentrace_mock_future_block` with one delta of type `tokentrace_mock_future_delta`. Neither counts
   * as content or usage.
   */
  unknownEvents?: boolean;
  /**
   * How many `message_delta` events end the stream. Default 1. With more, each carries the cumulative output
   * count so far (the last one the total) and only the last one carries the stop reason.
   */
  messageDeltas?: number;
  /** Delay before every SSE event after the first one. Default 0; with both delays 0 the stream is sent in one write. */
  chunkDelayMs?: number;
  /** Delay before the first SSE event, or before a non-streaming (or error) body. Default 0. */
  firstChunkDelayMs?: number;
  /** The response's `model`. Default: the requested model, or `"mock-model"` without one. */
  model?: string;
  /** The Message `id`. Default `"msg_mock_<n>"`, where n counts requests to this server from 1. */
  id?: string;
  /** The `request-id` header. Default `"req_mock_<n>"`, with the same n as the default `id`. */
  requestId?: string;
}

const futureEvent = "tokentrace_mock_future_event";
const futureBlock = "tokentrace_mock_future_block";
const futureDelta = "tokentrace_mock_future_delta";

/**
 * Answers one `POST /v1/messages` request whose raw body parsed to `body`. `takeReply` is called only once
 * the request is known to be valid, so a rejected request consumes no queued reply.
 */
export async function answerAnthropicMessages(
  response: ServerResponse,
  body: unknown,
  sequence: number,
  takeReply: () => MockAnthropicReply,
  signal: AbortSignal,
): Promise<void> {
  if (!isRecord(body)) {
    sendAnthropicError(
      response,
      400,
      `req_mock_${sequence}`,
      "invalid_request_error",
      "There was an issue with the format or content of your request: the body is not a JSON object. (tokentrace mock server)",
    );
    return;
  }
  const given = takeReply();
  setReplyHeaders(response, given.headers);
  const reply = resolveReply(given, body, sequence);
  if (reply.errorStatus !== undefined) {
    await sleep(reply.firstChunkDelayMs, signal);
    if (signal.aborted) return;
    const type = reply.errorType ?? errorTypeFor(reply.errorStatus);
    sendAnthropicError(response, reply.errorStatus, reply.requestId, type, errorMessageFor(type));
    return;
  }
  if (body["stream"] === true) {
    await sendStream(response, reply, signal);
  } else {
    await sleep(reply.firstChunkDelayMs, signal);
    if (signal.aborted) return;
    writeJson(response, reply.status, reply.requestId, JSON.stringify(messageBody(reply)), "request-id");
  }
}

/** Throws a `RangeError` naming the field when `reply` cannot be answered. */
export function validateAnthropicReply(reply: MockAnthropicReply, label: string): void {
  validateCommon(reply, label);
  requireInteger(reply.messageDeltas, `${label}.messageDeltas`, 1);
  requireInteger(reply.errorEventAfterDeltas, `${label}.errorEventAfterDeltas`, 0);
  requireInteger(reply.disconnectAfterDeltas, `${label}.disconnectAfterDeltas`, 0);
  // Replies come from JavaScript callers too: check what is there, not what the type promises.
  for (const [index, block] of ((reply.content ?? []) as readonly unknown[]).entries()) {
    const known = ["text", "thinking", "redacted_thinking", "tool_use", "raw"];
    if (!isRecord(block) || !known.includes(String(block.type))) {
      throw new RangeError(`${label}.content[${index}].type must be one of ${known.join(", ")}.`);
    }
  }
  for (const [name, value] of Object.entries(reply.usage ?? {})) {
    if (name === "service_tier") continue;
    requireInteger(value as number | undefined, `${label}.usage.${name}`, 0);
  }
}

/** One block with its stream deltas worked out. */
interface ResolvedBlock {
  /** The block as the JSON body has it. */
  final: Record<string, unknown>;
  /** The block as `content_block_start` has it. */
  start: Record<string, unknown>;
  deltas: Record<string, unknown>[];
  /** How many of `deltas` are content (text, thinking, tool input), for failure injection. */
  contentDeltas: number;
}

interface ResolvedReply {
  id: string;
  requestId: string;
  model: string;
  blocks: ResolvedBlock[];
  stopReason: string;
  stopSequence: string | null;
  usage: {
    input_tokens: number;
    output_tokens: number;
    cache_read_input_tokens: number;
    cache_creation_input_tokens: number;
    cache_creation: { ephemeral_5m_input_tokens: number; ephemeral_1h_input_tokens: number };
    output_tokens_details: { thinking_tokens: number } | null;
    service_tier: string;
  };
  status: number;
  errorStatus: number | undefined;
  errorType: string | undefined;
  errorEventAfterDeltas: number | undefined;
  disconnectAfterDeltas: number | undefined;
  unknownEvents: boolean;
  messageDeltas: number;
  firstChunkDelayMs: number;
  chunkDelayMs: number;
}

function resolveReply(reply: MockAnthropicReply, body: Record<string, unknown>, sequence: number): ResolvedReply {
  const content = reply.content ?? [{ type: "text", text: DEFAULT_TEXT }];
  const blocks: ResolvedBlock[] = [];
  let outputTokens = 0;
  let thinkingDeltas = 0;
  for (const block of content) {
    const resolved = resolveBlock(block, reply.chunks);
    blocks.push(resolved);
    if (block.type === "text") outputTokens += resolved.contentDeltas;
    if (block.type === "thinking") {
      outputTokens += resolved.contentDeltas;
      thinkingDeltas += resolved.contentDeltas;
    }
    if (block.type === "tool_use") outputTokens += Math.ceil(JSON.stringify(block.input).length / 4);
  }
  const given = reply.usage ?? {};
  const oneHour = given.ephemeral_1h_input_tokens ?? 0;
  const cacheWrite = given.cache_creation_input_tokens ?? (given.ephemeral_5m_input_tokens ?? 0) + oneHour;
  const fiveMinutes = given.ephemeral_5m_input_tokens ?? Math.max(cacheWrite - oneHour, 0);
  const hasThinking = content.some((block) => block.type === "thinking");
  const thinkingTokens = given.thinking_tokens ?? (hasThinking ? thinkingDeltas : undefined);
  const status = reply.status ?? 200;
  return {
    id: reply.id ?? `msg_mock_${sequence}`,
    requestId: reply.requestId ?? `req_mock_${sequence}`,
    model: reply.model ?? (typeof body["model"] === "string" ? body["model"] : "mock-model"),
    blocks,
    stopReason: reply.stopReason ?? (content.some((block) => block.type === "tool_use") ? "tool_use" : "end_turn"),
    stopSequence: reply.stopSequence ?? null,
    usage: {
      input_tokens: given.input_tokens ?? estimateInputTokens(body),
      output_tokens: given.output_tokens ?? outputTokens,
      cache_read_input_tokens: given.cache_read_input_tokens ?? 0,
      cache_creation_input_tokens: cacheWrite,
      cache_creation: { ephemeral_5m_input_tokens: fiveMinutes, ephemeral_1h_input_tokens: oneHour },
      output_tokens_details: thinkingTokens === undefined ? null : { thinking_tokens: thinkingTokens },
      service_tier: given.service_tier ?? "standard",
    },
    status: status >= 400 ? 200 : status,
    errorStatus: status >= 400 ? status : undefined,
    errorType: reply.errorType,
    errorEventAfterDeltas: reply.errorEventAfterDeltas,
    disconnectAfterDeltas: reply.disconnectAfterDeltas,
    unknownEvents: reply.unknownEvents ?? false,
    messageDeltas: reply.messageDeltas ?? 1,
    firstChunkDelayMs: reply.firstChunkDelayMs ?? 0,
    chunkDelayMs: reply.chunkDelayMs ?? 0,
  };
}

function resolveBlock(block: MockAnthropicBlock, chunks: number | undefined): ResolvedBlock {
  switch (block.type) {
    case "text": {
      const pieces = splitContent(block.text, chunks);
      return {
        final: { type: "text", text: block.text },
        start: { type: "text", text: "" },
        deltas: pieces.map((text) => ({ type: "text_delta", text })),
        contentDeltas: pieces.length,
      };
    }
    case "thinking": {
      const signature = block.signature ?? "sig_mock";
      const pieces = splitContent(block.thinking, chunks);
      return {
        final: { type: "thinking", thinking: block.thinking, signature },
        start: { type: "thinking", thinking: "", signature: "" },
        deltas: [
          ...pieces.map((thinking) => ({ type: "thinking_delta", thinking })),
          { type: "signature_delta", signature },
        ],
        contentDeltas: pieces.length,
      };
    }
    case "redacted_thinking":
      return { final: { ...block }, start: { ...block }, deltas: [], contentDeltas: 0 };
    case "tool_use": {
      const json = JSON.stringify(block.input);
      const pieces = threePieces(json);
      return {
        final: { type: "tool_use", id: block.id, name: block.name, input: block.input },
        start: { type: "tool_use", id: block.id, name: block.name, input: {} },
        deltas: pieces.map((partial_json) => ({ type: "input_json_delta", partial_json })),
        contentDeltas: pieces.length,
      };
    }
    case "raw":
      return { final: block.block, start: block.block, deltas: [], contentDeltas: 0 };
  }
}

function estimateInputTokens(body: Record<string, unknown>): number {
  let tokens = 0;
  const messages = body["messages"];
  if (Array.isArray(messages)) {
    for (const message of messages) {
      const text = isRecord(message) ? contentText(message["content"]) : "";
      tokens += Math.ceil(text.length / 4) + 4;
    }
  }
  if (body["system"] !== undefined) tokens += Math.ceil(contentText(body["system"]).length / 4);
  return tokens;
}

function messageBody(reply: ResolvedReply): Record<string, unknown> {
  return {
    id: reply.id,
    type: "message",
    role: "assistant",
    model: reply.model,
    content: reply.blocks.map((block) => block.final),
    stop_reason: reply.stopReason,
    stop_sequence: reply.stopSequence,
    usage: reply.usage,
  };
}

/** One SSE event to send; `content` marks the deltas failures are counted in. */
interface StreamEvent {
  text: string;
  content: boolean;
}

async function sendStream(response: ServerResponse, reply: ResolvedReply, signal: AbortSignal): Promise<void> {
  startEventStream(response, reply.requestId, reply.status, "request-id");

  const events = buildStreamEvents(reply);
  const errorType = reply.errorType ?? "overloaded_error";
  await sendEvents(
    response,
    events,
    {
      firstDelayMs: reply.firstChunkDelayMs,
      delayMs: reply.chunkDelayMs,
      failAt: failurePoint(events, reply.errorEventAfterDeltas ?? reply.disconnectAfterDeltas),
      // An error event ends the stream normally; without one, the connection drops.
      failWith:
        reply.errorEventAfterDeltas === undefined
          ? undefined
          : namedEvent("error", { type: "error", error: { type: errorType, message: errorMessageFor(errorType) } }),
    },
    signal,
  );
}

function buildStreamEvents(reply: ResolvedReply): StreamEvent[] {
  const events: StreamEvent[] = [];
  const push = (name: string, data: Record<string, unknown>, content = false): void => {
    events.push({ text: namedEvent(name, data), content });
  };
  const { output_tokens: outputTokens, output_tokens_details: _details, ...atStart } = reply.usage;
  push("message_start", {
    type: "message_start",
    message: {
      id: reply.id,
      type: "message",
      role: "assistant",
      model: reply.model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { ...atStart, output_tokens: Math.min(outputTokens, 1) },
    },
  });
  if (reply.unknownEvents) push(futureEvent, { type: futureEvent, note: "from a newer API version" });
  for (const [index, block] of reply.blocks.entries()) {
    push("content_block_start", { type: "content_block_start", index, content_block: block.start });
    if (index === 0) push("ping", { type: "ping" });
    for (const delta of block.deltas) {
      const content = delta["type"] !== "signature_delta";
      push("content_block_delta", { type: "content_block_delta", index, delta }, content);
    }
    push("content_block_stop", { type: "content_block_stop", index });
  }
  if (reply.unknownEvents) {
    const index = reply.blocks.length;
    push("content_block_start", {
      type: "content_block_start",
      index,
      content_block: { type: futureBlock, payload: "x" },
    });
    push("content_block_delta", { type: "content_block_delta", index, delta: { type: futureDelta, payload: "y" } });
    push("content_block_stop", { type: "content_block_stop", index });
  }
  for (let step = 1; step <= reply.messageDeltas; step++) {
    const last = step === reply.messageDeltas;
    push("message_delta", {
      type: "message_delta",
      delta: { stop_reason: last ? reply.stopReason : null, stop_sequence: last ? reply.stopSequence : null },
      usage: {
        input_tokens: reply.usage.input_tokens,
        cache_creation_input_tokens: reply.usage.cache_creation_input_tokens,
        cache_read_input_tokens: reply.usage.cache_read_input_tokens,
        output_tokens: Math.round((outputTokens * step) / reply.messageDeltas),
        output_tokens_details: last ? reply.usage.output_tokens_details : null,
      },
    });
  }
  push("message_stop", { type: "message_stop" });
  return events;
}

/** The index of the event after which the stream fails, or -1 for none. */
function failurePoint(events: readonly StreamEvent[], afterDeltas: number | undefined): number {
  if (afterDeltas === undefined) return -1;
  if (afterDeltas === 0) return 0;
  let seen = 0;
  let lastContent = 0;
  for (const [index, event] of events.entries()) {
    if (!event.content) continue;
    seen++;
    lastContent = index;
    if (seen === afterDeltas) return index;
  }
  // Fewer deltas than asked for: fail after the last one.
  return lastContent;
}

function sendAnthropicError(
  response: ServerResponse,
  status: number,
  requestId: string,
  type: string,
  message: string,
): void {
  writeJson(
    response,
    status,
    requestId,
    JSON.stringify({ type: "error", error: { type, message }, request_id: requestId }),
    "request-id",
  );
}

function errorTypeFor(status: number): string {
  switch (status) {
    case 400:
      return "invalid_request_error";
    case 401:
      return "authentication_error";
    case 402:
      return "billing_error";
    case 403:
      return "permission_error";
    case 404:
      return "not_found_error";
    case 413:
      return "request_too_large";
    case 429:
      return "rate_limit_error";
    case 504:
      return "timeout_error";
    case 529:
      return "overloaded_error";
    default:
      return status >= 500 ? "api_error" : "invalid_request_error";
  }
}

function errorMessageFor(type: string): string {
  switch (type) {
    case "rate_limit_error":
      return "Number of request tokens has exceeded your per-minute rate limit. (tokentrace mock server)";
    case "overloaded_error":
      return "Overloaded (tokentrace mock server)";
    case "authentication_error":
      return "invalid x-api-key (tokentrace mock server)";
    default:
      return `The request failed with a ${type}. (tokentrace mock server)`;
  }
}
