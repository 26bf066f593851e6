import OpenAI from "openai";
import { ROOT_CONTEXT, context, createContextKey } from "@opentelemetry/api";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { currentContext, observe, withContext } from "../src/index.js";
import { resetPropagationCheck } from "../src/app-context.js";
import { resetWarningsForTests } from "../src/internal/report.js";
import { memorySink, setup } from "../src/setup-entry.js";
import { startMockLLMServer } from "../src/testing/mock-server.js";
import type { MockLLMServer } from "../src/testing/mock-server.js";

/**
 * Issue 12: context with `setup()` alone, and the warning without any context manager. One process per test
 * file, so the global context manager starts unregistered; the tests run in order and share that state.
 */

const messages = [{ role: "user" as const, content: "Hello" }];
const probe = createContextKey("test probe");
const contextWorks = (): boolean =>
  context.with(ROOT_CONTEXT.setValue(probe, 1), () => context.active().getValue(probe) === 1);

let server: MockLLMServer;
beforeAll(async () => {
  server = await startMockLLMServer();
});
afterAll(async () => {
  await server.close();
});

describe("without setup() and without a context manager", () => {
  it("withContext() still runs fn and warns once, naming the fix", async () => {
    expect(contextWorks()).toBe(false);
    resetWarningsForTests();
    resetPropagationCheck();
    const written = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    try {
      expect(withContext({ userId: "u" }, () => "ran")).toBe("ran");
      expect(withContext({ userId: "u" }, () => currentContext().userId)).toBeUndefined();
      await new Promise((resolve) => setImmediate(resolve));
      const lines = written.mock.calls.map((call) => String(call[0])).filter((line) => line.includes("withContext"));
      expect(lines).toEqual([
        "tokentrace: withContext(): no OpenTelemetry context manager carries context across await here, so calls " +
          "will not see their context. Call setup() from tokentrace/setup (it registers one), or register " +
          "AsyncLocalStorageContextManager from @opentelemetry/context-async-hooks (an OpenTelemetry NodeSDK does).\n",
      ]);
    } finally {
      written.mockRestore();
    }
  });
});

describe("with setup() alone", () => {
  it("registers the AsyncLocalStorage context manager: calls nest under the app's span and see withContext", async () => {
    const sink = memorySink();
    const telemetry = setup({ serviceName: "context-test", sinks: [sink] });
    try {
      expect(contextWorks()).toBe(true);
      const client = observe(new OpenAI({ baseURL: server.openaiBaseURL, apiKey: "sk-x", maxRetries: 0 }));
      const tracer = telemetry.tracerProvider.getTracer("app");
      await tracer.startActiveSpan("handle-request", async (parent) => {
        await withContext({ sessionId: "s-setup" }, async () => {
          await client.chat.completions.create({ model: "gpt-4o-mini", messages });
          await client.chat.completions.create({ model: "gpt-4o-mini", messages });
        });
        parent.end();
      });
      await telemetry.flush();
      const spans = sink.getSpans();
      const parent = spans.find((span) => span.name === "handle-request")!;
      const calls = spans.filter((span) => span.name === "chat gpt-4o-mini");
      expect(calls).toHaveLength(2);
      expect(calls.map((span) => span.spanContext().traceId)).toEqual([
        parent.spanContext().traceId,
        parent.spanContext().traceId,
      ]);
      expect(calls.map((span) => span.attributes["session.id"])).toEqual(["s-setup", "s-setup"]);
    } finally {
      await telemetry.shutdown();
    }
  });

  it("never replaces a context manager that works, and keeps it after shutdown()", async () => {
    expect(contextWorks()).toBe(true);
    const register = vi.spyOn(context, "setGlobalContextManager");
    const telemetry = setup({ serviceName: "context-test" });
    await telemetry.shutdown();
    expect(register).not.toHaveBeenCalled();
    register.mockRestore();
    expect(contextWorks()).toBe(true);
  });
});
