import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { MeterProvider } from "@opentelemetry/sdk-metrics";
import { BasicTracerProvider } from "@opentelemetry/sdk-trace-base";
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { observe } from "../../src/index.js";
import { openCallCount } from "../../src/recorder/call.js";
import { startMockLLMServer } from "../../src/testing/index.js";
import type { MockLLMServer } from "../../src/testing/index.js";
import { SpanCounter } from "../helpers/reliability.js";

/**
 * 1,000 concurrent calls of mixed kinds through ONE observed OpenAI client and ONE observed Anthropic client
 * (issue #10): every span's content and usage belong to its own request.
 *
 * Each request carries a unique marker `<<req-i>>` in a prompt of 16 + 4·i characters, so the mock server's
 * default input count is exact and distinct: ceil((16 + 4i) / 4) + 4 = i + 8 tokens (one message, no system).
 * Each reply is a distinct text of 1 to 9 words queued per route; the mock streams one delta per word and
 * reports that many output tokens. Which request gets which queued reply is up to arrival order, so the test
 * checks each span against what its own request's app code received.
 */
const REQUESTS = 1_000;
const CHAT = "gpt-4o-mini";
const CLAUDE = "claude-sonnet-5";

type Kind = "chat stream" | "responses stream" | "anthropic stream" | "chat" | "responses" | "anthropic";
const kindOf = (index: number): Kind => {
  switch (index % 8) {
    case 0:
    case 1:
      return "chat stream";
    case 2:
    case 3:
      return "responses stream";
    case 4:
    case 5:
      return "anthropic stream";
    case 6:
      return index % 16 < 8 ? "chat" : "responses";
    default:
      return "anthropic";
  }
};
const routeOf = (kind: Kind): "chat" | "responses" | "anthropic" =>
  kind.startsWith("chat") ? "chat" : kind.startsWith("responses") ? "responses" : "anthropic";

const markerOf = (index: number): string => `<<req-${index}>>`;
const promptOf = (index: number): string => markerOf(index).padEnd(16 + 4 * index, ".");
/** A distinct reply text of 1 to 9 words. */
const replyText = (route: string, index: number): string =>
  [`${route}-reply-${index}`, ...Array.from({ length: index % 9 }, (_, word) => `w${word}`)].join(" ");
const wordCount = (text: string): number => text.split(" ").length;

/** What one request's app code received. */
interface Received {
  index: number;
  kind: Kind;
  id: string;
  text: string;
  /** Usage the app itself saw, where the API shows it to the app. */
  inputTokens?: number;
  outputTokens?: number;
  /** Chat stream chunks that carried a `usage` key (tokentrace asks for usage; the app must not see it). */
  chunksWithUsage: number;
}

let server: MockLLMServer;
beforeAll(async () => {
  server = await startMockLLMServer();
});
afterAll(async () => {
  await server.close();
});

async function call(openai: OpenAI, anthropic: Anthropic, index: number): Promise<Received> {
  const kind = kindOf(index);
  const prompt = promptOf(index);
  const received: Received = { index, kind, id: "", text: "", chunksWithUsage: 0 };
  const messages = [{ role: "user" as const, content: prompt }];
  switch (kind) {
    case "chat": {
      const completion = await openai.chat.completions.create({ model: CHAT, messages });
      received.id = completion.id;
      received.text = completion.choices[0]?.message.content ?? "";
      received.inputTokens = completion.usage?.prompt_tokens;
      received.outputTokens = completion.usage?.completion_tokens;
      break;
    }
    case "chat stream": {
      for await (const chunk of await openai.chat.completions.create({ model: CHAT, messages, stream: true })) {
        received.id = chunk.id;
        received.text += chunk.choices[0]?.delta.content ?? "";
        if ("usage" in chunk) received.chunksWithUsage++;
      }
      break;
    }
    case "responses": {
      const response = await openai.responses.create({ model: CHAT, input: prompt });
      received.id = response.id;
      received.text = response.output_text;
      received.inputTokens = response.usage?.input_tokens;
      received.outputTokens = response.usage?.output_tokens;
      break;
    }
    case "responses stream": {
      for await (const event of await openai.responses.create({ model: CHAT, input: prompt, stream: true })) {
        if (event.type === "response.output_text.delta") received.text += event.delta;
        if (event.type === "response.completed") {
          received.id = event.response.id;
          received.inputTokens = event.response.usage?.input_tokens;
          received.outputTokens = event.response.usage?.output_tokens;
        }
      }
      break;
    }
    case "anthropic": {
      const message = await anthropic.messages.create({ model: CLAUDE, max_tokens: 100, messages });
      received.id = message.id;
      received.text = message.content.map((block) => (block.type === "text" ? block.text : "")).join("");
      received.inputTokens = message.usage.input_tokens;
      received.outputTokens = message.usage.output_tokens;
      break;
    }
    case "anthropic stream": {
      for await (const event of await anthropic.messages.create({
        model: CLAUDE,
        max_tokens: 100,
        messages,
        stream: true,
      })) {
        if (event.type === "message_start") {
          received.id = event.message.id;
          received.inputTokens = event.message.usage.input_tokens;
        }
        if (event.type === "content_block_delta" && event.delta.type === "text_delta")
          received.text += event.delta.text;
        if (event.type === "message_delta") received.outputTokens = event.usage.output_tokens;
      }
      break;
    }
  }
  return received;
}

/** The text of a span's output messages (every text part, in order). */
function outputText(span: ReadableSpan): string {
  const messages = JSON.parse(span.attributes["gen_ai.output.messages"] as string) as Array<{
    parts: Array<{ type: string; content?: string }>;
  }>;
  return messages
    .flatMap((message) => message.parts.filter((part) => part.type === "text").map((part) => part.content))
    .join("");
}

describe("1,000 concurrent mixed calls through one observed client per provider", () => {
  it("gives every span the content and the exact usage of its own request", async () => {
    const counter = new SpanCounter(true);
    const tracerProvider = new BasicTracerProvider({ spanProcessors: [counter] });
    const meterProvider = new MeterProvider();
    const openai = observe(new OpenAI({ baseURL: server.openaiBaseURL, apiKey: "sk-concurrency", maxRetries: 0 }), {
      tracerProvider,
      meterProvider,
      captureContent: true,
    });
    const anthropic = observe(
      new Anthropic({ baseURL: server.anthropicBaseURL, apiKey: "sk-concurrency", maxRetries: 0 }),
      { tracerProvider, meterProvider, captureContent: true },
    );

    // One distinct reply per request, per route; a 1 ms pause between events keeps the streams interleaved.
    const perRoute = { chat: 0, responses: 0, anthropic: 0 };
    for (let index = 0; index < REQUESTS; index++) perRoute[routeOf(kindOf(index))]++;
    const chunkDelayMs = 1;
    for (let n = 0; n < perRoute.chat; n++) server.enqueue({ text: replyText("chat", n), chunkDelayMs });
    for (let n = 0; n < perRoute.responses; n++)
      server.enqueueResponses({ output: [{ type: "message", text: replyText("responses", n) }], chunkDelayMs });
    for (let n = 0; n < perRoute.anthropic; n++)
      server.enqueueAnthropic({ content: [{ type: "text", text: replyText("anthropic", n) }], chunkDelayMs });

    const received = await Promise.all(Array.from({ length: REQUESTS }, (_, index) => call(openai, anthropic, index)));

    expect(openCallCount()).toBe(0);
    expect(counter.problems()).toEqual([]);
    expect(counter.kept).toHaveLength(REQUESTS);

    // Each span names exactly one request, and each request exactly one span.
    const spanByRequest = new Map<number, ReadableSpan>();
    for (const span of counter.kept) {
      const markers = [...(span.attributes["gen_ai.input.messages"] as string).matchAll(/<<req-(\d+)>>/g)];
      expect(markers).toHaveLength(1);
      const index = Number(markers[0]![1]);
      expect(spanByRequest.has(index)).toBe(false);
      spanByRequest.set(index, span);
    }
    expect(spanByRequest.size).toBe(REQUESTS);

    const mismatches: string[] = [];
    const expectSame = (index: number, what: string, actual: unknown, expected: unknown): void => {
      if (actual !== expected)
        mismatches.push(`request ${index} ${what}: span ${String(actual)}, expected ${String(expected)}`);
    };
    for (const app of received) {
      const span = spanByRequest.get(app.index)!;
      const { attributes } = span;
      // The app got a distinct reply of its own route.
      expect(app.text).toMatch(new RegExp(`^${routeOf(app.kind)}-reply-\\d+`));
      expectSame(app.index, "status", span.status.code, 0);
      expectSame(app.index, "response id", attributes["gen_ai.response.id"], app.id);
      expectSame(app.index, "output text", outputText(span), app.text);
      expectSame(app.index, "input tokens", attributes["gen_ai.usage.input_tokens"], app.index + 8);
      expectSame(app.index, "output tokens", attributes["gen_ai.usage.output_tokens"], wordCount(app.text));
      if (app.inputTokens !== undefined)
        expectSame(app.index, "input tokens the app saw", attributes["gen_ai.usage.input_tokens"], app.inputTokens);
      if (app.outputTokens !== undefined)
        expectSame(app.index, "output tokens the app saw", attributes["gen_ai.usage.output_tokens"], app.outputTokens);
      expectSame(app.index, "stream", attributes["gen_ai.request.stream"] ?? false, app.kind.endsWith("stream"));
      expectSame(app.index, "estimated", attributes["tokentrace.usage.estimated"], undefined);
      expectSame(app.index, "chunks with usage the app saw", app.chunksWithUsage, 0);
    }
    expect(mismatches).toEqual([]);
    // Every reply was used exactly once: no request got another's.
    expect(new Set(received.map((app) => app.text)).size).toBe(REQUESTS);

    await tracerProvider.shutdown();
    await meterProvider.shutdown();
  }, 60_000);
});
