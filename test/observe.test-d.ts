import Anthropic from "@anthropic-ai/sdk";
import OpenAI, { AzureOpenAI } from "openai";
import type { APIPromise } from "openai/core/api-promise";
import type { Stream } from "openai/core/streaming";
import type { ChatCompletion, ChatCompletionChunk } from "openai/resources/chat/completions";
import { expectTypeOf, test } from "vitest";
import { observe } from "../src/index.js";

test("observe(new OpenAI()) is exactly OpenAI", () => {
  expectTypeOf(observe(new OpenAI({ apiKey: "sk-x" }))).toEqualTypeOf<OpenAI>();
  expectTypeOf(
    observe(new AzureOpenAI({ apiKey: "sk-x", apiVersion: "2024-10-21", endpoint: "https://x.openai.azure.com" })),
  ).toEqualTypeOf<AzureOpenAI>();
});

test("an observed client's calls return the SDK's own promise and stream types", () => {
  const openai = observe(new OpenAI({ apiKey: "sk-x" }));
  expectTypeOf(openai.chat.completions.create({ model: "m", messages: [] })).toEqualTypeOf<
    APIPromise<ChatCompletion>
  >();
  expectTypeOf(openai.chat.completions.create({ model: "m", messages: [], stream: true })).toEqualTypeOf<
    APIPromise<Stream<ChatCompletionChunk>>
  >();
});

test("observe(new Anthropic()) is exactly Anthropic", () => {
  expectTypeOf(observe(new Anthropic({ apiKey: "sk-ant-x" }))).toEqualTypeOf<Anthropic>();
});
