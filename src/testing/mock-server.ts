/**
 * A small in-process HTTP server that speaks the OpenAI chat-completions wire format, so tests (ours and
 * our users') can drive the real `openai` client end to end without network access or API keys.
 *
 * Only `node:http` is used: the testing kit must not pull extra dependencies into users' test suites.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { ANTHROPIC_MESSAGES_PATH, answerAnthropicMessages, validateAnthropicReply } from "./anthropic-wire.js";
import type { MockAnthropicReply } from "./anthropic-wire.js";
import { OPENAI_COMPLETIONS_PATH, answerCompletions, validateCompletionsReply } from "./openai-completions-wire.js";
import type { MockCompletionsReply } from "./openai-completions-wire.js";
import { OPENAI_EMBEDDINGS_PATH, answerEmbeddings, validateEmbeddingsReply } from "./openai-embeddings-wire.js";
import type { MockEmbeddingsReply } from "./openai-embeddings-wire.js";
import { OPENAI_RESPONSES_PATH, answerResponses, validateResponsesReply } from "./openai-responses-wire.js";
import type { MockResponsesReply } from "./openai-responses-wire.js";
import {
  dataLine,
  groupEvenly,
  isRecord,
  openAIPathOf,
  requireInteger,
  sendEvents,
  sleep,
  splitContent,
  validateCommon,
} from "./wire-common.js";

/** One request the mock server received, recorded before it was answered. */
export interface RecordedRequest {
  method: string;
  /** The request target as sent, including any query string, e.g. `/v1/chat/completions`. */
  path: string;
  /**
   * Request headers with lower-cased names. Credentials (`authorization`, `proxy-authorization`,
   * `x-api-key`, `api-key`) are removed so recorded requests can be printed or snapshotted safely.
   * Repeated headers are joined with `", "`.
   */
  headers: Record<string, string>;
  /** The parsed JSON body, or `undefined` when the body was empty or not valid JSON. */
  body: unknown;
}

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

export interface MockLLMServerOptions {
  /** Default 0: the operating system picks a free port. */
  port?: number;
  /** Default `"127.0.0.1"`. */
  host?: string;
  /** Used when the reply queue is empty. Defaults to `{}`, a normal successful reply. */
  defaultReply?: MockReply;
}

export interface MockLLMServer {
  /** `http://HOST:PORT`, without a trailing slash. */
  url: string;
  /** `url + "/v1"`: pass it as `baseURL` to `new OpenAI({ baseURL, apiKey })`. */
  openaiBaseURL: string;
  /** `url` itself: pass it as `baseURL` to `new Anthropic({ baseURL, apiKey })`, which adds `/v1/messages`. */
  anthropicBaseURL: string;
  port: number;
  /** Every request received, in arrival order. Cleared in place by `reset()`, so references stay live. */
  requests: RecordedRequest[];
  /**
   * Queues replies for the next chat-completions requests, consumed first in, first out. Requests that
   * are rejected before a reply is chosen (unknown routes, unparseable bodies) do not consume one.
   * Throws a `RangeError` for an invalid reply.
   */
  enqueue(...replies: MockReply[]): void;
  /**
   * Queues replies for the next Anthropic `POST /v1/messages` requests, first in, first out, apart from the
   * chat-completions queue. With the queue empty, a request gets `{}`, a normal reply. Throws a `RangeError`
   * for an invalid reply.
   */
  enqueueAnthropic(...replies: MockAnthropicReply[]): void;
  /** Queues replies for the next `POST /v1/responses` requests (see `openai-responses-wire.ts`). */
  enqueueResponses(...replies: MockResponsesReply[]): void;
  /** Queues replies for the next `POST /v1/embeddings` requests (see `openai-embeddings-wire.ts`). */
  enqueueEmbeddings(...replies: MockEmbeddingsReply[]): void;
  /** Queues replies for the next legacy `POST /v1/completions` requests (see `openai-completions-wire.ts`). */
  enqueueCompletions(...replies: MockCompletionsReply[]): void;
  /** Clears recorded requests and queued replies, and restarts the id counter at 1. */
  reset(): void;
  /** Stops the server, destroying open (including keep-alive) connections and cancelling pending replies. */
  close(): Promise<void>;
}

const defaultText = "Hello from the tokentrace mock server.";
// A fixed timestamp keeps response bodies byte-for-byte reproducible.
const createdSeconds = 1_700_000_000;
const chatCompletionsPath = "/v1/chat/completions";
const credentialHeaders: ReadonlySet<string> = new Set([
  "authorization",
  "proxy-authorization",
  "x-api-key",
  "api-key",
]);

/**
 * Starts a mock OpenAI-compatible server on 127.0.0.1 and an OS-chosen port unless told otherwise.
 *
 * Routes: `POST /v1/chat/completions` answers with a ChatCompletion JSON body, or with server-sent events when
 * the body has `stream: true`. `POST /v1/messages` speaks Anthropic's Messages API (see `anthropic-wire.ts`, with
 * its own reply queue, `enqueueAnthropic`, and a `request-id` header). `POST /v1/responses`, `/v1/embeddings`
 * and `/v1/completions` speak OpenAI's Responses, embeddings and legacy completions APIs, each with its own
 * queue. Azure OpenAI paths (`/openai/deployments/{name}/chat/completions?api-version=...`, `/openai/v1/...`)
 * answer as the OpenAI path they stand for. Every other route answers 404 with an OpenAI-style error. Always
 * `await server.close()` when done.
 */
export async function startMockLLMServer(options: MockLLMServerOptions = {}): Promise<MockLLMServer> {
  if (options.defaultReply !== undefined) validateReply(options.defaultReply, "defaultReply");
  const host = options.host ?? "127.0.0.1";
  const defaultReply = options.defaultReply ?? {};
  const queue: MockReply[] = [];
  const anthropicQueue: MockAnthropicReply[] = [];
  const responsesQueue: MockResponsesReply[] = [];
  const embeddingsQueue: MockEmbeddingsReply[] = [];
  const completionsQueue: MockCompletionsReply[] = [];
  /** The OpenAI routes beyond chat completions, each with its own wire module and queue. */
  const openaiRoutes = new Map<string, RouteAnswer>([
    [
      OPENAI_RESPONSES_PATH,
      (response, body, sequence, signal) =>
        answerResponses(response, body, sequence, () => responsesQueue.shift() ?? {}, signal),
    ],
    [
      OPENAI_EMBEDDINGS_PATH,
      (response, body, sequence, signal) =>
        answerEmbeddings(response, body, sequence, () => embeddingsQueue.shift() ?? {}, signal),
    ],
    [
      OPENAI_COMPLETIONS_PATH,
      (response, body, sequence, signal) =>
        answerCompletions(response, body, sequence, () => completionsQueue.shift() ?? {}, signal),
    ],
  ]);
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  const inFlight = new Set<AbortController>();
  let requestCounter = 0;
  let closing: Promise<void> | undefined;

  const server = createServer((request, response) => {
    const controller = new AbortController();
    inFlight.add(controller);
    // `close` fires on normal completion too; aborting then is harmless, and on a client disconnect it
    // stops the handler from writing and cancels its pending delay timers.
    response.on("close", () => {
      controller.abort();
      inFlight.delete(controller);
    });
    const context: HandlerContext = {
      nextSequence: () => ++requestCounter,
      record: (recorded) => requests.push(recorded),
      takeReply: () => queue.shift() ?? defaultReply,
      takeAnthropicReply: () => anthropicQueue.shift() ?? {},
      openaiRoutes,
      signal: controller.signal,
    };
    handleRequest(request, response, context).catch(() => {
      // Reaching here means the client went away mid-request or a bug; never let it become an
      // unhandled rejection in the user's test run.
      if (response.destroyed) return;
      if (!response.headersSent) {
        sendError(response, 500, "req_mock_internal", "The tokentrace mock server failed to build a reply.");
      } else {
        response.destroy();
      }
    });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });

  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(":") ? `[${host}]` : host;
  const url = `http://${urlHost}:${port}`;

  return {
    url,
    openaiBaseURL: `${url}/v1`,
    anthropicBaseURL: url,
    port,
    requests,
    enqueue(...replies: MockReply[]): void {
      replies.forEach((reply, index) => validateReply(reply, `replies[${index}]`));
      queue.push(...replies);
    },
    enqueueAnthropic(...replies: MockAnthropicReply[]): void {
      replies.forEach((reply, index) => validateAnthropicReply(reply, `replies[${index}]`));
      anthropicQueue.push(...replies);
    },
    enqueueResponses(...replies: MockResponsesReply[]): void {
      replies.forEach((reply, index) => validateResponsesReply(reply, `replies[${index}]`));
      responsesQueue.push(...replies);
    },
    enqueueEmbeddings(...replies: MockEmbeddingsReply[]): void {
      replies.forEach((reply, index) => validateEmbeddingsReply(reply, `replies[${index}]`));
      embeddingsQueue.push(...replies);
    },
    enqueueCompletions(...replies: MockCompletionsReply[]): void {
      replies.forEach((reply, index) => validateCompletionsReply(reply, `replies[${index}]`));
      completionsQueue.push(...replies);
    },
    reset(): void {
      requests.length = 0;
      queue.length = 0;
      anthropicQueue.length = 0;
      responsesQueue.length = 0;
      embeddingsQueue.length = 0;
      completionsQueue.length = 0;
      requestCounter = 0;
    },
    close(): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        for (const controller of inFlight) controller.abort();
        // The callback receives an error when the server is already stopped; closing is the goal either way.
        server.close(() => resolve());
        // Without this, an idle keep-alive connection held by the client's agent keeps close() pending.
        server.closeAllConnections();
        for (const socket of sockets) socket.destroy();
      });
      return closing;
    },
  };
}

type RouteAnswer = (response: ServerResponse, body: unknown, sequence: number, signal: AbortSignal) => Promise<void>;

interface HandlerContext {
  nextSequence(): number;
  record(request: RecordedRequest): void;
  takeReply(): MockReply;
  takeAnthropicReply(): MockAnthropicReply;
  openaiRoutes: ReadonlyMap<string, RouteAnswer>;
  signal: AbortSignal;
}

async function handleRequest(
  request: IncomingMessage,
  response: ServerResponse,
  context: HandlerContext,
): Promise<void> {
  const rawBody = await readBody(request);
  const sequence = context.nextSequence();
  const method = request.method ?? "GET";
  const path = request.url ?? "/";
  const body = parseJson(rawBody);
  context.record({ method, path, headers: recordableHeaders(request), body });

  const pathname = openAIPathOf(new URL(path, "http://mock.invalid").pathname);
  if (method === "POST" && pathname === ANTHROPIC_MESSAGES_PATH) {
    await answerAnthropicMessages(response, body, sequence, context.takeAnthropicReply, context.signal);
    return;
  }
  const route = method === "POST" ? context.openaiRoutes.get(pathname) : undefined;
  if (route !== undefined) {
    await route(response, body, sequence, context.signal);
    return;
  }
  if (method !== "POST" || pathname !== chatCompletionsPath) {
    sendError(response, 404, `req_mock_${sequence}`, `Invalid URL (${method} ${pathname})`);
    return;
  }
  if (!isRecord(body)) {
    sendError(
      response,
      400,
      `req_mock_${sequence}`,
      "We could not parse the JSON body of your request. (tokentrace mock server)",
    );
    return;
  }

  const reply = resolveReply(context.takeReply(), body, sequence);
  if (reply.errorStatus !== undefined) {
    await sleep(reply.firstChunkDelayMs, context.signal);
    if (context.signal.aborted) return;
    sendError(response, reply.errorStatus, reply.requestId, errorMessageFor(reply.errorStatus));
    return;
  }
  if (body["stream"] === true) {
    await sendStream(response, reply, context.signal);
  } else {
    await sleep(reply.firstChunkDelayMs, context.signal);
    if (context.signal.aborted) return;
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
  const content = reply.text ?? (hasToolCalls ? null : defaultText);
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

function defaultModelFor(requestedModel: unknown): string {
  if (requestedModel === "gpt-4o-mini") return "gpt-4o-mini-2024-07-18";
  return typeof requestedModel === "string" ? requestedModel : "mock-model";
}

function estimatePromptTokens(messages: unknown): number {
  if (!Array.isArray(messages)) return 0;
  let tokens = 0;
  for (const message of messages) {
    const text = isRecord(message) ? messageText(message["content"]) : "";
    tokens += Math.ceil(text.length / 4) + 4;
  }
  return tokens;
}

function messageText(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  let text = "";
  for (const part of content) {
    if (isRecord(part) && typeof part["text"] === "string") text += part["text"];
  }
  return text;
}

function sendCompletion(response: ServerResponse, reply: ResolvedReply): void {
  if (reply.malformed === "non-json") {
    writeBody(response, reply.status, reply.requestId, "this is not json");
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
    created: createdSeconds,
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
  writeBody(response, reply.status, reply.requestId, JSON.stringify(completion));
}

/** One SSE event to send, tagged so failures can be injected at the right point. */
interface StreamEvent {
  text: string;
  kind: "role" | "content" | "other";
}

async function sendStream(response: ServerResponse, reply: ResolvedReply, signal: AbortSignal): Promise<void> {
  response.writeHead(reply.status, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    "x-request-id": reply.requestId,
  });
  // Headers go out before any delay, as with OpenAI, so the SDK call resolves and delays read as latency
  // to the first chunk rather than to the response.
  response.flushHeaders();

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
    created: createdSeconds,
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
    const [firstPiece = "", ...laterPieces] = groupEvenly(Array.from(toolCall.arguments), 3).map((group) =>
      group.join(""),
    );
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

function writeBody(response: ServerResponse, status: number, requestId: string, body: string): void {
  response.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
    "x-request-id": requestId,
  });
  response.end(body);
}

function sendError(response: ServerResponse, status: number, requestId: string, message: string): void {
  const error = { message, type: errorTypeFor(status), param: null, code: errorCodeFor(status) };
  writeBody(response, status, requestId, JSON.stringify({ error }));
}

function errorTypeFor(status: number): string {
  if (status === 429) return "rate_limit_error";
  if (status >= 500) return "server_error";
  return "invalid_request_error";
}

function errorCodeFor(status: number): string | null {
  if (status === 401) return "invalid_api_key";
  if (status === 429) return "rate_limit_exceeded";
  return null;
}

function errorMessageFor(status: number): string {
  if (status === 401) return "Incorrect API key provided. (tokentrace mock server)";
  if (status === 429) return "Rate limit reached for requests. (tokentrace mock server)";
  if (status >= 500) return "The server had an error while processing your request. (tokentrace mock server)";
  return `The request was rejected with status ${status}. (tokentrace mock server)`;
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

function parseJson(text: string): unknown {
  if (text === "") return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function recordableHeaders(request: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value === undefined || credentialHeaders.has(name)) continue;
    headers[name] = Array.isArray(value) ? value.join(", ") : value;
  }
  return headers;
}

function validateReply(reply: MockReply, label: string): void {
  validateCommon(reply, label);
  requireInteger(reply.errorAfterChunks, `${label}.errorAfterChunks`, 0);
}
