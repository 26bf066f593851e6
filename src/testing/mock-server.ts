/*
 * A small in-process HTTP server that speaks the OpenAI and Anthropic wire formats, so tests (ours and our
 * users') can drive the real `openai` and `@anthropic-ai/sdk` clients end to end without network access or
 * API keys. This module only records requests and dispatches them: each route, its reply type and its queue
 * live in the route's wire file (`openai-chat-wire.ts`, `openai-responses-wire.ts`, ...), and what the wire
 * formats share in `wire-common.ts`.
 *
 * Only `node:http` is used: the testing kit must not pull extra dependencies into users' test suites.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { ANTHROPIC_MESSAGES_PATH, answerAnthropicMessages, validateAnthropicReply } from "./anthropic-wire.js";
import type { MockAnthropicReply } from "./anthropic-wire.js";
import { OPENAI_CHAT_PATH, answerChat, validateChatReply } from "./openai-chat-wire.js";
import type { MockReply } from "./openai-chat-wire.js";
import { OPENAI_COMPLETIONS_PATH, answerCompletions, validateCompletionsReply } from "./openai-completions-wire.js";
import type { MockCompletionsReply } from "./openai-completions-wire.js";
import { OPENAI_EMBEDDINGS_PATH, answerEmbeddings, validateEmbeddingsReply } from "./openai-embeddings-wire.js";
import type { MockEmbeddingsReply } from "./openai-embeddings-wire.js";
import { OPENAI_RESPONSES_PATH, answerResponses, validateResponsesReply } from "./openai-responses-wire.js";
import type { MockResponsesReply } from "./openai-responses-wire.js";
import { openAIPathOf, sendOpenAIError } from "./wire-common.js";

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
  if (options.defaultReply !== undefined) validateChatReply(options.defaultReply, "defaultReply");
  const host = options.host ?? "127.0.0.1";
  const defaultReply = options.defaultReply ?? {};
  const queue: MockReply[] = [];
  const anthropicQueue: MockAnthropicReply[] = [];
  const responsesQueue: MockResponsesReply[] = [];
  const embeddingsQueue: MockEmbeddingsReply[] = [];
  const completionsQueue: MockCompletionsReply[] = [];
  /** Every POST route, each answered by its wire module from its own queue. */
  const routes = new Map<string, RouteAnswer>([
    [
      OPENAI_CHAT_PATH,
      (response, body, sequence, signal) =>
        answerChat(response, body, sequence, () => queue.shift() ?? defaultReply, signal),
    ],
    [
      ANTHROPIC_MESSAGES_PATH,
      (response, body, sequence, signal) =>
        answerAnthropicMessages(response, body, sequence, () => anthropicQueue.shift() ?? {}, signal),
    ],
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
      routes,
      signal: controller.signal,
    };
    handleRequest(request, response, context).catch(() => {
      // Reaching here means the client went away mid-request or a bug; never let it become an
      // unhandled rejection in the user's test run.
      if (response.destroyed) return;
      if (!response.headersSent) {
        sendOpenAIError(response, 500, "req_mock_internal", "The tokentrace mock server failed to build a reply.");
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
      replies.forEach((reply, index) => validateChatReply(reply, `replies[${index}]`));
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

/** Answers one request on a route: its wire module's `answer...` with that route's queue. */
type RouteAnswer = (response: ServerResponse, body: unknown, sequence: number, signal: AbortSignal) => Promise<void>;

interface HandlerContext {
  nextSequence(): number;
  record(request: RecordedRequest): void;
  /** The POST routes, by path (Azure paths are mapped to these first). */
  routes: ReadonlyMap<string, RouteAnswer>;
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
  const route = method === "POST" ? context.routes.get(pathname) : undefined;
  if (route === undefined) {
    sendOpenAIError(response, 404, `req_mock_${sequence}`, `Invalid URL (${method} ${pathname})`);
    return;
  }
  await route(response, body, sequence, context.signal);
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
