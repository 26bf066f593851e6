/*
 * What the mock server's wire formats (OpenAI chat, responses, embeddings, completions; Anthropic messages)
 * share: writing JSON and server-sent events, OpenAI-style errors, delays, and the deterministic splitting of
 * text into stream deltas. Only `node:http` types: the testing kit pulls in no
 * dependency.
 */
import type { ServerResponse } from "node:http";

/** A fixed timestamp keeps response bodies byte-for-byte reproducible. */
export const CREATED_SECONDS = 1_700_000_000;
export const DEFAULT_TEXT = "Hello from the tokentrace mock server.";

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** `"gpt-4o-mini"` answers as its dated snapshot, as OpenAI does; any other model as itself. */
export function defaultModelFor(requestedModel: unknown, fallback = "mock-model"): string {
  if (requestedModel === "gpt-4o-mini") return "gpt-4o-mini-2024-07-18";
  return typeof requestedModel === "string" ? requestedModel : fallback;
}

/**
 * Azure OpenAI paths as the OpenAI paths they stand for, so the same routes answer both:
 * `/openai/deployments/{name}/chat/completions` and `/openai/v1/responses` (or `/openai/responses`) are
 * `/v1/chat/completions` and `/v1/responses`. Other paths are returned unchanged.
 */
export function openAIPathOf(pathname: string): string {
  const deployment = /^\/openai\/deployments\/[^/]+(\/.*)$/.exec(pathname);
  if (deployment?.[1] !== undefined) return `/v1${deployment[1]}`;
  const azure = /^\/openai(?:\/v1)?(\/.*)$/.exec(pathname);
  if (azure?.[1] !== undefined) return `/v1${azure[1]}`;
  return pathname;
}

/** The header that carries the request id: OpenAI's `x-request-id`, or Anthropic's `request-id`. */
export type RequestIdHeader = "x-request-id" | "request-id";

export function writeJson(
  response: ServerResponse,
  status: number,
  requestId: string,
  body: string,
  requestIdHeader: RequestIdHeader = "x-request-id",
): void {
  response.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
    [requestIdHeader]: requestId,
  });
  response.end(body);
}

/** OpenAI's answer to a body that is not a JSON object. */
export const UNPARSEABLE_BODY_MESSAGE = "We could not parse the JSON body of your request. (tokentrace mock server)";

/** The message OpenAI gives for a status, as the mock words it. */
function openAIErrorMessage(status: number): string {
  if (status === 401) return "Incorrect API key provided. (tokentrace mock server)";
  if (status === 429) return "Rate limit reached for requests. (tokentrace mock server)";
  if (status >= 500) return "The server had an error while processing your request. (tokentrace mock server)";
  return `The request was rejected with status ${status}. (tokentrace mock server)`;
}

/**
 * An OpenAI-style error body: `{ error: { message, type, param: null, code } }`, the type and code following
 * the status; the message too unless one is given.
 */
export function sendOpenAIError(
  response: ServerResponse,
  status: number,
  requestId: string,
  message: string = openAIErrorMessage(status),
): void {
  const type = status === 429 ? "rate_limit_error" : status >= 500 ? "server_error" : "invalid_request_error";
  const code = status === 401 ? "invalid_api_key" : status === 429 ? "rate_limit_exceeded" : null;
  writeJson(response, status, requestId, JSON.stringify({ error: { message, type, param: null, code } }));
}

export function startEventStream(
  response: ServerResponse,
  requestId: string,
  status = 200,
  requestIdHeader: RequestIdHeader = "x-request-id",
): void {
  response.writeHead(status, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    [requestIdHeader]: requestId,
  });
  // Headers go out before any delay, as with OpenAI, so delays read as latency to the first event.
  response.flushHeaders();
}

/** One SSE event to send, tagged so that failures can be injected after a given number of deltas. */
export interface WireEvent {
  text: string;
  /** A content delta (counted by `...AfterDeltas` / `errorAfterChunks` options). */
  delta: boolean;
}

/**
 * Write events with their delays. At the `failAt`-th event (an index, -1 for none) the stream fails once
 * that event's bytes are out: the socket is destroyed like a network failure, or, with `failWith`, the
 * response ends normally with that text (an error event) after the event.
 *
 * With no delays, the whole stream goes out as one write: the client then reads it the same way every time,
 * where separate writes arrive in however many reads the timing of the two processes gives.
 */
export async function sendEvents(
  response: ServerResponse,
  events: readonly { text: string }[],
  options: { firstDelayMs: number; delayMs: number; failAt: number; failWith?: string },
  signal: AbortSignal,
): Promise<void> {
  const burst = options.firstDelayMs <= 0 && options.delayMs <= 0;
  if (burst) response.cork();
  for (const [index, event] of events.entries()) {
    await sleep(index === 0 ? options.firstDelayMs : options.delayMs, signal);
    if (signal.aborted) return;
    if (index !== options.failAt) {
      response.write(event.text);
      continue;
    }
    if (options.failWith !== undefined) {
      response.end(event.text + options.failWith);
      return;
    }
    if (burst) response.uncork();
    // Wait until the bytes have left so the client really sees the events before the connection drops.
    await writeAndFlush(response, event.text, signal);
    response.destroy();
    return;
  }
  response.end();
}

/** The index of the event holding the `count`-th delta (0: the last event before the first delta). */
export function eventIndexAfterDeltas(events: readonly WireEvent[], count: number | undefined): number {
  if (count === undefined) return -1;
  let seen = 0;
  let lastBeforeDeltas = -1;
  let lastDelta = -1;
  for (const [index, event] of events.entries()) {
    if (!event.delta) {
      if (seen === 0) lastBeforeDeltas = index;
      continue;
    }
    seen++;
    lastDelta = index;
    if (seen === count) return index;
  }
  return count === 0 || lastDelta === -1 ? lastBeforeDeltas : lastDelta;
}

export function dataLine(payload: unknown): string {
  return `data: ${JSON.stringify(payload)}\n\n`;
}

export function namedEvent(name: string, payload: unknown): string {
  return `event: ${name}\ndata: ${JSON.stringify(payload)}\n\n`;
}

export function writeAndFlush(response: ServerResponse, text: string, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const finish = (): void => {
      signal.removeEventListener("abort", finish);
      resolve();
    };
    signal.addEventListener("abort", finish, { once: true });
    response.write(text, () => finish());
  });
}

export function sleep(delayMs: number, signal: AbortSignal): Promise<void> {
  if (delayMs <= 0 || signal.aborted) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const finish = (): void => {
      clearTimeout(timer);
      signal.removeEventListener("abort", finish);
      resolve();
    };
    const timer = setTimeout(finish, delayMs);
    signal.addEventListener("abort", finish, { once: true });
  });
}

/**
 * Text split into stream deltas: one per whitespace-separated word with its following whitespace by default;
 * with `chunks`, whole words grouped evenly (or, with more chunks than words, code points), as
 * `MockReply.chunks` documents. The deltas always concatenate to `text`.
 */
export function splitContent(text: string, requestedChunks: number | undefined): string[] {
  const words = splitWords(text);
  if (requestedChunks === undefined || words.length === 0) return words;
  if (requestedChunks <= words.length) return groupEvenly(words, requestedChunks).map((group) => group.join(""));
  const characters = Array.from(text);
  return groupEvenly(characters, Math.min(requestedChunks, characters.length)).map((group) => group.join(""));
}

function splitWords(text: string): string[] {
  const words = text.match(/\S+\s*/g) ?? [];
  const [firstWord] = words;
  if (firstWord === undefined) return text === "" ? [] : [text];
  words[0] = text.slice(0, text.length - words.join("").length) + firstWord;
  return words;
}

/** Items in `groupCount` consecutive groups whose sizes differ by at most one, larger groups first. */
export function groupEvenly<T>(items: readonly T[], groupCount: number): T[][] {
  const baseSize = Math.floor(items.length / groupCount);
  const largerGroups = items.length % groupCount;
  const groups: T[][] = [];
  let start = 0;
  for (let group = 0; group < groupCount; group++) {
    const size = baseSize + (group < largerGroups ? 1 : 0);
    groups.push(items.slice(start, start + size));
    start += size;
  }
  return groups;
}

/** A JSON string in three pieces (possibly empty for very short strings), as tool arguments stream. */
export function threePieces(text: string): string[] {
  return groupEvenly(Array.from(text), 3).map((group) => group.join(""));
}

/** The checks every reply type shares; `label` names the reply in messages (e.g. `replies[0]`). */
export function validateCommon(
  reply: {
    status?: number;
    chunks?: number;
    chunkDelayMs?: number;
    firstChunkDelayMs?: number;
    headers?: Readonly<Record<string, string>>;
  },
  label: string,
): void {
  if (reply.headers !== undefined) {
    if (!isRecord(reply.headers)) throw new RangeError(`${label}.headers must be an object of header names to values.`);
    for (const [name, value] of Object.entries(reply.headers)) {
      if (!HEADER_NAME.test(name) || typeof value !== "string" || /[\r\n\0]/.test(value)) {
        throw new RangeError(
          `${label}.headers: ${JSON.stringify(name)} must be a header name with a string value on one line.`,
        );
      }
    }
  }
  if (reply.chunks !== undefined) requireInteger(reply.chunks, `${label}.chunks`, 1);
  requireDelay(reply.chunkDelayMs, `${label}.chunkDelayMs`);
  requireDelay(reply.firstChunkDelayMs, `${label}.firstChunkDelayMs`);
  const { status } = reply;
  if (status !== undefined && !(Number.isInteger(status) && status >= 200 && status <= 599)) {
    throw new RangeError(`${label}.status must be an HTTP status from 200 to 599, got ${String(status)}.`);
  }
}

/** An HTTP header name (RFC 9110's token). */
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;

/**
 * A reply's extra response headers (`headers`: rate-limit headers, ...), set before its status line is written,
 * so they go out with the reply, an error's included.
 */
export function setReplyHeaders(response: ServerResponse, headers: Readonly<Record<string, string>> | undefined): void {
  if (headers === undefined) return;
  for (const [name, value] of Object.entries(headers)) response.setHeader(name, value);
}

export function requireInteger(value: number | undefined, name: string, minimum: number): void {
  if (value !== undefined && !(Number.isInteger(value) && value >= minimum)) {
    throw new RangeError(`${name} must be an integer of at least ${minimum}, got ${String(value)}.`);
  }
}

function requireDelay(value: number | undefined, name: string): void {
  if (value !== undefined && !(Number.isFinite(value) && value >= 0)) {
    throw new RangeError(`${name} must be a finite number of at least 0 ms, got ${String(value)}.`);
  }
}

/** The text of a message's content: a string, or the `text` of each part of an array of parts. */
export function contentText(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  let text = "";
  for (const part of content) {
    if (isRecord(part) && typeof part["text"] === "string") text += part["text"];
  }
  return text;
}
