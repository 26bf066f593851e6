/*
 * The OpenAI Responses API for the mock LLM server: `POST /v1/responses`, answered with a Response JSON body
 * or, when the request has `stream: true`, with the API's named server-sent events (`response.created`,
 * `response.in_progress`, `response.output_item.added` / `.done`, `response.content_part.*`,
 * `response.output_text.delta` / `.done`, `response.function_call_arguments.delta` / `.done`,
 * `response.reasoning_summary_*`, then `response.completed`, `response.incomplete` or `response.failed`, and
 * `error`). The real `openai` client drives it end to end, `responses.stream()` and `responses.parse()` too.
 */
import type { ServerResponse } from "node:http";
import type { WireEvent } from "./wire-common.js";
import {
  CREATED_SECONDS,
  DEFAULT_TEXT,
  UNPARSEABLE_BODY_MESSAGE,
  defaultModelFor,
  eventIndexAfterDeltas,
  isRecord,
  namedEvent,
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
export const OPENAI_RESPONSES_PATH = "/v1/responses";

/** An assistant message with one `output_text` part, streamed as `response.output_text.delta` events. */
export interface MockResponsesMessageItem {
  type: "message";
  text: string;
}

/** A function call. Its arguments stream in three `response.function_call_arguments.delta` pieces. */
export interface MockResponsesFunctionCallItem {
  type: "function_call";
  callId: string;
  name: string;
  /** The raw JSON arguments string, sent verbatim. */
  arguments: string;
}

/** A reasoning item with a summary, streamed as `response.reasoning_summary_text.delta` events. */
export interface MockResponsesReasoningItem {
  type: "reasoning";
  summary: string;
}

/** Any other output item, sent verbatim (whole in `response.output_item.added` and `.done`, no deltas). */
export interface MockResponsesRawItem {
  type: "raw";
  item: { type: string; [field: string]: unknown };
}

export type MockResponsesItem =
  MockResponsesMessageItem | MockResponsesFunctionCallItem | MockResponsesReasoningItem | MockResponsesRawItem;

/** Token counts to report instead of the deterministic defaults; each field is optional. */
export interface MockResponsesUsage {
  input_tokens?: number;
  output_tokens?: number;
  /** `input_tokens_details.cached_tokens`. Default 0. */
  cached_tokens?: number;
  /** `output_tokens_details.reasoning_tokens`. Default: the reasoning summary's delta count. */
  reasoning_tokens?: number;
}

/**
 * How the mock answers one `POST /v1/responses` request (queue it with `server.enqueueResponses()`). Every
 * field is optional; an empty object gives a normal completed response with one message.
 *
 * Default usage is deterministic, the same streamed or not:
 * - `input_tokens` = for each input message `ceil(text length / 4) + 4` (a string `input` is one message;
 *   array items count their `content` text, or a function call output's `output`), plus
 *   `ceil(instructions length / 4)` when the request has `instructions`.
 * - `output_tokens` = the deltas the message and reasoning items stream in (see `chunks`) plus
 *   `ceil(arguments length / 4)` per function call; `reasoning_tokens` = the reasoning deltas.
 */
export interface MockResponsesReply {
  /**
   * Extra response headers, sent with the reply (an error's too): the providers' rate-limit headers, for
   * example. Names are HTTP header names; values strings on one line.
   */
  headers?: Record<string, string>;
  /** Output items. Default: one message, `"Hello from the tokentrace mock server."`. */
  output?: MockResponsesItem[];
  /** How many deltas each message text and reasoning summary streams in (as `MockReply.chunks`). */
  chunks?: number;
  usage?: MockResponsesUsage;
  /** Send `usage: null`, as some OpenAI-compatible servers do. */
  omitUsage?: boolean;
  /**
   * How the response ends: `"completed"` (default); `"incomplete"` (after its output, with
   * `incomplete_details.reason` = `incompleteReason`); `"failed"` (no output, `error` = `{ code: errorCode,
   * message }`, no usage): a 200 body with `status: "failed"`, or a `response.failed` event.
   */
  outcome?: "completed" | "incomplete" | "failed";
  /** Default `"max_output_tokens"`. */
  incompleteReason?: string;
  /** The code of a failed response or of an `error` event. Default `"server_error"`. */
  errorCode?: string;
  /**
   * Streaming only: after this many deltas an `error` event (`{ type: "error", code, message, param: null,
   * sequence_number }`) is sent and the response ends. 0 sends it just before the first delta.
   */
  errorEventAfterDeltas?: number;
  /** Streaming only: after this many deltas (0: just before the first) the socket is destroyed, like a network failure. */
  disconnectAfterDeltas?: number;
  /** An HTTP status of 400 or more answers with an OpenAI error body (streaming requests too). */
  status?: number;
  /** The response's `model`. Default as for chat completions (`gpt-4o-mini` → its dated snapshot). */
  model?: string;
  /** The response's `id`. Default `"resp_mock_<n>"`, n counting requests to the server from 1. */
  id?: string;
  /** The `x-request-id` header. Default `"req_mock_<n>"`. */
  requestId?: string;
  /** The response's `service_tier`. Default `"default"`. */
  serviceTier?: string;
  firstChunkDelayMs?: number;
  chunkDelayMs?: number;
}

export function validateResponsesReply(reply: MockResponsesReply, label: string): void {
  validateCommon(reply, label);
  requireInteger(reply.errorEventAfterDeltas, `${label}.errorEventAfterDeltas`, 0);
  requireInteger(reply.disconnectAfterDeltas, `${label}.disconnectAfterDeltas`, 0);
  for (const [index, item] of (reply.output ?? []).entries()) {
    if (!["message", "function_call", "reasoning", "raw"].includes(item.type)) {
      throw new RangeError(`${label}.output[${index}].type must be message, function_call, reasoning or raw.`);
    }
  }
}

/** An output item with its deltas. */
interface ResolvedItem {
  source: MockResponsesItem;
  id: string;
  deltas: string[];
}

export async function answerResponses(
  response: ServerResponse,
  body: unknown,
  sequence: number,
  takeReply: () => MockResponsesReply,
  signal: AbortSignal,
): Promise<void> {
  const requestId = `req_mock_${sequence}`;
  if (!isRecord(body)) {
    sendOpenAIError(response, 400, requestId, UNPARSEABLE_BODY_MESSAGE);
    return;
  }
  const reply = takeReply();
  setReplyHeaders(response, reply.headers);
  const resolvedRequestId = reply.requestId ?? requestId;
  if (reply.status !== undefined && reply.status >= 400) {
    await sleep(reply.firstChunkDelayMs ?? 0, signal);
    if (!signal.aborted) sendOpenAIError(response, reply.status, resolvedRequestId);
    return;
  }
  const items = (reply.output ?? [{ type: "message", text: DEFAULT_TEXT }]).map((source, index): ResolvedItem => ({
    source,
    id: itemId(source, sequence, index),
    deltas:
      source.type === "message"
        ? splitContent(source.text, reply.chunks)
        : source.type === "reasoning"
          ? splitContent(source.summary, reply.chunks)
          : source.type === "function_call"
            ? threePieces(source.arguments)
            : [],
  }));
  const outcome = reply.outcome ?? "completed";
  const base = responseBase(reply, body, sequence);
  const usage = reply.omitUsage || outcome === "failed" ? null : usageOf(reply, body, items);
  const finalResponse = {
    ...base,
    status: outcome,
    error:
      outcome === "failed"
        ? { code: reply.errorCode ?? "server_error", message: "The model failed to respond. (tokentrace mock server)" }
        : null,
    incomplete_details: outcome === "incomplete" ? { reason: reply.incompleteReason ?? "max_output_tokens" } : null,
    output: outcome === "failed" ? [] : items.map(doneItem),
    usage,
  };
  if (body["stream"] !== true) {
    await sleep(reply.firstChunkDelayMs ?? 0, signal);
    if (!signal.aborted) writeJson(response, 200, resolvedRequestId, JSON.stringify(finalResponse));
    return;
  }

  const events = streamEvents(reply, base, finalResponse, items, outcome);
  startEventStream(response, resolvedRequestId);
  await sendEvents(
    response,
    events,
    {
      firstDelayMs: reply.firstChunkDelayMs ?? 0,
      delayMs: reply.chunkDelayMs ?? 0,
      failAt: eventIndexAfterDeltas(events, reply.disconnectAfterDeltas),
    },
    signal,
  );
}

function itemId(item: MockResponsesItem, sequence: number, index: number): string {
  const prefix =
    item.type === "message" ? "msg" : item.type === "function_call" ? "fc" : item.type === "reasoning" ? "rs" : "item";
  return `${prefix}_mock_${sequence}_${index}`;
}

function responseBase(
  reply: MockResponsesReply,
  body: Record<string, unknown>,
  sequence: number,
): Record<string, unknown> {
  const reasoning = isRecord(body["reasoning"]) ? body["reasoning"] : {};
  return {
    id: reply.id ?? `resp_mock_${sequence}`,
    object: "response",
    created_at: CREATED_SECONDS,
    status: "in_progress",
    error: null,
    incomplete_details: null,
    instructions: body["instructions"] ?? null,
    max_output_tokens: body["max_output_tokens"] ?? null,
    model: reply.model ?? defaultModelFor(body["model"]),
    output: [],
    parallel_tool_calls: true,
    previous_response_id: body["previous_response_id"] ?? null,
    reasoning: { effort: reasoning["effort"] ?? null, summary: null },
    service_tier: reply.serviceTier ?? "default",
    store: true,
    temperature: body["temperature"] ?? 1,
    text: body["text"] ?? { format: { type: "text" } },
    tool_choice: body["tool_choice"] ?? "auto",
    tools: body["tools"] ?? [],
    top_p: body["top_p"] ?? 1,
    truncation: "disabled",
    usage: null,
    user: null,
    metadata: {},
  };
}

function usageOf(
  reply: MockResponsesReply,
  body: Record<string, unknown>,
  items: readonly ResolvedItem[],
): Record<string, unknown> {
  let outputTokens = 0;
  let reasoningTokens = 0;
  for (const item of items) {
    if (item.source.type === "function_call") outputTokens += Math.ceil(item.source.arguments.length / 4);
    else outputTokens += item.deltas.length;
    if (item.source.type === "reasoning") reasoningTokens += item.deltas.length;
  }
  const inputTokens = reply.usage?.input_tokens ?? estimateInputTokens(body);
  const output = reply.usage?.output_tokens ?? outputTokens;
  return {
    input_tokens: inputTokens,
    input_tokens_details: { cached_tokens: reply.usage?.cached_tokens ?? 0 },
    output_tokens: output,
    output_tokens_details: { reasoning_tokens: reply.usage?.reasoning_tokens ?? reasoningTokens },
    total_tokens: inputTokens + output,
  };
}

function estimateInputTokens(body: Record<string, unknown>): number {
  const input = body["input"];
  const texts: string[] = [];
  if (typeof input === "string") texts.push(input);
  else if (Array.isArray(input)) {
    for (const item of input) {
      if (!isRecord(item)) continue;
      if (typeof item["output"] === "string") texts.push(item["output"]);
      else if (item["content"] !== undefined || item["role"] !== undefined) texts.push(contentText(item["content"]));
    }
  }
  let tokens = texts.reduce((sum, text) => sum + Math.ceil(text.length / 4) + 4, 0);
  if (typeof body["instructions"] === "string") tokens += Math.ceil(body["instructions"].length / 4);
  return tokens;
}

/** An item as it stands when `response.output_item.added` announces it. */
function startedItem(item: ResolvedItem): Record<string, unknown> {
  const source = item.source;
  switch (source.type) {
    case "message":
      return { id: item.id, type: "message", status: "in_progress", content: [], role: "assistant" };
    case "function_call":
      return {
        id: item.id,
        type: "function_call",
        status: "in_progress",
        arguments: "",
        call_id: source.callId,
        name: source.name,
      };
    case "reasoning":
      return { id: item.id, type: "reasoning", summary: [] };
    case "raw":
      return source.item;
  }
}

/** An item as it stands when it is done (and in the final response). */
function doneItem(item: ResolvedItem): Record<string, unknown> {
  const source = item.source;
  switch (source.type) {
    case "message":
      return {
        id: item.id,
        type: "message",
        status: "completed",
        content: [{ type: "output_text", annotations: [], logprobs: [], text: source.text }],
        role: "assistant",
      };
    case "function_call":
      return {
        id: item.id,
        type: "function_call",
        status: "completed",
        arguments: source.arguments,
        call_id: source.callId,
        name: source.name,
      };
    case "reasoning":
      return { id: item.id, type: "reasoning", summary: [{ type: "summary_text", text: source.summary }] };
    case "raw":
      return source.item;
  }
}

function streamEvents(
  reply: MockResponsesReply,
  base: Record<string, unknown>,
  finalResponse: Record<string, unknown>,
  items: readonly ResolvedItem[],
  outcome: "completed" | "incomplete" | "failed",
): WireEvent[] {
  const events: WireEvent[] = [];
  let sequenceNumber = 0;
  const push = (type: string, fields: Record<string, unknown>, delta = false): void => {
    events.push({ text: namedEvent(type, { type, sequence_number: sequenceNumber++, ...fields }), delta });
  };
  push("response.created", { response: base });
  push("response.in_progress", { response: base });
  if (outcome !== "failed") {
    for (const [outputIndex, item] of items.entries()) {
      push("response.output_item.added", { output_index: outputIndex, item: startedItem(item) });
      const at = { item_id: item.id, output_index: outputIndex };
      const source = item.source;
      if (source.type === "message") {
        const part = { type: "output_text", annotations: [], logprobs: [], text: "" };
        push("response.content_part.added", { ...at, content_index: 0, part });
        for (const delta of item.deltas)
          push("response.output_text.delta", { ...at, content_index: 0, delta, logprobs: [] }, true);
        push("response.output_text.done", { ...at, content_index: 0, text: source.text, logprobs: [] });
        push("response.content_part.done", { ...at, content_index: 0, part: { ...part, text: source.text } });
      } else if (source.type === "function_call") {
        for (const delta of item.deltas) push("response.function_call_arguments.delta", { ...at, delta }, true);
        push("response.function_call_arguments.done", { ...at, arguments: source.arguments });
      } else if (source.type === "reasoning") {
        const part = { type: "summary_text", text: "" };
        push("response.reasoning_summary_part.added", { ...at, summary_index: 0, part });
        for (const delta of item.deltas)
          push("response.reasoning_summary_text.delta", { ...at, summary_index: 0, delta }, true);
        push("response.reasoning_summary_text.done", { ...at, summary_index: 0, text: source.summary });
        push("response.reasoning_summary_part.done", {
          ...at,
          summary_index: 0,
          part: { ...part, text: source.summary },
        });
      }
      push("response.output_item.done", { output_index: outputIndex, item: doneItem(item) });
    }
  }
  const finalEvent =
    outcome === "completed"
      ? "response.completed"
      : outcome === "incomplete"
        ? "response.incomplete"
        : "response.failed";
  push(finalEvent, { response: finalResponse });

  const errorAt = eventIndexAfterDeltas(events, reply.errorEventAfterDeltas);
  if (errorAt === -1) return events;
  // The API's error event ends the stream: nothing follows it.
  const kept = events.slice(0, errorAt + 1);
  kept.push({
    text: namedEvent("error", {
      type: "error",
      code: reply.errorCode ?? "server_error",
      message: "The server had an error while processing your request. (tokentrace mock server)",
      param: null,
      sequence_number: errorAt + 1,
    }),
    delta: false,
  });
  return kept;
}
