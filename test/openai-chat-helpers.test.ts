import type OpenAI from "openai";
import { SpanKind, SpanStatusCode, context, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createHarness } from "./helpers/harness.js";
import type { Harness } from "./helpers/harness.js";
import { jsonAttribute } from "./helpers/span-attributes.js";
import { withWorkflow } from "../src/index.js";

/**
 * The SDK's chat helpers, `chat.completions.stream()` and `runTools()` (under `beta.chat.completions` on
 * openai v4), call `chat.completions.create` through the observed client: one span per model request, and
 * the helpers' events and results exactly as without tokentrace. Run against every openai major.
 */
const messages = [{ role: "user" as const, content: "What is the weather in Paris?" }];
const DEFAULT_TEXT = "Hello from the tokentrace mock server.";

let h: Harness;
beforeEach(async () => {
  h = await createHarness();
});
afterEach(async () => {
  await h.close();
});

/** The helpers' home: `chat.completions` from openai v5 on, `beta.chat.completions` on v4. */
type Helpers = Pick<OpenAI["chat"]["completions"], "stream" | "runTools">;
function helpersOf(client: OpenAI): Helpers {
  if ("runTools" in client.chat.completions) return client.chat.completions;
  return (client as unknown as { beta: { chat: { completions: Helpers } } }).beta.chat.completions;
}

const weatherParameters = { type: "object", properties: { city: { type: "string" } }, required: ["city"] };
const weatherTool = (calls: string[]) =>
  ({
    type: "function",
    function: {
      name: "get_weather",
      description: "Weather by city",
      parameters: weatherParameters,
      function: (args: { city: string }) => {
        calls.push(args.city);
        return "sunny";
      },
      parse: (raw: string) => JSON.parse(raw) as { city: string },
    },
  }) as const;

describe("chat.completions.stream()", () => {
  it("is one span, and its content events and finalChatCompletion() match the raw client's", async () => {
    const raw = helpersOf(h.raw).stream({ model: "gpt-4o-mini", messages });
    const rawFinal = await raw.finalChatCompletion();

    const deltas: string[] = [];
    const stream = helpersOf(h.openai).stream({ model: "gpt-4o-mini", messages });
    stream.on("content", (delta) => deltas.push(delta));
    const final = await stream.finalChatCompletion();
    expect(deltas.join("")).toBe(DEFAULT_TEXT);
    expect(final.choices[0]?.message.content).toBe(DEFAULT_TEXT);
    // The usage chunk tokentrace asked for is hidden from the helper too.
    expect(final.usage).toEqual(rawFinal.usage);

    const span = h.onlySpan();
    expect(span.attributes["gen_ai.request.stream"]).toBe(true);
    expect(span.attributes["gen_ai.usage.output_tokens"]).toBe(6);
    expect(span.attributes["tokentrace.usage.estimated"]).toBeUndefined();
    expect(span.attributes["tokentrace.stream.end"]).toBe("completed");
  });

  it("ends the span as aborted when the helper is aborted", async () => {
    h.server.enqueue({ chunkDelayMs: 20 });
    const stream = helpersOf(h.openai).stream({ model: "gpt-4o-mini", messages });
    let count = 0;
    stream.on("content", () => {
      if (++count === 2) stream.abort();
    });
    await stream.done().catch(() => undefined);
    const [span] = await h.waitForSpans(1);
    expect(span!.attributes["tokentrace.stream.end"]).toBe("aborted");
  });
});

/** The run span (invoke_agent) first, then the request spans (not the tools') in the order they ended. */
function runFirst(spans: ReadableSpan[]): ReadableSpan[] {
  const run = spans.filter((span) => span.name === "invoke_agent");
  expect(run).toHaveLength(1);
  return [...run, ...spans.filter((span) => span.name.startsWith("chat "))];
}

describe("runTools()", () => {
  it("gives one span per model request of the loop, under one invoke_agent span for the run, with its events and final content intact", async () => {
    const run = async (client: OpenAI): Promise<{ content: unknown; calls: string[]; roles: string[] }> => {
      h.server.enqueue(
        { toolCalls: [{ id: "call_1", name: "get_weather", arguments: '{"city":"Paris"}' }] },
        { text: "It is sunny in Paris." },
      );
      const calls: string[] = [];
      const roles: string[] = [];
      const runner = helpersOf(client).runTools({
        model: "gpt-4o-mini",
        messages,
        tools: [weatherTool(calls)],
      } as never);
      runner.on("message" as never, ((message: { role: string }) => roles.push(message.role)) as never);
      return { content: await runner.finalContent(), calls, roles };
    };
    const raw = await run(h.raw);
    h.server.requests.length = 0;
    const traced = await run(h.openai);
    expect(traced).toEqual(raw);
    expect(traced.content).toBe("It is sunny in Paris.");
    expect(traced.calls).toEqual(["Paris"]);
    expect(traced.roles).toEqual(["assistant", "tool", "assistant"]);

    const [runSpan, ...requests] = runFirst(h.spans());
    expect(runSpan!.name).toBe("invoke_agent");
    expect(runSpan!.attributes).toMatchObject({
      "gen_ai.operation.name": "invoke_agent",
      "gen_ai.provider.name": "openai",
      "gen_ai.request.model": "gpt-4o-mini",
      "tokentrace.helper": "chat.completions.runTools",
    });
    expect(runSpan!.status.code).toBe(SpanStatusCode.UNSET);
    const runIds = runSpan!.spanContext();
    expect(requests.map((span) => span.parentSpanContext?.spanId)).toEqual([runIds.spanId, runIds.spanId]);
    expect(requests.map((span) => span.spanContext().traceId)).toEqual([runIds.traceId, runIds.traceId]);
    const spans = requests;
    expect(spans.map((span) => span.attributes["gen_ai.response.finish_reasons"])).toEqual([["tool_calls"], ["stop"]]);
    // The second request carries the tool call and its result.
    expect(jsonAttribute(spans[1]!, "gen_ai.input.messages")).toEqual([
      { role: "user", parts: [{ type: "text", content: messages[0]!.content }] },
      {
        role: "assistant",
        parts: [{ type: "tool_call", id: "call_1", name: "get_weather", arguments: { city: "Paris" } }],
      },
      { role: "tool", parts: [{ type: "tool_call_response", id: "call_1", response: "sunny" }] },
    ]);
  });

  it("ends the run's span as an error when a request of the loop fails, and leaves the runner's errors to the app", async () => {
    h.server.enqueue({ status: 500 });
    const calls: string[] = [];
    const runner = helpersOf(h.openai).runTools({
      model: "gpt-4o-mini",
      messages,
      tools: [weatherTool(calls)],
    } as never);
    const error: unknown = await runner.finalContent().catch((caught: unknown) => caught);
    expect((error as Error).constructor.name).toBe("InternalServerError");
    const [runSpan, request] = runFirst(await h.waitForSpans(2));
    expect(runSpan!.status.code).toBe(SpanStatusCode.ERROR);
    expect(runSpan!.attributes["error.type"]).toBe("run_failed");
    expect(request!.attributes["error.type"]).toBe("InternalServerError");
    expect(request!.parentSpanContext?.spanId).toBe(runSpan!.spanContext().spanId);
  });

  it("streams each request of the loop as its own span when asked to stream", async () => {
    h.server.enqueue(
      { toolCalls: [{ id: "call_1", name: "get_weather", arguments: '{"city":"Paris"}' }] },
      { text: "Sunny." },
    );
    const calls: string[] = [];
    const runner = helpersOf(h.openai).runTools({
      model: "gpt-4o-mini",
      messages,
      stream: true,
      tools: [weatherTool(calls)],
    } as never);
    const deltas: string[] = [];
    runner.on("content" as never, ((delta: string) => deltas.push(delta)) as never);
    expect(await runner.finalContent()).toBe("Sunny.");
    expect(deltas.join("")).toBe("Sunny.");
    const [run, ...spans] = runFirst(await h.waitForSpans(3));
    expect(run!.name).toBe("invoke_agent");
    expect(spans.map((span) => span.parentSpanContext?.spanId)).toEqual([
      run!.spanContext().spanId,
      run!.spanContext().spanId,
    ]);
    expect(spans).toHaveLength(2);
    expect(spans.map((span) => span.attributes["gen_ai.request.stream"])).toEqual([true, true]);
    expect(spans.map((span) => span.attributes["gen_ai.usage.input_tokens"] !== undefined)).toEqual([true, true]);
    expect(spans.map((span) => span.attributes["tokentrace.stream.end"])).toEqual(["completed", "completed"]);
  });
});

/** Spans by name, in the order they ended. */
const named = (spans: ReadableSpan[], name: string): ReadableSpan[] => spans.filter((span) => span.name === name);

describe("runTools() tool functions", () => {
  it("runs each tool function the model called as an execute_tool span under the run, with the call's id, and the run's span rolls up its requests and tools", async () => {
    h.server.enqueue(
      {
        toolCalls: [
          { id: "call_paris", name: "get_weather", arguments: '{"city":"Paris"}' },
          { id: "call_rome", name: "get_weather", arguments: '{"city":"Rome"}' },
        ],
        usage: { prompt_tokens: 30, completion_tokens: 12 },
      },
      { text: "Sunny in both.", usage: { prompt_tokens: 50, completion_tokens: 4 } },
    );
    const calls: string[] = [];
    const tool = weatherTool(calls);
    const params = { model: "gpt-4o-mini", messages, tools: [tool] };
    const runner = helpersOf(h.openai).runTools(params as never);
    expect(await runner.finalContent()).toBe("Sunny in both.");
    expect(calls).toEqual(["Paris", "Rome"]);
    // The app's objects are its own: tokentrace ran copies.
    expect(params.tools[0]).toBe(tool);
    expect(tool.function.function.name).toBe("function");

    const spans = await h.waitForSpans(5);
    const [run] = named(spans, "invoke_agent");
    const tools = named(spans, "execute_tool get_weather");
    expect(tools.map((span) => span.attributes["gen_ai.tool.call.id"])).toEqual(["call_paris", "call_rome"]);
    for (const span of tools) {
      expect(span.attributes).toMatchObject({
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "get_weather",
        "gen_ai.tool.type": "function",
      });
      expect(span.kind).toBe(SpanKind.INTERNAL);
      expect(span.parentSpanContext?.spanId).toBe(run!.spanContext().spanId);
    }
    expect(run!.attributes).toMatchObject({
      "tokentrace.rollup.model_calls": 2,
      "tokentrace.rollup.tool_calls": 2,
      "tokentrace.rollup.errors": 0,
      "tokentrace.rollup.input_tokens": 80,
      "tokentrace.rollup.output_tokens": 16,
      "gen_ai.usage.input_tokens": 80,
      "gen_ai.usage.output_tokens": 16,
    });
  });

  it("rolls a run up into the enclosing stage as its requests and tools, not as one more model call", async () => {
    h.server.enqueue(
      {
        toolCalls: [{ id: "call_1", name: "get_weather", arguments: '{"city":"Oslo"}' }],
        usage: { prompt_tokens: 7, completion_tokens: 3 },
      },
      { text: "Cold.", usage: { prompt_tokens: 11, completion_tokens: 2 } },
    );
    const calls: string[] = [];
    // Stages use the global providers here (no setup()): the harness's, with a context manager.
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    trace.setGlobalTracerProvider(h.tracerProvider);
    try {
      await withWorkflow("support", async () => {
        const runner = helpersOf(h.openai).runTools({
          model: "gpt-4o-mini",
          messages,
          tools: [weatherTool(calls)],
        } as never);
        await runner.finalContent();
      });
    } finally {
      trace.disable();
      context.disable();
    }
    const spans = await h.waitForSpans(5);
    const [workflow] = named(spans, "invoke_workflow support");
    const [run] = named(spans, "invoke_agent");
    expect(run!.parentSpanContext?.spanId).toBe(workflow!.spanContext().spanId);
    expect(workflow!.attributes).toMatchObject({
      "tokentrace.rollup.model_calls": 2,
      "tokentrace.rollup.tool_calls": 1,
      "tokentrace.rollup.input_tokens": 18,
      "tokentrace.rollup.output_tokens": 5,
    });
  });

  it("gives the call ids in order when the tool runs one call at a time, and a throwing tool's span the error while the runner reports it as without tokentrace", async () => {
    const run = async (client: OpenAI): Promise<{ error: string; ran: string[] }> => {
      h.server.enqueue({
        toolCalls: [
          { id: "call_a", name: "lookup", arguments: '{"q":"a"}' },
          { id: "call_b", name: "lookup", arguments: '{"q":"b"}' },
        ],
      });
      const ran: string[] = [];
      const lookup = {
        type: "function",
        function: {
          name: "lookup",
          parameters: { type: "object", properties: { q: { type: "string" } } },
          function: (raw: string) => {
            ran.push(raw);
            if (raw.includes('"b"')) throw new RangeError("no such entry");
            return "found";
          },
        },
      } as const;
      const runner = helpersOf(client).runTools({
        model: "gpt-4o-mini",
        messages,
        parallel_tool_calls: false,
        tools: [lookup],
      } as never);
      const error = await runner.finalContent().then(
        () => "none",
        // The class is the helper's to choose (openai v6 wraps a tool's error in an OpenAIError).
        (caught: unknown) => `${(caught as Error).constructor.name}: ${(caught as Error).message}`,
      );
      return { error, ran };
    };
    const raw = await run(h.raw);
    const traced = await run(h.openai);
    expect(traced).toEqual(raw);
    expect(traced.error).toMatch(/: no such entry$/);
    expect(traced.ran).toEqual(['{"q":"a"}', '{"q":"b"}']);

    const spans = await h.waitForSpans(4);
    const tools = named(spans, "execute_tool lookup");
    expect(tools.map((span) => span.attributes["gen_ai.tool.call.id"])).toEqual(["call_a", "call_b"]);
    expect(tools.map((span) => span.status.code)).toEqual([SpanStatusCode.UNSET, SpanStatusCode.ERROR]);
    expect(tools[1]!.attributes["error.type"]).toBe("RangeError");
    const [runSpan] = named(spans, "invoke_agent");
    expect(runSpan!.attributes["error.type"]).toBe("run_failed");
    expect(runSpan!.attributes).toMatchObject({ "tokentrace.rollup.tool_calls": 2, "tokentrace.rollup.errors": 1 });
  });

  it("traces an auto-parseable tool (the SDK's standardFunction, openai v6 on) and keeps its parsed arguments and its non-enumerable brand", async () => {
    const helpers = (await import("openai/helpers/standard-schema").catch(() => undefined)) as
      { standardFunction?: (options: unknown) => object } | undefined;
    const major = Number(process.env["TOKENTRACE_TEST_OPENAI_VERSION"]!.split(".")[0]);
    if (major < 6) {
      // Checked, not skipped: the helper this case needs does not exist before v6.
      expect(helpers?.standardFunction).toBeUndefined();
      return;
    }
    // A Standard Schema (the published interface, no validation library) with its JSON Schema given.
    const city = {
      "~standard": {
        version: 1,
        vendor: "tokentrace-test",
        validate: (value: unknown) => ({ value }),
      },
    };
    const got: unknown[] = [];
    const tool = helpers!.standardFunction!({
      name: "get_weather",
      parameters: city,
      schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
      function: (args: unknown) => {
        got.push(args);
        return "rain";
      },
    });
    h.server.enqueue(
      { toolCalls: [{ id: "call_z", name: "get_weather", arguments: '{"city":"Bergen"}' }] },
      { text: "Rain." },
    );
    const runner = helpersOf(h.openai).runTools({ model: "gpt-4o-mini", messages, tools: [tool] } as never);
    expect(await runner.finalContent()).toBe("Rain.");
    expect(got).toEqual([{ city: "Bergen" }]);
    expect(Object.keys(tool)).not.toContain("$callback");
    const spans = await h.waitForSpans(4);
    const [toolSpan] = named(spans, "execute_tool get_weather");
    expect(toolSpan!.attributes["gen_ai.tool.call.id"]).toBe("call_z");
    expect(toolSpan!.parentSpanContext?.spanId).toBe(named(spans, "invoke_agent")[0]!.spanContext().spanId);
  });
});
