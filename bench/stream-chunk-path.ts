/**
 * Per-chunk cost of the stream wrapper, in process (no network, no SDK parsing): an async generator of
 * 200 chat chunks read with `for await`, raw, traced without injected usage (the side branch) and traced
 * with injected usage (one `then` per chunk, issue 10). Rounds alternate the three, and the report gives
 * the median and the range over rounds of the added ns per chunk. Run: `npx tsx bench/stream-chunk-path.ts`.
 */
import { openaiAdapter } from "../src/providers/openai.js";
import type { OpenAIContext } from "../src/providers/openai-payload.js";
import type { PreparedCall } from "../src/providers/types.js";
import type { ActiveCall } from "../src/recorder/call.js";
import { traceStream } from "../src/stream-wrapper.js";
import { CallFacts } from "../src/feedback/call-info.js";

const CHUNKS = 200;
const STREAMS = 400;
const ROUNDS = 15;
const template = (finish: string | null, withNull: boolean): string =>
  JSON.stringify({
    id: "chatcmpl-x",
    object: "chat.completion.chunk",
    created: 1,
    model: "gpt-4o-mini",
    choices: [{ index: 0, delta: { content: "word " }, logprobs: null, finish_reason: finish }],
    ...(withNull ? { usage: null } : {}),
  });

// eslint-disable-next-line @typescript-eslint/require-await -- an SDK stream without I/O: the wrapper's cost alone
async function* chunks(injected: boolean): AsyncGenerator {
  const plain = template(null, injected);
  for (let index = 0; index < CHUNKS - 1; index++) yield JSON.parse(plain);
  yield JSON.parse(template("stop", injected));
  if (injected)
    yield { id: "chatcmpl-x", choices: [], usage: { prompt_tokens: 1, completion_tokens: CHUNKS, total_tokens: 201 } };
}

const operation = openaiAdapter.operations.find((item) => item.path.join(".") === "chat.completions.create")!;
const context = (inject: boolean): OpenAIContext => ({
  client: {
    providerName: "openai",
    serverAddress: "127.0.0.1",
    serverPort: 1,
    acceptsStreamUsageOption: inject,
    requestIdHeader: "x",
    traits: { deployment: undefined, apiVersion: undefined },
  },
  captureContent: false,
  injectStreamUsage: inject,
});

function stubCall(prepared: PreparedCall): ActiveCall {
  return {
    request: prepared.facts,
    span: undefined as never,
    startMs: 0,
    startEpochMs: 0,
    context: undefined as never,
    ended: false,
    setTransport() {},
    setRateLimits() {},
    retried: false,
    streamStarted() {},
    lendSpan: () => undefined,
    end() {},
    afterEnd() {},
    watch() {},
    resultFacts: () => new CallFacts("0".repeat(32), "0".repeat(16), prepared.facts.providerName, undefined),
  };
}

async function read(mode: "raw" | "side" | "then"): Promise<number> {
  const injected = mode === "then";
  const stream = { iterator: () => chunks(injected) as AsyncIterator<unknown> };
  if (mode !== "raw") {
    const ctx = context(injected);
    const prepared = operation.prepare({ model: "gpt-4o-mini", messages: [], stream: true }, ctx);
    traceStream(
      stream,
      stubCall(prepared),
      operation.createStreamAccumulator(prepared, ctx),
      () => performance.now(),
      false,
    );
  }
  let seen = 0;
  for await (const _ of { [Symbol.asyncIterator]: () => stream.iterator() }) seen++;
  return seen;
}

async function timeMode(mode: "raw" | "side" | "then"): Promise<number> {
  const start = process.hrtime.bigint();
  for (let index = 0; index < STREAMS; index++) await read(mode);
  return Number(process.hrtime.bigint() - start) / (STREAMS * CHUNKS);
}

const modes = ["raw", "side", "then"] as const;
for (let warm = 0; warm < 5; warm++) for (const mode of modes) await timeMode(mode);
const added: Record<"side" | "then", number[]> = { side: [], then: [] };
for (let round = 0; round < ROUNDS; round++) {
  const ns: Record<string, number> = {};
  for (const mode of round % 2 ? [...modes].reverse() : modes) ns[mode] = await timeMode(mode);
  added.side.push(ns["side"]! - ns["raw"]!);
  added.then.push(ns["then"]! - ns["raw"]!);
}
const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
for (const mode of ["side", "then"] as const) {
  const values = added[mode];
  console.log(
    `${mode}: +${median(values).toFixed(0)} ns/chunk over raw (range ${Math.min(...values).toFixed(0)}..${Math.max(...values).toFixed(0)})`,
  );
}
