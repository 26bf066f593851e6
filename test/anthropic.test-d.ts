import Anthropic from "@anthropic-ai/sdk";
import type { APIPromise } from "@anthropic-ai/sdk/core/api-promise";
import type { Stream } from "@anthropic-ai/sdk/core/streaming";
import type { MessageStream } from "@anthropic-ai/sdk/lib/MessageStream";
import type { Message, MessageTokensCount, RawMessageStreamEvent } from "@anthropic-ai/sdk/resources/messages";
import type { BetaMessage } from "@anthropic-ai/sdk/resources/beta/messages";
import { expectTypeOf, test } from "vitest";
import { observe } from "../src/index.js";

const params = { model: "claude-sonnet-5", max_tokens: 100, messages: [{ role: "user" as const, content: "Hi" }] };

test("observe(new Anthropic()) is exactly Anthropic, and so is a client it derives", () => {
  const anthropic = observe(new Anthropic({ apiKey: "sk-ant-x" }));
  expectTypeOf(anthropic).toEqualTypeOf<Anthropic>();
  expectTypeOf(anthropic.withOptions({ timeout: 1_000 })).toEqualTypeOf<Anthropic>();
});

test("an observed client's calls return the SDK's own promise, stream and helper types", () => {
  const anthropic = observe(new Anthropic({ apiKey: "sk-ant-x" }));
  expectTypeOf(anthropic.messages.create(params)).toEqualTypeOf<APIPromise<Message>>();
  expectTypeOf(anthropic.messages.create({ ...params, stream: true })).toEqualTypeOf<
    APIPromise<Stream<RawMessageStreamEvent>>
  >();
  expectTypeOf(anthropic.messages.stream(params)).toEqualTypeOf<MessageStream>();
  expectTypeOf(anthropic.messages.countTokens(params)).toEqualTypeOf<APIPromise<MessageTokensCount>>();
  expectTypeOf(anthropic.beta.messages.create(params)).toEqualTypeOf<APIPromise<BetaMessage>>();
});
