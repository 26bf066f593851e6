import { reportInternalError, warnOnce } from "../internal/report.js";
import type { Usage } from "../usage.js";
import { estimateTokens } from "./content-parts.js";

/**
 * Token counts where an OpenAI-compatible endpoint reported none (a stream cut short, a server that sends no
 * usage, injection turned off), always marked `tokentrace.usage.estimated` by the caller, with the method in
 * `tokentrace.usage.estimate_method`.
 *
 * Nothing loads on a call path (issue 10). Evaluating `gpt-tokenizer`'s encodings blocks whichever thread does
 * it for 0.1–0.25 s (measured by bench/first-estimate.mjs; a "background" `import()` on the main thread blocks
 * just as long, only later), so the tokenizer is loaded in a worker thread, started on the first estimate
 * that needs it. Until that worker says it is ready, and wherever it cannot run (no `worker_threads`, Node
 * without `process.getBuiltinModule` before 20.16 in an ES module, a bundle without the package), counts use
 * the cheap rule of about four characters per token, marked `characters`. Once it is ready, a call's texts go
 * to the worker in one message and the call waits for the count (`Atomics.wait`, bounded: at most
 * `MAX_COUNTED_CHARACTERS` of text and `COUNT_TIMEOUT_MS`), so spans still end synchronously.
 */

type Encoding = "o200k_base" | "cl100k_base";

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
 * Longest text (all of a call's texts together) counted with the tokenizer: the worker counts 5–15
 * characters per µs, so the wait stays within a few milliseconds. Longer input uses the cheap rule.
 */
export const MAX_COUNTED_CHARACTERS = 50_000;
/**
 * Longest wait for the worker's count before the cheap rule is used instead: a ceiling for a starved or
 * stuck worker, not the usual wait (a warm worker answers a few kilobytes in well under a millisecond).
 */
export const COUNT_TIMEOUT_MS = 100;

/** Worker thread code (CommonJS, run with `eval`): load the encoding, warm it, then count on request. */
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const shared = new Int32Array(workerData.shared);
let count;
try {
  count = require(workerData.path).countTokens;
  // Warm the encoder (its caches and the JIT) before saying it is ready, so the first real count is quick.
  for (let round = 0; round < 20; round++) {
    count("Warm-up " + round + ": the encoder builds its caches on first use. 0123456789 ünïcödé {\\"json\\": [1, 2]}\\n".repeat(50));
  }
} catch (error) {
  count = undefined;
  parentPort.postMessage({ type: "failed", message: String(error && error.message || error) });
}
if (count !== undefined) {
  parentPort.postMessage({ type: "ready" });
  parentPort.on("message", (request) => {
    let total = 0;
    try {
      for (const text of request.texts) total += count(text);
    } catch {
      total = -1;
    }
    Atomics.store(shared, 1, total);
    Atomics.store(shared, 0, request.sequence);
    Atomics.notify(shared, 0);
  });
}
`;

interface WorkerLike {
  postMessage(message: unknown): void;
  on(event: string, listener: (value: unknown) => void): unknown;
  unref(): void;
}

type WorkerConstructor = new (source: string, options: { eval: true; workerData: unknown }) => WorkerLike;

interface Counter {
  state: "loading" | "ready" | "failed";
  /** Settles when the counter is ready or has failed. */
  settled: Promise<void>;
  worker?: WorkerLike;
  /** [0]: sequence number of the last answered request, [1]: its count (-1: the count failed). */
  shared?: Int32Array;
  sequence: number;
}

const counters = new Map<Encoding, Counter>();

type NodeRequire = ((id: string) => unknown) & { resolve(id: string): string };

function builtin(id: string): unknown {
  const getBuiltinModule = (globalThis.process as { getBuiltinModule?: (id: string) => unknown } | undefined)
    ?.getBuiltinModule;
  return getBuiltinModule?.(id);
}

/** `require` for this module, in the CommonJS build and in the ES module build alike. */
function nodeRequire(): NodeRequire | undefined {
  const nodeModule = builtin("node:module") as { createRequire?: (from: string) => NodeRequire } | undefined;
  if (typeof nodeModule?.createRequire !== "function") return undefined;
  // In the CommonJS build `__filename` is this file; in an ES module it is not defined and import.meta is.
  const from = typeof __filename === "string" ? __filename : import.meta.url;
  return nodeModule.createRequire(from);
}

/** Where the encoding's module is; replaced only by tests (`setTokenizerPathForTests`). */
let tokenizerPath = (load: NodeRequire, encoding: Encoding): string =>
  load.resolve(`gpt-tokenizer/encoding/${encoding}`);

/**
 * Test-only: forget every loaded counter and load the encodings from `path(encoding)` from now on (a missing
 * file stands for a bundle without `gpt-tokenizer`). Without `path`, back to the package. Not public API.
 */
export function setTokenizerPathForTests(path?: (encoding: Encoding) => string): void {
  counters.clear();
  tokenizerPath =
    path === undefined
      ? (load, encoding) => load.resolve(`gpt-tokenizer/encoding/${encoding}`)
      : (_load, encoding) => path(encoding);
}

/** Start the worker for an encoding; never throws, never waits. */
function startCounter(encoding: Encoding): Counter {
  let settle: () => void = () => undefined;
  const counter: Counter = {
    state: "loading",
    settled: new Promise<void>((resolve) => (settle = resolve)),
    sequence: 0,
  };
  const fail = (error: unknown): void => {
    if (counter.state === "failed") return;
    counter.state = "failed";
    reportInternalError("tokenizer-load", error);
    settle();
  };
  try {
    const Worker = (builtin("node:worker_threads") as { Worker?: WorkerConstructor } | undefined)?.Worker;
    const load = nodeRequire();
    if (typeof Worker !== "function" || load === undefined) {
      counter.state = "failed";
      settle();
      return counter;
    }
    let path: string;
    try {
      path = tokenizerPath(load, encoding);
    } catch (error) {
      // An optional peer dependency (issue 11): not installed is a choice, not a failure. Say once how to
      // get exact estimates; counts stay marked `characters`.
      if ((error as { code?: unknown } | null)?.code !== "MODULE_NOT_FOUND") throw error;
      warnOnce(
        "gpt-tokenizer is not installed, so token estimates (for responses without usage) count about four " +
          "characters per token (tokentrace.usage.estimate_method = characters). For OpenAI's own encodings: " +
          "npm install gpt-tokenizer",
      );
      counter.state = "failed";
      settle();
      return counter;
    }
    const shared = new Int32Array(new SharedArrayBuffer(8));
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { path, shared: shared.buffer } });
    // Never keeps the process alive.
    worker.unref();
    worker.on("message", (message) => {
      const type = (message as { type?: unknown } | null)?.type;
      if (type === "ready") {
        counter.state = "ready";
        settle();
      } else if (type === "failed") {
        fail(new Error(String((message as { message?: unknown }).message)));
      }
    });
    worker.on("error", fail);
    worker.on("exit", () => fail(new Error("the tokenizer worker exited")));
    counter.worker = worker;
    counter.shared = shared;
  } catch (error) {
    fail(error);
  }
  return counter;
}

function counterFor(encoding: Encoding): Counter {
  let counter = counters.get(encoding);
  if (counter === undefined) {
    counter = startCounter(encoding);
    counters.set(encoding, counter);
  }
  return counter;
}

/** Tokens of `texts` with the worker, or undefined when it is not ready, the text is too long, or it timed out. */
function countWithWorker(counter: Counter, texts: readonly string[], characters: number): number | undefined {
  if (counter.state !== "ready" || characters > MAX_COUNTED_CHARACTERS) return undefined;
  const { worker, shared } = counter;
  if (worker === undefined || shared === undefined) return undefined;
  const sequence = ++counter.sequence;
  worker.postMessage({ sequence, texts });
  const deadline = performance.now() + COUNT_TIMEOUT_MS;
  for (;;) {
    const answered = Atomics.load(shared, 0);
    if (answered === sequence) {
      const total = Atomics.load(shared, 1);
      return total >= 0 ? total : undefined;
    }
    const remaining = deadline - performance.now();
    if (remaining <= 0) {
      reportInternalError("tokenizer-timeout", new Error(`no count within ${COUNT_TIMEOUT_MS} ms`));
      return undefined;
    }
    // Wakes on the worker's notify, or when a late answer to an earlier request lands; then looks again.
    Atomics.wait(shared, 0, answered, remaining);
  }
}

/**
 * Tokens in `texts` together, for a model: with OpenAI's encoding when its worker is ready, otherwise by the
 * cheap rule (and the worker is started, for later calls). Never throws, never blocks for long.
 */
export function estimateTexts(texts: readonly string[], model: string | undefined): TokenEstimate {
  let characters = 0;
  for (const text of texts) characters += text.length;
  if (characters === 0) return { tokens: 0, method: "tokenizer" };
  try {
    const tokens = countWithWorker(counterFor(encodingFor(model)), texts, characters);
    if (tokens !== undefined) return { tokens, method: "tokenizer" };
  } catch (error) {
    reportInternalError("tokenizer-count", error);
  }
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
  return counterFor(encodingFor(model)).settled;
}
