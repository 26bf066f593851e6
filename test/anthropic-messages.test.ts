import Anthropic from "@anthropic-ai/sdk";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ANTHROPIC_API_KEY, createAnthropicHarness } from "./helpers/anthropic-harness.js";
import { withoutCost } from "./helpers/span-attributes.js";
import type { AnthropicHarness } from "./helpers/anthropic-harness.js";
import { openCallCount } from "../src/recorder/call.js";
import { collectGarbageUntil } from "./helpers/gc.js";
import { collect, sequenceClock } from "./helpers/harness.js";

/**
 * The Anthropic contract suite: it runs against @anthropic-ai/sdk 1.x (which traces itself) and, in the
 * `anthropic-v0` vitest project, against 0.133 (which does not).
 *
 * Mock server defaults: input_tokens = ceil(30 chars / 4) + 4 = 12 for `messages`; the default reply
 * "Hello from the tokentrace mock server." streams in 6 text deltas and counts 6 output tokens. A default
 * stream is 11 events: message_start, content_block_start, 6 deltas, content_block_stop, message_delta,
 * message_stop (the ping is skipped by the SDK).
 */
const messages = [{ role: "user" as const, content: "What is the capital of France?" }];
const DEFAULT_TEXT = "Hello from the tokentrace mock server.";
const MODEL = "claude-sonnet-5";
type APIError = InstanceType<typeof Anthropic.APIError>;
const SNAPSHOT = "claude-sonnet-5-20261001";

let h: AnthropicHarness;
afterEach(async () => {
  await h.close();
});

const attributes = (span: ReadableSpan | undefined): Record<string, unknown> => withoutCost(span!.attributes);
const outputMessages = (span: ReadableSpan): unknown => JSON.parse(span.attributes["gen_ai.output.messages"] as string);
const textMessage = (text: string, finishReason?: string): Record<string, unknown> => ({
  role: "assistant",
  parts: [{ type: "text", content: text }],
  ...(finishReason !== undefined ? { finish_reason: finishReason } : {}),
});

describe("a non-streaming message", () => {
  beforeEach(async () => {
    h = await createAnthropicHarness();
  });

  it("records one CLIENT span named after the operation and model, with exact attributes", async () => {
    h.server.enqueueAnthropic({ model: SNAPSHOT });
    // Sampling parameters: 0.x declares them; 1.x's types no longer do, but a request may still carry them.
    const sampling = { temperature: 0.2, top_p: 0.9, top_k: 40 };
    const message = await h.anthropic.messages.create({
      model: MODEL,
      max_tokens: 100,
      system: "Be brief.",
      messages,
      ...sampling,
      stop_sequences: ["END"],
      service_tier: "auto",
    });
    expect(message.content).toEqual([{ type: "text", text: DEFAULT_TEXT }]);

    const span = h.onlySpan();
    expect(span.name).toBe(`chat ${MODEL}`);
    expect(span.kind).toBe(SpanKind.CLIENT);
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    expect(span.instrumentationScope.name).toBe("tokentrace");
    expect(attributes(span)).toEqual({
      "gen_ai.operation.name": "chat",
      "gen_ai.provider.name": "anthropic",
      "gen_ai.request.model": MODEL,
      "gen_ai.request.max_tokens": 100,
      "gen_ai.request.temperature": 0.2,
      "gen_ai.request.top_p": 0.9,
      "gen_ai.request.top_k": 40,
      "gen_ai.request.stop_sequences": ["END"],
      "gen_ai.request.stream": false,
      "anthropic.request.service_tier": "auto",
      "server.address": "127.0.0.1",
      "server.port": h.server.port,
      ...h.attemptAttributes(),
      "gen_ai.response.id": "msg_mock_1",
      "gen_ai.response.model": SNAPSHOT,
      "gen_ai.response.finish_reasons": ["end_turn"],
      // 12 for the message, ceil(9 / 4) = 3 for the system prompt.
      "gen_ai.usage.input_tokens": 15,
      "gen_ai.usage.output_tokens": 6,
      "gen_ai.usage.cache_read.input_tokens": 0,
      "gen_ai.usage.cache_write.input_tokens": 0,
      "tokentrace.usage.cache_write_5m.input_tokens": 0,
      "tokentrace.usage.cache_write_1h.input_tokens": 0,
      "anthropic.response.service_tier": "standard",
      "tokentrace.request.id": "req_mock_1",
      "http.response.status_code": 200,
      "gen_ai.system_instructions": JSON.stringify([{ type: "text", content: "Be brief." }]),
      "gen_ai.input.messages": JSON.stringify([
        { role: "user", parts: [{ type: "text", content: "What is the capital of France?" }] },
      ]),
      "tokentrace.content.present": true,
      "gen_ai.output.messages": JSON.stringify([textMessage(DEFAULT_TEXT, "end_turn")]),
    });
    // Priced from the bundled snapshot: 15 × $2 + 6 × $10 per million tokens.
    expect(span.attributes["gen_ai.usage.cost"]).toBeCloseTo(90 / 1e6, 12);
    expect(JSON.stringify(span.attributes)).not.toContain(ANTHROPIC_API_KEY);
  });

  it("returns the SDK's own APIPromise, with withResponse() and the request id intact", async () => {
    const rawPromise = h.raw.messages.create({ model: MODEL, max_tokens: 100, messages });
    const promise = h.anthropic.messages.create({ model: MODEL, max_tokens: 100, messages });
    expect(promise.constructor).toBe(rawPromise.constructor);
    expect(promise).toBeInstanceOf(Promise);
    await rawPromise;

    const { data, response, request_id } = await promise.withResponse();
    expect(response.status).toBe(200);
    expect(request_id).toBe("req_mock_2");
    expect((data as { _request_id?: string })._request_id).toBe("req_mock_2");
    const span = h.onlySpan();
    expect(span.attributes["tokentrace.request.id"]).toBe("req_mock_2");
    expect(span.attributes["gen_ai.usage.output_tokens"]).toBe(6);
  });

  it("lets asResponse() hand over the raw Response and still records usage from a copy", async () => {
    const response = await h.anthropic.messages.create({ model: MODEL, max_tokens: 100, messages }).asResponse();
    const body = (await response.json()) as { content: Array<{ text: string }> };
    expect(body.content[0]?.text).toBe(DEFAULT_TEXT);
    const [span] = await h.waitForSpans(1);
    expect(span!.attributes["gen_ai.usage.input_tokens"]).toBe(12);
    expect(span!.attributes["gen_ai.usage.output_tokens"]).toBe(6);
    expect(span!.attributes["gen_ai.response.finish_reasons"]).toEqual(["end_turn"]);
  });

  it("counts cache reads and writes inside the input tokens, with the 5-minute and 1-hour split, and prices them", async () => {
    h.server.enqueueAnthropic({
      model: SNAPSHOT,
      usage: {
        input_tokens: 100,
        cache_read_input_tokens: 1000,
        ephemeral_5m_input_tokens: 200,
        ephemeral_1h_input_tokens: 300,
        output_tokens: 50,
      },
    });
    await h.anthropic.messages.create({ model: MODEL, max_tokens: 100, messages });
    const span = h.onlySpan();
    expect(span.attributes).toMatchObject({
      "gen_ai.usage.input_tokens": 1600,
      "gen_ai.usage.cache_read.input_tokens": 1000,
      "gen_ai.usage.cache_write.input_tokens": 500,
      "tokentrace.usage.cache_write_5m.input_tokens": 200,
      "tokentrace.usage.cache_write_1h.input_tokens": 300,
      "gen_ai.usage.output_tokens": 50,
    });
    expect(span.attributes["gen_ai.usage.cache_creation.input_tokens"]).toBeUndefined();
    expect(span.attributes["tokentrace.usage.estimated"]).toBeUndefined();
    // 100 × $2 + 1000 × $0.20 + 200 × $2.50 (5-minute write) + 300 × $4 (1-hour write) + 50 × $10, per million tokens.
    expect(span.attributes["gen_ai.usage.cost"]).toBeCloseTo(2600 / 1e6, 12);
  });

  it("records thinking as reasoning parts, marks redacted thinking, and counts thinking tokens inside output tokens", async () => {
    h.server.enqueueAnthropic({
      content: [
        { type: "thinking", thinking: "The capital is Paris." },
        { type: "redacted_thinking", data: "EncryptedOpaqueData" },
        { type: "text", text: "Paris." },
      ],
    });
    const message = await h.anthropic.messages.create({
      model: MODEL,
      max_tokens: 4096,
      thinking: { type: "enabled", budget_tokens: 2048 },
      messages,
    });
    expect(message.content.map((block) => block.type)).toEqual(["thinking", "redacted_thinking", "text"]);
    const span = h.onlySpan();
    expect(span.attributes).toMatchObject({
      "anthropic.thinking.type": "enabled",
      "anthropic.thinking.budget_tokens": 2048,
      // 4 thinking deltas and 1 text delta.
      "gen_ai.usage.output_tokens": 5,
      "gen_ai.usage.reasoning.output_tokens": 4,
    });
    expect(outputMessages(span)).toEqual([
      {
        role: "assistant",
        parts: [
          { type: "reasoning", content: "The capital is Paris." },
          { type: "reasoning", content: "", redacted: true },
          { type: "text", content: "Paris." },
        ],
        finish_reason: "end_turn",
      },
    ]);
    expect(JSON.stringify(span.attributes)).not.toContain("EncryptedOpaqueData");
  });

  it("records tools, tool calls, tool results and images in the conventions' parts format, without inlining image data", async () => {
    h.server.enqueueAnthropic({
      content: [{ type: "tool_use", id: "toolu_2", name: "get_weather", input: { city: "Paris" } }],
    });
    const tools = [
      {
        name: "get_weather",
        description: "Weather by city",
        input_schema: { type: "object" as const, properties: { city: { type: "string" } } },
      },
      { type: "web_search_20250305" as const, name: "web_search" as const, max_uses: 2 },
    ];
    const message = await h.anthropic.messages.create({
      model: MODEL,
      max_tokens: 100,
      tools,
      system: [{ type: "text", text: "You are a weather bot.", cache_control: { type: "ephemeral" } }],
      messages: [
        {
          role: "user",
          content: [
            { type: "text", text: "Weather here?" },
            { type: "image", source: { type: "base64", media_type: "image/png", data: "AAAAAAAA" } },
            { type: "image", source: { type: "url", url: "https://example.com/cat.png" } },
          ],
        },
        {
          role: "assistant",
          content: [{ type: "tool_use", id: "toolu_1", name: "get_weather", input: { city: "Rome" } }],
        },
        {
          role: "user",
          content: [
            { type: "tool_result", tool_use_id: "toolu_1", content: "sunny" },
            { type: "text", text: "And Paris?" },
          ],
        },
      ],
    });
    expect(message.stop_reason).toBe("tool_use");
    const span = h.onlySpan();
    expect(JSON.parse(span.attributes["gen_ai.system_instructions"] as string)).toEqual([
      { type: "text", content: "You are a weather bot." },
    ]);
    expect(JSON.parse(span.attributes["gen_ai.input.messages"] as string)).toEqual([
      {
        role: "user",
        parts: [
          { type: "text", content: "Weather here?" },
          {
            type: "blob",
            modality: "image",
            mime_type: "image/png",
            content: "[6 bytes omitted, sha256:c34ab6abb7b2]",
          },
          { type: "uri", modality: "image", uri: "https://example.com/cat.png" },
        ],
      },
      {
        role: "assistant",
        parts: [{ type: "tool_call", id: "toolu_1", name: "get_weather", arguments: { city: "Rome" } }],
      },
      {
        role: "user",
        parts: [
          { type: "tool_call_response", id: "toolu_1", response: "sunny" },
          { type: "text", content: "And Paris?" },
        ],
      },
    ]);
    expect(outputMessages(span)).toEqual([
      {
        role: "assistant",
        parts: [{ type: "tool_call", id: "toolu_2", name: "get_weather", arguments: { city: "Paris" } }],
        finish_reason: "tool_use",
      },
    ]);
    expect(JSON.parse(span.attributes["gen_ai.tool.definitions"] as string)).toEqual([
      { type: "function", name: "get_weather", description: "Weather by city", parameters: tools[0]!.input_schema },
      { type: "web_search_20250305", name: "web_search", max_uses: 2 },
    ]);
    expect(span.attributes["gen_ai.response.finish_reasons"]).toEqual(["tool_use"]);
  });

  it("records server tool blocks and ignores block types it does not know, in the response", async () => {
    h.server.enqueueAnthropic({
      content: [
        {
          type: "raw",
          block: {
            type: "server_tool_use",
            id: "srvtoolu_1",
            name: "web_search",
            input: { query: "capital of France" },
          },
        },
        {
          type: "raw",
          block: {
            type: "web_search_tool_result",
            tool_use_id: "srvtoolu_1",
            content: [{ type: "web_search_result", encrypted_content: "OPAQUE", url: "https://example.com" }],
          },
        },
        { type: "raw", block: { type: "block_of_a_newer_api", payload: "?" } },
        { type: "text", text: "Paris." },
      ],
    });
    await h.anthropic.messages.create({ model: MODEL, max_tokens: 100, messages });
    const span = h.onlySpan();
    expect(outputMessages(span)).toEqual([
      {
        role: "assistant",
        parts: [
          {
            type: "server_tool_call",
            id: "srvtoolu_1",
            name: "web_search",
            server_tool_call: { type: "web_search", arguments: { query: "capital of France" } },
          },
          {
            type: "server_tool_call_response",
            id: "srvtoolu_1",
            server_tool_call_response: { type: "web_search_tool_result" },
          },
          { type: "block_of_a_newer_api" },
          { type: "text", content: "Paris." },
        ],
        finish_reason: "end_turn",
      },
    ]);
    expect(span.attributes["gen_ai.usage.output_tokens"]).toBe(1);
    expect(JSON.stringify(span.attributes)).not.toContain("OPAQUE");
  });

  it.each(["end_turn", "max_tokens", "stop_sequence", "tool_use", "refusal", "pause_turn"])(
    "reports the stop reason %s as the finish reason",
    async (stopReason) => {
      h.server.enqueueAnthropic({ stopReason });
      await h.anthropic.messages.create({ model: MODEL, max_tokens: 100, messages });
      const span = h.onlySpan();
      expect(span.attributes["gen_ai.response.finish_reasons"]).toEqual([stopReason]);
      expect(outputMessages(span)).toEqual([textMessage(DEFAULT_TEXT, stopReason)]);
    },
  );

  it("records structured output requests as gen_ai.output.type json", async () => {
    h.server.enqueueAnthropic({ content: [{ type: "text", text: '{"city":"Paris"}' }] });
    await h.anthropic.messages.create({
      model: MODEL,
      max_tokens: 100,
      messages,
      output_config: {
        format: { type: "json_schema", schema: { type: "object", properties: { city: { type: "string" } } } },
      },
    });
    expect(h.onlySpan().attributes["gen_ai.output.type"]).toBe("json");
  });

  it("rethrows the SDK's own 429 error and records status ERROR, error.type and the HTTP status", async () => {
    h.server.enqueueAnthropic({ status: 429 });
    const promise = h.anthropic.messages.create({ model: MODEL, max_tokens: 100, messages });
    const error: unknown = await promise.catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Anthropic.RateLimitError);
    expect((error as APIError).type).toBe("rate_limit_error");
    expect(await promise.catch((caught: unknown) => caught)).toBe(error);
    const span = h.onlySpan();
    expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: (error as Error).message });
    expect(span.attributes["error.type"]).toBe("RateLimitError");
    expect(span.attributes["http.response.status_code"]).toBe(429);
    expect(span.attributes["gen_ai.response.finish_reasons"]).toEqual(["error"]);
    expect(span.events.map((event) => event.name)).toEqual(["exception"]);
  });

  it("records a 529 overloaded_error with the error class the SDK throws for it", async () => {
    h.server.enqueueAnthropic({ status: 529 });
    const error: unknown = await h.anthropic.messages
      .create({ model: MODEL, max_tokens: 100, messages })
      .catch((caught: unknown) => caught);
    // 1.x throws OverloadedError, 0.x its parent InternalServerError.
    expect(error).toBeInstanceOf(Anthropic.InternalServerError);
    expect((error as APIError).status).toBe(529);
    expect((error as APIError).type).toBe("overloaded_error");
    const span = h.onlySpan();
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(span.attributes["error.type"]).toBe((error as Error).constructor.name);
    expect(span.attributes["http.response.status_code"]).toBe(529);
  });
});

describe("a streamed message", () => {
  beforeEach(async () => {
    h = await createAnthropicHarness();
  });

  it("records exact attributes and timing: first chunk, first text delta, gaps and throughput", async () => {
    await h.close();
    // Issue at 1000 ms; message_start 1200, content_block_start 1210, text deltas 1250..1300, content_block_stop,
    // message_delta, message_stop at 1320; end.
    h = await createAnthropicHarness({
      now: sequenceClock([1000, 1200, 1210, 1250, 1260, 1270, 1280, 1290, 1300, 1305, 1310, 1320, 1400]),
    });
    h.server.enqueueAnthropic({ model: SNAPSHOT });
    const events = await collect(
      await h.anthropic.messages.create({ model: MODEL, max_tokens: 100, messages, stream: true }),
    );
    expect(events.map((event) => event.type)).toEqual([
      "message_start",
      "content_block_start",
      ...Array<string>(6).fill("content_block_delta"),
      "content_block_stop",
      "message_delta",
      "message_stop",
    ]);
    const span = h.onlySpan();
    expect(attributes(span)).toEqual({
      "gen_ai.operation.name": "chat",
      "gen_ai.provider.name": "anthropic",
      "gen_ai.request.model": MODEL,
      "gen_ai.request.max_tokens": 100,
      "gen_ai.request.stream": true,
      "server.address": "127.0.0.1",
      "server.port": h.server.port,
      ...h.attemptAttributes(),
      "gen_ai.response.id": "msg_mock_1",
      "gen_ai.response.model": SNAPSHOT,
      "gen_ai.response.finish_reasons": ["end_turn"],
      "gen_ai.usage.input_tokens": 12,
      "gen_ai.usage.output_tokens": 6,
      "gen_ai.usage.cache_read.input_tokens": 0,
      "gen_ai.usage.cache_write.input_tokens": 0,
      "tokentrace.usage.cache_write_5m.input_tokens": 0,
      "tokentrace.usage.cache_write_1h.input_tokens": 0,
      "anthropic.response.service_tier": "standard",
      "tokentrace.request.id": "req_mock_1",
      "http.response.status_code": 200,
      "tokentrace.stream.chunk_count": 11,
      "gen_ai.response.time_to_first_chunk": 0.2,
      "tokentrace.response.time_to_first_content": 0.25,
      "tokentrace.stream.mean_chunk_gap": 0.012,
      "tokentrace.stream.max_chunk_gap": 0.04,
      // 6 output tokens over the 120 ms from the first to the last event.
      "tokentrace.stream.output_tokens_per_second": 50,
      "tokentrace.stream.end": "completed",
      "gen_ai.input.messages": JSON.stringify([
        { role: "user", parts: [{ type: "text", content: "What is the capital of France?" }] },
      ]),
      "tokentrace.content.present": true,
      "gen_ai.output.messages": JSON.stringify([textMessage(DEFAULT_TEXT, "end_turn")]),
    });
  });

  it("counts exactly what a non-streamed call of the same content counts, taking cumulative usage as the latest value", async () => {
    const reply = {
      content: [
        { type: "thinking" as const, thinking: "Look it up." },
        { type: "text" as const, text: "Let me check the weather." },
        { type: "tool_use" as const, id: "toolu_9", name: "lookup", input: { query: "tokentrace", limit: 3 } },
      ],
      usage: { cache_read_input_tokens: 64, ephemeral_1h_input_tokens: 32 },
      // Three cumulative message_delta events: summing them would triple-count.
      messageDeltas: 3,
    };
    h.server.enqueueAnthropic(reply, reply);
    await h.anthropic.messages.create({ model: MODEL, max_tokens: 100, messages });
    await collect(await h.anthropic.messages.create({ model: MODEL, max_tokens: 100, messages, stream: true }));
    const [plain, streamed] = h.spans();
    const usageOf = (span: ReadableSpan): Record<string, unknown> =>
      Object.fromEntries(Object.entries(span.attributes).filter(([name]) => name.includes("usage")));
    // 3 thinking + 5 text deltas + ceil(32 / 4) for the tool input; 12 + 64 + 32 input.
    expect(usageOf(plain!)).toEqual({
      "gen_ai.usage.input_tokens": 108,
      "gen_ai.usage.output_tokens": 16,
      "gen_ai.usage.cache_read.input_tokens": 64,
      "gen_ai.usage.cache_write.input_tokens": 32,
      "gen_ai.usage.reasoning.output_tokens": 3,
      "tokentrace.usage.cache_write_5m.input_tokens": 0,
      "tokentrace.usage.cache_write_1h.input_tokens": 32,
      "gen_ai.usage.cost": plain!.attributes["gen_ai.usage.cost"],
    });
    expect(usageOf(streamed!)).toEqual(usageOf(plain!));
    expect(streamed!.attributes["gen_ai.output.messages"]).toBe(plain!.attributes["gen_ai.output.messages"]);
    expect(streamed!.attributes["gen_ai.response.finish_reasons"]).toEqual(["tool_use"]);
  });

  it("reassembles streamed input_json_delta pieces into valid tool-call arguments", async () => {
    h.server.enqueueAnthropic({
      content: [{ type: "tool_use", id: "toolu_9", name: "lookup", input: { query: "tokentrace", limit: 3 } }],
    });
    const events = await collect(
      await h.anthropic.messages.create({ model: MODEL, max_tokens: 100, messages, stream: true }),
    );
    expect(events.filter((event) => event.type === "content_block_delta")).toHaveLength(3);
    expect(outputMessages(h.onlySpan())).toEqual([
      {
        role: "assistant",
        parts: [{ type: "tool_call", id: "toolu_9", name: "lookup", arguments: { query: "tokentrace", limit: 3 } }],
        finish_reason: "tool_use",
      },
    ]);
  });

  it("ends the span once, as cancelled with the partial output, when the app breaks early", async () => {
    const stream = await h.anthropic.messages.create({ model: MODEL, max_tokens: 100, messages, stream: true });
    let seen = 0;
    for await (const _event of stream) {
      // message_start, content_block_start, "Hello ", "from "
      if (++seen === 4) break;
    }
    const [span] = await h.waitForSpans(1);
    expect(span!.status.code).toBe(SpanStatusCode.UNSET);
    expect(span!.attributes).toMatchObject({
      "tokentrace.stream.end": "cancelled",
      "tokentrace.stream.chunk_count": 4,
      "gen_ai.response.finish_reasons": ["cancelled"],
      // Input is exact from message_start; output is estimated (ceil(11 characters / 4)) and says so.
      "gen_ai.usage.input_tokens": 12,
      "gen_ai.usage.output_tokens": 3,
      "tokentrace.usage.estimated": true,
    });
    expect(outputMessages(span!)).toEqual([textMessage("Hello from ")]);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(h.spans()).toHaveLength(1);
  });

  it("ends the span as aborted when the app aborts through the stream's controller", async () => {
    h.server.enqueueAnthropic({ chunkDelayMs: 20 });
    const stream = await h.anthropic.messages.create({ model: MODEL, max_tokens: 100, messages, stream: true });
    const events: unknown[] = [];
    for await (const event of stream) {
      events.push(event);
      if (events.length === 3) stream.controller.abort();
    }
    expect(events).toHaveLength(3);
    const [span] = await h.waitForSpans(1);
    expect(span!.attributes["tokentrace.stream.end"]).toBe("aborted");
    expect(span!.attributes["gen_ai.response.finish_reasons"]).toEqual(["cancelled"]);
    expect(span!.status.code).toBe(SpanStatusCode.UNSET);
  });

  it("records an error event in the middle of the stream as an error with the partial output, and rethrows the SDK's error", async () => {
    const failing = { errorEventAfterDeltas: 2 };
    h.server.enqueueAnthropic(failing, failing);
    const rawError = await collect(
      await h.raw.messages.create({ model: MODEL, max_tokens: 100, messages, stream: true }),
    ).catch((caught: unknown) => caught);
    const seen: string[] = [];
    const error = await (async () => {
      const stream = await h.anthropic.messages.create({ model: MODEL, max_tokens: 100, messages, stream: true });
      for await (const event of stream)
        if (event.type === "content_block_delta" && event.delta.type === "text_delta") seen.push(event.delta.text);
    })().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Anthropic.APIError);
    expect((error as Error).constructor).toBe((rawError as Error).constructor);
    expect((error as APIError).type).toBe("overloaded_error");
    expect(seen.join("")).toBe("Hello from ");

    const span = h.onlySpan();
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(span.attributes).toMatchObject({
      "error.type": "overloaded_error",
      "tokentrace.stream.end": "error",
      "gen_ai.response.finish_reasons": ["error"],
      "gen_ai.usage.input_tokens": 12,
      "tokentrace.usage.estimated": true,
    });
    expect(outputMessages(span)).toEqual([textMessage("Hello from ")]);
  });

  it("records an error event that comes before any content", async () => {
    h.server.enqueueAnthropic({ errorEventAfterDeltas: 0, errorType: "api_error" });
    const stream = await h.anthropic.messages.create({ model: MODEL, max_tokens: 100, messages, stream: true });
    const error = await collect(stream).catch((caught: unknown) => caught);
    expect((error as APIError).type).toBe("api_error");
    const span = h.onlySpan();
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(span.attributes["tokentrace.stream.chunk_count"]).toBe(1);
    expect(span.attributes["tokentrace.response.time_to_first_content"]).toBeUndefined();
    expect(span.attributes["gen_ai.response.id"]).toBe("msg_mock_1");
    expect(outputMessages(span)).toEqual([{ role: "assistant", parts: [] }]);
  });

  it("records a connection dropped mid-stream as the error the app sees", async () => {
    h.server.enqueueAnthropic({ disconnectAfterDeltas: 2 });
    const error = await collect(
      await h.anthropic.messages.create({ model: MODEL, max_tokens: 100, messages, stream: true }),
    ).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Error);
    const span = h.onlySpan();
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(span.attributes["error.type"]).toBe((error as Error).constructor.name);
    expect(span.attributes["tokentrace.stream.end"]).toBe("error");
    expect(outputMessages(span)).toEqual([textMessage("Hello from ")]);
  });

  it("records an HTTP error that arrives before the first event", async () => {
    h.server.enqueueAnthropic({ status: 500 });
    const error: unknown = await h.anthropic.messages
      .create({ model: MODEL, max_tokens: 100, messages, stream: true })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Anthropic.InternalServerError);
    const span = h.onlySpan();
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(span.attributes["error.type"]).toBe("InternalServerError");
    expect(span.attributes["http.response.status_code"]).toBe(500);
    expect(span.attributes["tokentrace.stream.end"]).toBeUndefined();
  });

  it("ignores event, block and delta types it does not know, and still counts exactly", async () => {
    h.server.enqueueAnthropic({ unknownEvents: true }, { unknownEvents: true });
    const rawEvents = await collect(
      await h.raw.messages.create({ model: MODEL, max_tokens: 100, messages, stream: true }),
    );
    const events = await collect(
      await h.anthropic.messages.create({ model: MODEL, max_tokens: 100, messages, stream: true }),
    );
    const normalise = (event: unknown): string => JSON.stringify(event).replace(/msg_mock_\d+/, "ID");
    // The app sees what it would see without tokentrace (1.x passes unknown events on; 0.x drops them).
    expect(events.map(normalise)).toEqual(rawEvents.map(normalise));
    const span = h.onlySpan();
    expect(span.attributes).toMatchObject({
      "gen_ai.usage.input_tokens": 12,
      "gen_ai.usage.output_tokens": 6,
      "tokentrace.stream.chunk_count": events.length,
      "tokentrace.stream.end": "completed",
    });
    expect(span.attributes["tokentrace.usage.estimated"]).toBeUndefined();
    expect(outputMessages(span)).toEqual([
      {
        role: "assistant",
        parts: [{ type: "text", content: DEFAULT_TEXT }, { type: "tokentrace_mock_future_block" }],
        finish_reason: "end_turn",
      },
    ]);
  });

  it("keeps tee() working and records the call once", async () => {
    const stream = await h.anthropic.messages.create({ model: MODEL, max_tokens: 100, messages, stream: true });
    const [left, right] = stream.tee();
    const [leftEvents, rightEvents] = await Promise.all([collect(left), collect(right)]);
    expect(leftEvents).toHaveLength(11);
    expect(rightEvents).toEqual(leftEvents);
    expect(h.onlySpan().attributes["gen_ai.usage.output_tokens"]).toBe(6);
  });

  it("keeps toReadableStream() working and ends the span when the readable is drained", async () => {
    const stream = await h.anthropic.messages.create({ model: MODEL, max_tokens: 100, messages, stream: true });
    const reader = stream.toReadableStream().getReader();
    let lines = 0;
    const decoder = new TextDecoder();
    for (;;) {
      const { done, value } = (await reader.read()) as ReadableStreamReadResult<Uint8Array>;
      if (done) break;
      lines += decoder.decode(value).split("\n").filter(Boolean).length;
    }
    expect(lines).toBe(11);
    const [span] = await h.waitForSpans(1);
    expect(span!.attributes["tokentrace.stream.end"]).toBe("completed");
  });
});

describe("calls left behind", () => {
  beforeEach(async () => {
    h = await createAnthropicHarness();
  });

  it("ends the span of a stream that is never read once the stream is garbage-collected", async () => {
    await (async () => {
      const stream = await h.anthropic.messages.create({ model: MODEL, max_tokens: 100, messages, stream: true });
      expect(stream.controller).toBeInstanceOf(AbortController);
    })();
    await collectGarbageUntil(() => h.spans().length > 0);
    const span = h.onlySpan();
    expect(span.attributes["tokentrace.stream.end"]).toBe("abandoned");
    expect(span.attributes["gen_ai.response.finish_reasons"]).toEqual(["cancelled"]);
  });

  it("leaves no open calls behind after finished, failed, cancelled, aborted and abandoned calls", async () => {
    const before = openCallCount();
    await h.anthropic.messages.create({ model: MODEL, max_tokens: 100, messages });
    h.server.enqueueAnthropic({ status: 529 }, { errorEventAfterDeltas: 1 });
    await h.anthropic.messages.create({ model: MODEL, max_tokens: 100, messages }).catch(() => undefined);
    await collect(await h.anthropic.messages.create({ model: MODEL, max_tokens: 100, messages, stream: true })).catch(
      () => undefined,
    );
    for await (const _event of await h.anthropic.messages.create({
      model: MODEL,
      max_tokens: 100,
      messages,
      stream: true,
    })) {
      break;
    }
    const helper = h.anthropic.messages.stream({ model: MODEL, max_tokens: 100, messages });
    helper.on("connect", () => helper.abort());
    await helper.done().catch(() => undefined);
    await (async () => {
      await h.anthropic.messages.create({ model: MODEL, max_tokens: 100, messages, stream: true });
    })();
    await collectGarbageUntil(() => openCallCount() <= before);
    expect(openCallCount()).toBe(before);
    expect(h.spans().map((span) => span.attributes["tokentrace.stream.end"] ?? "none")).toEqual([
      "none",
      "none",
      "error",
      "cancelled",
      "aborted",
      "abandoned",
    ]);
  });
});

describe("the messages.stream() helper", () => {
  beforeEach(async () => {
    h = await createAnthropicHarness();
  });

  it("gives exactly one span, and keeps its events, finalMessage(), finalText() and done() working", async () => {
    const stream = h.anthropic.messages.stream({ model: MODEL, max_tokens: 100, messages });
    const texts: string[] = [];
    let messageEvents = 0;
    stream.on("text", (text) => texts.push(text));
    stream.on("message", () => messageEvents++);
    const final = await stream.finalMessage();
    expect(await stream.finalText()).toBe(DEFAULT_TEXT);
    await stream.done();
    expect(texts.join("")).toBe(DEFAULT_TEXT);
    expect(messageEvents).toBe(1);
    expect(final.usage.output_tokens).toBe(6);

    const [span] = await h.waitForSpans(1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(h.spans()).toHaveLength(1);
    expect(span!.name).toBe(`chat ${MODEL}`);
    expect(span!.attributes).toMatchObject({
      ...h.attemptAttributes(),
      "gen_ai.request.stream": true,
      "gen_ai.response.id": "msg_mock_1",
      "gen_ai.response.finish_reasons": ["end_turn"],
      "gen_ai.usage.input_tokens": 12,
      "gen_ai.usage.output_tokens": 6,
      "tokentrace.stream.chunk_count": 11,
      "tokentrace.stream.end": "completed",
      "gen_ai.output.messages": JSON.stringify([textMessage(DEFAULT_TEXT, "end_turn")]),
    });
  });

  it("streams tool input to inputJson listeners and records the parsed tool call", async () => {
    h.server.enqueueAnthropic({
      content: [{ type: "tool_use", id: "toolu_3", name: "lookup", input: { query: "tokentrace" } }],
    });
    const stream = h.anthropic.messages.stream({ model: MODEL, max_tokens: 100, messages });
    const pieces: string[] = [];
    stream.on("inputJson", (piece) => pieces.push(piece));
    const final = await stream.finalMessage();
    expect(pieces.join("")).toBe('{"query":"tokentrace"}');
    expect(final.content[0]).toMatchObject({ type: "tool_use", input: { query: "tokentrace" } });
    const [span] = await h.waitForSpans(1);
    expect(outputMessages(span!)).toEqual([
      {
        role: "assistant",
        parts: [{ type: "tool_call", id: "toolu_3", name: "lookup", arguments: { query: "tokentrace" } }],
        finish_reason: "tool_use",
      },
    ]);
  });

  it("ends the one span as aborted when the app calls abort()", async () => {
    h.server.enqueueAnthropic({ chunkDelayMs: 20 });
    const stream = h.anthropic.messages.stream({ model: MODEL, max_tokens: 100, messages });
    let aborted = false;
    stream.on("abort", () => (aborted = true));
    stream.on("text", () => stream.abort());
    const error = await stream.done().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Anthropic.APIUserAbortError);
    expect(aborted).toBe(true);
    const [span] = await h.waitForSpans(1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(h.spans()).toHaveLength(1);
    expect(span!.attributes["tokentrace.stream.end"]).toBe("aborted");
    expect(span!.status.code).toBe(SpanStatusCode.UNSET);
  });

  it("passes a mid-stream error event to the helper's error listeners and records it once", async () => {
    h.server.enqueueAnthropic({ errorEventAfterDeltas: 1 });
    const stream = h.anthropic.messages.stream({ model: MODEL, max_tokens: 100, messages });
    const errors: unknown[] = [];
    stream.on("error", (error) => errors.push(error));
    const error = await stream.finalMessage().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Anthropic.APIError);
    expect(errors).toEqual([error]);
    const [span] = await h.waitForSpans(1);
    expect(h.spans()).toHaveLength(1);
    expect(span!.status.code).toBe(SpanStatusCode.ERROR);
    expect(span!.attributes["tokentrace.stream.end"]).toBe("error");
  });

  it("traces messages.parse() as one span", async () => {
    const parsed = await h.anthropic.messages.parse({ model: MODEL, max_tokens: 100, messages });
    expect(parsed.content[0]).toMatchObject({ type: "text", text: DEFAULT_TEXT });
    expect(h.onlySpan().attributes["gen_ai.usage.output_tokens"]).toBe(6);
  });
});

describe("the beta messages API and untraced methods", () => {
  beforeEach(async () => {
    h = await createAnthropicHarness();
  });

  it("traces beta.messages.create and beta.messages.stream, one span each", async () => {
    await h.anthropic.beta.messages.create({
      model: MODEL,
      max_tokens: 100,
      messages,
      betas: ["context-1m-2025-08-07"],
    });
    const final = await h.anthropic.beta.messages.stream({ model: MODEL, max_tokens: 100, messages }).finalMessage();
    expect(final.content[0]).toMatchObject({ type: "text", text: DEFAULT_TEXT });
    const spans = await h.waitForSpans(2);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(h.spans()).toHaveLength(2);
    expect(spans.map((span) => span.attributes["gen_ai.request.stream"])).toEqual([false, true]);
    expect(spans.map((span) => span.attributes["gen_ai.usage.output_tokens"])).toEqual([6, 6]);
    // The beta API adds `?beta=true`, which the SDK leaves out of url.full.
    expect(spans[0]!.attributes).toMatchObject(h.attemptAttributes());
  });

  it("passes messages.countTokens and the other resources through untraced", async () => {
    const error = await h.anthropic.messages.countTokens({ model: MODEL, messages }).catch((caught: unknown) => caught);
    // The mock server does not serve count_tokens: the SDK's own 404 comes back unchanged.
    expect(error).toBeInstanceOf(Anthropic.NotFoundError);
    await h.anthropic.models.list().catch(() => undefined);
    expect(h.spans()).toHaveLength(0);
  });
});
