import fc from "fast-check";
import type { StreamKind } from "./scripted-clients.js";
import { anthropicFrame } from "./scripted-clients.js";

/**
 * fast-check arbitraries for hostile but well-formed streams of each kind (issue 10's reliability suite):
 * random chunk sequences with random usage objects and random index values. Every chunk is valid JSON the SDKs
 * parse; what it says is not to be trusted.
 */

/** Indexes: small valid ones mostly, and every kind of invalid or huge one. */
export const indexValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.nat(3) },
  { weight: 1, arbitrary: fc.constantFrom(-1, 1.5, 10_000_000, 2 ** 53, "3", "0", null, true, 1024, 127, 128) },
  { weight: 1, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.double() },
);

/** A token count as a provider might send it, right or wrong. */
export const tokenValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.nat(10_000) },
  { weight: 1, arbitrary: fc.integer({ min: -10_000, max: -1 }) },
  { weight: 1, arbitrary: fc.double() },
  { weight: 1, arbitrary: fc.constantFrom(2 ** 60, Number.MAX_SAFE_INTEGER, 1e308, 0.5, -0) },
  { weight: 1, arbitrary: fc.constantFrom("12", "", "abc", null, true, false) },
  { weight: 1, arbitrary: fc.constantFrom({}, [], [1, 2], { nested: { deeper: 1 } }) },
);

/** A usage object whose fields are among `fields` and `details` (objects of their own), or junk instead. */
function usageValue(fields: readonly string[], details: Record<string, readonly string[]>): fc.Arbitrary<unknown> {
  const record: Record<string, fc.Arbitrary<unknown>> = {};
  for (const field of fields) record[field] = tokenValue;
  for (const [field, inner] of Object.entries(details)) {
    const innerRecord: Record<string, fc.Arbitrary<unknown>> = {};
    for (const name of inner) innerRecord[name] = tokenValue;
    record[field] = fc.oneof(fc.record(innerRecord, { requiredKeys: [] }), tokenValue);
  }
  return fc.oneof(
    { weight: 4, arbitrary: fc.record(record, { requiredKeys: [] }) },
    { weight: 1, arbitrary: fc.constantFrom(null, "usage", 42, [], true) },
  );
}

const text = fc.string({ maxLength: 6 });
const maybe = <T>(arbitrary: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(arbitrary, { nil: undefined });
/** Drop the keys whose value is `undefined` (fast-check's option), so that chunks stay plain JSON. */
const compact = (value: Record<string, unknown>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(value).filter((entry) => entry[1] !== undefined));

export const openaiUsage = usageValue(["prompt_tokens", "completion_tokens", "total_tokens"], {
  prompt_tokens_details: ["cached_tokens"],
  completion_tokens_details: ["reasoning_tokens"],
});

const chatChoice = fc
  .record({
    index: indexValue,
    content: maybe(text),
    refusal: maybe(text),
    toolCalls: maybe(
      fc.array(
        fc.record({
          index: indexValue,
          id: maybe(text),
          name: maybe(text),
          arguments: maybe(fc.constantFrom('{"a":', "1}", "{}", "x")),
        }),
        { maxLength: 3 },
      ),
    ),
    finish: fc.constantFrom(null, "stop", "length", "tool_calls", "content_filter"),
  })
  .map(({ index, content, refusal, toolCalls, finish }) => ({
    index,
    delta: compact({
      content,
      refusal,
      tool_calls: toolCalls?.map((call) =>
        compact({
          index: call.index,
          id: call.id,
          type: "function",
          function: compact({ name: call.name, arguments: call.arguments }),
        }),
      ),
    }),
    finish_reason: finish,
  }));

const chatChunk = fc
  .record({ choices: fc.array(chatChoice, { maxLength: 3 }), usage: maybe(openaiUsage) })
  .map(({ choices, usage }) =>
    compact({ id: "chatcmpl-1", object: "chat.completion.chunk", created: 1, model: "gpt-4o-mini", choices, usage }),
  );

const completionChunk = fc
  .record({
    choices: fc.array(
      fc
        .record({ index: indexValue, text: maybe(text), finish_reason: fc.constantFrom(null, "stop", "length") })
        .map(compact),
      { maxLength: 3 },
    ),
    usage: maybe(openaiUsage),
  })
  .map(({ choices, usage }) =>
    compact({ id: "cmpl-1", object: "text_completion", created: 1, model: "gpt-3.5-turbo-instruct", choices, usage }),
  );

/** Chunks, then `[DONE]` unless the stream ends without it. */
const openaiStream = (chunk: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<(string | object)[]> =>
  fc
    .tuple(fc.array(chunk, { maxLength: 8 }), fc.boolean())
    .map(([chunks, done]) => (done ? [...chunks, "[DONE]"] : chunks));

const responsesUsage = usageValue(["input_tokens", "output_tokens", "total_tokens"], {
  input_tokens_details: ["cached_tokens"],
  output_tokens_details: ["reasoning_tokens"],
});

const responseItem = fc.oneof(
  fc.record({
    type: fc.constant("message"),
    id: text,
    role: fc.constant("assistant"),
    content: fc.array(fc.record({ type: fc.constant("output_text"), text, annotations: fc.constant([]) }), {
      maxLength: 2,
    }),
  }),
  fc.record({
    type: fc.constant("function_call"),
    id: text,
    call_id: text,
    name: text,
    arguments: fc.constantFrom("{}", '{"a":1}', "{"),
  }),
  fc.record({
    type: fc.constant("reasoning"),
    id: text,
    summary: fc.array(fc.record({ type: fc.constant("summary_text"), text }), { maxLength: 2 }),
  }),
  fc.record({ type: fc.constantFrom("web_search_call", "future_item"), id: text }),
);

const responseObject = (status: string) =>
  fc
    .record({ output: fc.array(responseItem, { maxLength: 3 }), usage: maybe(responsesUsage) })
    .map(({ output, usage }) =>
      compact({ id: "resp_1", object: "response", created_at: 1, model: "gpt-4o-mini", status, output, usage }),
    );

const responsesEvent: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  responseObject("in_progress").map((response) => ({ type: "response.created", response })),
  fc.record({
    type: fc.constantFrom("response.output_item.added", "response.output_item.done"),
    output_index: indexValue,
    item: responseItem,
  }),
  fc
    .record({
      type: fc.constantFrom(
        "response.output_text.delta",
        "response.refusal.delta",
        "response.function_call_arguments.delta",
        "response.reasoning_summary_text.delta",
      ),
      output_index: indexValue,
      content_index: indexValue,
      summary_index: maybe(indexValue),
      delta: text,
    })
    .map(compact),
  fc
    .constantFrom("completed", "incomplete", "failed")
    .chain((status) => responseObject(status).map((response) => ({ type: `response.${status}`, response }))),
  fc.constant({ type: "response.future_event", payload: 1 }),
);

const anthropicUsage = usageValue(
  ["input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"],
  {
    cache_creation: ["ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens"],
  },
);

const anthropicEvent: fc.Arbitrary<Record<string, unknown> & { type: string }> = fc.oneof(
  anthropicUsage.map((usage) => ({
    type: "message_start",
    message: {
      id: "msg_1",
      type: "message",
      role: "assistant",
      model: "claude-3-5-haiku-latest",
      content: [],
      stop_reason: null,
      usage,
    },
  })),
  fc.record({
    type: fc.constant("content_block_start"),
    index: indexValue,
    content_block: fc.oneof(
      fc.record({ type: fc.constant("text"), text }),
      fc.record({ type: fc.constant("thinking"), thinking: text, signature: fc.constant("") }),
      fc.record({ type: fc.constant("tool_use"), id: text, name: text, input: fc.constant({}) }),
      fc.record({ type: fc.constant("future_block"), payload: text }),
    ),
  }),
  fc.record({
    type: fc.constant("content_block_delta"),
    index: indexValue,
    delta: fc.oneof(
      fc.record({ type: fc.constant("text_delta"), text }),
      fc.record({ type: fc.constant("thinking_delta"), thinking: text }),
      fc.record({ type: fc.constant("input_json_delta"), partial_json: fc.constantFrom('{"a":', "1}", "{}") }),
      fc.record({ type: fc.constant("signature_delta"), signature: text }),
    ),
  }),
  fc.record({ type: fc.constant("content_block_stop"), index: indexValue }),
  fc
    .record({ stop: fc.constantFrom(null, "end_turn", "max_tokens", "tool_use"), usage: anthropicUsage })
    .map(({ stop, usage }) => ({ type: "message_delta", delta: { stop_reason: stop, stop_sequence: null }, usage })),
  fc.constantFrom({ type: "message_stop" }, { type: "ping" }),
);

/** A random stream of `kind`, as the scripted server's `events`. */
export function streamOf(kind: StreamKind): fc.Arbitrary<(string | object)[]> {
  switch (kind) {
    case "chat":
      return openaiStream(chatChunk);
    case "completions":
      return openaiStream(completionChunk);
    case "responses":
      return fc
        .array(responsesEvent, { maxLength: 8 })
        .map((events) => events.map((event, index) => ({ ...event, sequence_number: index })));
    case "anthropic":
      return fc.array(anthropicEvent, { maxLength: 10 }).map((events) => events.map(anthropicFrame));
  }
}
