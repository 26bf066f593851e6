import { reportInternalError } from "../internal/report.js";
import { estimateTokens } from "./content-parts.js";

/**
 * Token counts where an OpenAI-compatible endpoint reported none (a stream cut short, a server that sends no
 * usage, injection turned off): counted with OpenAI's own BPE encodings from `gpt-tokenizer`, and always
 * marked `tokentrace.usage.estimated` by the caller.
 *
 * The tokenizer is loaded on the first estimate only, synchronously (the call's span ends synchronously):
 * about 0.3 s and 15 MB of heap for `o200k_base`, once per process. Apps whose calls always report usage
 * never load it. Where it cannot be loaded (Node without `process.getBuiltinModule`, before 20.16, in an
 * ES module; a bundle without the package), counts fall back to about four characters per token.
 */

type Encoding = "o200k_base" | "cl100k_base";
type CountTokens = (text: string) => number;

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

const counters = new Map<Encoding, CountTokens | null>();

type NodeRequire = (id: string) => unknown;

/** `require` for this module, in the CommonJS build and in the ES module build alike. */
function nodeRequire(): NodeRequire | undefined {
  const getBuiltinModule = (globalThis.process as { getBuiltinModule?: (id: string) => unknown } | undefined)
    ?.getBuiltinModule;
  const nodeModule = getBuiltinModule?.("node:module") as { createRequire?: (from: string) => NodeRequire } | undefined;
  if (typeof nodeModule?.createRequire !== "function") return undefined;
  // In the CommonJS build `__filename` is this file; in an ES module it is not defined and import.meta is.
  const from = typeof __filename === "string" ? __filename : import.meta.url;
  return nodeModule.createRequire(from);
}

function loadCounter(encoding: Encoding): CountTokens | null {
  try {
    const load = nodeRequire();
    if (load === undefined) return null;
    const tokenizer = load(`gpt-tokenizer/encoding/${encoding}`) as { countTokens?: unknown };
    if (typeof tokenizer.countTokens !== "function") return null;
    const countTokens = tokenizer.countTokens as (text: string) => number;
    return (text: string) => countTokens(text);
  } catch (error) {
    reportInternalError("tokenizer-load", error);
    return null;
  }
}

function counterFor(encoding: Encoding): CountTokens | null {
  let counter = counters.get(encoding);
  if (counter === undefined) {
    counter = loadCounter(encoding);
    counters.set(encoding, counter);
  }
  return counter;
}

/** Tokens in a text, for a model. */
export function estimateTextTokens(text: string, model: string | undefined): number {
  if (text === "") return 0;
  const counter = counterFor(encodingFor(model));
  if (counter !== null) {
    try {
      return counter(text);
    } catch (error) {
      reportInternalError("tokenizer-count", error);
    }
  }
  return estimateTokens(text.length);
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
): number {
  if (messages.length === 0) return 0;
  let tokens = TOKENS_REPLY_PRIMING;
  for (const message of messages) {
    tokens += TOKENS_PER_MESSAGE + (message.named ? TOKENS_PER_NAME : 0) + estimateTextTokens(message.text, model);
  }
  return tokens;
}
