import { fileURLToPath } from "node:url";
import OpenAI from "openai";
import { countTokens as countO200k } from "gpt-tokenizer/encoding/o200k_base";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { observe, preloadTokenizer } from "../src/index.js";
import { internalErrorCounts } from "../src/internal/report.js";
import { MAX_COUNTED_CHARACTERS, setTokenizerPathForTests } from "../src/internal/tokenizer.js";
import { estimateTexts } from "../src/providers/openai-token-estimate.js";
import { startMockLLMServer } from "../src/testing/index.js";
import type { MockLLMServer } from "../src/testing/index.js";
import { createTestTelemetry } from "./helpers/telemetry.js";
import type { TestTelemetry } from "./helpers/telemetry.js";

// This file runs in a module state of its own: the tokenizer is not loaded until a test asks for it, so the
// first tests see what the first estimated call of a process sees.
const question = "What is the capital of France?";
const reply = "The capital of France is Paris, a city on the Seine.";
let server: MockLLMServer;
let telemetry: TestTelemetry;

beforeAll(async () => {
  server = await startMockLLMServer({ defaultReply: { text: reply } });
  telemetry = createTestTelemetry();
});
afterAll(async () => {
  await telemetry.shutdown();
  await server.close();
});

function client(captureContent: boolean): OpenAI {
  const raw = new OpenAI({ baseURL: server.openaiBaseURL, apiKey: "sk-test", maxRetries: 0 });
  const { tracerProvider, meterProvider } = telemetry;
  return observe(raw, { tracerProvider, meterProvider, captureContent, injectStreamUsage: false });
}

async function estimatedCall(captureContent: boolean, stream: boolean): Promise<Record<string, unknown>> {
  telemetry.sink.reset();
  const messages = [{ role: "user" as const, content: question }];
  if (stream) {
    for await (const chunk of await client(captureContent).chat.completions.create({
      model: "gpt-4o-mini",
      messages,
      stream: true,
    }))
      void chunk;
  } else {
    // The mock server always reports usage on a whole response; a plain-text body has none to read.
    await client(captureContent)
      .completions.create({ model: "gpt-4o-mini", prompt: question, stream: true })
      .then(async (s) => {
        for await (const chunk of s) void chunk;
      });
  }
  return telemetry.onlySpan().attributes;
}

describe("token estimates", () => {
  it("never load the tokenizer on the call path: the first estimated call uses the character rule and says so", async () => {
    const attributes = await estimatedCall(true, true);
    expect(attributes["tokentrace.usage.estimated"]).toBe(true);
    expect(attributes["tokentrace.usage.estimate_method"]).toBe("characters");
    // The question's 30 characters at four per token, 3 for its message, 3 priming the reply.
    expect(attributes["gen_ai.usage.input_tokens"]).toBe(Math.ceil(question.length / 4) + 6);
    expect(attributes["gen_ai.usage.output_tokens"]).toBe(Math.ceil(reply.length / 4));
  });

  it("count with OpenAI's encoding once the worker that loaded it is ready", async () => {
    await preloadTokenizer("gpt-4o-mini");
    const attributes = await estimatedCall(true, true);
    expect(attributes["tokentrace.usage.estimate_method"]).toBe("tokenizer");
    expect(attributes["gen_ai.usage.input_tokens"]).toBe(countO200k(question) + 6);
    // Streamed output is always estimated from its length.
    expect(attributes["gen_ai.usage.output_tokens"]).toBe(Math.ceil(reply.length / 4));
  });

  it("give a call the same estimate whether content capture is on or off", async () => {
    await preloadTokenizer("gpt-4o-mini");
    for (const stream of [true, false]) {
      const on = await estimatedCall(true, stream);
      const off = await estimatedCall(false, stream);
      for (const name of [
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.output_tokens",
        "tokentrace.usage.estimate_method",
      ]) {
        expect(off[name], `${name}, stream ${String(stream)}`).toBe(on[name]);
      }
      expect(on["gen_ai.usage.input_tokens"]).toBe(stream ? countO200k(question) + 6 : countO200k(question));
    }
  });

  it("use the character rule, marked, for texts longer than the worker counts within its bound", async () => {
    await preloadTokenizer("gpt-4o-mini");
    const long = "a ".repeat(MAX_COUNTED_CHARACTERS / 2 + 1);
    expect(estimateTexts([long], "gpt-4o-mini")).toEqual({ tokens: Math.ceil(long.length / 4), method: "characters" });
    expect(estimateTexts(["Hello, world"], "gpt-4o-mini")).toEqual({
      tokens: countO200k("Hello, world"),
      method: "tokenizer",
    });
    expect(internalErrorCounts().get("tokenizer-timeout")).toBeUndefined();
  });

  it("stop waiting on a stalled worker: after one timeout, calls count characters at once until it catches up", async () => {
    setTokenizerPathForTests(() => fileURLToPath(new URL("./fixtures/tokenizer/slow-encoding.cjs", import.meta.url)));
    try {
      await preloadTokenizer("gpt-4o-mini");
      const before = internalErrorCounts().get("tokenizer-timeout") ?? 0;
      expect(estimateTexts(["STALL here"], "gpt-4o-mini")).toEqual({ tokens: 3, method: "characters" });
      expect(internalErrorCounts().get("tokenizer-timeout")).toBe(before + 1);
      // The worker is still busy with the stalled request: no second 100 ms wait behind it.
      expect(estimateTexts(["Hello"], "gpt-4o-mini")).toEqual({ tokens: 2, method: "characters" });
      expect(internalErrorCounts().get("tokenizer-timeout")).toBe(before + 1);
      // Once it has answered the stalled request, it counts again.
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect(estimateTexts(["Hello"], "gpt-4o-mini")).toEqual({ tokens: 5, method: "tokenizer" });
    } finally {
      setTokenizerPathForTests();
    }
  });

  it("fall back to the character rule, marked, when the tokenizer cannot be loaded, and report it once", async () => {
    setTokenizerPathForTests(() => "/nonexistent/gpt-tokenizer/encoding.js");
    try {
      await preloadTokenizer("gpt-4o-mini");
      expect(internalErrorCounts().get("tokenizer-load")).toBe(1);
      const attributes = await estimatedCall(false, true);
      expect(attributes["tokentrace.usage.estimate_method"]).toBe("characters");
      expect(attributes["gen_ai.usage.input_tokens"]).toBe(Math.ceil(question.length / 4) + 6);
      expect(attributes["gen_ai.usage.output_tokens"]).toBe(Math.ceil(reply.length / 4));
      // A failed load is not retried call after call.
      await estimatedCall(false, true);
      expect(internalErrorCounts().get("tokenizer-load")).toBe(1);
    } finally {
      setTokenizerPathForTests();
    }
  });
});
