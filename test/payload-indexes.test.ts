import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  IgnoredEntries,
  MAX_CHOICES,
  MAX_STOP_SEQUENCES,
  MAX_STOP_SEQUENCE_LENGTH,
  SlotTable,
  stopSequences,
} from "../src/providers/payload-bounds.js";
import { anthropicFrame, arrayLengths, createScriptedClients } from "./helpers/scripted-clients.js";
import type { ScriptedClients, StreamKind } from "./helpers/scripted-clients.js";
import { jsonAttribute } from "./helpers/span-attributes.js";

/**
 * Issue 10: no index from a provider payload drives allocation or a loop. Hostile indexes (10,000,000, -1, 1.5,
 * "3", Infinity from `1e999`) go through the real SDKs; the app sees what a raw client sees, the entries are left
 * out of the record and counted, and nothing in the record grows past its bound.
 */

const IGNORED = "tokentrace.payload.ignored_entries";
const HUGE = 10_000_000;

let clients: ScriptedClients;
beforeAll(async () => {
  clients = await createScriptedClients();
});
afterAll(async () => {
  await clients.close();
});
beforeEach(() => clients.reset());

/** Run the script through a raw and an observed client: the app must see the same; returns the one span. */
async function runBoth(kind: StreamKind, events: (string | object)[]) {
  clients.script = { events };
  const raw = await clients.run(kind, false);
  const observed = await clients.run(kind, true);
  expect(observed).toEqual(raw);
  expect(observed.error).toBeUndefined();
  expect(clients.endCalls()).toEqual([1]);
  return { span: clients.onlySpan(), chunks: observed.chunks };
}

const chatChunk = (choices: unknown[]) => ({
  id: "chatcmpl-1",
  object: "chat.completion.chunk",
  created: 1,
  model: "gpt-4o-mini",
  choices,
});
/** A chunk's JSON with one choice whose `index` is written as raw JSON text (e.g. `1e999`, which parses to Infinity). */
const rawIndexChunk = (indexJson: string, delta: object) =>
  JSON.stringify(chatChunk([{ index: 0, delta, finish_reason: null }])).replace('"index":0', `"index":${indexJson}`);

describe("payload indexes", () => {
  it("leaves out and counts chat choices and tool calls with hostile indexes, and the app sees every chunk", async () => {
    const { span, chunks } = await runBoth("chat", [
      chatChunk([{ index: 0, delta: { role: "assistant", content: "Hi" }, finish_reason: null }]),
      chatChunk([{ index: HUGE, delta: { content: "huge" }, finish_reason: null }]),
      chatChunk([{ index: -1, delta: { content: "negative" }, finish_reason: null }]),
      chatChunk([{ index: 1.5, delta: { content: "fraction" }, finish_reason: null }]),
      chatChunk([{ index: "3", delta: { content: "string" }, finish_reason: null }]),
      rawIndexChunk("1e999", { content: "infinite" }),
      chatChunk([
        {
          index: 0,
          delta: {
            tool_calls: [
              { index: 0, id: "call_1", type: "function", function: { name: "lookup", arguments: '{"q":' } },
              { index: HUGE, id: "call_huge", type: "function", function: { name: "huge", arguments: "{}" } },
              { index: -1, id: "call_negative", type: "function", function: { name: "negative", arguments: "{}" } },
              { index: "3", id: "call_string", type: "function", function: { name: "string", arguments: "{}" } },
            ],
          },
          finish_reason: null,
        },
      ]),
      chatChunk([
        { index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: '"x"}' } }] }, finish_reason: null },
      ]),
      chatChunk([
        { index: 0, delta: {}, finish_reason: "tool_calls" },
        { index: HUGE, delta: {}, finish_reason: "stop" },
      ]),
      { ...chatChunk([]), usage: { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 } },
      "[DONE]",
    ]);
    expect(chunks).toHaveLength(10);
    expect(span.attributes[IGNORED]).toBe(9);
    expect(span.attributes["gen_ai.response.finish_reasons"]).toEqual(["tool_calls"]);
    expect(span.attributes["gen_ai.usage.input_tokens"]).toBe(5);
    expect(span.attributes["gen_ai.usage.output_tokens"]).toBe(7);
    expect(span.attributes["tokentrace.usage.estimated"]).toBeUndefined();
    expect(jsonAttribute(span, "gen_ai.output.messages")).toEqual([
      {
        role: "assistant",
        parts: [
          { type: "text", content: "Hi" },
          { type: "tool_call", id: "call_1", name: "lookup", arguments: { q: "x" } },
        ],
        finish_reason: "tool_calls",
      },
    ]);
  });

  it("keeps at most 128 choices of a stream whatever indexes its chunks claim", async () => {
    // 10,000 distinct indexes in one chunk: 0..9,999, then as many far beyond any bound.
    const choices = [];
    for (let index = 0; index < 10_000; index++) choices.push({ index, text: "a", finish_reason: "stop" });
    for (let index = 0; index < 10_000; index++)
      choices.push({ index: HUGE + index * 1_000, text: "b", finish_reason: "stop" });
    const { span } = await runBoth("completions", [
      { id: "cmpl-1", object: "text_completion", created: 1, model: "gpt-3.5-turbo-instruct", choices },
      {
        id: "cmpl-1",
        object: "text_completion",
        created: 1,
        model: "gpt-3.5-turbo-instruct",
        choices: [],
        usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 },
      },
      "[DONE]",
    ]);
    expect(span.attributes[IGNORED]).toBe(20_000 - MAX_CHOICES);
    expect(arrayLengths(span)["gen_ai.response.finish_reasons"]).toBe(MAX_CHOICES);
    const output = jsonAttribute(span, "gen_ai.output.messages") as unknown[] | undefined;
    // The content attribute may be truncated to its byte limit; it never holds more than the bound.
    expect(output === undefined || output.length <= MAX_CHOICES).toBe(true);
    expect(span.attributes["gen_ai.usage.output_tokens"]).toBe(2);
  });

  it("leaves out and counts legacy completion choices with hostile indexes", async () => {
    const chunk = (choices: unknown[]) => ({
      id: "cmpl-1",
      object: "text_completion",
      created: 1,
      model: "gpt-3.5-turbo-instruct",
      choices,
    });
    const { span } = await runBoth("completions", [
      chunk([{ index: 0, text: "Hello", finish_reason: null }]),
      chunk([{ index: HUGE, text: "huge", finish_reason: "length" }]),
      chunk([{ index: -1, text: "negative", finish_reason: null }]),
      chunk([{ index: 2.5, text: "fraction", finish_reason: null }]),
      chunk([{ index: "3", text: "string", finish_reason: null }]),
      JSON.stringify(chunk([{ index: 0, text: "infinite", finish_reason: null }])).replace(
        '"index":0',
        '"index":-1e999',
      ),
      chunk([{ index: 0, text: " world", finish_reason: "stop" }]),
      { ...chunk([]), usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 } },
      "[DONE]",
    ]);
    expect(span.attributes[IGNORED]).toBe(5);
    expect(span.attributes["gen_ai.response.finish_reasons"]).toEqual(["stop"]);
    expect(span.attributes["gen_ai.usage.input_tokens"]).toBe(3);
    expect(span.attributes["gen_ai.usage.output_tokens"]).toBe(2);
    expect(jsonAttribute(span, "gen_ai.output.messages")).toEqual([
      { role: "assistant", parts: [{ type: "text", content: "Hello world" }], finish_reason: "stop" },
    ]);
  });

  it("leaves out and counts Responses events with hostile output and content indexes", async () => {
    const response = {
      id: "resp_1",
      object: "response",
      created_at: 1,
      model: "gpt-4o-mini",
      status: "in_progress",
      output: [],
    };
    const message = { type: "message", id: "msg_1", role: "assistant", status: "in_progress", content: [] };
    const done = { ...message, status: "completed", content: [{ type: "output_text", text: "Hi", annotations: [] }] };
    const delta = (fields: object, text: string) => ({
      type: "response.output_text.delta",
      item_id: "msg_1",
      output_index: 0,
      content_index: 0,
      delta: text,
      ...fields,
    });
    const { span } = await runBoth("responses", [
      { type: "response.created", sequence_number: 0, response },
      { type: "response.output_item.added", sequence_number: 1, output_index: 0, item: message },
      {
        type: "response.output_item.added",
        sequence_number: 2,
        output_index: HUGE,
        item: { ...message, id: "msg_huge" },
      },
      {
        type: "response.output_item.added",
        sequence_number: 3,
        output_index: 1.5,
        item: { ...message, id: "msg_fraction" },
      },
      delta({ sequence_number: 4 }, "H"),
      delta({ sequence_number: 5, output_index: HUGE }, "huge"),
      delta({ sequence_number: 6, content_index: HUGE }, "huge part"),
      delta({ sequence_number: 7, content_index: -1 }, "negative part"),
      delta({ sequence_number: 8, output_index: "3" }, "string"),
      {
        type: "response.reasoning_summary_text.delta",
        sequence_number: 9,
        item_id: "rs_1",
        output_index: 0,
        summary_index: HUGE,
        delta: "summary",
      },
      delta({ sequence_number: 10 }, "i"),
      { type: "response.output_item.done", sequence_number: 11, output_index: 0, item: done },
      {
        type: "response.completed",
        sequence_number: 12,
        response: {
          ...response,
          status: "completed",
          output: [done],
          usage: {
            input_tokens: 5,
            input_tokens_details: { cached_tokens: 0 },
            output_tokens: 7,
            output_tokens_details: { reasoning_tokens: 0 },
            total_tokens: 12,
          },
        },
      },
    ]);
    expect(span.attributes[IGNORED]).toBe(7);
    expect(span.attributes["gen_ai.response.finish_reasons"]).toEqual(["stop"]);
    expect(span.attributes["gen_ai.usage.input_tokens"]).toBe(5);
    expect(span.attributes["gen_ai.usage.output_tokens"]).toBe(7);
    expect(jsonAttribute(span, "gen_ai.output.messages")).toEqual([
      { role: "assistant", parts: [{ type: "text", content: "Hi" }], finish_reason: "stop" },
    ]);
  });

  it("records a Responses stream cut short from the items it kept, without its hostile ones", async () => {
    const message = { type: "message", id: "msg_1", role: "assistant", status: "in_progress", content: [] };
    const { span } = await runBoth("responses", [
      {
        type: "response.created",
        sequence_number: 0,
        response: { id: "resp_1", object: "response", model: "gpt-4o-mini", status: "in_progress", output: [] },
      },
      { type: "response.output_item.added", sequence_number: 1, output_index: HUGE, item: message },
      {
        type: "response.output_text.delta",
        sequence_number: 2,
        item_id: "msg_1",
        output_index: HUGE,
        content_index: 0,
        delta: "huge",
      },
      { type: "response.output_item.added", sequence_number: 3, output_index: 0, item: message },
      {
        type: "response.output_text.delta",
        sequence_number: 4,
        item_id: "msg_1",
        output_index: 0,
        content_index: 0,
        delta: "Hi",
      },
    ]);
    expect(span.attributes[IGNORED]).toBe(2);
    expect(span.attributes["tokentrace.usage.estimated"]).toBe(true);
    expect(jsonAttribute(span, "gen_ai.output.messages")).toEqual([
      { role: "assistant", parts: [{ type: "text", content: "Hi" }] },
    ]);
  });

  it("leaves out and counts Anthropic content blocks with hostile indexes", async () => {
    const { span } = await runBoth("anthropic", [
      anthropicFrame({
        type: "message_start",
        message: {
          id: "msg_1",
          type: "message",
          role: "assistant",
          model: "claude-3-5-haiku-latest",
          content: [],
          stop_reason: null,
          usage: { input_tokens: 5, output_tokens: 1 },
        },
      }),
      anthropicFrame({ type: "content_block_start", index: 0, content_block: { type: "text", text: "" } }),
      anthropicFrame({ type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "Hi" } }),
      anthropicFrame({ type: "content_block_start", index: HUGE, content_block: { type: "text", text: "huge" } }),
      anthropicFrame({ type: "content_block_delta", index: HUGE, delta: { type: "text_delta", text: "huge" } }),
      anthropicFrame({ type: "content_block_delta", index: -1, delta: { type: "text_delta", text: "negative" } }),
      anthropicFrame({ type: "content_block_delta", index: 1.5, delta: { type: "text_delta", text: "fraction" } }),
      anthropicFrame({ type: "content_block_delta", index: "3", delta: { type: "text_delta", text: "string" } }),
      anthropicFrame({ type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "!" } }),
      anthropicFrame({ type: "content_block_stop", index: 0 }),
      anthropicFrame({
        type: "message_delta",
        delta: { stop_reason: "end_turn", stop_sequence: null },
        usage: { output_tokens: 7 },
      }),
      anthropicFrame({ type: "message_stop" }),
    ]);
    expect(span.attributes[IGNORED]).toBe(5);
    expect(span.attributes["gen_ai.response.finish_reasons"]).toEqual(["end_turn"]);
    expect(span.attributes["gen_ai.usage.input_tokens"]).toBe(5);
    expect(span.attributes["gen_ai.usage.output_tokens"]).toBe(7);
    expect(jsonAttribute(span, "gen_ai.output.messages")).toEqual([
      { role: "assistant", parts: [{ type: "text", content: "Hi!" }], finish_reason: "end_turn" },
    ]);
  });

  it("keeps at most 128 choices of a whole chat response and counts the rest", async () => {
    const choices = [];
    for (let index = 0; index < 200; index++) {
      choices.push({ index, message: { role: "assistant", content: "a" }, finish_reason: "stop", logprobs: null });
    }
    clients.script = {
      json: {
        id: "chatcmpl-1",
        object: "chat.completion",
        created: 1,
        model: "gpt-4o-mini",
        choices,
        usage: { prompt_tokens: 5, completion_tokens: 200, total_tokens: 205 },
      },
    };
    const request = { model: "gpt-4o-mini", messages: [{ role: "user" as const, content: "Hello" }] };
    const raw = await clients.clients.raw.openai.chat.completions.create(request);
    const observed = await clients.clients.observed.openai.chat.completions.create(request);
    expect(observed).toEqual(raw);
    expect(clients.endCalls()).toEqual([1]);
    const span = clients.onlySpan();
    expect(span.attributes[IGNORED]).toBe(200 - MAX_CHOICES);
    expect(arrayLengths(span)["gen_ai.response.finish_reasons"]).toBe(MAX_CHOICES);
    expect(span.attributes["gen_ai.usage.output_tokens"]).toBe(200);
  });

  it("records no ignored count when every index is in bounds", async () => {
    const { span } = await runBoth("chat", [
      chatChunk([{ index: 0, delta: { content: "a" }, finish_reason: "stop" }]),
      chatChunk([{ index: 1, delta: { content: "b" }, finish_reason: "stop" }]),
      { ...chatChunk([]), usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 } },
      "[DONE]",
    ]);
    expect(span.attributes[IGNORED]).toBeUndefined();
    expect(span.attributes["gen_ai.response.finish_reasons"]).toEqual(["stop", "stop"]);
  });
});

describe("the bounded slot table", () => {
  it("stores nothing for 10,000 distinct indexes beyond its bound, and counts each", () => {
    const ignored = new IgnoredEntries();
    const table = new SlotTable<{ index: number }>(1024, ignored);
    let made = 0;
    for (let i = 0; i < 10_000; i++) if (table.slot(HUGE + i * 7, () => ({ index: i })) !== undefined) made++;
    expect(made).toBe(0);
    expect(table.size).toBe(0);
    expect(table.values()).toEqual([]);
    expect(ignored.count).toBe(10_000);
  });

  it("holds at most its bound of slots for 10,000 distinct indexes, in index order", () => {
    const ignored = new IgnoredEntries();
    const table = new SlotTable<number>(128, ignored);
    // Descending: the indexes below the bound arrive last and out of order.
    for (let index = 9_999; index >= 0; index--) table.slot(index, () => index);
    expect(table.size).toBe(128);
    expect(table.values()).toEqual(Array.from({ length: 128 }, (_, index) => index));
    expect(ignored.count).toBe(10_000 - 128);
  });

  it("treats non-integer, negative, non-finite and non-number indexes as invalid, and an absent one as given", () => {
    const ignored = new IgnoredEntries();
    const table = new SlotTable<string>(8, ignored);
    for (const value of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, "3", true, {}, [1], 8]) {
      expect(table.slot(value, () => "x")).toBeUndefined();
    }
    expect(ignored.count).toBe(9);
    expect(table.slot(undefined, () => "first")).toBe("first");
    expect(table.slot(null, () => "second")).toBe("second");
    expect(table.slot(-0, () => "zero")).toBe("first");
    expect(table.values()).toEqual(["first", "second"]);
    expect(ignored.count).toBe(9);
  });
});

describe("stop sequences", () => {
  it("lists a string or a list's strings, in order", () => {
    expect(stopSequences("END")).toEqual(["END"]);
    expect(stopSequences(["a", 1, null, "b"])).toEqual(["a", "b"]);
    expect(stopSequences([])).toEqual([]);
    expect(stopSequences(undefined)).toBeUndefined();
    expect(stopSequences({ 0: "a", length: 1 })).toBeUndefined();
  });

  it("reads at most MAX_STOP_SEQUENCES entries, however long the list", () => {
    const many = Array.from({ length: 100_000 }, (_, index) => `s${index}`);
    expect(MAX_STOP_SEQUENCES).toBe(16);
    expect(stopSequences(many)).toEqual(many.slice(0, 16));
  });

  it("lists one longer than MAX_STOP_SEQUENCE_LENGTH by its length only, never cut", () => {
    const long = "x".repeat(MAX_STOP_SEQUENCE_LENGTH + 1);
    const exact = "y".repeat(MAX_STOP_SEQUENCE_LENGTH);
    expect(stopSequences([long, exact])).toEqual(["[257 characters omitted]", exact]);
  });
});
