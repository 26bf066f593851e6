import OpenAI from "openai";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { collect, createHarness, sequenceClock } from "./helpers/harness.js";
import type { Harness } from "./helpers/harness.js";
import { collectGarbageUntil } from "./helpers/gc.js";
import { jsonAttribute, withoutCost, withoutTimings } from "./helpers/span-attributes.js";
import { PRICE_SNAPSHOT } from "../src/metrics/price-snapshot.js";
import { openCallCount } from "../src/recorder/call.js";

/**
 * The Responses API contract suite (`responses.create`, streamed and not, `responses.stream()`,
 * `responses.parse()`), run against every openai major in the vitest projects.
 *
 * Mock defaults: input_tokens = ceil(30 chars / 4) + 4 = 12 for the question below (plus ceil(9 / 4) = 3
 * for the instructions "Be brief."); the default message "Hello from the tokentrace mock server." streams in
 * 6 text deltas and counts 6 output tokens. A default stream is 14 events: response.created, .in_progress,
 * output_item.added, content_part.added, 6 output_text.delta, output_text.done, content_part.done,
 * output_item.done, response.completed.
 */
const question = "What is the capital of France?";
const DEFAULT_TEXT = "Hello from the tokentrace mock server.";
const textMessage = (text: string, finishReason?: string): Record<string, unknown> => ({
  role: "assistant",
  parts: [{ type: "text", content: text }],
  ...(finishReason !== undefined ? { finish_reason: finishReason } : {}),
});
const weatherTool = {
  type: "function" as const,
  name: "get_weather",
  description: "Weather by city",
  parameters: {
    type: "object",
    properties: { city: { type: "string" } },
    required: ["city"],
    additionalProperties: false,
  },
  strict: true,
};

let h: Harness;
afterEach(async () => {
  await h.close();
});

type EventLike = { type: string };
const eventTypes = (events: readonly EventLike[]): string[] => events.map((event) => event.type);

describe("a non-streaming response", () => {
  beforeEach(async () => {
    h = await createHarness();
  });

  it("records one CLIENT span with the request's parameters, instructions, usage details and output", async () => {
    h.server.enqueueResponses({
      usage: { input_tokens: 2006, output_tokens: 300, cached_tokens: 1920, reasoning_tokens: 256 },
    });
    const response = await h.openai.responses.create({
      model: "gpt-4o-mini",
      instructions: "Be brief.",
      input: question,
      max_output_tokens: 400,
      temperature: 0.2,
      top_p: 0.9,
      previous_response_id: "resp_previous",
      reasoning: { effort: "low" },
      service_tier: "flex",
      text: { format: { type: "text" } },
    });
    expect(response.output_text).toBe(DEFAULT_TEXT);

    const span = h.onlySpan();
    expect(span.name).toBe("chat gpt-4o-mini");
    expect(span.kind).toBe(SpanKind.CLIENT);
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    expect(withoutCost(span.attributes)).toEqual({
      "gen_ai.operation.name": "chat",
      "gen_ai.provider.name": "openai",
      "openai.api.type": "responses",
      "gen_ai.request.model": "gpt-4o-mini",
      "gen_ai.request.max_tokens": 400,
      "gen_ai.request.temperature": 0.2,
      "gen_ai.request.top_p": 0.9,
      "gen_ai.request.stream": false,
      "gen_ai.output.type": "text",
      "openai.request.service_tier": "flex",
      "gen_ai.request.previous_response.id": "resp_previous",
      "gen_ai.request.reasoning.level": "low",
      "server.address": "127.0.0.1",
      "server.port": h.server.port,
      "gen_ai.response.id": "resp_mock_1",
      "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
      "gen_ai.response.finish_reasons": ["stop"],
      "gen_ai.usage.input_tokens": 2006,
      "gen_ai.usage.output_tokens": 300,
      "gen_ai.usage.cache_read.input_tokens": 1920,
      "gen_ai.usage.reasoning.output_tokens": 256,
      "openai.response.service_tier": "default",
      "tokentrace.request.id": "req_mock_1",
      "http.response.status_code": 200,
      "gen_ai.system_instructions": JSON.stringify([{ type: "text", content: "Be brief." }]),
      "gen_ai.input.messages": JSON.stringify([{ role: "user", parts: [{ type: "text", content: question }] }]),
      "tokentrace.content.present": true,
      "gen_ai.output.messages": JSON.stringify([textMessage(DEFAULT_TEXT, "stop")]),
    });
    // gpt-4o-mini: $0.15 per million uncached input tokens, $0.075 cached, $0.60 output.
    expect(span.attributes["gen_ai.usage.cost"]).toBeCloseTo((86 * 0.15 + 1920 * 0.075 + 300 * 0.6) / 1e6, 15);
    expect(span.attributes["tokentrace.cost.snapshot_date"]).toBe(PRICE_SNAPSHOT.generatedDate);
  });

  it("records input items, tool definitions, and reasoning and function-call output items as parts", async () => {
    h.server.enqueueResponses({
      output: [
        { type: "reasoning", summary: "The user wants the weather." },
        { type: "function_call", callId: "call_1", name: "get_weather", arguments: '{"city":"Paris"}' },
      ],
    });
    const response = await h.openai.responses.create({
      model: "gpt-4o-mini",
      tools: [weatherTool, { type: "web_search_preview" }],
      conversation: "conv_123",
      input: [
        { role: "developer", content: "Use tools." },
        {
          role: "user",
          content: [
            { type: "input_text", text: "Weather?" },
            { type: "input_image", image_url: "data:image/png;base64,AAAAAAAA", detail: "auto" },
          ],
        },
        { type: "function_call", call_id: "call_0", name: "get_weather", arguments: '{"city":"Rome"}' },
        { type: "function_call_output", call_id: "call_0", output: "sunny" },
      ],
    } as OpenAI.Responses.ResponseCreateParamsNonStreaming);
    expect(response.output.map((item) => item.type)).toEqual(["reasoning", "function_call"]);

    const span = h.onlySpan();
    expect(span.attributes["gen_ai.response.finish_reasons"]).toEqual(["tool_calls"]);
    expect(span.attributes["gen_ai.conversation.id"]).toBe("conv_123");
    expect(jsonAttribute(span, "gen_ai.input.messages")).toEqual([
      { role: "developer", parts: [{ type: "text", content: "Use tools." }] },
      {
        role: "user",
        parts: [
          { type: "text", content: "Weather?" },
          {
            type: "blob",
            modality: "image",
            mime_type: "image/png",
            content: "[6 bytes omitted, sha256:c34ab6abb7b2]",
          },
        ],
      },
      {
        role: "assistant",
        parts: [{ type: "tool_call", id: "call_0", name: "get_weather", arguments: { city: "Rome" } }],
      },
      { role: "tool", parts: [{ type: "tool_call_response", id: "call_0", response: "sunny" }] },
    ]);
    expect(jsonAttribute(span, "gen_ai.output.messages")).toEqual([
      {
        role: "assistant",
        parts: [
          { type: "reasoning", content: "The user wants the weather." },
          { type: "tool_call", id: "call_1", name: "get_weather", arguments: { city: "Paris" } },
        ],
        finish_reason: "tool_calls",
      },
    ]);
    expect(jsonAttribute(span, "gen_ai.tool.definitions")).toEqual([
      { type: "function", name: "get_weather", description: "Weather by city", parameters: weatherTool.parameters },
      { type: "web_search_preview" },
    ]);
    // Reasoning summary: 5 deltas; function call: ceil(16 / 4) = 4.
    expect(span.attributes["gen_ai.usage.output_tokens"]).toBe(9);
    expect(span.attributes["gen_ai.usage.reasoning.output_tokens"]).toBe(5);
  });

  it("records an incomplete response's reason as its finish reason", async () => {
    h.server.enqueueResponses({ outcome: "incomplete", incompleteReason: "max_output_tokens" });
    const response = await h.openai.responses.create({ model: "gpt-4o-mini", input: question, max_output_tokens: 16 });
    expect(response.status).toBe("incomplete");
    const span = h.onlySpan();
    expect(span.attributes["gen_ai.response.finish_reasons"]).toEqual(["max_output_tokens"]);
    expect(span.attributes["gen_ai.usage.output_tokens"]).toBe(6);
    expect(span.attributes["error.type"]).toBeUndefined();
  });

  it("records a failed response's error code as error.type, and estimates the input it was not billed for", async () => {
    h.server.enqueueResponses({ outcome: "failed", errorCode: "server_error" });
    const response = await h.openai.responses.create({ model: "gpt-4o-mini", input: question });
    expect(response.status).toBe("failed");
    const span = h.onlySpan();
    expect(span.attributes["error.type"]).toBe("server_error");
    expect(span.attributes["gen_ai.response.finish_reasons"]).toEqual(["error"]);
    expect(span.attributes["tokentrace.usage.estimated"]).toBe(true);
    // o200k_base: the question's 7 tokens, 3 for its message, 3 that prime the reply; no output.
    expect(span.attributes["gen_ai.usage.input_tokens"]).toBe(13);
    expect(span.attributes["gen_ai.usage.output_tokens"]).toBe(0);
  });

  it("estimates usage with the model's tokenizer, and says so, when the endpoint reports none", async () => {
    h.server.enqueueResponses({ omitUsage: true });
    await h.openai.responses.create({ model: "gpt-4o-mini", instructions: "Be brief.", input: question });
    const attributes = h.onlySpan().attributes;
    expect(attributes["tokentrace.usage.estimated"]).toBe(true);
    // Instructions (3 tokens) and the question (7), 3 per message, 3 priming; the reply's 9 tokens.
    expect(attributes["gen_ai.usage.input_tokens"]).toBe(19);
    expect(attributes["gen_ai.usage.output_tokens"]).toBe(9);
  });

  it("rethrows the SDK's own error and records status ERROR, error.type and the HTTP status", async () => {
    h.server.enqueueResponses({ status: 429 });
    const error: unknown = await h.openai.responses
      .create({ model: "gpt-4o-mini", input: question })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    const span = h.onlySpan();
    expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: (error as Error).message });
    expect(span.attributes["error.type"]).toBe("RateLimitError");
    expect(span.attributes["http.response.status_code"]).toBe(429);
  });

  it("keeps withResponse() working on the SDK's own APIPromise", async () => {
    const { data, response } = await h.openai.responses
      .create({ model: "gpt-4o-mini", input: question })
      .withResponse();
    expect(response.status).toBe(200);
    expect(data.output_text).toBe(DEFAULT_TEXT);
    expect(h.onlySpan().attributes["gen_ai.usage.output_tokens"]).toBe(6);
  });

  it("records no content with capture off, and the same numbers", async () => {
    const client = h.observeClient(new OpenAI({ baseURL: h.server.openaiBaseURL, apiKey: "sk-x", maxRetries: 0 }), {
      captureContent: false,
    });
    await client.responses.create({
      model: "gpt-4o-mini",
      instructions: "Be brief.",
      input: question,
      tools: [weatherTool],
    });
    const attributes = h.onlySpan().attributes;
    expect(Object.keys(attributes).filter((name) => /messages|instructions|definitions/.test(name))).toEqual([]);
    expect(attributes["gen_ai.usage.input_tokens"]).toBe(15);
  });

  it("traces responses.parse() as one span and returns the parsed output", async () => {
    h.server.enqueueResponses({ output: [{ type: "message", text: '{"city":"Paris"}' }] });
    const result = await h.openai.responses.parse({
      model: "gpt-4o-mini",
      input: question,
      text: {
        format: {
          type: "json_schema",
          name: "answer",
          strict: true,
          schema: {
            type: "object",
            properties: { city: { type: "string" } },
            required: ["city"],
            additionalProperties: false,
          },
        },
      },
    });
    expect(result.output_parsed).toEqual({ city: "Paris" });
    const span = h.onlySpan();
    expect(span.attributes["gen_ai.output.type"]).toBe("json");
    expect(span.attributes["gen_ai.usage.output_tokens"]).toBe(1);
  });
});

describe("a streamed response", () => {
  beforeEach(async () => {
    h = await createHarness();
  });

  it("gives the app exactly the events the raw client gives, while recording exact usage and output", async () => {
    const rawEvents = await collect(
      await h.raw.responses.create({ model: "gpt-4o-mini", input: question, stream: true }),
    );
    const events = await collect(
      await h.openai.responses.create({ model: "gpt-4o-mini", input: question, stream: true }),
    );
    const normalise = (event: unknown): string => JSON.stringify(event).replace(/_mock_\d+/g, "_mock_N");
    expect(events.map(normalise)).toEqual(rawEvents.map(normalise));
    expect(eventTypes(events)).toHaveLength(14);
    // Nothing is asked of the request: a Responses stream always ends with its usage.
    expect(h.server.requests[1]?.body).not.toHaveProperty("stream_options");

    const span = h.onlySpan();
    expect(withoutTimings(withoutCost(span.attributes))).toEqual({
      "gen_ai.operation.name": "chat",
      "gen_ai.provider.name": "openai",
      "openai.api.type": "responses",
      "gen_ai.request.model": "gpt-4o-mini",
      "gen_ai.request.stream": true,
      "server.address": "127.0.0.1",
      "server.port": h.server.port,
      "gen_ai.response.id": "resp_mock_2",
      "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
      "gen_ai.response.finish_reasons": ["stop"],
      "gen_ai.usage.input_tokens": 12,
      "gen_ai.usage.output_tokens": 6,
      "gen_ai.usage.cache_read.input_tokens": 0,
      "gen_ai.usage.reasoning.output_tokens": 0,
      "openai.response.service_tier": "default",
      "tokentrace.request.id": "req_mock_2",
      "http.response.status_code": 200,
      "tokentrace.stream.chunk_count": 14,
      "tokentrace.stream.end": "completed",
      "gen_ai.input.messages": JSON.stringify([{ role: "user", parts: [{ type: "text", content: question }] }]),
      "tokentrace.content.present": true,
      "gen_ai.output.messages": JSON.stringify([textMessage(DEFAULT_TEXT, "stop")]),
    });
  });

  it("times the first event and the first text delta from the request's issue, exactly", async () => {
    await h.close();
    // Issue at 1000 ms; 14 events, the first at 1200 ms, the first text delta (the 5th event) at 1500 ms.
    h = await createHarness({
      now: sequenceClock([
        1000, 1200, 1300, 1400, 1450, 1500, 1510, 1520, 1530, 1540, 1550, 1560, 1570, 1580, 1600, 1700,
      ]),
    });
    await collect(await h.openai.responses.create({ model: "gpt-4o-mini", input: question, stream: true }));
    const attributes = h.onlySpan().attributes;
    expect(attributes["gen_ai.response.time_to_first_chunk"]).toBe(0.2);
    expect(attributes["tokentrace.response.time_to_first_content"]).toBe(0.5);
    expect(attributes["tokentrace.stream.chunk_count"]).toBe(14);
    expect(attributes["tokentrace.stream.max_chunk_gap"]).toBe(0.1);
  });

  it("reassembles function-call argument deltas and reasoning into the output parts", async () => {
    h.server.enqueueResponses({
      output: [
        { type: "reasoning", summary: "Look it up." },
        { type: "function_call", callId: "call_9", name: "lookup", arguments: '{"query":"tokentrace","limit":3}' },
      ],
    });
    const events = await collect(
      await h.openai.responses.create({ model: "gpt-4o-mini", input: question, stream: true, tools: [weatherTool] }),
    );
    const argumentDeltas = events.filter((event) => event.type === "response.function_call_arguments.delta");
    expect(argumentDeltas).toHaveLength(3);
    const span = h.onlySpan();
    expect(span.attributes["gen_ai.response.finish_reasons"]).toEqual(["tool_calls"]);
    expect(jsonAttribute(span, "gen_ai.output.messages")).toEqual([
      {
        role: "assistant",
        parts: [
          { type: "reasoning", content: "Look it up." },
          { type: "tool_call", id: "call_9", name: "lookup", arguments: { query: "tokentrace", limit: 3 } },
        ],
        finish_reason: "tool_calls",
      },
    ]);
  });

  it("ends the span once, as cancelled with the partial output and estimated usage, when the app breaks early", async () => {
    const stream = await h.openai.responses.create({ model: "gpt-4o-mini", input: question, stream: true });
    let seen = 0;
    for await (const _event of stream) {
      // response.created, .in_progress, output_item.added, content_part.added, then 3 deltas.
      if (++seen === 7) break;
    }
    const [span] = await h.waitForSpans(1);
    const attributes = span!.attributes;
    expect(attributes["tokentrace.stream.end"]).toBe("cancelled");
    expect(attributes["gen_ai.response.finish_reasons"]).toEqual(["cancelled"]);
    expect(attributes["tokentrace.stream.chunk_count"]).toBe(7);
    expect(attributes["tokentrace.usage.estimated"]).toBe(true);
    // "Hello from the " is 4 tokens (the trailing space is one); the question 7 + 3 + 3.
    expect(attributes["gen_ai.usage.output_tokens"]).toBe(4);
    expect(attributes["gen_ai.usage.input_tokens"]).toBe(13);
    expect(jsonAttribute(span!, "gen_ai.output.messages")).toEqual([textMessage("Hello from the ")]);
    expect(span!.status.code).toBe(SpanStatusCode.UNSET);
  });

  it("ends the span as aborted when the app aborts through the stream's controller", async () => {
    h.server.enqueueResponses({ chunkDelayMs: 20 });
    const stream = await h.openai.responses.create({ model: "gpt-4o-mini", input: question, stream: true });
    const events: unknown[] = [];
    for await (const event of stream) {
      events.push(event);
      if (events.length === 5) stream.controller.abort();
    }
    expect(events).toHaveLength(5);
    const [span] = await h.waitForSpans(1);
    expect(span!.attributes["tokentrace.stream.end"]).toBe("aborted");
    expect(span!.attributes["gen_ai.response.finish_reasons"]).toEqual(["cancelled"]);
  });

  it("records a mid-stream network failure as an error with the partial output, and rethrows the SDK's error", async () => {
    h.server.enqueueResponses({ disconnectAfterDeltas: 2 });
    const rawError = await (async () => {
      h.server.enqueueResponses({ disconnectAfterDeltas: 2 });
      return collect(await h.raw.responses.create({ model: "gpt-4o-mini", input: question, stream: true })).catch(
        (caught: unknown) => caught,
      );
    })();
    const error = await collect(
      await h.openai.responses.create({ model: "gpt-4o-mini", input: question, stream: true }),
    ).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).constructor).toBe((rawError as Error).constructor);
    const span = h.spans()[0]!;
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(span.attributes["tokentrace.stream.end"]).toBe("error");
    expect(span.attributes["gen_ai.response.finish_reasons"]).toEqual(["error"]);
    expect(jsonAttribute(span, "gen_ai.output.messages")).toEqual([textMessage("Hello from ")]);
  });

  it("records an error event as the app sees it: thrown (openai v4, v7) or an event (v5, v6)", async () => {
    h.server.enqueueResponses({ errorEventAfterDeltas: 2, errorCode: "server_error" });
    const outcome = await (async () => {
      const events = await collect(
        await h.openai.responses.create({ model: "gpt-4o-mini", input: question, stream: true }),
      );
      return { events, error: undefined as unknown };
    })().catch((error: unknown) => ({ events: [] as EventLike[], error }));
    const span = h.onlySpan();
    expect(span.attributes["gen_ai.response.finish_reasons"]).toEqual(["error"]);
    if (outcome.error !== undefined) {
      expect(outcome.error).toBeInstanceOf(OpenAI.APIError);
      expect(span.status.code).toBe(SpanStatusCode.ERROR);
      expect(span.attributes["tokentrace.stream.end"]).toBe("error");
    } else {
      expect(eventTypes(outcome.events).at(-1)).toBe("error");
      expect(span.attributes["error.type"]).toBe("server_error");
      expect(span.attributes["tokentrace.stream.end"]).toBe("completed");
    }
    expect(jsonAttribute(span, "gen_ai.output.messages")).toEqual([textMessage("Hello from ")]);
    expect(span.attributes["tokentrace.usage.estimated"]).toBe(true);
  });

  it("records a response.failed event's code as error.type", async () => {
    h.server.enqueueResponses({ outcome: "failed", errorCode: "rate_limit_exceeded" });
    const events = await collect(
      await h.openai.responses.create({ model: "gpt-4o-mini", input: question, stream: true }),
    );
    expect(eventTypes(events)).toEqual(["response.created", "response.in_progress", "response.failed"]);
    const span = h.onlySpan();
    expect(span.attributes["error.type"]).toBe("rate_limit_exceeded");
    expect(span.attributes["gen_ai.response.finish_reasons"]).toEqual(["error"]);
    expect(span.attributes["tokentrace.stream.end"]).toBe("completed");
    // The stream completed, but the response failed: the call is an error, though nothing was thrown.
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(span.events).toEqual([]);
    const calls = (await h.sink.collectMetrics()).scopeMetrics
      .flatMap((scope) => scope.metrics)
      .find((metric) => metric.descriptor.name === "tokentrace.client.calls");
    expect(calls!.dataPoints.map((point) => point.attributes["tokentrace.call.outcome"])).toEqual(["error"]);
  });

  it("ends the span of a stream that is never read once it is garbage-collected, leaving no open call", async () => {
    const before = openCallCount();
    await (async () => {
      await h.openai.responses.create({ model: "gpt-4o-mini", input: question, stream: true });
    })();
    await collectGarbageUntil(() => h.spans().length > 0);
    const span = h.onlySpan();
    expect(span.attributes["tokentrace.stream.end"]).toBe("abandoned");
    expect(span.attributes["gen_ai.response.finish_reasons"]).toEqual(["cancelled"]);
    expect(openCallCount()).toBe(before);
  });

  it("records an error that arrives before the first event", async () => {
    h.server.enqueueResponses({ status: 500 });
    const error: unknown = await h.openai.responses
      .create({ model: "gpt-4o-mini", input: question, stream: true })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.InternalServerError);
    const span = h.onlySpan();
    expect(span.attributes["error.type"]).toBe("InternalServerError");
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
  });
});

describe("the responses.stream() helper", () => {
  beforeEach(async () => {
    h = await createHarness();
  });

  it("is one span, and its events and finalResponse() keep working", async () => {
    const deltas: string[] = [];
    const stream = h.openai.responses.stream({ model: "gpt-4o-mini", input: question });
    stream.on("response.output_text.delta", (event) => deltas.push(event.delta));
    const final = await stream.finalResponse();
    const rawFinal = await h.raw.responses.stream({ model: "gpt-4o-mini", input: question }).finalResponse();
    expect(deltas.join("")).toBe(DEFAULT_TEXT);
    // openai v4 and v5 leave `output_text` off the helper's final response; either way, as without tokentrace.
    expect(final.output_text).toBe(rawFinal.output_text);
    expect(final.output[0]).toEqual({ ...rawFinal.output[0], id: "msg_mock_1_0" });
    const span = h.onlySpan();
    expect(span.attributes["gen_ai.request.stream"]).toBe(true);
    expect(span.attributes["gen_ai.usage.output_tokens"]).toBe(6);
    expect(span.attributes["tokentrace.stream.end"]).toBe("completed");
  });

  it("ends the span as aborted when the helper is aborted", async () => {
    h.server.enqueueResponses({ chunkDelayMs: 20 });
    const stream = h.openai.responses.stream({ model: "gpt-4o-mini", input: question });
    let count = 0;
    stream.on("response.output_text.delta", () => {
      if (++count === 2) stream.abort();
    });
    await stream.done().catch(() => undefined);
    const [span] = await h.waitForSpans(1);
    expect(span!.attributes["tokentrace.stream.end"]).toBe("aborted");
  });
});
