import { countTokens, preloadEncoding } from "../internal/tokenizer.js";
import type { Encoding } from "../internal/tokenizer.js";
import type { Usage } from "../usage.js";
import { estimateTokens } from "./content-parts.js";

/**
 * Token counts where an OpenAI-compatible endpoint reported none (a stream cut short, a server that sends no
 * usage, injection turned off), always marked `tokentrace.usage.estimated` by the caller, with the method in
 * `tokentrace.usage.estimate_method`.
 *
 * The counting itself is src/internal/tokenizer.ts (a worker thread, issue 10): this module picks the encoding,
 * adds the chat formatting and, where the worker cannot count (not ready yet, no `worker_threads`, no
 * `gpt-tokenizer`, text past its bound, a timeout), uses the cheap rule of about four characters per token,
 * marked `characters`. Nothing loads on a call path, and spans still end synchronously.
 */

/** How an estimate was made: OpenAI's own encoding, or about four characters per token. */
export type EstimateMethod = "tokenizer" | "characters";

export interface TokenEstimate {
  tokens: number;
  method: EstimateMethod;
}

/**
 * Models on `cl100k_base`: GPT-4 and GPT-4 Turbo (not 4o, 4.1, 4.5), GPT-3.5, the text-embedding models and
 * the last legacy completion models. Everything else, other vendors' models included (an estimate either
 * way), uses `o200k_base`, the encoding of every OpenAI model since GPT-4o.
 */
const cl100kModels = /^(gpt-4|gpt-3\.5|gpt-35|text-embedding-|davinci-002|babbage-002)/;
const o200kGpt4Models = /^(gpt-4o|gpt-4\.)/;

export function encodingFor(model: string | undefined): Encoding {
  const name = (model ?? "").toLowerCase().replace(/^ft:/, "");
  return cl100kModels.test(name) && !o200kGpt4Models.test(name) ? "cl100k_base" : "o200k_base";
}

/**
 * Tokens in `texts` together, for a model: with OpenAI's encoding when its worker is ready, otherwise by the
 * cheap rule (and the worker is started, for later calls). Never throws, never blocks for long.
 */
export function estimateTexts(texts: readonly string[], model: string | undefined): TokenEstimate {
  let characters = 0;
  for (const text of texts) characters += text.length;
  if (characters === 0) return { tokens: 0, method: "tokenizer" };
  const counted = countTokens(encodingFor(model), texts, characters);
  if (counted !== undefined) return { tokens: counted, method: "tokenizer" };
  let tokens = 0;
  for (const text of texts) tokens += estimateTokens(text.length);
  return { tokens, method: "characters" };
}

/** Tokens in one text, for a model (see `estimateTexts`). */
export function estimateTextTokens(text: string, model: string | undefined): TokenEstimate {
  return estimateTexts([text], model);
}

/**
 * Chat formatting that the API bills beyond the messages' text: 3 tokens per message, 1 more for a `name`,
 * and 3 that prime the reply (OpenAI cookbook, "How to count tokens with tiktoken", for gpt-3.5-turbo-0613
 * and every later chat model). Tool definitions and images are not counted.
 */
export const TOKENS_PER_MESSAGE = 3;
export const TOKENS_PER_NAME = 1;
export const TOKENS_REPLY_PRIMING = 3;

/** Input tokens of chat messages given as their texts (and whether each has a name). */
export function estimateChatInputTokens(
  messages: readonly { text: string; named: boolean }[],
  model: string | undefined,
): TokenEstimate {
  if (messages.length === 0) return { tokens: 0, method: "tokenizer" };
  const text = estimateTexts(
    messages.map((message) => message.text),
    model,
  );
  let tokens = TOKENS_REPLY_PRIMING + text.tokens;
  for (const message of messages) tokens += TOKENS_PER_MESSAGE + (message.named ? TOKENS_PER_NAME : 0);
  return { tokens, method: text.method };
}

/**
 * An estimated usage from the input's estimate and the output's: an estimate of text at hand, or a plain count
 * for streamed output (always estimated from its length, so the method is then the input's). The method is
 * `tokenizer` only when every part used it.
 */
export function estimatedUsageOf(input: TokenEstimate, output: TokenEstimate | number): Usage {
  const streamed = typeof output === "number";
  const method = streamed || output.method === input.method ? input.method : "characters";
  return {
    inputTokens: input.tokens,
    outputTokens: streamed ? output : output.tokens,
    estimated: true,
    estimateMethod: method,
  };
}

/**
 * Resolves when the tokenizer for `model`'s encoding is loaded (or could not be): starts loading it if
 * nothing has yet. For apps that want exact estimates from their first call, and for tests.
 */
export function preloadTokenizer(model?: string): Promise<void> {
  return preloadEncoding(encodingFor(model));
}
