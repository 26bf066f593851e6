import OpenAI from "openai";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createHarness, collect, sequenceClock } from "./helpers/harness.js";
import type { Harness } from "./helpers/harness.js";
import { PRICE_SNAPSHOT } from "../src/metrics/price-snapshot.js";

const messages = [{ role: "user" as const, content: "What is the capital of France?" }];
// Mock server defaults: prompt_tokens = ceil(30 chars / 4) + 4 = 12; the default reply
// "Hello from the tokentrace mock server." is 6 words, so 6 completion tokens and 6 content chunks.
const DEFAULT_TEXT = "Hello from the tokentrace mock server.";

let h: Harness;
afterEach(async () => {
  await h.close();
});

describe("a non-streaming chat completion", () => {
  beforeEach(async () => {
    h = await createHarness();
  });

  it("records one CLIENT span named after the operation and model, with exact attributes", async () => {
    const result = await h.openai.chat.completions.create({
      model: "gpt-4o-mini",
      messages,
      max_tokens: 100,
      temperature: 0.2,
      top_p: 0.9,
      frequency_penalty: 0.5,
      presence_penalty: 0.25,
      stop: ["END"],
      seed: 42,
      n: 2,
      response_format: { type: "json_object" },
      service_tier: "flex",
    });
    expect(result.choices).toHaveLength(2);

    const span = h.onlySpan();
    expect(span.name).toBe("chat gpt-4o-mini");
    expect(span.kind).toBe(SpanKind.CLIENT);
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    expect(span.attributes).toEqual({
      "gen_ai.operation.name": "chat",
      "gen_ai.provider.name": "openai",
      "openai.api.type": "chat_completions",
      "gen_ai.request.model": "gpt-4o-mini",
      "gen_ai.request.max_tokens": 100,
      "gen_ai.request.temperature": 0.2,
      "gen_ai.request.top_p": 0.9,
      "gen_ai.request.frequency_penalty": 0.5,
      "gen_ai.request.presence_penalty": 0.25,
      "gen_ai.request.stop_sequences": ["END"],
      "gen_ai.request.seed": 42,
      "gen_ai.request.choice.count": 2,
      "gen_ai.request.stream": false,
      "gen_ai.output.type": "json",
      "openai.request.service_tier": "flex",
      "server.address": "127.0.0.1",
      "server.port": h.server.port,
      "gen_ai.response.id": "chatcmpl-mock-1",
      "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
      "gen_ai.response.finish_reasons": ["stop", "stop"],
      "gen_ai.usage.input_tokens": 12,
      "gen_ai.usage.output_tokens": 12,
      "gen_ai.usage.cache_read.input_tokens": 0,
      "gen_ai.usage.reasoning.output_tokens": 0,
      "openai.response.service_tier": "default",
      "openai.response.system_fingerprint": "fp_mock",
      "tokentrace.request.id": "req_mock_1",
      "http.response.status_code": 200,
      // gpt-4o-mini: $0.15 per million input tokens, $0.60 per million output tokens.
      "gen_ai.usage.cost": expect.closeTo((12 * 0.15 + 12 * 0.6) / 1e6, 15),
      "tokentrace.cost.input": expect.closeTo((12 * 0.15) / 1e6, 15),
      "tokentrace.cost.cached_input": 0,
      "tokentrace.cost.cache_write": 0,
      "tokentrace.cost.output": expect.closeTo((12 * 0.6) / 1e6, 15),
      "tokentrace.cost.model": "gpt-4o-mini",
      "tokentrace.cost.source": "snapshot",
      "tokentrace.cost.snapshot_date": PRICE_SNAPSHOT.generatedDate,
      "gen_ai.input.messages": JSON.stringify([
        { role: "user", parts: [{ type: "text", content: "What is the capital of France?" }] },
      ]),
      "tokentrace.content.present": true,
      "gen_ai.output.messages": JSON.stringify([
        { role: "assistant", parts: [{ type: "text", content: DEFAULT_TEXT }], finish_reason: "stop" },
        { role: "assistant", parts: [{ type: "text", content: DEFAULT_TEXT }], finish_reason: "stop" },
      ]),
    });
  });

  it("reports cached and reasoning tokens from the provider's usage details", async () => {
    h.server.enqueue({
      usage: { prompt_tokens: 2006, completion_tokens: 300, cached_tokens: 1920, reasoning_tokens: 256 },
    });
    await h.openai.chat.completions.create({ model: "o3-mini", messages });
    const attributes = h.onlySpan().attributes;
    expect(attributes["gen_ai.usage.input_tokens"]).toBe(2006);
    expect(attributes["gen_ai.usage.output_tokens"]).toBe(300);
    expect(attributes["gen_ai.usage.cache_read.input_tokens"]).toBe(1920);
    expect(attributes["gen_ai.usage.reasoning.output_tokens"]).toBe(256);
    expect(attributes["tokentrace.usage.estimated"]).toBeUndefined();
  });

  it("returns the SDK's own APIPromise, with withResponse() and the request id intact", async () => {
    const rawPromise = h.raw.chat.completions.create({ model: "gpt-4o-mini", messages });
    const promise = h.openai.chat.completions.create({ model: "gpt-4o-mini", messages });
    expect(promise.constructor).toBe(rawPromise.constructor);
    expect(promise).toBeInstanceOf(Promise);
    await rawPromise;

    const { data, response, request_id } = await promise.withResponse();
    expect(response.status).toBe(200);
    expect(request_id).toBe("req_mock_2");
    expect((data as { _request_id?: string })._request_id).toBe("req_mock_2");
    expect(data.choices[0]?.message.content).toBe(DEFAULT_TEXT);
    const span = h.onlySpan();
    expect(span.attributes["tokentrace.request.id"]).toBe("req_mock_2");
    expect(span.attributes["gen_ai.usage.output_tokens"]).toBe(6);
  });

  it("lets asResponse() hand over the raw Response and still records usage from a copy", async () => {
    const response = await h.openai.chat.completions.create({ model: "gpt-4o-mini", messages }).asResponse();
    const body = (await response.json()) as { choices: Array<{ message: { content: string } }> };
    expect(body.choices[0]?.message.content).toBe(DEFAULT_TEXT);
    const [span] = await h.waitForSpans(1);
    expect(span!.attributes["gen_ai.usage.input_tokens"]).toBe(12);
    expect(span!.attributes["gen_ai.usage.output_tokens"]).toBe(6);
    expect(span!.attributes["gen_ai.response.finish_reasons"]).toEqual(["stop"]);
  });

  it("traces chat.completions.parse() as one span and returns the parsed result", async () => {
    h.server.enqueue({ text: '{"city":"Paris"}' });
    // openai v4 keeps the helper under beta.
    const completions =
      "parse" in h.openai.chat.completions
        ? h.openai.chat.completions
        : (h.openai as unknown as { beta: { chat: OpenAI["chat"] } }).beta.chat.completions;
    const result = await completions.parse({
      model: "gpt-4o-mini",
      messages,
      response_format: {
        type: "json_schema",
        json_schema: { name: "answer", schema: { type: "object", properties: { city: { type: "string" } } } },
      },
    });
    expect(result.choices[0]?.message.parsed).toEqual({ city: "Paris" });
    const span = h.onlySpan();
    expect(span.attributes["gen_ai.output.type"]).toBe("json");
    expect(span.attributes["gen_ai.usage.output_tokens"]).toBe(1);
  });

  it("records tool calls and tool definitions in the conventions' parts format", async () => {
    h.server.enqueue({ toolCalls: [{ id: "call_1", name: "get_weather", arguments: '{"city":"Paris"}' }] });
    const tools = [
      {
        type: "function" as const,
        function: {
          name: "get_weather",
          description: "Weather by city",
          parameters: { type: "object", properties: { city: { type: "string" } } },
        },
      },
    ];
    await h.openai.chat.completions.create({
      model: "gpt-4o-mini",
      tools,
      messages: [
        { role: "system", content: "Be brief." },
        {
          role: "user",
          content: [
            { type: "text", text: "Weather?" },
            { type: "image_url", image_url: { url: "data:image/png;base64,AAAAAAAA" } },
          ],
        },
        {
          role: "assistant",
          tool_calls: [
            { id: "call_0", type: "function", function: { name: "get_weather", arguments: '{"city":"Rome"}' } },
          ],
        },
        { role: "tool", tool_call_id: "call_0", content: "sunny" },
      ],
    });
    const attributes = h.onlySpan().attributes;
    expect(JSON.parse(attributes["gen_ai.input.messages"] as string)).toEqual([
      { role: "system", parts: [{ type: "text", content: "Be brief." }] },
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
    expect(JSON.parse(attributes["gen_ai.output.messages"] as string)).toEqual([
      {
        role: "assistant",
        parts: [{ type: "tool_call", id: "call_1", name: "get_weather", arguments: { city: "Paris" } }],
        finish_reason: "tool_calls",
      },
    ]);
    expect(JSON.parse(attributes["gen_ai.tool.definitions"] as string)).toEqual([
      {
        type: "function",
        name: "get_weather",
        description: "Weather by city",
        parameters: tools[0]!.function.parameters,
      },
    ]);
    expect(attributes["gen_ai.response.finish_reasons"]).toEqual(["tool_calls"]);
  });

  it("rethrows the SDK's own error and records status ERROR, error.type and the HTTP status", async () => {
    h.server.enqueue({ status: 429 });
    const promise = h.openai.chat.completions.create({ model: "gpt-4o-mini", messages });
    const error: unknown = await promise.catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    // The same object every time the app looks, as without tokentrace.
    expect(await promise.catch((caught: unknown) => caught)).toBe(error);
    const span = h.onlySpan();
    expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: (error as Error).message });
    expect(span.attributes["error.type"]).toBe("RateLimitError");
    expect(span.attributes["http.response.status_code"]).toBe(429);
    expect(span.attributes["gen_ai.response.finish_reasons"]).toEqual(["error"]);
    expect(span.events.map((event) => event.name)).toEqual(["exception"]);
    expect(span.events[0]?.attributes?.["exception.message"]).toBe((error as Error).message);
  });

  it("records a connection failure as an error without changing what the app receives", async () => {
    const url = h.server.openaiBaseURL;
    await h.server.close();
    const client = h.observeClient(new OpenAI({ baseURL: url, apiKey: "sk-x", maxRetries: 0 }));
    const error: unknown = await client.chat.completions
      .create({ model: "gpt-4o-mini", messages })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.APIConnectionError);
    expect(h.onlySpan().attributes["error.type"]).toBe("APIConnectionError");
    h.server = await (await import("../src/testing/index.js")).startMockLLMServer();
  });

  it("estimates usage, and says so, when the provider reports none", async () => {
    h.server.enqueue({ malformed: "missing-choices" });
    const result = await h.openai.chat.completions.create({ model: "gpt-4o-mini", messages });
    expect(result.choices).toBeUndefined();
    const attributes = h.onlySpan().attributes;
    // The mock still reports usage with missing choices: the provider's numbers win.
    expect(attributes["gen_ai.usage.input_tokens"]).toBe(12);
    expect(attributes["tokentrace.usage.estimated"]).toBeUndefined();
    expect(attributes["gen_ai.response.finish_reasons"]).toBeUndefined();
  });

  it("passes a non-JSON body's parse error to the app unchanged and ends the span with it", async () => {
    h.server.enqueue({ malformed: "non-json" });
    const rawError: unknown = await (async () => {
      h.server.enqueue({ malformed: "non-json" });
      return h.raw.chat.completions.create({ model: "gpt-4o-mini", messages }).catch((caught: unknown) => caught);
    })();
    const error: unknown = await h.openai.chat.completions
      .create({ model: "gpt-4o-mini", messages })
      .catch((caught: unknown) => caught);
    expect((error as Error).constructor).toBe((rawError as Error).constructor);
    expect((error as Error).message).toBe((rawError as Error).message);
    expect(h.onlySpan().status.code).toBe(SpanStatusCode.ERROR);
  });
});

describe("a streamed chat completion", () => {
  beforeEach(async () => {
    h = await createHarness();
  });

  it("gives the app exactly the chunks the raw client gives, while recording exact usage", async () => {
    const rawChunks = await collect(
      await h.raw.chat.completions.create({ model: "gpt-4o-mini", messages, stream: true }),
    );
    const stream = await h.openai.chat.completions.create({ model: "gpt-4o-mini", messages, stream: true });
    const chunks = await collect(stream);
    const normalise = (chunk: unknown): string => JSON.stringify(chunk).replace(/chatcmpl-mock-\d+/, "ID");
    expect(chunks.map(normalise)).toEqual(rawChunks.map(normalise));
    expect(chunks.some((chunk) => "usage" in chunk)).toBe(false);

    // tokentrace asked for the usage chunk; the server saw the request with it.
    expect(h.server.requests[0]?.body).not.toHaveProperty("stream_options");
    expect(h.server.requests[1]?.body).toMatchObject({ stream_options: { include_usage: true } });

    const attributes = h.onlySpan().attributes;
    expect(attributes["gen_ai.request.stream"]).toBe(true);
    expect(attributes["tokentrace.stream.usage_injected"]).toBe(true);
    expect(attributes["gen_ai.usage.input_tokens"]).toBe(12);
    expect(attributes["gen_ai.usage.output_tokens"]).toBe(6);
    expect(attributes["tokentrace.usage.estimated"]).toBeUndefined();
    expect(attributes["gen_ai.response.finish_reasons"]).toEqual(["stop"]);
    expect(attributes["tokentrace.stream.end"]).toBe("completed");
    expect(attributes["tokentrace.stream.chunk_count"]).toBe(8);
    expect(attributes["gen_ai.output.messages"]).toBe(
      JSON.stringify([{ role: "assistant", parts: [{ type: "text", content: DEFAULT_TEXT }], finish_reason: "stop" }]),
    );
  });

  it("times the first chunk from the request's issue and summarises the gaps between chunks, exactly", async () => {
    await h.close();
    // issue at 1000 ms; 8 visible chunks; the hidden usage chunk; end.
    h = await createHarness({ now: sequenceClock([1000, 1250, 1260, 1270, 1300, 1310, 1320, 1330, 1350, 1355, 1400]) });
    await collect(await h.openai.chat.completions.create({ model: "gpt-4o-mini", messages, stream: true }));
    const attributes = h.onlySpan().attributes;
    expect(attributes["gen_ai.response.time_to_first_chunk"]).toBe(0.25);
    expect(attributes["tokentrace.stream.chunk_count"]).toBe(8);
    expect(attributes["tokentrace.stream.mean_chunk_gap"]).toBe(0.1 / 7);
    expect(attributes["tokentrace.stream.max_chunk_gap"]).toBe(0.03);
    // 6 output tokens over the 100 ms from the first to the last chunk.
    expect(attributes["tokentrace.stream.output_tokens_per_second"]).toBe(60);
  });

  it("respects an explicit include_usage from the app and shows it the usage chunk", async () => {
    const chunks = await collect(
      await h.openai.chat.completions.create({
        model: "gpt-4o-mini",
        messages,
        stream: true,
        stream_options: { include_usage: true },
      }),
    );
    const last = chunks[chunks.length - 1]!;
    expect(last.choices).toEqual([]);
    expect(last.usage?.completion_tokens).toBe(6);
    expect(chunks[0]).toHaveProperty("usage", null);
    const attributes = h.onlySpan().attributes;
    expect(attributes["tokentrace.stream.usage_injected"]).toBeUndefined();
    expect(attributes["gen_ai.usage.output_tokens"]).toBe(6);
  });

  it("does not touch the request when injection is off, and marks its token counts as estimates", async () => {
    const client = h.observeClient(new OpenAI({ baseURL: h.server.openaiBaseURL, apiKey: "sk-x", maxRetries: 0 }), {
      injectStreamUsage: false,
    });
    await collect(await client.chat.completions.create({ model: "gpt-4o-mini", messages, stream: true }));
    expect(h.server.requests[0]?.body).not.toHaveProperty("stream_options");
    const attributes = h.onlySpan().attributes;
    expect(attributes["tokentrace.usage.estimated"]).toBe(true);
    // Streamed output from its length, capture on or off alike: the reply's 38 characters at four per token.
    // The input counted with gpt-4o-mini's encoding (o200k_base): the question's 7 tokens, 3 for its message
    // and 3 that prime the reply.
    expect(attributes["gen_ai.usage.output_tokens"]).toBe(10);
    expect(attributes["gen_ai.usage.input_tokens"]).toBe(13);
    expect(attributes["tokentrace.usage.estimate_method"]).toBe("tokenizer");
  });

  it("ends the span once, as cancelled with the partial output, when the app breaks early", async () => {
    const stream = await h.openai.chat.completions.create({ model: "gpt-4o-mini", messages, stream: true });
    let seen = 0;
    for await (const chunk of stream) {
      void chunk;
      if (++seen === 3) break;
    }
    const [span] = await h.waitForSpans(1);
    const attributes = span!.attributes;
    expect(attributes["tokentrace.stream.end"]).toBe("cancelled");
    expect(attributes["gen_ai.response.finish_reasons"]).toEqual(["cancelled"]);
    expect(attributes["tokentrace.stream.chunk_count"]).toBe(3);
    expect(attributes["tokentrace.usage.estimated"]).toBe(true);
    expect(attributes["gen_ai.output.messages"]).toBe(
      JSON.stringify([{ role: "assistant", parts: [{ type: "text", content: "Hello from " }] }]),
    );
    expect(span!.status.code).toBe(SpanStatusCode.UNSET);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(h.spans()).toHaveLength(1);
  });

  it("ends the span as aborted when the app aborts through the stream's controller", async () => {
    h.server.enqueue({ chunkDelayMs: 20 });
    const stream = await h.openai.chat.completions.create({ model: "gpt-4o-mini", messages, stream: true });
    const chunks: unknown[] = [];
    for await (const chunk of stream) {
      chunks.push(chunk);
      if (chunks.length === 2) stream.controller.abort();
    }
    expect(chunks).toHaveLength(2);
    const [span] = await h.waitForSpans(1);
    expect(span!.attributes["tokentrace.stream.end"]).toBe("aborted");
    expect(span!.attributes["gen_ai.response.finish_reasons"]).toEqual(["cancelled"]);
    expect(span!.status.code).toBe(SpanStatusCode.UNSET);
  });

  it("records a mid-stream failure as an error with the partial output, and rethrows the SDK's error", async () => {
    h.server.enqueue({ errorAfterChunks: 2 });
    const rawFailure = async (): Promise<unknown> => {
      h.server.enqueue({ errorAfterChunks: 2 });
      const rawStream = await h.raw.chat.completions.create({ model: "gpt-4o-mini", messages, stream: true });
      return collect(rawStream).catch((caught: unknown) => caught);
    };
    const stream = await h.openai.chat.completions.create({ model: "gpt-4o-mini", messages, stream: true });
    const seen: string[] = [];
    const error = await (async () => {
      for await (const chunk of stream) seen.push(chunk.choices[0]?.delta.content ?? "");
    })().catch((caught: unknown) => caught);
    const rawError = await rawFailure();
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).constructor).toBe((rawError as Error).constructor);
    expect(seen.join("")).toBe("Hello from ");

    const span = h.spans()[0]!;
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(span.attributes["error.type"]).toBe((error as Error).constructor.name);
    expect(span.attributes["tokentrace.stream.end"]).toBe("error");
    expect(span.attributes["gen_ai.response.finish_reasons"]).toEqual(["error"]);
    expect(span.attributes["gen_ai.output.messages"]).toBe(
      JSON.stringify([{ role: "assistant", parts: [{ type: "text", content: "Hello from " }] }]),
    );
  });

  it("records an error that arrives before the first chunk", async () => {
    h.server.enqueue({ status: 500 });
    const error: unknown = await h.openai.chat.completions
      .create({ model: "gpt-4o-mini", messages, stream: true })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.InternalServerError);
    const span = h.onlySpan();
    expect(span.attributes["error.type"]).toBe("InternalServerError");
    expect(span.attributes["http.response.status_code"]).toBe(500);
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
  });

  it("keeps tee() working and records the call once", async () => {
    const stream = await h.openai.chat.completions.create({ model: "gpt-4o-mini", messages, stream: true });
    const [left, right] = stream.tee();
    const [leftChunks, rightChunks] = await Promise.all([collect(left), collect(right)]);
    expect(leftChunks.map((chunk) => chunk.choices[0]?.delta.content ?? "").join("")).toBe(DEFAULT_TEXT);
    expect(rightChunks).toEqual(leftChunks);
    expect(h.onlySpan().attributes["gen_ai.usage.output_tokens"]).toBe(6);
  });

  it("keeps toReadableStream() working and ends the span when the readable is drained", async () => {
    const stream = await h.openai.chat.completions.create({ model: "gpt-4o-mini", messages, stream: true });
    const reader = stream.toReadableStream().getReader();
    const decoder = new TextDecoder();
    let text = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value as Uint8Array);
    }
    const lines = text
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { choices: Array<{ delta: { content?: string } }> });
    expect(lines.map((line) => line.choices[0]?.delta.content ?? "").join("")).toBe(DEFAULT_TEXT);
    const [span] = await h.waitForSpans(1);
    expect(span!.attributes["tokentrace.stream.end"]).toBe("completed");
  });

  it("reassembles streamed tool-call argument deltas into valid JSON", async () => {
    h.server.enqueue({ toolCalls: [{ id: "call_9", name: "lookup", arguments: '{"query":"tokentrace","limit":3}' }] });
    await collect(await h.openai.chat.completions.create({ model: "gpt-4o-mini", messages, stream: true }));
    const output = JSON.parse(h.onlySpan().attributes["gen_ai.output.messages"] as string) as unknown;
    expect(output).toEqual([
      {
        role: "assistant",
        parts: [{ type: "tool_call", id: "call_9", name: "lookup", arguments: { query: "tokentrace", limit: 3 } }],
        finish_reason: "tool_calls",
      },
    ]);
  });

  it("survives odd chunks: the app sees them unchanged and the span still ends with exact usage", async () => {
    h.server.enqueue({ malformed: "odd-chunks" });
    const rawChunks = await (async () => {
      h.server.enqueue({ malformed: "odd-chunks" });
      return collect(
        await h.raw.chat.completions.create({
          model: "gpt-4o-mini",
          messages,
          stream: true,
          stream_options: { include_usage: true },
        }),
      );
    })();
    const chunks = await collect(
      await h.openai.chat.completions.create({
        model: "gpt-4o-mini",
        messages,
        stream: true,
        stream_options: { include_usage: true },
      }),
    );
    const normalise = (chunk: unknown): string => JSON.stringify(chunk).replace(/chatcmpl-mock-\d+/, "ID");
    expect(chunks.map(normalise)).toEqual(rawChunks.map(normalise));
    const attributes = h.onlySpan().attributes;
    expect(attributes["gen_ai.usage.output_tokens"]).toBe(6);
    expect(attributes["tokentrace.stream.end"]).toBe("completed");
  });

  it("records a non-JSON chunk's error as the app sees it", async () => {
    h.server.enqueue({ malformed: "non-json" });
    const error = await collect(
      await h.openai.chat.completions.create({ model: "gpt-4o-mini", messages, stream: true }),
    ).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(SyntaxError);
    const span = h.onlySpan();
    expect(span.attributes["error.type"]).toBe("SyntaxError");
    expect(span.attributes["tokentrace.stream.end"]).toBe("error");
  });
});
