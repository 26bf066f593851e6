import OpenAI from "openai";
import type { APIPromise } from "openai/core/api-promise";
import type { Stream } from "openai/core/streaming";
import type { Completion } from "openai/resources/completions";
import type { CreateEmbeddingResponse } from "openai/resources/embeddings";
import type { Response, ResponseStreamEvent } from "openai/resources/responses/responses";
import { expectTypeOf, test } from "vitest";
import { observe } from "../src/index.js";

test("an observed client's Responses, embeddings and completions calls keep the SDK's own types", () => {
  const openai = observe(new OpenAI({ apiKey: "sk-x" }));
  expectTypeOf(openai.responses.create({ model: "m", input: "hi" })).toEqualTypeOf<APIPromise<Response>>();
  expectTypeOf(openai.responses.create({ model: "m", input: "hi", stream: true })).toEqualTypeOf<
    APIPromise<Stream<ResponseStreamEvent>>
  >();
  expectTypeOf(openai.responses.stream).toEqualTypeOf<OpenAI["responses"]["stream"]>();
  expectTypeOf(openai.embeddings.create({ model: "m", input: "hi" })).toEqualTypeOf<
    APIPromise<CreateEmbeddingResponse>
  >();
  expectTypeOf(openai.completions.create({ model: "m", prompt: "hi" })).toEqualTypeOf<APIPromise<Completion>>();
  expectTypeOf(openai.completions.create({ model: "m", prompt: "hi", stream: true })).toEqualTypeOf<
    APIPromise<Stream<Completion>>
  >();
});
