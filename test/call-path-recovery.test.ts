import { SpanStatusCode } from "@opentelemetry/api";
import { afterEach, describe, expect, it, vi } from "vitest";
import { internalErrorCounts } from "../src/internal/report.js";
import { anthropicAdapter } from "../src/providers/anthropic.js";
import { openaiAdapter } from "../src/providers/openai.js";
import type { OperationAdapter, ProviderAdapter, StreamAccumulator } from "../src/providers/types.js";
import { openCallCount } from "../src/recorder/call.js";
import { createAnthropicHarness } from "./helpers/anthropic-harness.js";
import type { AnthropicHarness } from "./helpers/anthropic-harness.js";
import { collect, createHarness } from "./helpers/harness.js";
import type { Harness } from "./helpers/harness.js";

/**
 * The interceptor's and the stream wrapper's recovery paths (issue 11): where a step of tokentrace fails (an
 * adapter that throws, a raw body that is not JSON, a stream the app ends with `throw()`), the app still gets
 * exactly what the SDK gives, the call's span still ends exactly once with what could be recorded, and the
 * failure is counted under its kind.
 */

const messages = [{ role: "user" as const, content: "Hi" }];
const MODEL = "claude-sonnet-4-5";

let h: Harness | undefined;
let a: AnthropicHarness | undefined;
afterEach(async () => {
  vi.restoreAllMocks();
  await h?.close();
  await a?.close();
  h = undefined;
  a = undefined;
});

function operation(adapter: { operations: readonly OperationAdapter[] }, path: string): OperationAdapter {
  const found = adapter.operations.find((candidate) => candidate.path.join(".") === path);
  if (found === undefined) throw new Error(`no operation ${path}`);
  return found;
}

const chat = (): OperationAdapter => operation(openaiAdapter, "chat.completions.create");

/** How many internal errors of `kind` `run` reports. */
async function countInternalErrors(kind: string, run: () => Promise<void>): Promise<number> {
  const before = internalErrorCounts().get(kind) ?? 0;
  await run();
  return (internalErrorCounts().get(kind) ?? 0) - before;
}

/** Ids differ from call to call: compare the rest. */
const normalise = (value: unknown): string =>
  JSON.stringify(value)
    .replace(/chatcmpl-mock-\d+/g, "ID")
    .replace(/msg_mock_\w+/g, "ID");

/** Let late handlers run, so that a second end of a span would show. */
const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 20));

const boom = (where: string): Error => new Error(`adapter failure in ${where}`);

describe("an adapter that throws while reading a whole response", () => {
  it("gives the app the SDK's completion and ends the span once, with the transport facts but no response facts", async () => {
    h = await createHarness();
    const harness = h;
    const expected = await harness.raw.chat.completions.create({ model: "gpt-4o-mini", messages });
    vi.spyOn(chat(), "readResponse").mockImplementation(() => {
      throw boom("readResponse");
    });
    let completion: unknown;
    const errors = await countInternalErrors("read-response", async () => {
      completion = await harness.openai.chat.completions.create({ model: "gpt-4o-mini", messages });
    });
    expect(normalise(completion)).toBe(normalise(expected));
    expect(errors).toBe(1);
    await settle();
    const span = harness.onlySpan();
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    expect(span.attributes["http.response.status_code"]).toBe(200);
    expect(span.attributes["tokentrace.request.id"]).toBe("req_mock_2");
    expect(span.attributes["gen_ai.response.id"]).toBeUndefined();
    expect(span.attributes["gen_ai.usage.input_tokens"]).toBeUndefined();
    expect(openCallCount()).toBe(0);
  });

  it("gives the app the raw Response of asResponse() and ends the span once when reading its copy throws", async () => {
    h = await createHarness();
    const harness = h;
    vi.spyOn(chat(), "readResponse").mockImplementation(() => {
      throw boom("readResponse");
    });
    let body: unknown;
    const errors = await countInternalErrors("read-response", async () => {
      const response = await harness.openai.chat.completions.create({ model: "gpt-4o-mini", messages }).asResponse();
      expect(response.status).toBe(200);
      body = await response.json();
      await harness.waitForSpans(1);
    });
    expect(body).toMatchObject({ object: "chat.completion", model: "gpt-4o-mini-2024-07-18" });
    expect(errors).toBe(1);
    await settle();
    const span = harness.onlySpan();
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    expect(span.attributes["http.response.status_code"]).toBe(200);
    expect(span.attributes["gen_ai.usage.input_tokens"]).toBeUndefined();
  });

  it("ends the span once, completed, when the raw body's copy is not JSON", async () => {
    h = await createHarness();
    const harness = h;
    // The copy tokentrace reads is read first, as soon as the response arrives; the app's read is the second.

    const json = Response.prototype.json;
    let reads = 0;
    vi.spyOn(Response.prototype, "json").mockImplementation(function (this: Response) {
      reads++;
      return reads === 1 ? Promise.reject(new SyntaxError("Unexpected token")) : json.call(this);
    });
    const response = await harness.openai.chat.completions.create({ model: "gpt-4o-mini", messages }).asResponse();
    const body: unknown = await response.json();
    expect(body).toMatchObject({ object: "chat.completion" });
    await harness.waitForSpans(1);
    await settle();
    const span = harness.onlySpan();
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    expect(span.attributes["http.response.status_code"]).toBe(200);
    expect(span.attributes["gen_ai.response.id"]).toBeUndefined();
    expect(span.attributes["gen_ai.usage.input_tokens"]).toBeUndefined();
    expect(reads).toBe(2);
  });
});

describe("a failure while observing the SDK's promise", () => {
  it("gives the app the SDK's completion and ends the span once, as completed, when observing the result throws", async () => {
    h = await createHarness();
    const harness = h;
    const expected = await harness.raw.chat.completions.create({ model: "gpt-4o-mini", messages });
    const prepare = chat().prepare.bind(chat());
    vi.spyOn(chat(), "prepare").mockImplementation((body, context) => {
      const prepared = prepare(body, context);
      // Read only once the SDK's promise exists: a prepared call that fails there.
      return Object.defineProperty({ ...prepared }, "injectedStreamUsage", {
        get() {
          throw boom("observe-result");
        },
      });
    });
    let completion: unknown;
    const errors = await countInternalErrors("observe-result", async () => {
      completion = await harness.openai.chat.completions.create({ model: "gpt-4o-mini", messages });
    });
    expect(normalise(completion)).toBe(normalise(expected));
    expect(errors).toBe(1);
    await settle();
    const span = harness.onlySpan();
    expect(span.name).toBe("chat gpt-4o-mini");
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    expect(span.attributes["gen_ai.usage.input_tokens"]).toBeUndefined();
    expect(openCallCount()).toBe(0);
  });

  it("keeps tracing the call when the adapter's SDK-version hook throws", async () => {
    vi.spyOn(openaiAdapter as Required<ProviderAdapter>, "observeApiPromise").mockImplementation(() => {
      throw boom("observeApiPromise");
    });
    h = await createHarness();
    const harness = h;
    const expected = await harness.raw.chat.completions.create({ model: "gpt-4o-mini", messages });
    let completion: unknown;
    const errors = await countInternalErrors("observe-promise", async () => {
      completion = await harness.openai.chat.completions.create({ model: "gpt-4o-mini", messages });
    });
    expect(normalise(completion)).toBe(normalise(expected));
    expect(errors).toBe(1);
    const span = harness.onlySpan();
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    expect(span.attributes["gen_ai.usage.input_tokens"]).toBe(expected.usage?.prompt_tokens);
    expect(span.attributes["gen_ai.response.finish_reasons"]).toEqual(["stop"]);
  });
});

describe("a stream accumulator that throws", () => {
  /** The real accumulator with one of its methods replaced by one that throws. */
  function failingAccumulator(method: "add" | "finish"): void {
    const create = chat().createStreamAccumulator.bind(chat());
    vi.spyOn(chat(), "createStreamAccumulator").mockImplementation((prepared, context) => {
      const real = create(prepared, context);
      const failing: StreamAccumulator = {
        mayHideChunks: real.mayHideChunks,
        add: (chunk, atMs) => {
          if (method === "add") throw boom("add");
          return real.add(chunk, atMs);
        },
        finish: () => {
          if (method === "finish") throw boom("finish");
          return real.finish();
        },
      };
      return failing;
    });
  }

  it("gives the app every chunk when add() throws on each, and ends the span once", async () => {
    // Without the usage chunk tokentrace would ask for: the accumulator that hides it is the one failing.
    h = await createHarness({ injectStreamUsage: false });
    const harness = h;
    const expected = await collect(
      await harness.raw.chat.completions.create({ model: "gpt-4o-mini", messages, stream: true }),
    );
    failingAccumulator("add");
    let chunks: unknown[] = [];
    const errors = await countInternalErrors("stream-chunk", async () => {
      chunks = await collect(
        await harness.openai.chat.completions.create({ model: "gpt-4o-mini", messages, stream: true }),
      );
    });
    expect(chunks.map(normalise)).toEqual(expected.map(normalise));
    expect(errors).toBe(expected.length);
    await settle();
    const span = harness.onlySpan();
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    expect(span.attributes["tokentrace.stream.end"]).toBe("completed");
    // A chunk the accumulator failed on is not counted in the timing.
    expect(span.attributes["tokentrace.stream.chunk_count"]).toBe(0);
    // What the accumulator saw before it failed is still its to tell: here, nothing.
    expect(span.attributes["gen_ai.response.finish_reasons"]).toBeUndefined();
    expect(span.attributes["tokentrace.usage.estimated"]).toBe(true);
  });

  it("ends the span once with the stream's timing but no response facts when finish() throws", async () => {
    h = await createHarness();
    const harness = h;
    failingAccumulator("finish");
    let chunks: unknown[] = [];
    const errors = await countInternalErrors("finish-record", async () => {
      chunks = await collect(
        await harness.openai.chat.completions.create({ model: "gpt-4o-mini", messages, stream: true }),
      );
    });
    // The usage chunk tokentrace asked for is still hidden: add() works.
    expect(chunks).toHaveLength(8);
    expect(chunks.some((chunk) => "usage" in (chunk as object))).toBe(false);
    expect(errors).toBe(1);
    await settle();
    const span = harness.onlySpan();
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    expect(span.attributes["tokentrace.stream.end"]).toBe("completed");
    expect(span.attributes["tokentrace.stream.chunk_count"]).toBe(8);
    expect(span.attributes["gen_ai.response.id"]).toBeUndefined();
    expect(span.attributes["gen_ai.usage.input_tokens"]).toBeUndefined();
    expect(span.attributes["gen_ai.response.finish_reasons"]).toBeUndefined();
    expect(openCallCount()).toBe(0);
  });
});

describe("a stream the app ends with the iterator's throw()", () => {
  it("rejects with the app's own error and ends the span once as that error", async () => {
    h = await createHarness();
    const stream = await h.openai.chat.completions.create({ model: "gpt-4o-mini", messages, stream: true });
    const iterator = stream[Symbol.asyncIterator]();
    const first = await iterator.next();
    expect(first.done).toBe(false);
    const stop = new TypeError("the app gave up");
    const throwIt = iterator.throw?.bind(iterator);
    expect(throwIt).toBeTypeOf("function");
    await expect(throwIt?.(stop)).rejects.toBe(stop);
    await settle();
    const span = h.onlySpan();
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(span.attributes["error.type"]).toBe("TypeError");
    expect(span.attributes["tokentrace.stream.end"]).toBe("error");
    expect(span.attributes["tokentrace.stream.chunk_count"]).toBe(1);
    expect(span.attributes["gen_ai.response.finish_reasons"]).toEqual(["error"]);
    expect(openCallCount()).toBe(0);
  });
});

describe("an adapter whose bindCall throws", () => {
  it("calls the SDK with the app's own arguments and still records the call on one span", async () => {
    a = await createAnthropicHarness();
    const harness = a;
    const expected = await harness.raw.messages.create({ model: MODEL, max_tokens: 100, messages });
    vi.spyOn(operation(anthropicAdapter, "messages.create"), "bindCall").mockImplementation(() => {
      throw boom("bindCall");
    });
    let message: unknown;
    const errors = await countInternalErrors("bind-call", async () => {
      message = await harness.anthropic.messages.create({ model: MODEL, max_tokens: 100, messages });
    });
    expect(normalise(message)).toBe(normalise(expected));
    expect(errors).toBe(1);
    await settle();
    const span = harness.onlySpan();
    expect(span.name).toBe(`chat ${MODEL}`);
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    expect(span.attributes["gen_ai.response.finish_reasons"]).toEqual(["end_turn"]);
    expect(span.attributes["gen_ai.usage.output_tokens"]).toBe(
      (expected as { usage: { output_tokens: number } }).usage.output_tokens,
    );
    expect(openCallCount()).toBe(0);
  });
});

describe("an SDK method that throws before it returns a promise", () => {
  it("rethrows the SDK's own error and ends the span once as that error", async () => {
    a = await createAnthropicHarness();
    // The SDK refuses, synchronously, a non-streamed request that may take longer than ten minutes.
    const body = { model: MODEL, max_tokens: 1_000_000, messages };
    let rawError: unknown;
    try {
      void a.raw.messages.create(body);
    } catch (error) {
      rawError = error;
    }
    let thrown: unknown;
    try {
      void a.anthropic.messages.create(body);
    } catch (error) {
      thrown = error;
    }
    expect(rawError).toBeInstanceOf(Error);
    expect(thrown).toBeInstanceOf((rawError as Error).constructor);
    expect((thrown as Error).message).toBe((rawError as Error).message);
    await settle();
    const span = a.onlySpan();
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(span.attributes["error.type"]).toBe("AnthropicError");
    expect(span.attributes["gen_ai.request.max_tokens"]).toBe(1_000_000);
    expect(openCallCount()).toBe(0);
  });
});
