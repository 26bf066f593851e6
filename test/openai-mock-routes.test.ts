import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startMockLLMServer } from "../src/testing/index.js";
import type { MockLLMServer } from "../src/testing/index.js";

/**
 * The mock server's OpenAI routes beyond chat completions, spoken to with plain fetch: the wire format
 * itself, Azure-style paths, reply validation and reset. (The SDK suites drive the same routes end to end.)
 */
let server: MockLLMServer;
beforeEach(async () => {
  server = await startMockLLMServer();
});
afterEach(async () => {
  await server.close();
});

const post = (path: string, body: unknown): Promise<Response> =>
  fetch(`${server.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });

describe("the mock server's OpenAI routes", () => {
  it("answers Azure deployment and v1 paths as the OpenAI paths they stand for", async () => {
    const chat = await post("/openai/deployments/prod/chat/completions?api-version=2024-10-21", {
      model: "gpt-4o",
      messages: [],
    });
    expect(chat.status).toBe(200);
    expect(((await chat.json()) as { object: string }).object).toBe("chat.completion");
    const responses = await post("/openai/v1/responses", { model: "gpt-4o", input: "hi" });
    expect(((await responses.json()) as { object: string }).object).toBe("response");
    expect(server.requests.map((request) => request.path)).toEqual([
      "/openai/deployments/prod/chat/completions?api-version=2024-10-21",
      "/openai/v1/responses",
    ]);
  });

  it("streams the Responses API as named events with increasing sequence numbers", async () => {
    server.enqueueResponses({ chunks: 2 });
    const text = await (await post("/v1/responses", { model: "gpt-4o-mini", input: "hi", stream: true })).text();
    const events = text
      .trim()
      .split("\n\n")
      .map((block) => {
        const [eventLine, dataLine] = block.split("\n");
        const data = JSON.parse(dataLine!.slice("data: ".length)) as { type: string; sequence_number: number };
        expect(eventLine).toBe(`event: ${data.type}`);
        return data;
      });
    expect(events.map((event) => event.type)).toEqual([
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.content_part.added",
      "response.output_text.delta",
      "response.output_text.delta",
      "response.output_text.done",
      "response.content_part.done",
      "response.output_item.done",
      "response.completed",
    ]);
    expect(events.map((event) => event.sequence_number)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it("sends the same vectors as JSON numbers and as base64 float32s", async () => {
    const asJson = (await (await post("/v1/embeddings", { model: "e", input: ["a", "b"], dimensions: 3 })).json()) as {
      data: Array<{ embedding: number[] }>;
    };
    const asBase64 = (await (
      await post("/v1/embeddings", { model: "e", input: ["a", "b"], dimensions: 3, encoding_format: "base64" })
    ).json()) as {
      data: Array<{ embedding: string }>;
      usage: unknown;
    };
    const decoded = asBase64.data.map((item) =>
      Array.from(new Float32Array(new Uint8Array(Buffer.from(item.embedding, "base64")).buffer)),
    );
    expect(decoded).toEqual(asJson.data.map((item) => item.embedding));
    expect(asBase64.usage).toEqual({ prompt_tokens: 2, total_tokens: 2 });
  });

  it("rejects invalid replies with a RangeError naming the field, and reset() empties every queue", async () => {
    expect(() => server.enqueueResponses({ chunks: 0 })).toThrow(/replies\[0\]\.chunks/);
    expect(() => server.enqueueEmbeddings({ dimensions: 0 })).toThrow(RangeError);
    expect(() => server.enqueueCompletions({ errorAfterChunks: 0 })).toThrow(/errorAfterChunks/);
    server.enqueueResponses({ status: 500 });
    server.enqueueEmbeddings({ status: 500 });
    server.enqueueCompletions({ status: 500 });
    server.reset();
    expect((await post("/v1/responses", { model: "m", input: "hi" })).status).toBe(200);
    expect((await post("/v1/embeddings", { model: "m", input: "hi" })).status).toBe(200);
    expect((await post("/v1/completions", { model: "m", prompt: "hi" })).status).toBe(200);
  });
});
