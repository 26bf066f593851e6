/*
 * OpenAI's legacy completions for the mock LLM server: `POST /v1/completions`, answered with a
 * `text_completion` JSON body or, with `stream: true`, with its data-only server-sent events (and, when the
 * request asks for `stream_options.include_usage`, a last chunk with the usage and no choices).
 */
import type { ServerResponse } from "node:http";
import type { WireEvent } from "./wire-common.js";
import {
  CREATED_SECONDS,
  DEFAULT_TEXT,
  dataLine,
  defaultModelFor,
  eventIndexAfterDeltas,
  isRecord,
  requireInteger,
  sendEvents,
  sendOpenAIError,
  sleep,
  splitContent,
  startEventStream,
  validateCommon,
  writeJson,
} from "./wire-common.js";

/** The route this module answers. */
export const OPENAI_COMPLETIONS_PATH = "/v1/completions";

/**
 * How the mock answers one `POST /v1/completions` request (queue it with `server.enqueueCompletions()`).
 * Every field is optional. Default usage: `prompt_tokens` = `ceil(length / 4)` per prompt string (the length
 * of each token array); `completion_tokens` = the text's stream deltas (see `chunks`) times the request's `n`.
 */
export interface MockCompletionsReply {
  /** Default `"Hello from the tokentrace mock server."`. */
  text?: string;
  /** How many deltas a stream splits `text` into (as `MockReply.chunks`). */
  chunks?: number;
  /** Default `"stop"`. */
  finishReason?: string;
  usage?: { prompt_tokens: number; completion_tokens: number };
  /** An HTTP status of 400 or more answers with an OpenAI error body (streaming requests too). */
  status?: number;
  /** Streaming only: after this many deltas (counted across choices) the socket is destroyed. */
  errorAfterChunks?: number;
  /** Default as for chat completions: the requested model. */
  model?: string;
  /** Default `"cmpl-mock-<n>"`, n counting requests to the server from 1. */
  id?: string;
  /** The `x-request-id` header. Default `"req_mock_<n>"`. */
  requestId?: string;
  firstChunkDelayMs?: number;
  chunkDelayMs?: number;
}

export function validateCompletionsReply(reply: MockCompletionsReply, label: string): void {
  validateCommon(reply, label);
  requireInteger(reply.errorAfterChunks, `${label}.errorAfterChunks`, 1);
}

function promptTokens(prompt: unknown): number {
  if (typeof prompt === "string") return Math.ceil(prompt.length / 4);
  if (!Array.isArray(prompt)) return 0;
  if (prompt.every((item) => typeof item === "number")) return prompt.length;
  return prompt.reduce<number>(
    (sum, item) =>
      sum + (typeof item === "string" ? Math.ceil(item.length / 4) : Array.isArray(item) ? item.length : 0),
    0,
  );
}

export async function answerCompletions(
  response: ServerResponse,
  body: unknown,
  sequence: number,
  takeReply: () => MockCompletionsReply,
  signal: AbortSignal,
): Promise<void> {
  const reply = takeReply();
  const requestId = reply.requestId ?? `req_mock_${sequence}`;
  const request = isRecord(body) ? body : {};
  if (reply.status !== undefined && reply.status >= 400) {
    await sleep(reply.firstChunkDelayMs ?? 0, signal);
    if (!signal.aborted) sendOpenAIError(response, reply.status, requestId);
    return;
  }
  const text = reply.text ?? DEFAULT_TEXT;
  const deltas = splitContent(text, reply.chunks);
  const choiceCount = typeof request["n"] === "number" && request["n"] > 1 ? request["n"] : 1;
  const prompt = reply.usage?.prompt_tokens ?? promptTokens(request["prompt"]);
  const completion = reply.usage?.completion_tokens ?? deltas.length * choiceCount;
  const usage = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
  const envelope = {
    id: reply.id ?? `cmpl-mock-${sequence}`,
    object: "text_completion",
    created: CREATED_SECONDS,
    model: reply.model ?? defaultModelFor(request["model"]),
    system_fingerprint: "fp_mock",
  };
  const finishReason = reply.finishReason ?? "stop";
  const choices = Array.from({ length: choiceCount }, (_, index) => index);

  if (request["stream"] !== true) {
    await sleep(reply.firstChunkDelayMs ?? 0, signal);
    if (signal.aborted) return;
    const payload = {
      ...envelope,
      choices: choices.map((index) => ({ text, index, logprobs: null, finish_reason: finishReason })),
      usage,
    };
    writeJson(response, 200, requestId, JSON.stringify(payload));
    return;
  }

  const streamOptions = request["stream_options"];
  const includeUsage = isRecord(streamOptions) && streamOptions["include_usage"] === true;
  // As with chat completions: with include_usage every chunk but the last carries `usage: null`.
  const usageField = includeUsage ? { usage: null } : {};
  const chunk = (index: number, piece: string, reason: string | null): string =>
    dataLine({ ...envelope, choices: [{ text: piece, index, logprobs: null, finish_reason: reason }], ...usageField });
  const events: WireEvent[] = [];
  for (const piece of deltas)
    for (const index of choices) events.push({ text: chunk(index, piece, null), delta: true });
  for (const index of choices) events.push({ text: chunk(index, "", finishReason), delta: false });
  if (includeUsage) events.push({ text: dataLine({ ...envelope, choices: [], usage }), delta: false });
  events.push({ text: "data: [DONE]\n\n", delta: false });

  startEventStream(response, requestId);
  await sendEvents(
    response,
    events,
    {
      firstDelayMs: reply.firstChunkDelayMs ?? 0,
      delayMs: reply.chunkDelayMs ?? 0,
      failAt: eventIndexAfterDeltas(events, reply.errorAfterChunks),
    },
    signal,
  );
}
