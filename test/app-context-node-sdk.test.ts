import OpenAI from "openai";
import { trace } from "@opentelemetry/api";
import { NodeSDK } from "@opentelemetry/sdk-node";
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { currentContext, observe, withAgent, withContext, withWorkflow } from "../src/index.js";
import { startMockLLMServer } from "../src/testing/mock-server.js";
import type { MockLLMServer } from "../src/testing/mock-server.js";

/**
 * Issue 12: context and stages inside an app that runs its own OpenTelemetry NodeSDK and never calls setup(): the
 * SDK's context manager and tracer provider carry everything. One process per test file, so the SDK's global
 * registration is this file's alone.
 */
const messages = [{ role: "user" as const, content: "Hello" }];

let server: MockLLMServer;
let sdk: NodeSDK;
const exporter = new InMemorySpanExporter();
// The SDK's resource detection is asynchronous: the processor exports once it settled, so tests flush it.
const processor = new SimpleSpanProcessor(exporter);
beforeAll(async () => {
  server = await startMockLLMServer();
  sdk = new NodeSDK({
    serviceName: "node-sdk-app",
    spanProcessors: [processor],
    instrumentations: [],
  });
  sdk.start();
});
afterAll(async () => {
  await sdk.shutdown();
  await server.close();
});

describe("with an existing NodeSDK and no setup()", () => {
  it("stamps context on calls and stages, nests them under the app's span, and rolls up the call", async () => {
    const openai = observe(new OpenAI({ baseURL: server.openaiBaseURL, apiKey: "sk-test", maxRetries: 0 }));
    server.enqueue({ usage: { prompt_tokens: 11, completion_tokens: 4 } });
    const tracer = trace.getTracer("app");
    const seen = await tracer.startActiveSpan("POST /ask", async (request) => {
      try {
        return await withContext({ userId: "u-7", sessionId: "s-7" }, () =>
          withWorkflow("answer", () =>
            withAgent("helper", async () => {
              await openai.chat.completions.create({ model: "gpt-4o-mini", messages });
              return currentContext();
            }),
          ),
        );
      } finally {
        request.end();
      }
    });
    expect(seen).toEqual({ userId: "u-7", sessionId: "s-7", tags: [], metadata: {} });
    await processor.forceFlush();
    const spans = exporter.getFinishedSpans();
    const byName = new Map(spans.map((span) => [span.name, span]));
    expect([...byName.keys()].sort()).toEqual([
      "POST /ask",
      "chat gpt-4o-mini",
      "invoke_agent helper",
      "invoke_workflow answer",
    ]);
    const root = byName.get("POST /ask")!;
    const parentOf = (name: string): string | undefined => byName.get(name)!.parentSpanContext?.spanId;
    expect(parentOf("invoke_workflow answer")).toBe(root.spanContext().spanId);
    expect(parentOf("invoke_agent helper")).toBe(byName.get("invoke_workflow answer")!.spanContext().spanId);
    expect(parentOf("chat gpt-4o-mini")).toBe(byName.get("invoke_agent helper")!.spanContext().spanId);
    expect(new Set(spans.map((span) => span.spanContext().traceId)).size).toBe(1);
    for (const name of ["chat gpt-4o-mini", "invoke_agent helper", "invoke_workflow answer"]) {
      const attributes = byName.get(name)!.attributes;
      expect([attributes["user.id"], attributes["session.id"]], name).toEqual(["u-7", "s-7"]);
    }
    expect(byName.get("invoke_workflow answer")!.attributes["tokentrace.rollup.input_tokens"]).toBe(11);
    expect(byName.get("invoke_agent helper")!.attributes["gen_ai.usage.output_tokens"]).toBe(4);
  });
});
