import { Agent, request as httpRequest } from "node:http";
import OpenAI, { InternalServerError, NotFoundError, RateLimitError } from "openai";
import type { ChatCompletionChunk } from "openai/resources/chat/completions";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { startMockLLMServer, type MockLLMServer } from "../src/testing/index.js";

const defaultText = "Hello from the tokentrace mock server.";

let server: MockLLMServer;
let client: OpenAI;

beforeAll(async () => {
  server = await startMockLLMServer();
  // logLevel "off" keeps the SDK from printing the unparseable SSE line in the malformed-stream test.
  client = new OpenAI({ baseURL: server.openaiBaseURL, apiKey: "sk-test", maxRetries: 0, logLevel: "off" });
});

afterEach(() => {
  server.reset();
});

afterAll(async () => {
  await server.close();
});

async function collect(stream: AsyncIterable<ChatCompletionChunk>): Promise<ChatCompletionChunk[]> {
  const chunks: ChatCompletionChunk[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

function contentPieces(chunks: readonly ChatCompletionChunk[], choiceIndex = 0): string[] {
  // Malformed replies send chunks without `choices` and choices without `delta`, which the SDK's types rule out.
  return chunks
    .flatMap((chunk) =>
      ((chunk.choices as ChatCompletionChunk["choices"] | undefined) ?? []).flatMap((choice) => {
        const delta = choice.delta as ChatCompletionChunk.Choice.Delta | undefined;
        return choice.index === choiceIndex && typeof delta?.content === "string" ? [delta.content] : [];
      }),
    )
    .filter((piece) => piece !== "");
}

async function withTimeout<T>(promise: Promise<T>, timeoutMs: number): Promise<T | "timed out"> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<"timed out">((resolve) => {
    timer = setTimeout(() => resolve("timed out"), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe("startMockLLMServer", () => {
  it("listens on 127.0.0.1 with an OS-chosen port and exposes an OpenAI base URL", () => {
    expect(server.port).toBeGreaterThan(0);
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
    expect(server.openaiBaseURL).toBe(`http://127.0.0.1:${server.port}/v1`);
  });

  it("answers a non-streaming request with the exact ChatCompletion shape and deterministic usage", async () => {
    const { data, request_id } = await client.chat.completions
      .create({
        model: "gpt-4o-mini",
        messages: [
          { role: "system", content: "You are terse." },
          { role: "user", content: "Say hello." },
        ],
      })
      .withResponse();

    expect(request_id).toBe("req_mock_1");
    expect(data).toEqual({
      id: "chatcmpl-mock-1",
      object: "chat.completion",
      created: 1_700_000_000,
      model: "gpt-4o-mini-2024-07-18",
      system_fingerprint: "fp_mock",
      service_tier: "default",
      choices: [
        {
          index: 0,
          message: { role: "assistant", content: defaultText, refusal: null },
          logprobs: null,
          finish_reason: "stop",
        },
      ],
      usage: {
        // "You are terse." is 14 characters: ceil(14 / 4) + 4 = 8; "Say hello." is 10: ceil(10 / 4) + 4 = 7.
        prompt_tokens: 15,
        // Six words in the default text.
        completion_tokens: 6,
        total_tokens: 21,
        prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
        completion_tokens_details: {
          reasoning_tokens: 0,
          audio_tokens: 0,
          accepted_prediction_tokens: 0,
          rejected_prediction_tokens: 0,
        },
      },
    });
  });

  it("counts the text parts of array content when estimating prompt tokens", async () => {
    const completion = await client.chat.completions.create({
      model: "gpt-4o",
      messages: [
        {
          role: "user",
          content: [
            { type: "text", text: "Describe " },
            { type: "image_url", image_url: { url: "https://example.invalid/cat.png" } },
            { type: "text", text: "this picture." },
          ],
        },
      ],
    });

    // "Describe this picture." is 22 characters: ceil(22 / 4) + 4 = 10.
    expect(completion.usage?.prompt_tokens).toBe(10);
    expect(completion.model).toBe("gpt-4o");
  });

  it("uses the overrides given in a reply", async () => {
    server.enqueue({
      text: "Overridden.",
      model: "custom-model-1",
      serviceTier: "flex",
      systemFingerprint: "fp_custom",
      id: "chatcmpl-custom",
      requestId: "req_custom",
      finishReason: "length",
      usage: { prompt_tokens: 100, completion_tokens: 20, cached_tokens: 64, reasoning_tokens: 12 },
    });

    const { data, request_id } = await client.chat.completions
      .create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }] })
      .withResponse();

    expect(request_id).toBe("req_custom");
    expect(data.id).toBe("chatcmpl-custom");
    expect(data.model).toBe("custom-model-1");
    expect(data.service_tier).toBe("flex");

    expect(data.system_fingerprint).toBe("fp_custom");
    expect(data.choices[0]?.message.content).toBe("Overridden.");
    expect(data.choices[0]?.finish_reason).toBe("length");
    expect(data.usage).toEqual({
      prompt_tokens: 100,
      completion_tokens: 20,
      total_tokens: 120,
      prompt_tokens_details: { cached_tokens: 64, audio_tokens: 0 },
      completion_tokens_details: {
        reasoning_tokens: 12,
        audio_tokens: 0,
        accepted_prediction_tokens: 0,
        rejected_prediction_tokens: 0,
      },
    });
  });

  it("streams one chunk per word that concatenates exactly to the text, with no usage key by default", async () => {
    server.enqueue({ text: "The quick  brown fox" });

    const stream = await client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "Go" }],
      stream: true,
    });
    const chunks = await collect(stream);

    expect(contentPieces(chunks)).toEqual(["The ", "quick  ", "brown ", "fox"]);
    expect(contentPieces(chunks).join("")).toBe("The quick  brown fox");
    expect(chunks.every((chunk) => !("usage" in chunk))).toBe(true);
    expect(chunks[0]).toEqual({
      id: "chatcmpl-mock-1",
      object: "chat.completion.chunk",
      created: 1_700_000_000,
      model: "gpt-4o-mini-2024-07-18",
      system_fingerprint: "fp_mock",
      service_tier: "default",
      choices: [{ index: 0, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }],
    });
    expect(chunks.at(-1)?.choices).toEqual([{ index: 0, delta: {}, logprobs: null, finish_reason: "stop" }]);
    expect(chunks).toHaveLength(6);
  });

  it("sends usage: null on every chunk and a final usage chunk when include_usage is requested", async () => {
    server.enqueue({ text: "One two three" });

    const stream = await client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "Count" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = await collect(stream);
    const usageChunk = chunks.at(-1);

    expect(contentPieces(chunks).join("")).toBe("One two three");
    expect(chunks.slice(0, -1).every((chunk) => "usage" in chunk && chunk.usage === null)).toBe(true);
    expect(usageChunk?.choices).toEqual([]);
    expect(usageChunk?.usage).toEqual({
      // "Count" is 5 characters: ceil(5 / 4) + 4 = 6.
      prompt_tokens: 6,
      completion_tokens: 3,
      total_tokens: 9,
      prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
      completion_tokens_details: {
        reasoning_tokens: 0,
        audio_tokens: 0,
        accepted_prediction_tokens: 0,
        rejected_prediction_tokens: 0,
      },
    });
  });

  it("groups words evenly when chunks is at most the word count", async () => {
    server.enqueue({ text: "a b c d e", chunks: 2 });

    const stream = await client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "Go" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = await collect(stream);

    expect(contentPieces(chunks)).toEqual(["a b c ", "d e"]);
    expect(chunks.at(-1)?.usage?.completion_tokens).toBe(2);
  });

  it("splits by characters when chunks exceeds the word count", async () => {
    server.enqueue({ text: "Hi there", chunks: 3 });

    const stream = await client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "Go" }],
      stream: true,
    });

    expect(contentPieces(await collect(stream))).toEqual(["Hi ", "the", "re"]);
  });

  it("replies with tool calls and null content without streaming", async () => {
    const toolArguments = '{"city":"Paris"}';
    server.enqueue({ toolCalls: [{ id: "call_1", name: "get_weather", arguments: toolArguments }] });

    const completion = await client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "Weather?" }],
    });

    expect(completion.choices[0]).toEqual({
      index: 0,
      message: {
        role: "assistant",
        content: null,
        refusal: null,
        tool_calls: [{ id: "call_1", type: "function", function: { name: "get_weather", arguments: toolArguments } }],
      },
      logprobs: null,
      finish_reason: "tool_calls",
    });
    // No content chunks; the 16-character arguments count ceil(16 / 4) = 4.
    expect(completion.usage?.completion_tokens).toBe(4);
  });

  it("streams tool-call argument deltas that reassemble to the arguments", async () => {
    const weatherArguments = '{"city":"Paris","unit":"celsius"}';
    const timeArguments = '{"zone":"CET"}';
    server.enqueue({
      text: "Checking.",
      toolCalls: [
        { id: "call_weather", name: "get_weather", arguments: weatherArguments },
        { id: "call_time", name: "get_time", arguments: timeArguments },
      ],
    });

    const stream = await client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "Weather and time?" }],
      stream: true,
    });
    const chunks = await collect(stream);
    const toolDeltas = chunks.flatMap((chunk) => chunk.choices.flatMap((choice) => choice.delta.tool_calls ?? []));
    const reassembled = new Map<number, string>();
    for (const delta of toolDeltas) {
      reassembled.set(delta.index, (reassembled.get(delta.index) ?? "") + (delta.function?.arguments ?? ""));
    }

    expect(contentPieces(chunks).join("")).toBe("Checking.");
    expect(toolDeltas).toHaveLength(6);
    expect(reassembled.get(0)).toBe(weatherArguments);
    expect(reassembled.get(1)).toBe(timeArguments);
    expect(toolDeltas[0]).toEqual({
      index: 0,
      id: "call_weather",
      type: "function",
      function: { name: "get_weather", arguments: weatherArguments.slice(0, 11) },
    });
    expect(toolDeltas[1]).toEqual({ index: 0, function: { arguments: weatherArguments.slice(11, 22) } });
    expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe("tool_calls");
  });

  it("turns a 429 reply into the SDK's RateLimitError", async () => {
    server.enqueue({ status: 429 });

    const error: unknown = await client.chat.completions
      .create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }] })
      .catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(RateLimitError);
    const rateLimitError = error as RateLimitError;
    expect(rateLimitError.status).toBe(429);
    expect(rateLimitError.type).toBe("rate_limit_error");
    expect(rateLimitError.code).toBe("rate_limit_exceeded");
    expect(rateLimitError.requestID).toBe("req_mock_1");
    expect(rateLimitError.headers.get("retry-after")).toBeNull();
  });

  it("turns a 500 reply into the SDK's InternalServerError, also for a streaming request", async () => {
    server.enqueue({ status: 500 }, { status: 503 });

    const nonStreaming = client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "Hi" }],
    });
    await expect(nonStreaming).rejects.toBeInstanceOf(InternalServerError);
    await expect(nonStreaming).rejects.toMatchObject({ status: 500, type: "server_error" });

    const streaming = client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "Hi" }],
      stream: true,
    });
    await expect(streaming).rejects.toMatchObject({ status: 503, type: "server_error" });
  });

  it("makes the SDK's stream iteration throw after errorAfterChunks content chunks", async () => {
    server.enqueue({ text: "one two three four five", errorAfterChunks: 2 });

    const stream = await client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "Go" }],
      stream: true,
    });
    const received: ChatCompletionChunk[] = [];
    const iterate = async (): Promise<void> => {
      for await (const chunk of stream) received.push(chunk);
    };

    await expect(iterate()).rejects.toThrow();
    expect(contentPieces(received)).toEqual(["one ", "two "]);
    expect(received.some((chunk) => chunk.choices[0]?.finish_reason != null)).toBe(false);
  });

  it("records requests in order without credential headers", async () => {
    await client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "First" }],
      temperature: 0.2,
    });
    await fetch(`${server.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-api-key": "sk-ant-secret", "X-Custom": "yes" },
      body: JSON.stringify({ model: "claude", messages: [] }),
    });

    expect(server.requests).toHaveLength(2);
    const [first, second] = server.requests;
    expect(first?.method).toBe("POST");
    expect(first?.path).toBe("/v1/chat/completions");
    expect(first?.body).toEqual({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "First" }],
      temperature: 0.2,
    });
    expect(first?.headers["authorization"]).toBeUndefined();
    expect(first?.headers["content-type"]).toBe("application/json");
    expect(Object.values(first?.headers ?? {}).some((value) => value.includes("sk-test"))).toBe(false);
    expect(second?.headers["x-api-key"]).toBeUndefined();
    expect(second?.headers["x-custom"]).toBe("yes");
  });

  it("returns one choice per n, each with the same text, streaming or not", async () => {
    const completion = await client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "Hi" }],
      n: 2,
    });

    expect(completion.choices.map((choice) => choice.index)).toEqual([0, 1]);
    expect(completion.choices.map((choice) => choice.message.content)).toEqual([defaultText, defaultText]);
    // Six words per choice, two choices.
    expect(completion.usage?.completion_tokens).toBe(12);

    const stream = await client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "Hi" }],
      n: 2,
      stream: true,
    });
    const chunks = await collect(stream);
    const finishes = chunks.flatMap((chunk) => chunk.choices.filter((choice) => choice.finish_reason !== null));

    expect(contentPieces(chunks, 0).join("")).toBe(defaultText);
    expect(contentPieces(chunks, 1).join("")).toBe(defaultText);
    expect(finishes.map((choice) => choice.index)).toEqual([0, 1]);
  });

  it("consumes queued replies first in, first out, then falls back to the default reply", async () => {
    server.enqueue({ text: "first" }, { text: "second" });
    const ask = async (): Promise<string | null | undefined> => {
      const completion = await client.chat.completions.create({
        model: "gpt-4o-mini",
        messages: [{ role: "user", content: "Hi" }],
      });
      return completion.choices[0]?.message.content;
    };

    expect(await ask()).toBe("first");
    expect(await ask()).toBe("second");
    expect(await ask()).toBe(defaultText);
  });

  it("uses options.defaultReply when the queue is empty", async () => {
    const custom = await startMockLLMServer({ defaultReply: { text: "Custom default." } });
    try {
      const customClient = new OpenAI({ baseURL: custom.openaiBaseURL, apiKey: "sk-test", maxRetries: 0 });
      const completion = await customClient.chat.completions.create({
        model: "gpt-4o-mini",
        messages: [{ role: "user", content: "Hi" }],
      });
      expect(completion.choices[0]?.message.content).toBe("Custom default.");
    } finally {
      await custom.close();
    }
  });

  it("clears requests, queued replies and the id counter on reset", async () => {
    server.enqueue({ text: "queued" });
    await client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }] });
    server.enqueue({ text: "dropped" });
    const requests = server.requests;

    server.reset();
    const completion = await client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "Hi" }],
    });

    expect(completion.id).toBe("chatcmpl-mock-1");
    expect(completion.choices[0]?.message.content).toBe(defaultText);
    expect(requests).toBe(server.requests);
    expect(server.requests).toHaveLength(1);
  });

  it("answers unknown routes with a 404 OpenAI-style error and a request id", async () => {
    const response = await fetch(`${server.url}/v1/unknown`, { method: "POST", body: "{}" });

    expect(response.status).toBe(404);
    expect(response.headers.get("x-request-id")).toBe("req_mock_1");
    expect(await response.json()).toEqual({
      error: {
        message: "Invalid URL (POST /v1/unknown)",
        type: "invalid_request_error",
        param: null,
        code: null,
      },
    });
    await expect(client.models.list()).rejects.toBeInstanceOf(NotFoundError);
  });

  it("omits choices from a non-streaming body for malformed missing-choices", async () => {
    server.enqueue({ malformed: "missing-choices" });

    const completion = await client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "Hi" }],
    });

    expect("choices" in completion).toBe(false);
    expect(completion.id).toBe("chatcmpl-mock-1");
    expect(completion.usage?.completion_tokens).toBe(6);
  });

  it("sends an unparseable body or SSE line for malformed non-json", async () => {
    server.enqueue({ malformed: "non-json" }, { malformed: "non-json" });

    const nonStreaming = client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "Hi" }],
    });
    await expect(nonStreaming).rejects.toThrow();

    const stream = await client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "Hi" }],
      stream: true,
    });
    await expect(collect(stream)).rejects.toBeInstanceOf(SyntaxError);
  });

  it("adds empty, delta-less and comment events before the normal stream for malformed odd-chunks", async () => {
    server.enqueue({ text: "Still works.", malformed: "odd-chunks" });

    const stream = await client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "Hi" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = await collect(stream);

    expect(chunks[0]?.choices).toEqual([]);
    expect("usage" in (chunks[0] ?? {})).toBe(false);
    expect(chunks[1]?.choices[0]?.delta).toEqual({});
    expect(chunks[2]?.choices[0]).toBeDefined();
    expect(chunks[2]?.choices[0] && "delta" in chunks[2].choices[0]).toBe(false);
    expect(contentPieces(chunks).join("")).toBe("Still works.");
    expect(chunks.at(-1)?.usage?.completion_tokens).toBe(2);
  });

  it("delays the first chunk by firstChunkDelayMs", async () => {
    server.enqueue({ text: "Late", firstChunkDelayMs: 150 }, { firstChunkDelayMs: 150 });
    const startedAt = performance.now();

    const stream = await client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "Hi" }],
      stream: true,
    });
    const headersAfterMs = performance.now() - startedAt;
    await collect(stream);
    const streamedAfterMs = performance.now() - startedAt;

    const nonStreamingStartedAt = performance.now();
    await client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }] });
    const nonStreamingAfterMs = performance.now() - nonStreamingStartedAt;

    expect(headersAfterMs).toBeLessThan(140);
    // Timers may fire a millisecond early relative to performance.now().
    expect(streamedAfterMs).toBeGreaterThanOrEqual(145);
    expect(nonStreamingAfterMs).toBeGreaterThanOrEqual(145);
  });

  it("cancels its pending timers and keeps serving after a client aborts a slow stream", async () => {
    const setTimeoutSpy = vi.spyOn(globalThis, "setTimeout");
    const clearTimeoutSpy = vi.spyOn(globalThis, "clearTimeout");
    try {
      server.enqueue({ text: "a b c d e f", chunkDelayMs: 5_000 });
      const stream = await client.chat.completions.create({
        model: "gpt-4o-mini",
        messages: [{ role: "user", content: "Hi" }],
        stream: true,
      });
      // The role chunk arrives at once; the next one is 5 s away, so leaving now disconnects mid-delay.
      for await (const chunk of stream) {
        if (chunk.choices[0]?.delta.role === "assistant") break;
      }
      const delayCall = setTimeoutSpy.mock.calls.findIndex(([, delayMs]) => delayMs === 5_000);
      const delayTimer = setTimeoutSpy.mock.results[delayCall]?.value as unknown;
      expect(delayTimer).toBeDefined();
      const delayCleared = (): boolean => clearTimeoutSpy.mock.calls.some(([timer]) => timer === delayTimer);
      // The server notices the disconnect asynchronously; give it a few turns of the event loop.
      for (let attempt = 0; attempt < 50 && !delayCleared(); attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(delayCleared()).toBe(true);
    } finally {
      setTimeoutSpy.mockRestore();
      clearTimeoutSpy.mockRestore();
    }

    const completion = await client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "Again" }],
    });
    expect(completion.choices[0]?.message.content).toBe(defaultText);
  });

  it("rejects invalid replies when they are queued", () => {
    expect(() => server.enqueue({ chunks: 0 })).toThrow(RangeError);
    expect(() => server.enqueue({ chunkDelayMs: -1 })).toThrow(RangeError);
    expect(() => server.enqueue({ errorAfterChunks: 1.5 })).toThrow(RangeError);
    expect(() => server.enqueue({ status: 99 })).toThrow(RangeError);
    expect(() => server.enqueue({ headers: { "bad name": "1" } })).toThrow(RangeError);
    expect(() => server.enqueue({ headers: { "x-a": "one\r\nx-b: two" } })).toThrow(RangeError);
    expect(() => server.enqueueAnthropic({ headers: { "x-a": 1 as unknown as string } })).toThrow(RangeError);
  });

  it("sends a reply's extra headers, an error's too", async () => {
    server.enqueue(
      { headers: { "x-ratelimit-remaining-requests": "7" } },
      { status: 429, headers: { "retry-after": "2" } },
    );
    const url = `${server.openaiBaseURL}/chat/completions`;
    const ask = () =>
      fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }] }),
      });
    const ok = await ask();
    expect([ok.status, ok.headers.get("x-ratelimit-remaining-requests")]).toEqual([200, "7"]);
    await ok.arrayBuffer();
    const limited = await ask();
    expect([limited.status, limited.headers.get("retry-after")]).toEqual([429, "2"]);
    await limited.arrayBuffer();
  });
});

describe("MockLLMServer.close", () => {
  it("resolves even while a keep-alive connection is open", async () => {
    const local = await startMockLLMServer();
    const agent = new Agent({ keepAlive: true });
    try {
      await new Promise<void>((resolve, reject) => {
        const request = httpRequest(
          `${local.url}/v1/chat/completions`,
          { method: "POST", agent, headers: { "content-type": "application/json" } },
          (response) => {
            response.resume();
            response.on("end", resolve);
          },
        );
        request.on("error", reject);
        request.end(JSON.stringify({ model: "gpt-4o-mini", messages: [] }));
      });
      // Let the agent move the socket to its pool of idle keep-alive connections.
      await new Promise((resolve) => setImmediate(resolve));
      expect(Object.values(agent.freeSockets).flat()).toHaveLength(1);

      expect(await withTimeout(local.close(), 2_000)).toBeUndefined();
    } finally {
      agent.destroy();
    }
  });

  it("resolves promptly while a slow stream is in flight, making the client's iteration throw", async () => {
    const local = await startMockLLMServer({ defaultReply: { chunkDelayMs: 10_000 } });
    const localClient = new OpenAI({ baseURL: local.openaiBaseURL, apiKey: "sk-test", maxRetries: 0 });
    const stream = await localClient.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "Hi" }],
      stream: true,
    });
    const iterator = stream[Symbol.asyncIterator]();
    await iterator.next();

    const startedAt = performance.now();
    expect(await withTimeout(local.close(), 2_000)).toBeUndefined();
    expect(performance.now() - startedAt).toBeLessThan(1_000);
    await expect(iterator.next()).rejects.toThrow();
  });

  it("can be called more than once", async () => {
    const local = await startMockLLMServer();
    await local.close();
    await expect(local.close()).resolves.toBeUndefined();
  });
});
