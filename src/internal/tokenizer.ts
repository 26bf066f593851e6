/*
 * OpenAI's encodings counted in a worker thread (issue 10), kept out of src/providers/ (issue 11: adapters do no
 * I/O): adapters ask for a count through `countTokens` and get a number, or `undefined` when the worker is not
 * ready, the text is too long or the count timed out, and then use the cheap rule themselves.
 */
import { reportInternalError, warnOnce } from "./report.js";

/** The encodings tokentrace counts with: GPT-4o and later, and GPT-4 / GPT-3.5 / the text-embedding models. */
export type Encoding = "o200k_base" | "cl100k_base";

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
  // A request that timed out is still ahead in the worker's queue: waiting behind it would stall this call
  // too, and every call after it. Count cheaply until the worker has caught up.
  if (Atomics.load(shared, 0) !== counter.sequence) return undefined;
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
 * Tokens of `texts` (`characters` long in all) in `encoding`, or `undefined` when the worker cannot count
 * them now (starting it for later calls). Never throws; waits at most `COUNT_TIMEOUT_MS`.
 */
export function countTokens(encoding: Encoding, texts: readonly string[], characters: number): number | undefined {
  try {
    return countWithWorker(counterFor(encoding), texts, characters);
  } catch (error) {
    reportInternalError("tokenizer-count", error);
    return undefined;
  }
}

/** Resolves when the encoding's worker is ready (or could not start); starts it if nothing has yet. */
export function preloadEncoding(encoding: Encoding): Promise<void> {
  return counterFor(encoding).settled;
}
