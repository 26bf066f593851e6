/*
 * OpenAI embeddings for the mock LLM server: `POST /v1/embeddings`, answered with deterministic vectors, as
 * JSON numbers or, for `encoding_format: "base64"` (what the `openai` SDK asks for by default), as base64 of
 * little-endian float32s.
 */
import type { ServerResponse } from "node:http";
import {
  defaultModelFor,
  isRecord,
  requireInteger,
  sendOpenAIError,
  sleep,
  validateCommon,
  writeJson,
} from "./wire-common.js";

/** The route this module answers. */
export const OPENAI_EMBEDDINGS_PATH = "/v1/embeddings";

/**
 * How the mock answers one `POST /v1/embeddings` request (queue it with `server.enqueueEmbeddings()`).
 *
 * Vector `i`, component `j` is `((7 * i + 3 * j) % 64 - 32) / 64`: exact in float32, so a vector decoded
 * from base64 equals the JSON one. Default usage: `prompt_tokens` = `ceil(length / 4)` per input string, or
 * the length of each token array.
 */
export interface MockEmbeddingsReply {
  /** Components per vector. Default: the request's `dimensions`, else 8. */
  dimensions?: number;
  /** Default: as described above. */
  promptTokens?: number;
  /** Send no `usage`, as some OpenAI-compatible servers do. */
  omitUsage?: boolean;
  /** An HTTP status of 400 or more answers with an OpenAI error body. */
  status?: number;
  /** The response's `model`. Default: the requested model, else `"text-embedding-3-small"`. */
  model?: string;
  /** The `x-request-id` header. Default `"req_mock_<n>"`. */
  requestId?: string;
  /** Delay before the body. */
  firstChunkDelayMs?: number;
}

export function validateEmbeddingsReply(reply: MockEmbeddingsReply, label: string): void {
  validateCommon(reply, label);
  requireInteger(reply.dimensions, `${label}.dimensions`, 1);
  requireInteger(reply.promptTokens, `${label}.promptTokens`, 0);
}

/** The inputs of a request: one string, strings, one token array, or token arrays. */
function inputsOf(input: unknown): unknown[] {
  if (!Array.isArray(input)) return [input];
  return input.length > 0 && input.every((item) => typeof item === "number") ? [input] : input;
}

function vector(index: number, dimensions: number): number[] {
  return Array.from({ length: dimensions }, (_, component) => (((7 * index + 3 * component) % 64) - 32) / 64);
}

function base64Of(values: readonly number[]): string {
  const buffer = Buffer.alloc(values.length * 4);
  values.forEach((value, index) => buffer.writeFloatLE(value, index * 4));
  return buffer.toString("base64");
}

export async function answerEmbeddings(
  response: ServerResponse,
  body: unknown,
  sequence: number,
  takeReply: () => MockEmbeddingsReply,
  signal: AbortSignal,
): Promise<void> {
  const reply = takeReply();
  const requestId = reply.requestId ?? `req_mock_${sequence}`;
  await sleep(reply.firstChunkDelayMs ?? 0, signal);
  if (signal.aborted) return;
  if (reply.status !== undefined && reply.status >= 400) {
    sendOpenAIError(response, reply.status, requestId);
    return;
  }
  const request = isRecord(body) ? body : {};
  const inputs = inputsOf(request["input"]);
  const requested = request["dimensions"];
  const dimensions = reply.dimensions ?? (typeof requested === "number" && requested > 0 ? requested : 8);
  const base64 = request["encoding_format"] === "base64";
  const data = inputs.map((_, index) => ({
    object: "embedding",
    index,
    embedding: base64 ? base64Of(vector(index, dimensions)) : vector(index, dimensions),
  }));
  const promptTokens =
    reply.promptTokens ??
    inputs.reduce<number>(
      (sum, input) =>
        sum + (typeof input === "string" ? Math.ceil(input.length / 4) : Array.isArray(input) ? input.length : 0),
      0,
    );
  const payload: Record<string, unknown> = {
    object: "list",
    data,
    model: reply.model ?? defaultModelFor(request["model"], "text-embedding-3-small"),
  };
  if (!reply.omitUsage) payload["usage"] = { prompt_tokens: promptTokens, total_tokens: promptTokens };
  writeJson(response, 200, requestId, JSON.stringify(payload));
}
