import OpenAI from "openai";
import { MeterProvider } from "@opentelemetry/sdk-metrics";
import { BasicTracerProvider } from "@opentelemetry/sdk-trace-base";
import type { ReadableSpan, SpanProcessor } from "@opentelemetry/sdk-trace-base";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { observe } from "../src/index.js";
import { openCallCount } from "../src/recorder/call.js";
import { startMockLLMServer } from "../src/testing/index.js";
import type { MockLLMServer } from "../src/testing/index.js";
import { forceGarbageCollection } from "./helpers/gc.js";

/** Counts ended spans and keeps none, so the test measures tokentrace, not a span buffer. */
class CountingProcessor implements SpanProcessor {
  ended = 0;
  onStart(): void {}
  onEnd(_span: ReadableSpan): void {
    this.ended++;
  }
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

const messages = [{ role: "user" as const, content: "ping" }];
let server: MockLLMServer;
beforeAll(async () => {
  server = await startMockLLMServer({ defaultReply: { text: "pong pong pong" } });
});
afterAll(async () => {
  await server.close();
});

describe("resource use", () => {
  it("leaves no open span and no growing heap after 10,000 finished and abandoned calls", async () => {
    const processor = new CountingProcessor();
    const tracerProvider = new BasicTracerProvider({ spanProcessors: [processor] });
    const meterProvider = new MeterProvider();
    const openai = observe(new OpenAI({ baseURL: server.openaiBaseURL, apiKey: "sk-x", maxRetries: 0 }), {
      tracerProvider,
      meterProvider,
    });
    const baseline = openCallCount();

    // One batch: plain calls, full streams, streams left early, streams never read.
    const batch = async (calls: number): Promise<void> => {
      for (let index = 0; index < calls; index += 4) {
        await openai.chat.completions.create({ model: "gpt-4o-mini", messages });
        for await (const _chunk of await openai.chat.completions.create({
          model: "gpt-4o-mini",
          messages,
          stream: true,
        })) {
          // Read to the end.
        }
        for await (const _chunk of await openai.chat.completions.create({
          model: "gpt-4o-mini",
          messages,
          stream: true,
        })) {
          break;
        }
        await openai.chat.completions.create({ model: "gpt-4o-mini", messages, stream: true });
      }
      server.reset();
    };

    await batch(2_000);
    await forceGarbageCollection(5);
    const heapAfterWarmUp = process.memoryUsage().heapUsed;
    await batch(8_000);
    const deadline = Date.now() + 10_000;
    do await forceGarbageCollection(3);
    while (openCallCount() > baseline && Date.now() < deadline);
    const heapAfterAll = process.memoryUsage().heapUsed;

    expect(openCallCount()).toBe(baseline);
    expect(processor.ended).toBe(10_000);
    // 8,000 more calls: a per-call leak of even 500 bytes would show as 4 MB.
    expect(heapAfterAll - heapAfterWarmUp).toBeLessThan(4 * 1024 * 1024);
    await tracerProvider.shutdown();
  }, 120_000);
});
