import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { describe, expect, it } from "vitest";
import { observe } from "../src/index.js";
import { CONTENT_ATTRIBUTES } from "../src/semconv.js";
import { memorySink, setup } from "../src/setup-entry.js";
import type { MemorySink } from "../src/setup-entry.js";
import { ALL_PII, CLIENT_KEY, CORPUS, REDACTED, SENSITIVE, exportedText } from "./helpers/content-corpus.js";
import { anthropicMessage, chatCompletion, chatUsage, responsesResponse } from "./helpers/provider-bodies.js";
import { anthropicFrame } from "./helpers/scripted-clients.js";
import { sseText, startScriptedServer } from "./helpers/scripted-server.js";
import type { ScriptedAnswer, ScriptedRequest } from "./helpers/scripted-server.js";
import { setupSuite } from "./helpers/telemetry.js";

/**
 * Issue 13, the call kinds and fields test/content-attributes.test.ts does not reach: legacy completions (plain
 * and streamed), Responses streams (text deltas and a function call's arguments), Anthropic tool use (whole and
 * as `input_json_delta` pieces), an error event inside a stream, a 401 echoing the client's key, and the
 * Responses `instructions` and tool definitions. The corpus of personal data and secrets is placed in each
 * content-bearing field; with every preset on nothing of it is exported (spans, events, status, links,
 * metrics) and the content attributes carry the markers instead; with capture off no content at all. The app
 * always gets what the server sent, unchanged.
 */

/** The kinds the whole corpus matches, in its order. */
const CORPUS_KINDS = ["email", "api_key", "credit_card", "phone", "iban", "us_ssn", "ip_address", "jwt"];

const usage = chatUsage(10, 5);
/** Arguments (and a tool's input) holding the corpus, as JSON text. */
const ARGUMENTS = JSON.stringify({ to: SENSITIVE, note: `call ${SENSITIVE}` });

/** `text` in `count` pieces of about equal length: corpus values are cut across deltas. */
function pieces(text: string, count: number): string[] {
  const size = Math.ceil(text.length / count);
  const result: string[] = [];
  for (let start = 0; start < text.length; start += size) result.push(text.slice(start, start + size));
  return result;
}

function completionsAnswer(body: { stream?: boolean }): ScriptedAnswer {
  const completion = (text: string, finish: string | null, extra: object = {}): object => ({
    id: "cmpl-1",
    object: "text_completion",
    created: 1,
    model: "gpt-3.5-turbo-instruct",
    choices: [{ index: 0, text, finish_reason: finish, logprobs: null }],
    ...extra,
  });
  if (body.stream !== true) return { json: completion(`answer ${SENSITIVE}`, "stop", { usage }) };
  return {
    events: [
      ...pieces(`streamed ${SENSITIVE}`, 4).map((text) => completion(text, null)),
      completion("", "stop"),
      { id: "cmpl-1", object: "text_completion", created: 1, model: "gpt-3.5-turbo-instruct", choices: [], usage },
      "[DONE]",
    ],
  };
}

/** A Responses stream: a message streamed in text deltas and a function call whose arguments hold the corpus. */
function responsesStream(): ScriptedAnswer {
  let sequence = 0;
  const frame = (type: string, fields: object): string =>
    `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: sequence++, ...fields })}`;
  const base = responsesResponse({ status: "in_progress", output: [], usage: null });
  const text = `streamed ${SENSITIVE}`;
  const message = (status: string, content: object[]): object => ({
    id: "msg_1",
    type: "message",
    status,
    role: "assistant",
    content,
  });
  const part = { type: "output_text", annotations: [], text: "" };
  const call = (status: string, args: string): object => ({
    id: "fc_1",
    type: "function_call",
    status,
    call_id: "call_1",
    name: "send_mail",
    arguments: args,
  });
  const at = { item_id: "msg_1", output_index: 0 };
  const callAt = { item_id: "fc_1", output_index: 1 };
  const output = [message("completed", [{ ...part, text }]), call("completed", ARGUMENTS)];
  return {
    headers: { "content-type": "text/event-stream" },
    text: sseText([
      frame("response.created", { response: base }),
      frame("response.in_progress", { response: base }),
      frame("response.output_item.added", { output_index: 0, item: message("in_progress", []) }),
      frame("response.content_part.added", { ...at, content_index: 0, part }),
      ...pieces(text, 4).map((delta) => frame("response.output_text.delta", { ...at, content_index: 0, delta })),
      frame("response.output_text.done", { ...at, content_index: 0, text }),
      frame("response.content_part.done", { ...at, content_index: 0, part: { ...part, text } }),
      frame("response.output_item.done", { output_index: 0, item: output[0] }),
      frame("response.output_item.added", { output_index: 1, item: call("in_progress", "") }),
      ...pieces(ARGUMENTS, 3).map((delta) => frame("response.function_call_arguments.delta", { ...callAt, delta })),
      frame("response.function_call_arguments.done", { ...callAt, arguments: ARGUMENTS }),
      frame("response.output_item.done", { output_index: 1, item: output[1] }),
      frame("response.completed", { response: responsesResponse({ output }) }),
    ]),
  };
}

const messageStart = anthropicFrame({
  type: "message_start",
  message: anthropicMessage({ stopReason: null, usage: { input_tokens: 10, output_tokens: 1 } }),
});
/** The body of the error event an overloaded stream ends with. */
const OVERLOADED = {
  type: "error",
  error: { type: "overloaded_error", message: `overloaded while serving ${SENSITIVE}` },
};

function anthropicAnswer(body: { stream?: boolean }, said: string): ScriptedAnswer {
  if (said.includes("OVERLOAD")) {
    return {
      headers: { "content-type": "text/event-stream" },
      text: sseText([
        messageStart,
        anthropicFrame({ type: "content_block_start", index: 0, content_block: { type: "text", text: "" } }),
        anthropicFrame({
          type: "content_block_delta",
          index: 0,
          delta: { type: "text_delta", text: `partial ${SENSITIVE}` },
        }),
        `event: error\ndata: ${JSON.stringify(OVERLOADED)}`,
      ]),
    };
  }
  const toolUse = { type: "tool_use", id: "toolu_1", name: "send_mail" };
  if (body.stream === true) {
    return {
      headers: { "content-type": "text/event-stream" },
      text: sseText([
        messageStart,
        anthropicFrame({ type: "content_block_start", index: 0, content_block: { ...toolUse, input: {} } }),
        ...pieces(ARGUMENTS, 5).map((partial_json) =>
          anthropicFrame({ type: "content_block_delta", index: 0, delta: { type: "input_json_delta", partial_json } }),
        ),
        anthropicFrame({ type: "content_block_stop", index: 0 }),
        anthropicFrame({
          type: "message_delta",
          delta: { stop_reason: "tool_use", stop_sequence: null },
          usage: { output_tokens: 5 },
        }),
        anthropicFrame({ type: "message_stop" }),
      ]),
    };
  }
  const content = [
    { type: "text", text: `calling for ${SENSITIVE}` },
    { ...toolUse, input: JSON.parse(ARGUMENTS) as unknown },
  ];
  return { json: anthropicMessage({ content, stopReason: "tool_use" }) };
}

/** Answers as the providers do, echoing the corpus in every field the answer has. */
function answer(request: ScriptedRequest): ScriptedAnswer {
  const body = (request.body ?? {}) as { stream?: boolean };
  if (request.rawBody.includes("UNAUTHORIZED")) {
    return {
      status: 401,
      json: {
        error: {
          message: `Incorrect API key provided: ${CLIENT_KEY}. You can find your API key at https://platform.openai.com/account/api-keys.`,
          type: "invalid_request_error",
          param: null,
          code: "invalid_api_key",
        },
      },
    };
  }
  if (request.url.startsWith("/v1/completions")) return completionsAnswer(body);
  if (request.url.startsWith("/v1/responses")) {
    if (body.stream === true) return responsesStream();
    return { json: responsesResponse({ text: `answer ${SENSITIVE}` }) };
  }
  if (request.url.startsWith("/v1/chat/completions"))
    return { json: chatCompletion({ content: `answer ${SENSITIVE}` }) };
  return anthropicAnswer(body, request.rawBody);
}

let sink: MemorySink;
const suite = setupSuite(() => startScriptedServer(answer));

interface Clients {
  openai: OpenAI;
  anthropic: Anthropic;
}

/** The text of a stream's pieces (deltas, texts, partial JSON) in the order streamed, joined. */
function streamedText(value: unknown, key = ""): string {
  if (typeof value === "string") return key === "delta" || key === "text" || key === "partial_json" ? value : "";
  if (Array.isArray(value)) return value.map((item) => streamedText(item)).join("");
  if (value === null || typeof value !== "object") return "";
  return Object.entries(value)
    .map(([name, item]) => streamedText(item, name))
    .join("");
}

/**
 * What the app got, as text: the value returned, every chunk streamed (and their pieces joined, as a corpus
 * value may be cut across deltas), or the error thrown (name and message).
 */
async function appView(call: () => Promise<unknown>): Promise<string> {
  const view = await appValue(call);
  return `${JSON.stringify(view)}\n${Array.isArray(view) ? streamedText(view) : ""}`;
}

async function appValue(call: () => Promise<unknown>): Promise<unknown> {
  try {
    const result = await call();
    if (result !== null && typeof result === "object" && Symbol.asyncIterator in result) {
      const chunks: unknown[] = [];
      try {
        for await (const chunk of result as AsyncIterable<unknown>) chunks.push(chunk);
      } catch (error) {
        chunks.push({ thrown: (error as Error).name, message: (error as Error).message });
      }
      return chunks;
    }
    return result;
  } catch (error) {
    return { thrown: (error as Error).name, message: (error as Error).message };
  }
}

const user = (text: string): { role: "user"; content: string } => ({ role: "user", content: `${text} ${SENSITIVE}` });
const mailTool = {
  name: "send_mail",
  description: `sends mail, e.g. to ${SENSITIVE}`,
  parameters: { type: "object", properties: { to: { type: "string" } } },
};

const MESSAGES = "gen_ai.input.messages";
const OUTPUT = "gen_ai.output.messages";
const INSTRUCTIONS = "gen_ai.system_instructions";
const DEFINITIONS = "gen_ai.tool.definitions";
const EXCEPTION = "exception.message";
const STATUS = "otel.status_description";
const ERROR_TEXTS: readonly string[] = [EXCEPTION, "exception.stacktrace", STATUS];

interface Scenario {
  name: string;
  /** Runs the call; returns what the app got, as text. */
  run(clients: Clients): Promise<string>;
  /** The content attributes the call writes with capture on, each holding every marker of the corpus. */
  writes: readonly string[];
  /** Content attributes it writes that hold no corpus (only the client key's `[REDACTED]`). */
  writesKeyOnly?: readonly string[];
  /** `tokentrace.redaction.kinds` with capture on, when not the corpus's kinds. */
  kinds?: readonly string[];
  /** Exact values of the span, with capture on and off. */
  exact?(span: ReadableSpan, captureContent: boolean): void;
}

const parsed = (span: ReadableSpan, name: string): unknown => JSON.parse(span.attributes[name] as string);
/** The arguments holding the corpus, as every tool call is recorded: parsed, with the markers. */
const REDACTED_ARGUMENTS = { to: REDACTED, note: `call ${REDACTED}` };
/** The error event's body as the Anthropic SDK makes it the error's message, with the markers. */
const OVERLOADED_REDACTED = JSON.stringify({
  ...OVERLOADED,
  error: { ...OVERLOADED.error, message: `overloaded while serving ${REDACTED}` },
});
const KEY_MESSAGE =
  "401 Incorrect API key provided: [REDACTED]. You can find your API key at https://platform.openai.com/account/api-keys.";

/** The exception event's message and the status message: `capture` with content on, `neutral` with it off. */
function expectErrorText(span: ReadableSpan, captureContent: boolean, capture: string, neutral: string): void {
  const message = captureContent ? capture : neutral;
  expect(span.status.message).toBe(message);
  const exceptions = span.events.filter((event) => event.name === "exception");
  expect(exceptions.map((event) => event.attributes?.["exception.message"])).toEqual([message]);
}

const SCENARIOS: readonly Scenario[] = [
  {
    name: "legacy completions",
    run: ({ openai }) =>
      appView(() => openai.completions.create({ model: "gpt-3.5-turbo-instruct", prompt: `complete ${SENSITIVE}` })),
    writes: [MESSAGES, OUTPUT],
  },
  {
    name: "legacy completions, streamed",
    run: ({ openai }) =>
      appView(() =>
        openai.completions.create({
          model: "gpt-3.5-turbo-instruct",
          prompt: [`complete ${SENSITIVE}`, `and ${SENSITIVE}`],
          stream: true,
        }),
      ),
    writes: [MESSAGES, OUTPUT],
    exact(span, captureContent) {
      expect(span.attributes["tokentrace.stream.end"]).toBe("completed");
      if (!captureContent) return;
      // The text was cut across four chunks, through corpus values: redacted once whole.
      expect(parsed(span, OUTPUT)).toEqual([
        { role: "assistant", parts: [{ type: "text", content: `streamed ${REDACTED}` }], finish_reason: "stop" },
      ]);
      expect(parsed(span, MESSAGES)).toEqual([
        { role: "user", parts: [{ type: "text", content: `complete ${REDACTED}` }] },
        { role: "user", parts: [{ type: "text", content: `and ${REDACTED}` }] },
      ]);
    },
  },
  {
    name: "Responses, streamed, with instructions, a tool definition and a function call",
    run: ({ openai }) =>
      appView(() =>
        openai.responses.create({
          model: "gpt-4o-mini",
          instructions: `be kind to ${SENSITIVE}`,
          input: [user("hello")],
          tools: [{ type: "function", strict: false, ...mailTool }],
          stream: true,
        }),
      ),
    writes: [MESSAGES, OUTPUT, INSTRUCTIONS, DEFINITIONS],
    exact(span, captureContent) {
      expect(span.attributes["gen_ai.response.finish_reasons"]).toEqual(["tool_calls"]);
      expect(span.attributes["tokentrace.stream.end"]).toBe("completed");
      if (!captureContent) return;
      expect(parsed(span, OUTPUT)).toEqual([
        {
          role: "assistant",
          parts: [
            { type: "text", content: `streamed ${REDACTED}` },
            { type: "tool_call", id: "call_1", name: "send_mail", arguments: REDACTED_ARGUMENTS },
          ],
          finish_reason: "tool_calls",
        },
      ]);
      expect(parsed(span, DEFINITIONS)).toEqual([
        {
          type: "function",
          name: "send_mail",
          description: `sends mail, e.g. to ${REDACTED}`,
          parameters: mailTool.parameters,
        },
      ]);
    },
  },
  {
    name: "Responses, plain, with instructions",
    run: ({ openai }) =>
      appView(() =>
        openai.responses.create({
          model: "gpt-4o-mini",
          instructions: `be kind to ${SENSITIVE}`,
          input: `hi ${SENSITIVE}`,
        }),
      ),
    writes: [MESSAGES, OUTPUT, INSTRUCTIONS],
    exact(span, captureContent) {
      if (!captureContent) return;
      expect(parsed(span, INSTRUCTIONS)).toEqual([{ type: "text", content: `be kind to ${REDACTED}` }]);
      expect(parsed(span, MESSAGES)).toEqual([{ role: "user", parts: [{ type: "text", content: `hi ${REDACTED}` }] }]);
    },
  },
  {
    name: "chat with a tool definition",
    run: ({ openai }) =>
      appView(() =>
        openai.chat.completions.create({
          model: "gpt-4o-mini",
          messages: [user("hello")],
          tools: [{ type: "function", function: mailTool }],
        }),
      ),
    writes: [MESSAGES, OUTPUT, DEFINITIONS],
  },
  {
    name: "Anthropic tool use, with a tool definition and a tool result",
    run: ({ anthropic }) =>
      appView(() =>
        anthropic.messages.create({
          model: "claude-3-5-haiku-latest",
          max_tokens: 100,
          tools: [{ name: "send_mail", description: mailTool.description, input_schema: { type: "object" } }],
          messages: [
            user("mail"),
            {
              role: "assistant",
              content: [{ type: "tool_use", id: "toolu_0", name: "send_mail", input: { to: SENSITIVE } }],
            },
            {
              role: "user",
              content: [{ type: "tool_result", tool_use_id: "toolu_0", content: `sent to ${SENSITIVE}` }],
            },
          ],
        }),
      ),
    writes: [MESSAGES, OUTPUT, DEFINITIONS],
    exact(span, captureContent) {
      if (!captureContent) return;
      expect(parsed(span, OUTPUT)).toEqual([
        {
          role: "assistant",
          parts: [
            { type: "text", content: `calling for ${REDACTED}` },
            { type: "tool_call", id: "toolu_1", name: "send_mail", arguments: REDACTED_ARGUMENTS },
          ],
          finish_reason: "tool_use",
        },
      ]);
      expect(parsed(span, MESSAGES)).toEqual([
        { role: "user", parts: [{ type: "text", content: `mail ${REDACTED}` }] },
        {
          role: "assistant",
          parts: [{ type: "tool_call", id: "toolu_0", name: "send_mail", arguments: { to: REDACTED } }],
        },
        {
          role: "user",
          parts: [{ type: "tool_call_response", id: "toolu_0", response: `sent to ${REDACTED}` }],
        },
      ]);
    },
  },
  {
    name: "Anthropic tool use, streamed as input_json_delta",
    run: ({ anthropic }) =>
      appView(() =>
        anthropic.messages.create({
          model: "claude-3-5-haiku-latest",
          max_tokens: 100,
          messages: [user("mail")],
          stream: true,
        }),
      ),
    writes: [MESSAGES, OUTPUT],
    exact(span, captureContent) {
      expect(span.attributes["gen_ai.response.finish_reasons"]).toEqual(["tool_use"]);
      if (!captureContent) return;
      // The input's JSON was cut across five deltas, through corpus values.
      expect(parsed(span, OUTPUT)).toEqual([
        {
          role: "assistant",
          parts: [{ type: "tool_call", id: "toolu_1", name: "send_mail", arguments: REDACTED_ARGUMENTS }],
          finish_reason: "tool_use",
        },
      ]);
    },
  },
  {
    name: "Anthropic error event inside a stream",
    run: ({ anthropic }) =>
      appView(() =>
        anthropic.messages.create({
          model: "claude-3-5-haiku-latest",
          max_tokens: 100,
          messages: [user("OVERLOAD")],
          stream: true,
        }),
      ),
    writes: [MESSAGES, OUTPUT, EXCEPTION, "exception.stacktrace", STATUS],
    exact(span, captureContent) {
      expect(span.attributes["error.type"]).toBe("overloaded_error");
      expect(span.attributes["tokentrace.stream.end"]).toBe("error");
      expectErrorText(span, captureContent, OVERLOADED_REDACTED, "overloaded_error");
      if (!captureContent) return;
      // The text streamed before the error event is kept, redacted.
      expect(parsed(span, OUTPUT)).toEqual([
        { role: "assistant", parts: [{ type: "text", content: `partial ${REDACTED}` }] },
      ]);
    },
  },
  {
    name: "OpenAI 401 echoing the client's key",
    run: ({ openai }) =>
      appView(() => openai.chat.completions.create({ model: "gpt-4o-mini", messages: [user("UNAUTHORIZED")] })),
    writes: [MESSAGES],
    writesKeyOnly: [EXCEPTION, "exception.stacktrace", STATUS],
    // The key first: the error's text is written before the request's messages.
    kinds: ["client_secret", ...CORPUS_KINDS],
    exact(span, captureContent) {
      expect(span.attributes["error.type"]).toBe("AuthenticationError");
      expectErrorText(
        span,
        captureContent,
        KEY_MESSAGE,
        "AuthenticationError: HTTP 401, code invalid_api_key, type invalid_request_error",
      );
    },
  },
];

function clients(): Clients {
  return {
    openai: observe(new OpenAI({ apiKey: CLIENT_KEY, baseURL: `${suite.server.url}/v1`, maxRetries: 0 })),
    anthropic: observe(new Anthropic({ apiKey: CLIENT_KEY, baseURL: suite.server.url, maxRetries: 0 })),
  };
}

async function runScenario(
  scenario: Scenario,
  captureContent: boolean,
): Promise<{ spans: ReadableSpan[]; app: string }> {
  sink = memorySink();
  suite.telemetry = setup({ serviceName: "corpus-streams", sinks: [sink], captureContent, pii: ALL_PII });
  const app = await scenario.run(clients());
  return { spans: [...sink.getSpans()], app };
}

/** Every value an attribute (or an event attribute, or the status message) of that name took. */
function valuesOf(spans: readonly ReadableSpan[], name: string): string[] {
  const values: string[] = [];
  for (const span of spans) {
    const found: unknown[] = [span.attributes[name]];
    for (const event of span.events) found.push(event.attributes?.[name]);
    if (name === STATUS) found.push(span.status.message);
    for (const value of found)
      if (value !== undefined) values.push(typeof value === "string" ? value : JSON.stringify(value));
  }
  return values;
}

/** Nothing of the corpus, nor the client's key, in `text`. */
function expectNoCorpus(text: string, where: string): void {
  for (const [value] of CORPUS) expect(text, `${where} holds ${value}`).not.toContain(value);
  expect(text, `${where} holds the client's key`).not.toContain(CLIENT_KEY);
}

describe("the corpus in streams, tool calls, errors, instructions and tool definitions", () => {
  describe.each(SCENARIOS)("$name", (scenario) => {
    it("with every preset on: nothing of the corpus is exported, each content attribute carries the markers, the app sees the raw values", async () => {
      const { spans, app } = await runScenario(scenario, true);
      expect(spans).toHaveLength(1);
      expectNoCorpus(exportedText(spans), "the spans");
      expectNoCorpus(JSON.stringify(await sink.collectMetrics()), "the metrics");
      for (const name of scenario.writes) {
        const values = valuesOf(spans, name);
        expect(values.length, `${name} was not written`).toBeGreaterThan(0);
        for (const value of values)
          for (const [, marker] of CORPUS) expect(value, `${name} lacks ${marker}`).toContain(marker);
      }
      for (const name of scenario.writesKeyOnly ?? []) {
        const values = valuesOf(spans, name);
        expect(values.length, `${name} was not written`).toBeGreaterThan(0);
        for (const value of values) expect(value).toContain("[REDACTED]");
      }
      expect(spans[0]?.attributes["tokentrace.redaction.kinds"]).toEqual(scenario.kinds ?? CORPUS_KINDS);
      expect(spans[0]?.attributes["tokentrace.content.present"]).toBe(true);
      scenario.exact?.(spans[0]!, true);
      // tokentrace never changes what the app gets.
      if (scenario.writesKeyOnly === undefined) for (const [value] of CORPUS) expect(app).toContain(value);
      else expect(app).toContain(CLIENT_KEY);
    });

    it("with capture off: no content attribute, and nothing of the corpus, is exported; the app sees the raw values", async () => {
      const { spans, app } = await runScenario(scenario, false);
      expect(spans).toHaveLength(1);
      // Only error texts remain, and those are neutral (checked exactly by the error scenarios).
      for (const name of CONTENT_ATTRIBUTES.filter((name) => !ERROR_TEXTS.includes(name)))
        expect(valuesOf(spans, name), name).toEqual([]);
      expect(spans[0]?.attributes["tokentrace.content.present"]).toBeUndefined();
      expectNoCorpus(exportedText(spans), "the spans");
      expectNoCorpus(JSON.stringify(await sink.collectMetrics()), "the metrics");
      scenario.exact?.(spans[0]!, false);
      if (scenario.writesKeyOnly === undefined) for (const [value] of CORPUS) expect(app).toContain(value);
      else expect(app).toContain(CLIENT_KEY);
    });
  });

  it("covers each content attribute a call writes", () => {
    const written = new Set(SCENARIOS.flatMap((scenario) => [...scenario.writes, ...(scenario.writesKeyOnly ?? [])]));
    for (const name of [MESSAGES, OUTPUT, INSTRUCTIONS, DEFINITIONS, EXCEPTION, STATUS]) {
      expect(CONTENT_ATTRIBUTES).toContain(name);
      expect(written).toContain(name);
    }
  });
});
