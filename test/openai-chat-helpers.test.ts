import type OpenAI from "openai";
import { SpanStatusCode } from "@opentelemetry/api";
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createHarness } from "./helpers/harness.js";
import type { Harness } from "./helpers/harness.js";
import { jsonAttribute } from "./helpers/span-attributes.js";

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

/** The run span (invoke_agent) first, then the request spans in the order they ended. */
function runFirst(spans: ReadableSpan[]): ReadableSpan[] {
  const run = spans.filter((span) => span.name === "invoke_agent");
  expect(run).toHaveLength(1);
  return [...run, ...spans.filter((span) => span.name !== "invoke_agent")];
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
