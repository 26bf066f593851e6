import OpenAI from "openai";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { collect, createHarness } from "./helpers/harness.js";
import type { Harness } from "./helpers/harness.js";
import { jsonAttribute, withoutCost, withoutTimings } from "./helpers/span-attributes.js";

/**
 * `embeddings.create` and legacy `completions.create`, run against every openai major in the vitest
 * projects. Mock defaults: embeddings count ceil(length / 4) tokens per input string; completions count
 * ceil(length / 4) prompt tokens and one completion token per streamed delta ("Hello from the tokentrace mock
 * server." is 6).
 */
const DEFAULT_TEXT = "Hello from the tokentrace mock server.";

let h: Harness;
beforeEach(async () => {
  h = await createHarness();
});
afterEach(async () => {
  await h.close();
});

describe("embeddings", () => {
  it("records an `embeddings {model}` span with dimensions and input tokens, never the vectors", async () => {
    const result = await h.openai.embeddings.create({
      model: "text-embedding-3-small",
      input: ["first text", "second"],
      dimensions: 4,
    });
    // The SDK asked for base64 and decoded it back to numbers, as without tokentrace.
    expect(result.data.map((item) => Array.from(item.embedding))).toEqual([
      [-0.5, -0.453125, -0.40625, -0.359375],
      [-0.390625, -0.34375, -0.296875, -0.25],
    ]);
    expect(h.server.requests[0]?.body).toMatchObject({ encoding_format: "base64" });

    const span = h.onlySpan();
    expect(span.name).toBe("embeddings text-embedding-3-small");
    expect(span.kind).toBe(SpanKind.CLIENT);
    expect(withoutCost(span.attributes)).toEqual({
      "gen_ai.operation.name": "embeddings",
      "gen_ai.provider.name": "openai",
      "gen_ai.request.model": "text-embedding-3-small",
      "gen_ai.embeddings.dimension.count": 4,
      "server.address": "127.0.0.1",
      "server.port": h.server.port,
      "gen_ai.response.model": "text-embedding-3-small",
      // ceil(10 / 4) + ceil(6 / 4)
      "gen_ai.usage.input_tokens": 5,
      "tokentrace.request.id": "req_mock_1",
      "http.response.status_code": 200,
    });
    // text-embedding-3-small: $0.02 per million input tokens.
    expect(span.attributes["gen_ai.usage.cost"]).toBeCloseTo((5 * 0.02) / 1e6, 15);
  });

  it("records the encoding formats the app asked for, and the dimension count of what came back", async () => {
    const result = await h.openai.embeddings.create({
      model: "text-embedding-3-small",
      input: "hello",
      encoding_format: "float",
    });
    expect(result.data[0]?.embedding).toHaveLength(8);
    const attributes = h.onlySpan().attributes;
    expect(attributes["gen_ai.request.encoding_formats"]).toEqual(["float"]);
    expect(attributes["gen_ai.embeddings.dimension.count"]).toBe(8);
  });

  it("counts the dimensions of base64 vectors the app asked for", async () => {
    h.server.enqueueEmbeddings({ dimensions: 1536 });
    const result = await h.openai.embeddings.create({
      model: "text-embedding-3-small",
      input: "hello",
      encoding_format: "base64",
    });
    expect(typeof result.data[0]?.embedding).toBe("string");
    expect(h.onlySpan().attributes["gen_ai.embeddings.dimension.count"]).toBe(1536);
  });

  it("estimates input tokens with the model's tokenizer, and says so, when the endpoint reports none", async () => {
    h.server.enqueueEmbeddings({ omitUsage: true }, { omitUsage: true });
    await h.openai.embeddings.create({
      model: "text-embedding-3-small",
      input: ["Hello from the tokentrace mock server.", "Say hello"],
    });
    await h.openai.embeddings.create({
      model: "text-embedding-3-small",
      input: [
        [1, 2, 3],
        [4, 5],
      ],
    });
    const [strings, tokenArrays] = h.spans();
    const attributes = strings!.attributes;
    expect(attributes["tokentrace.usage.estimated"]).toBe(true);
    // cl100k_base (text-embedding-3-small): 9 tokens and 2.
    expect(attributes["gen_ai.usage.input_tokens"]).toBe(11);
    // Token arrays are their own count.
    expect(tokenArrays!.attributes["gen_ai.usage.input_tokens"]).toBe(5);
    expect(attributes["gen_ai.usage.output_tokens"]).toBeUndefined();
  });

  it("rethrows the SDK's own error and records it", async () => {
    h.server.enqueueEmbeddings({ status: 400 });
    const error: unknown = await h.openai.embeddings
      .create({ model: "text-embedding-3-small", input: "x" })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    const span = h.onlySpan();
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(span.attributes["error.type"]).toBe("BadRequestError");
    expect(span.attributes["http.response.status_code"]).toBe(400);
  });
});

describe("legacy completions", () => {
  it("records a `text_completion {model}` span with the prompt and each choice's text", async () => {
    const result = await h.openai.completions.create({
      model: "gpt-3.5-turbo-instruct",
      prompt: "Say hello",
      max_tokens: 20,
      temperature: 0.5,
      n: 2,
      stop: "\n",
    });
    expect(result.choices.map((choice) => choice.text)).toEqual([DEFAULT_TEXT, DEFAULT_TEXT]);
    const span = h.onlySpan();
    expect(span.name).toBe("text_completion gpt-3.5-turbo-instruct");
    expect(withoutCost(span.attributes)).toEqual({
      "gen_ai.operation.name": "text_completion",
      "gen_ai.provider.name": "openai",
      "gen_ai.request.model": "gpt-3.5-turbo-instruct",
      "gen_ai.request.max_tokens": 20,
      "gen_ai.request.temperature": 0.5,
      "gen_ai.request.choice.count": 2,
      "gen_ai.request.stop_sequences": ["\n"],
      "gen_ai.request.stream": false,
      "server.address": "127.0.0.1",
      "server.port": h.server.port,
      "gen_ai.response.id": "cmpl-mock-1",
      "gen_ai.response.model": "gpt-3.5-turbo-instruct",
      "gen_ai.response.finish_reasons": ["stop", "stop"],
      "gen_ai.usage.input_tokens": 3,
      "gen_ai.usage.output_tokens": 12,
      "openai.response.system_fingerprint": "fp_mock",
      "tokentrace.request.id": "req_mock_1",
      "http.response.status_code": 200,
      "gen_ai.input.messages": JSON.stringify([{ role: "user", parts: [{ type: "text", content: "Say hello" }] }]),
      "tokentrace.content.present": true,
      "gen_ai.output.messages": JSON.stringify([
        { role: "assistant", parts: [{ type: "text", content: DEFAULT_TEXT }], finish_reason: "stop" },
        { role: "assistant", parts: [{ type: "text", content: DEFAULT_TEXT }], finish_reason: "stop" },
      ]),
    });
  });

  it("streams the chunks the raw client gets, asking for usage and hiding the usage chunk", async () => {
    const rawChunks = await collect(
      await h.raw.completions.create({ model: "gpt-3.5-turbo-instruct", prompt: "Say hello", stream: true }),
    );
    const chunks = await collect(
      await h.openai.completions.create({ model: "gpt-3.5-turbo-instruct", prompt: "Say hello", stream: true }),
    );
    const normalise = (chunk: unknown): string => JSON.stringify(chunk).replace(/cmpl-mock-\d+/, "ID");
    expect(chunks.map(normalise)).toEqual(rawChunks.map(normalise));
    expect(h.server.requests[1]?.body).toMatchObject({ stream_options: { include_usage: true } });
    const span = h.onlySpan();
    expect(withoutTimings(withoutCost(span.attributes))).toMatchObject({
      "gen_ai.operation.name": "text_completion",
      "gen_ai.request.stream": true,
      "tokentrace.stream.usage_injected": true,
      "gen_ai.response.finish_reasons": ["stop"],
      "gen_ai.usage.input_tokens": 3,
      "gen_ai.usage.output_tokens": 6,
      "tokentrace.stream.chunk_count": 7,
      "tokentrace.stream.end": "completed",
    });
    expect(span.attributes["tokentrace.usage.estimated"]).toBeUndefined();
    expect(jsonAttribute(span, "gen_ai.output.messages")).toEqual([
      { role: "assistant", parts: [{ type: "text", content: DEFAULT_TEXT }], finish_reason: "stop" },
    ]);
  });

  it("ends a stream the app breaks off as cancelled, with the partial text and estimated usage", async () => {
    const stream = await h.openai.completions.create({
      model: "gpt-3.5-turbo-instruct",
      prompt: "Say hello",
      stream: true,
    });
    let seen = 0;
    for await (const chunk of stream) {
      void chunk;
      if (++seen === 2) break;
    }
    const [span] = await h.waitForSpans(1);
    expect(span!.attributes["tokentrace.stream.end"]).toBe("cancelled");
    expect(span!.attributes["gen_ai.response.finish_reasons"]).toEqual(["cancelled"]);
    expect(span!.attributes["tokentrace.usage.estimated"]).toBe(true);
    // cl100k_base (gpt-3.5-turbo-instruct): "Hello from " is 3 tokens, "Say hello" 2.
    expect(span!.attributes["gen_ai.usage.output_tokens"]).toBe(3);
    expect(span!.attributes["gen_ai.usage.input_tokens"]).toBe(2);
    expect(jsonAttribute(span!, "gen_ai.output.messages")).toEqual([
      { role: "assistant", parts: [{ type: "text", content: "Hello from " }] },
    ]);
  });

  it("records a mid-stream failure as an error and rethrows the SDK's error", async () => {
    h.server.enqueueCompletions({ errorAfterChunks: 2 });
    const error = await collect(
      await h.openai.completions.create({ model: "gpt-3.5-turbo-instruct", prompt: "Say hello", stream: true }),
    ).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Error);
    const span = h.onlySpan();
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(span.attributes["tokentrace.stream.end"]).toBe("error");
  });
});

describe("surfaces tokentrace does not trace", () => {
  it("pass through untouched: models.list() keeps its page promise and its error, and makes no span", async () => {
    const rawPage = h.raw.models.list();
    const page = h.openai.models.list();
    expect(page.constructor).toBe(rawPage.constructor);
    const [rawError, error] = await Promise.all([
      rawPage.then(
        () => undefined,
        (caught: unknown) => caught,
      ),
      page.then(
        () => undefined,
        (caught: unknown) => caught,
      ),
    ]);
    // The mock serves no /v1/models: both get the same 404.
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
    expect((error as Error).constructor).toBe((rawError as Error).constructor);
    await h.openai.responses.retrieve("resp_1").catch(() => undefined);
    await h.openai.files.list().catch(() => undefined);
    expect(h.spans()).toEqual([]);
  });
});
