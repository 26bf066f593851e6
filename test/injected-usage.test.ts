import OpenAI from "openai";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { observe } from "../src/index.js";
import type { ObserveOptions } from "../src/index.js";
import { startMockLLMServer } from "../src/testing/index.js";
import type { MockLLMServer } from "../src/testing/index.js";
import { startScriptedServer } from "./helpers/scripted-server.js";
import type { ScriptedServer } from "./helpers/scripted-server.js";
import { createTestTelemetry } from "./helpers/telemetry.js";
import type { TestTelemetry } from "./helpers/telemetry.js";

/**
 * Issue 10: wherever tokentrace asks for `stream_options.include_usage`, the app sees exactly what it would
 * have seen without tokentrace. Each case scripts what a server sends with the option and without it; the
 * observed client (which injects the option) must show the app what a raw client, sending no option, gets.
 */

const messages = [{ role: "user" as const, content: "Hi" }];
const envelope = { id: "chatcmpl-x", object: "chat.completion.chunk", created: 1, model: "gpt-4o-mini-2024-07-18" };
const text = { ...envelope, object: "text_completion" };
const usage = { prompt_tokens: 11, completion_tokens: 3, total_tokens: 14 };
const later = { prompt_tokens: 11, completion_tokens: 5, total_tokens: 16 };

const delta = (content: string, finish: string | null = null) => ({
  ...envelope,
  choices: [{ index: 0, delta: { content }, logprobs: null, finish_reason: finish }],
});
/** The same chunk as the API writes it when include_usage is on: `"usage":null` after `choices`. */
const withNull = (chunk: object) => ({ ...chunk, usage: null });

interface Case {
  title: string;
  /** What the server sends when the request asks for include_usage. */
  asked: (string | object)[];
  /** What it sends without the option. */
  unasked: (string | object)[];
  /** Exact usage the span records: input, output tokens; undefined when estimated. */
  tokens?: [number, number];
}

const chatCases: Case[] = [
  {
    title: "a usage chunk that arrives before any finish reason",
    asked: [withNull(delta("Hel")), { ...envelope, choices: [], usage }, withNull(delta("lo", "stop")), "[DONE]"],
    unasked: [delta("Hel"), delta("lo", "stop"), "[DONE]"],
    tokens: [11, 3],
  },
  {
    title: "several usage chunks (the last one counts)",
    asked: [
      withNull(delta("Hi", "stop")),
      { ...envelope, choices: [], usage },
      { ...envelope, choices: [], usage: later },
      "[DONE]",
    ],
    unasked: [delta("Hi", "stop"), "[DONE]"],
    tokens: [11, 5],
  },
  {
    title: "a usage chunk without a choices key",
    asked: [withNull(delta("Hi", "stop")), { ...envelope, usage }, "[DONE]"],
    unasked: [delta("Hi", "stop"), "[DONE]"],
    tokens: [11, 3],
  },
  ...[42, "lots", [1, 2]].map((odd): Case => ({
    title: `a usage chunk whose usage is ${JSON.stringify(odd)}`,
    asked: [withNull(delta("Hi")), { ...envelope, choices: [], usage: odd }, withNull(delta("!", "stop")), "[DONE]"],
    unasked: [delta("Hi"), delta("!", "stop"), "[DONE]"],
  })),
  {
    // Azure OpenAI's first chunk has no choices and comes with or without the option: the app keeps it.
    title: "a choiceless chunk with usage null (Azure's prompt filter results)",
    asked: [
      { ...envelope, choices: [], prompt_filter_results: [{ prompt_index: 0 }], usage: null },
      withNull(delta("Hi", "stop")),
      { ...envelope, choices: [], usage },
      "[DONE]",
    ],
    unasked: [
      { ...envelope, choices: [], prompt_filter_results: [{ prompt_index: 0 }] },
      delta("Hi", "stop"),
      "[DONE]",
    ],
    tokens: [11, 3],
  },
];

let server: ScriptedServer;
let telemetry: TestTelemetry;
let current: Case;

beforeEach(async () => {
  telemetry = createTestTelemetry();
  server = await startScriptedServer((request) => {
    const body = request.body as { stream_options?: { include_usage?: boolean } } | undefined;
    return { events: body?.stream_options?.include_usage === true ? current.asked : current.unasked };
  });
});

afterEach(async () => {
  await server.close();
  await telemetry.shutdown();
});

const rawClient = (): OpenAI => new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "sk-test", maxRetries: 0 });
const observedClient = (options: ObserveOptions = {}): OpenAI =>
  observe(rawClient(), {
    tracerProvider: telemetry.tracerProvider,
    meterProvider: telemetry.meterProvider,
    ...options,
  });

async function json(stream: AsyncIterable<unknown>): Promise<string[]> {
  const chunks: string[] = [];
  for await (const chunk of stream) chunks.push(JSON.stringify(chunk));
  return chunks;
}

function expectTokens(tokens: [number, number] | undefined): void {
  const attributes = telemetry.onlySpan().attributes;
  expect(attributes["tokentrace.stream.usage_injected"]).toBe(true);
  if (tokens === undefined) {
    expect(attributes["tokentrace.usage.estimated"]).toBe(true);
    return;
  }
  expect(attributes["gen_ai.usage.input_tokens"]).toBe(tokens[0]);
  expect(attributes["gen_ai.usage.output_tokens"]).toBe(tokens[1]);
  expect(attributes["tokentrace.usage.estimated"]).toBeUndefined();
}

describe("a streamed chat completion whose usage tokentrace asked for", () => {
  for (const scenario of chatCases) {
    it(`shows the app exactly the raw chunks with ${scenario.title}`, async () => {
      current = scenario;
      const expected = await json(
        await rawClient().chat.completions.create({ model: "gpt-4o-mini", messages, stream: true }),
      );
      const seen = await json(
        await observedClient().chat.completions.create({ model: "gpt-4o-mini", messages, stream: true }),
      );
      expect(server.requests[1]?.body).toMatchObject({ stream_options: { include_usage: true } });
      expect(seen).toEqual(expected);
      expectTokens(scenario.tokens);
    });
  }

  it("keeps results in order when the app calls next() again before its previous result arrived", async () => {
    current = chatCases[0]!;
    const rawIterator = (await rawClient().chat.completions.create({ model: "gpt-4o-mini", messages, stream: true }))[
      Symbol.asyncIterator
    ]();
    const expected = await Promise.all([rawIterator.next(), rawIterator.next(), rawIterator.next()]);
    const iterator = (await observedClient().chat.completions.create({ model: "gpt-4o-mini", messages, stream: true }))[
      Symbol.asyncIterator
    ]();
    const seen = await Promise.all([iterator.next(), iterator.next(), iterator.next()]);
    expect(JSON.stringify(seen)).toBe(JSON.stringify(expected));
    expect(seen.map((result) => result.done)).toEqual([false, false, true]);
    expectTokens([11, 3]);
  });

  it("hides nothing and changes nothing when tokentrace did not ask, even if the server sends usage unasked", async () => {
    const unasked = [
      withNull(delta("Hi")),
      { ...envelope, choices: [], usage },
      withNull(delta("!", "stop")),
      "[DONE]",
    ];
    current = { title: "", asked: unasked, unasked };
    const expected = await json(
      await rawClient().chat.completions.create({ model: "gpt-4o-mini", messages, stream: true }),
    );
    const seen = await json(
      await observedClient({ injectStreamUsage: false }).chat.completions.create({
        model: "gpt-4o-mini",
        messages,
        stream: true,
      }),
    );
    expect(server.requests[1]?.body).not.toHaveProperty("stream_options");
    expect(seen).toEqual(expected);
    expect(seen).toHaveLength(3);
    const attributes = telemetry.onlySpan().attributes;
    expect(attributes["tokentrace.stream.usage_injected"]).toBeUndefined();
    expect(attributes["gen_ai.usage.input_tokens"]).toBe(11);
    expect(attributes["gen_ai.usage.output_tokens"]).toBe(3);
  });
});

describe("a streamed legacy completion whose usage tokentrace asked for", () => {
  const piece = (value: string, finish: string | null = null) => ({
    ...text,
    choices: [{ text: value, index: 0, logprobs: null, finish_reason: finish }],
  });

  it("shows the app exactly the raw chunks when the usage chunk comes first and twice", async () => {
    current = {
      title: "",
      asked: [
        { ...text, choices: [], usage },
        withNull(piece("Hi")),
        withNull(piece("!", "stop")),
        { ...text, choices: [], usage: later },
        "[DONE]",
      ],
      unasked: [piece("Hi"), piece("!", "stop"), "[DONE]"],
    };
    const expected = await json(
      await rawClient().completions.create({ model: "gpt-3.5-turbo-instruct", prompt: "Hi", stream: true }),
    );
    const seen = await json(
      await observedClient().completions.create({ model: "gpt-3.5-turbo-instruct", prompt: "Hi", stream: true }),
    );
    expect(server.requests[1]?.body).toMatchObject({ stream_options: { include_usage: true } });
    expect(seen).toEqual(expected);
    expectTokens([11, 5]);
  });
});

describe("the raw body of a stream whose usage tokentrace asked for", () => {
  // As OpenAI writes it: compact JSON, `"usage":null` between `choices` and a later field.
  const obfuscated = (chunk: object) => ({ ...chunk, obfuscation: "abc" });
  const realistic: Case = {
    title: "",
    asked: [
      obfuscated(withNull(delta("Hel"))),
      { ...envelope, choices: [], usage, obfuscation: "x" },
      obfuscated(withNull(delta("lo", "stop"))),
      "[DONE]",
    ],
    unasked: [obfuscated(delta("Hel")), obfuscated(delta("lo", "stop")), "[DONE]"],
  };

  it("is byte for byte the body the server sends without the option, through asResponse()", async () => {
    current = realistic;
    const expected = await rawClient()
      .chat.completions.create({ model: "gpt-4o-mini", messages, stream: true })
      .asResponse();
    const seen = await observedClient()
      .chat.completions.create({ model: "gpt-4o-mini", messages, stream: true })
      .asResponse();
    expect(server.requests[1]?.body).toMatchObject({ stream_options: { include_usage: true } });
    expect(seen.status).toBe(200);
    expect(seen.headers.get("content-type")).toBe(expected.headers.get("content-type"));
    expect(seen.url).toBe(expected.url);
    expect(Buffer.from(await seen.arrayBuffer())).toEqual(Buffer.from(await expected.arrayBuffer()));
  });

  it("is byte for byte the body the server sends without the option, through withResponse()", async () => {
    current = realistic;
    const expected = await rawClient()
      .chat.completions.create({ model: "gpt-4o-mini", messages, stream: true })
      .withResponse();
    const seen = await observedClient()
      .chat.completions.create({ model: "gpt-4o-mini", messages, stream: true })
      .withResponse();
    expect(await seen.response.text()).toBe(await expected.response.text());
  });

  it("leaves the parsed stream of withResponse() as the raw client's, with exact usage", async () => {
    current = realistic;
    const expected = await json(
      (await rawClient().chat.completions.create({ model: "gpt-4o-mini", messages, stream: true }).withResponse()).data,
    );
    const { data } = await observedClient()
      .chat.completions.create({ model: "gpt-4o-mini", messages, stream: true })
      .withResponse();
    expect(await json(data)).toEqual(expected);
    expectTokens([11, 3]);
  });
});

describe("the raw body of a mock server stream", () => {
  let mock: MockLLMServer;
  beforeEach(async () => {
    mock = await startMockLLMServer();
  });
  afterEach(async () => {
    await mock.close();
  });

  const client = (): OpenAI => new OpenAI({ baseURL: mock.openaiBaseURL, apiKey: "sk-test", maxRetries: 0 });
  const observed = (): OpenAI =>
    observe(client(), { tracerProvider: telemetry.tracerProvider, meterProvider: telemetry.meterProvider });

  it("is byte for byte the raw client's for chat completions", async () => {
    mock.enqueue({ id: "chatcmpl-same", requestId: "req_same" }, { id: "chatcmpl-same", requestId: "req_same" });
    const expected = await client()
      .chat.completions.create({ model: "gpt-4o-mini", messages, stream: true })
      .asResponse();
    const seen = await observed()
      .chat.completions.create({ model: "gpt-4o-mini", messages, stream: true })
      .asResponse();
    expect(mock.requests[1]?.body).toMatchObject({ stream_options: { include_usage: true } });
    const bytes = await seen.text();
    expect(bytes).toBe(await expected.text());
    expect(bytes).not.toContain('"usage"');
  });

  it("is byte for byte the raw client's for legacy completions", async () => {
    mock.enqueueCompletions({ id: "cmpl-same", requestId: "req_same" }, { id: "cmpl-same", requestId: "req_same" });
    const request = { model: "gpt-3.5-turbo-instruct", prompt: "Hi", stream: true } as const;
    const expected = await client().completions.create(request).asResponse();
    const seen = await observed().completions.create(request).asResponse();
    expect(mock.requests[1]?.body).toMatchObject({ stream_options: { include_usage: true } });
    expect(await seen.text()).toBe(await expected.text());
  });
});

describe("a filtered raw body", () => {
  it("cancels at once and closes the connection, as the unfiltered body would, while the server stalls", async () => {
    const { createServer } = await import("node:http");
    let closed!: () => void;
    const connectionClosed = new Promise<void>((resolve) => (closed = resolve));
    const stalling = createServer((request, response) => {
      request.resume();
      response.writeHead(200, { "content-type": "text/event-stream" });
      // One event, then nothing: the server neither sends more nor ends the body.
      response.write(`data: ${JSON.stringify({ ...delta("Hel"), usage: null })}\n\n`);
      response.on("close", closed);
    });
    await new Promise<void>((resolve) => stalling.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = stalling.address() as { port: number };
      const client = observe(new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: "sk-test", maxRetries: 0 }), {
        tracerProvider: telemetryForRaw.tracerProvider,
        meterProvider: telemetryForRaw.meterProvider,
      });
      const promise = client.chat.completions.create({ model: "gpt-4o-mini", messages, stream: true });
      const response = await promise.asResponse();
      // The SDK hands out one Response per call however often it is asked; so does tokentrace.
      expect(await promise.asResponse()).toBe(response);
      const body: unknown = response.body;
      const expectedFirst = `data: ${JSON.stringify(delta("Hel"))}\n\n`;
      if (typeof (body as ReadableStream).getReader === "function") {
        const reader = (body as ReadableStream<Uint8Array>).getReader();
        const first = await reader.read();
        expect(Buffer.from(first.value!).toString("utf8")).toBe(expectedFirst);
        // Neither may wait for bytes the server will never send (the test's timeout would catch a hang).
        await reader.cancel("the app is done");
      } else {
        // openai v4 on Node: node-fetch's Node stream body.
        const stream = body as NodeJS.ReadableStream & { destroy(): void };
        const first = await new Promise<Buffer>((resolve) => stream.once("data", resolve));
        expect(first.toString("utf8")).toBe(expectedFirst);
        const destroyed = new Promise<void>((resolve) => stream.once("close", () => resolve()));
        stream.destroy();
        await destroyed;
        // node-fetch's own body does not close the connection when destroyed either (the raw client keeps it
        // open just the same): what tokentrace owes is that the destroy reaches that body at once.
        return;
      }
      await connectionClosed;
    } finally {
      stalling.closeAllConnections();
      await new Promise<void>((resolve) => stalling.close(() => resolve()));
    }
  });
});

const telemetryForRaw = createTestTelemetry();
