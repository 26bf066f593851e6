import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { InvalidOptionError, callInfo, currentRef, observe, withTool } from "../src/index.js";
import { encodeRef, parseRef } from "../src/feedback/ref.js";
import { memorySink, setup } from "../src/setup-entry.js";
import type { MemorySink } from "../src/setup-entry.js";
import { startMockLLMServer } from "../src/testing/mock-server.js";
import { setupSuite } from "./helpers/telemetry.js";

/** callInfo() and currentRef() (issue 14): naming the exact call behind what an observed client returned. */

const SECRET = "feedback-secret-0123456789";
const messages = [{ role: "user" as const, content: "What is the capital of France?" }];

let sink: MemorySink;
const suite = setupSuite(startMockLLMServer);

function start(feedback?: { secret?: string }): { openai: OpenAI; raw: OpenAI; anthropic: Anthropic } {
  sink = memorySink();
  suite.telemetry = setup({ serviceName: "call-info", sinks: [sink], ...(feedback === undefined ? {} : { feedback }) });
  const raw = new OpenAI({ baseURL: suite.server.openaiBaseURL, apiKey: "sk-test", maxRetries: 0 });
  return {
    raw,
    openai: observe(new OpenAI({ baseURL: suite.server.openaiBaseURL, apiKey: "sk-test", maxRetries: 0 })),
    anthropic: observe(new Anthropic({ baseURL: suite.server.anthropicBaseURL, apiKey: "sk-ant-test", maxRetries: 0 })),
  };
}

describe("callInfo()", () => {
  it("names a non-streaming call's span, with its model, response id, usage and cost as recorded", async () => {
    const { openai, raw } = start();
    const completion = await openai.chat.completions.create({ model: "gpt-4o-mini", messages });
    const [span] = sink.getSpans();
    const { traceId, spanId } = span!.spanContext();
    expect(callInfo(completion)).toEqual({
      traceId,
      spanId,
      provider: "openai",
      requestModel: "gpt-4o-mini",
      model: span!.attributes["gen_ai.response.model"],
      responseId: span!.attributes["gen_ai.response.id"],
      usage: {
        inputTokens: span!.attributes["gen_ai.usage.input_tokens"],
        outputTokens: span!.attributes["gen_ai.usage.output_tokens"],
        cacheReadInputTokens: span!.attributes["gen_ai.usage.cache_read.input_tokens"],
        reasoningOutputTokens: span!.attributes["gen_ai.usage.reasoning.output_tokens"],
      },
      costUsd: span!.attributes["gen_ai.usage.cost"],
      ended: true,
      ref: encodeRef(traceId, spanId, undefined),
    });
    expect(typeof callInfo(completion)?.costUsd).toBe("number");
    // The SDK's object is the one the raw client gives: same keys, nothing added.
    const plain = await raw.chat.completions.create({ model: "gpt-4o-mini", messages });
    expect(Object.keys(completion)).toEqual(Object.keys(plain));
    expect(callInfo(plain)).toBeUndefined();
    // A copy names nothing: only a parse() helper's call is known by its response id.
    expect(callInfo({ ...completion })).toBeUndefined();
  });

  it("follows a stream: started, then ended with its usage once read", async () => {
    const { openai } = start();
    const stream = await openai.chat.completions.create({ model: "gpt-4o-mini", messages, stream: true });
    const before = callInfo(stream);
    expect(before).toMatchObject({ provider: "openai", ended: false, usage: undefined, costUsd: undefined });
    for await (const chunk of stream) void chunk;
    const after = callInfo(stream);
    const [span] = sink.getSpans();
    expect(after?.spanId).toBe(span!.spanContext().spanId);
    expect(after?.ended).toBe(true);
    expect(after?.usage?.outputTokens).toBe(span!.attributes["gen_ai.usage.output_tokens"]);
    // A snapshot: the one taken before did not change.
    expect(before?.ended).toBe(false);
  });

  it("names the data of withResponse() and an Anthropic message", async () => {
    const { openai, anthropic } = start();
    const { data } = await openai.chat.completions.create({ model: "gpt-4o-mini", messages }).withResponse();
    const message = await anthropic.messages.create({ model: "claude-3-5-haiku-latest", max_tokens: 50, messages });
    const [chat, claude] = sink.getSpans();
    expect(callInfo(data)?.spanId).toBe(chat!.spanContext().spanId);
    expect(callInfo(message)).toMatchObject({
      spanId: claude!.spanContext().spanId,
      provider: "anthropic",
      responseId: message.id,
      ended: true,
    });
  });

  it("names the call of a streaming helper's object, and the run's span of a runTools() runner", async () => {
    const { openai, anthropic } = start();
    const chatStream = openai.chat.completions.stream({ model: "gpt-4o-mini", messages });
    // Made before its request: nothing to name yet.
    expect(callInfo(chatStream)).toBeUndefined();
    await chatStream.finalChatCompletion();
    const runner = openai.chat.completions.runTools({ model: "gpt-4o-mini", messages, tools: [] });
    await runner.finalChatCompletion();
    const messageStream = anthropic.messages.stream({ model: "claude-3-5-haiku-latest", max_tokens: 50, messages });
    await messageStream.finalMessage();
    const responseStream = openai.responses.stream({ model: "gpt-4o-mini", input: "hi" });
    await responseStream.finalResponse();
    const ids = sink.getSpans().map((span) => [span.name, span.spanContext().spanId]);
    expect(ids.map(([name]) => name)).toEqual([
      "chat gpt-4o-mini",
      "chat gpt-4o-mini",
      "invoke_agent",
      "chat claude-3-5-haiku-latest",
      "chat gpt-4o-mini",
    ]);
    expect([chatStream, runner, messageStream, responseStream].map((result) => callInfo(result)?.spanId)).toEqual([
      ids[0]![1],
      ids[2]![1],
      ids[3]![1],
      ids[4]![1],
    ]);
    expect(callInfo(messageStream)).toMatchObject({ provider: "anthropic", ended: true });
  });

  it("names the call of a parse() helper's result, a copy the SDK makes of the response", async () => {
    const { openai, anthropic } = start();
    const chat = await openai.chat.completions.parse({ model: "gpt-4o-mini", messages });
    const response = await openai.responses.parse({ model: "gpt-4o-mini", input: "hi" });
    const message = await anthropic.messages.parse({ model: "claude-3-5-haiku-latest", max_tokens: 50, messages });
    const spans = sink.getSpans();
    expect(spans.map((span) => span.name)).toEqual([
      "chat gpt-4o-mini",
      "chat gpt-4o-mini",
      "chat claude-3-5-haiku-latest",
    ]);
    const infos = [chat, response, message].map((result) => callInfo(result));
    expect(infos.map((info) => info?.spanId)).toEqual(spans.map((span) => span.spanContext().spanId));
    expect(infos.map((info) => info?.responseId)).toEqual([chat.id, response.id, message.id]);
    expect(infos.map((info) => info?.provider)).toEqual(["openai", "openai", "anthropic"]);
    // The wrapped helpers keep the SDK methods' names and lengths.
    const rawClient = new OpenAI({ apiKey: "sk-test" });
    for (const name of ["parse", "stream", "create"] as const) {
      expect(openai.chat.completions[name].name).toBe(rawClient.chat.completions[name].name);
      expect(openai.chat.completions[name].length).toBe(rawClient.chat.completions[name].length);
    }
  });

  it("is undefined for anything an observed client did not return", () => {
    for (const value of [undefined, null, 1, "x", {}, [], new Map()]) expect(callInfo(value)).toBeUndefined();
  });

  it("signs refs with setup()'s feedback secret; they parse back to the span only with it", async () => {
    const { openai } = start({ secret: SECRET });
    const completion = await openai.chat.completions.create({ model: "gpt-4o-mini", messages });
    const ref = callInfo(completion)?.ref;
    const [span] = sink.getSpans();
    const { traceId, spanId } = span!.spanContext();
    expect(ref).toBe(encodeRef(traceId, spanId, SECRET));
    expect(parseRef((JSON.parse(JSON.stringify({ ref })) as { ref: string }).ref, SECRET)).toEqual({
      ok: true,
      traceId,
      spanId,
      signed: true,
    });
    expect(parseRef(ref, "another-secret-0123456789")).toEqual({ ok: false, reason: "bad_signature" });
  });
});

describe("currentRef()", () => {
  it("names the innermost stage, and nothing outside a span", () => {
    start();
    expect(currentRef()).toBeUndefined();
    let inside: string | undefined;
    withTool("lookup", () => {
      inside = currentRef();
    });
    const [tool] = sink.getSpans();
    expect(inside).toBe(encodeRef(tool!.spanContext().traceId, tool!.spanContext().spanId, undefined));
  });
});

describe("setup({ feedback })", () => {
  it("rejects what is not { secret?, spans? } with a secret of 16 characters or more", () => {
    const cases: [unknown, string, string][] = [
      ["s3cret", "feedback", 'expected an object { secret?, spans? }, received the string "s3cret"'],
      [{ key: SECRET }, "feedback.key", "unknown option. Accepted options: secret, spans."],
      [{ spans: "yes" }, "feedback.spans", 'expected true, false or "auto", received the string "yes"'],
      [
        { secret: "short" },
        "feedback.secret",
        "expected a secret string of at least 16 characters, received a string of 5",
      ],
    ];
    for (const [feedback, option, fragment] of cases) {
      let thrown: unknown;
      try {
        setup({ feedback } as never);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(InvalidOptionError);
      expect((thrown as InvalidOptionError).option).toBe(option);
      expect((thrown as Error).message).toContain(fragment);
    }
  });
});
