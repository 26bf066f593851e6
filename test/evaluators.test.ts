import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { InvalidOptionError, builtInEvaluators, jsonEvaluator, observe } from "../src/index.js";
import type { EvaluatedCall, Evaluator } from "../src/index.js";
import { memorySink, setup } from "../src/setup-entry.js";
import type { MemorySink } from "../src/setup-entry.js";
import { histogramPoints, sumPoints } from "./helpers/harness.js";
import {
  anthropicMessage,
  chatChunk,
  chatCompletion,
  chatUsage,
  responsesResponse,
  responsesUsage,
} from "./helpers/provider-bodies.js";
import { startScriptedServer } from "./helpers/scripted-server.js";
import type { ScriptedAnswer, ScriptedRequest } from "./helpers/scripted-server.js";
import { setupSuite } from "./helpers/telemetry.js";

/**
 * Evaluators (issue 14): checks on finished calls, run off the call's path, reported as feedback with
 * `source: "code"`. The built-in ones read the providers' structured fields (finish reasons, usage, limits).
 */

/** What the scripted provider answers, chosen by a word in the request: LONG, REFUSE, EMPTY, else a plain answer. */
function kindOf(request: ScriptedRequest): "long" | "refuse" | "empty" | "plain" {
  const said = JSON.stringify(request.body);
  if (said.includes("LONG")) return "long";
  if (said.includes("REFUSE")) return "refuse";
  return said.includes("EMPTY") ? "empty" : "plain";
}

/** A structured outputs refusal, in OpenAI's own field (the finish reason stays `stop`). */
function decline(request: ScriptedRequest): ScriptedAnswer {
  const refusal = "I can't help with that.";
  const usage = chatUsage(10, 6);
  if (request.url.startsWith("/v1/responses"))
    return { json: responsesResponse({ id: "resp_2", messageId: "msg_2", refusal, usage: responsesUsage(10, 6) }) };
  const chunk = (delta: object, finish: string | null) =>
    chatChunk([{ index: 0, delta, finish_reason: finish }], { id: "chatcmpl-2" });
  if ((request.body as { stream?: boolean }).stream === true) {
    return {
      events: [chunk({ role: "assistant", refusal: "" }, null), chunk({ refusal }, null), chunk({}, "stop"), "[DONE]"],
    };
  }
  return { json: chatCompletion({ id: "chatcmpl-2", refusal, usage }) };
}

const CITY_SCHEMA = {
  type: "object",
  properties: { city: { type: "string" }, population: { type: "integer" } },
  required: ["city", "population"],
  additionalProperties: false,
};
/** The answer's text for JSON_OK, JSON_BAD (cut short) and JSON_SCHEMA (a string where an integer belongs). */
const JSON_TEXTS: Record<string, string> = {
  JSON_OK: '{"city":"Paris","population":2100000}',
  JSON_BAD: '{"city":"Paris"',
  JSON_SCHEMA: '{"city":"Paris","population":"many"}',
};

/** Structured output answers, and a tool call whose arguments break the tool's parameters (TOOL_BAD). */
function jsonAnswer(request: ScriptedRequest, said: string): ScriptedAnswer {
  const word = Object.keys(JSON_TEXTS).find((key) => said.includes(key));
  const text = word === undefined ? "" : JSON_TEXTS[word]!;
  if (request.url.startsWith("/v1/responses"))
    return { json: responsesResponse({ id: "resp_3", messageId: "msg_3", text, usage: responsesUsage(10, 9) }) };
  if (request.url.startsWith("/v1/messages")) {
    const usage = { input_tokens: 10, output_tokens: 9 };
    return { json: anthropicMessage({ id: "msg_3", model: "claude-3-5-haiku-20241022", text, usage }) };
  }
  const usage = chatUsage(10, 9);
  if (said.includes("TOOL_BAD")) {
    const toolCalls = [
      { id: "call_1", type: "function" as const, function: { name: "lookup", arguments: '{"id":"seven"}' } },
    ];
    return { json: chatCompletion({ id: "chatcmpl-3", toolCalls, finishReason: "tool_calls", usage }) };
  }
  return { json: chatCompletion({ id: "chatcmpl-3", content: text, usage }) };
}

function answer(request: ScriptedRequest): ScriptedAnswer {
  const said = JSON.stringify(request.body);
  if (said.includes("JSON_") || said.includes("TOOL_BAD")) return jsonAnswer(request, said);
  if (said.includes("DECLINE")) return decline(request);
  const kind = kindOf(request);
  const text = kind === "empty" ? "" : "Paris.";
  const outputTokens = kind === "empty" ? 0 : kind === "long" ? 100 : 3;
  if (request.url.startsWith("/v1/chat/completions")) {
    const finish = { long: "length", refuse: "content_filter", empty: "stop", plain: "stop" }[kind];
    return { json: chatCompletion({ content: text, finishReason: finish, usage: chatUsage(10, outputTokens) }) };
  }
  if (request.url.startsWith("/v1/responses")) {
    const long = kind === "long";
    return {
      json: responsesResponse({
        status: long ? "incomplete" : "completed",
        incompleteDetails: long ? { reason: "max_output_tokens" } : null,
        text,
        usage: responsesUsage(10, outputTokens),
      }),
    };
  }
  const stop = { long: "max_tokens", refuse: "refusal", empty: "end_turn", plain: "end_turn" }[kind];
  return {
    json: anthropicMessage({
      model: "claude-3-5-haiku-20241022",
      text: kind === "empty" ? undefined : text,
      stopReason: stop,
      usage: { input_tokens: 10, output_tokens: outputTokens },
    }),
  };
}

let sink: MemorySink;
const suite = setupSuite(() => startScriptedServer(answer));

function start(evaluators: readonly Evaluator[], captureContent = false): { openai: OpenAI; anthropic: Anthropic } {
  sink = memorySink();
  suite.telemetry = setup({ serviceName: "evaluators", sinks: [sink], evaluators, captureContent });
  return {
    openai: observe(new OpenAI({ apiKey: "sk-test", baseURL: `${suite.server.url}/v1`, maxRetries: 0 })),
    anthropic: observe(new Anthropic({ apiKey: "sk-ant-test", baseURL: suite.server.url, maxRetries: 0 })),
  };
}

/** Let the evaluations scheduled by calls that ended run (a later turn of the event loop, then their promises). */
async function evaluationsRan(): Promise<void> {
  for (let turn = 0; turn < 3; turn++) await new Promise((resolve) => setImmediate(resolve));
}

/** The results counter as `name label model` → count. */
async function results(): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const point of sumPoints(await sink.collectMetrics(), "tokentrace.evaluation.results")) {
    const { attributes } = point;
    expect(attributes["tokentrace.evaluation.source"]).toBe("code");
    const key = [
      attributes["gen_ai.evaluation.name"],
      attributes["gen_ai.evaluation.score.label"],
      attributes["gen_ai.request.model"],
    ]
      .filter((part) => part !== undefined)
      .map(String)
      .join(" ");
    counts[key] = (counts[key] ?? 0) + point.value;
  }
  return counts;
}

async function failures(): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const point of sumPoints(await sink.collectMetrics(), "tokentrace.evaluation.failures")) {
    counts[`${String(point.attributes["tokentrace.evaluation.evaluator"])} ${String(point.attributes["error.type"])}`] =
      point.value;
  }
  return counts;
}

describe("the built-in evaluators", () => {
  it("rate OpenAI chat answers: truncated, refused, empty, and the length against max_tokens", async () => {
    const { openai } = start(builtInEvaluators());
    for (const word of ["plain", "LONG", "REFUSE", "EMPTY"]) {
      await openai.chat.completions.create({
        model: "gpt-4o-mini",
        max_tokens: 100,
        messages: [{ role: "user", content: word }],
      });
    }
    await evaluationsRan();
    expect(await results()).toEqual({
      "truncated complete gpt-4o-mini": 3,
      "truncated truncated gpt-4o-mini": 1,
      "refusal answered gpt-4o-mini": 3,
      "refusal refused gpt-4o-mini": 1,
      "empty_answer not_empty gpt-4o-mini": 3,
      "empty_answer empty gpt-4o-mini": 1,
      "length_ratio gpt-4o-mini": 4,
    });
    // Output tokens over max_tokens 100: 3, 100, 3 and 0.
    const ratio = histogramPoints(await sink.collectMetrics(), "tokentrace.evaluation.score").find(
      (point) => point.attributes["gen_ai.evaluation.name"] === "length_ratio",
    );
    expect(ratio?.value.count).toBe(4);
    expect(ratio?.value.sum).toBeCloseTo(1.06, 12);
  });

  it("rate Responses and Anthropic answers from their own stop reasons", async () => {
    const { openai, anthropic } = start(builtInEvaluators());
    await openai.responses.create({ model: "gpt-4o-mini", max_output_tokens: 100, input: "LONG" });
    await anthropic.messages.create({
      model: "claude-3-5-haiku-latest",
      max_tokens: 100,
      messages: [{ role: "user", content: "LONG" }],
    });
    await anthropic.messages.create({
      model: "claude-3-5-haiku-latest",
      max_tokens: 100,
      messages: [{ role: "user", content: "REFUSE" }],
    });
    await anthropic.messages.create({
      model: "claude-3-5-haiku-latest",
      max_tokens: 100,
      messages: [{ role: "user", content: "EMPTY" }],
    });
    await evaluationsRan();
    expect(await results()).toEqual({
      "truncated truncated gpt-4o-mini": 1,
      "refusal answered gpt-4o-mini": 1,
      "empty_answer not_empty gpt-4o-mini": 1,
      "length_ratio gpt-4o-mini": 1,
      "truncated truncated claude-3-5-haiku-latest": 1,
      "truncated complete claude-3-5-haiku-latest": 2,
      "refusal refused claude-3-5-haiku-latest": 1,
      "refusal answered claude-3-5-haiku-latest": 2,
      "empty_answer empty claude-3-5-haiku-latest": 1,
      "empty_answer not_empty claude-3-5-haiku-latest": 2,
      "length_ratio claude-3-5-haiku-latest": 3,
    });
  });
});

describe("the JSON evaluator", () => {
  it("checks structured outputs against the request's schema, for OpenAI chat, Responses and Anthropic", async () => {
    const { openai, anthropic } = start([jsonEvaluator()], true);
    const format = { type: "json_schema" as const, json_schema: { name: "city", strict: true, schema: CITY_SCHEMA } };
    for (const word of ["JSON_OK", "JSON_BAD", "JSON_SCHEMA"]) {
      await openai.chat.completions.create({
        model: "gpt-4o-mini",
        messages: [{ role: "user", content: word }],
        response_format: format,
      });
    }
    await openai.responses.create({
      model: "gpt-4o-mini",
      input: "JSON_SCHEMA",
      text: { format: { type: "json_schema", name: "city", strict: true, schema: CITY_SCHEMA } },
    });
    await anthropic.messages.create({
      model: "claude-3-5-haiku-latest",
      max_tokens: 100,
      messages: [{ role: "user", content: "JSON_OK" }],
      output_config: { format: { type: "json_schema", schema: CITY_SCHEMA } },
    } as Parameters<typeof anthropic.messages.create>[0]);
    await evaluationsRan();
    expect(await results()).toEqual({
      "json_valid valid gpt-4o-mini": 1,
      "json_valid invalid_json gpt-4o-mini": 1,
      "json_valid schema_violation gpt-4o-mini": 2,
      "json_valid valid claude-3-5-haiku-latest": 1,
    });
    // The comment says where and which rule, never the answer's text ("many").
    const comments = sink
      .getLogRecords()
      .map((record) => record.attributes["gen_ai.evaluation.explanation"])
      .filter((comment) => comment !== undefined);
    expect(comments).toEqual([
      'type at "/population": expected integer, got string',
      'type at "/population": expected integer, got string',
    ]);
  });

  it("checks tool calls' arguments against the declared tool's parameters", async () => {
    const { openai } = start([jsonEvaluator()], true);
    const tools = [
      {
        type: "function" as const,
        function: {
          name: "lookup",
          parameters: { type: "object", properties: { id: { type: "integer" } }, required: ["id"] },
        },
      },
    ];
    await openai.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "TOOL_BAD" }],
      tools,
    });
    await evaluationsRan();
    expect(await results()).toEqual({ "tool_arguments_valid schema_violation gpt-4o-mini": 1 });
  });

  it("says nothing without content capture", async () => {
    const { openai } = start([jsonEvaluator()]);
    await openai.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "JSON_BAD" }],
      response_format: { type: "json_object" },
    });
    await evaluationsRan();
    expect(await results()).toEqual({});
  });
});

describe("the refusal evaluator", () => {
  it("reads OpenAI's own refusal field, whole, streamed and in the Responses API, whatever the finish reason", async () => {
    const { openai } = start([builtInEvaluators()[1]!]);
    const ask = [{ role: "user" as const, content: "DECLINE" }];
    await openai.chat.completions.create({ model: "gpt-4o-mini", messages: ask });
    const stream = await openai.chat.completions.create({ model: "gpt-4o-mini", messages: ask, stream: true });
    for await (const chunk of stream) void chunk;
    await openai.responses.create({ model: "gpt-4o-mini", input: "DECLINE" });
    await openai.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] });
    await evaluationsRan();
    expect(await results()).toEqual({ "refusal refused gpt-4o-mini": 3, "refusal answered gpt-4o-mini": 1 });
  });
});

describe("evaluators of the app's own", () => {
  it("get the finished call as a plain record, after the app got its answer", async () => {
    const seen: EvaluatedCall[] = [];
    const { openai } = start([{ name: "spy", evaluate: (call) => void seen.push(call) }]);
    const completion = await openai.chat.completions.create({
      model: "gpt-4o-mini",
      max_tokens: 100,
      messages: [{ role: "user", content: "LONG" }],
    });
    // Not on the call's path: nothing has run yet when the app has its answer.
    expect(seen).toEqual([]);
    await evaluationsRan();
    const [span] = sink.getSpans();
    expect(seen).toEqual([
      {
        traceId: span!.spanContext().traceId,
        spanId: span!.spanContext().spanId,
        operation: "chat",
        provider: "openai",
        requestModel: "gpt-4o-mini",
        responseModel: "gpt-4o-mini",
        responseId: completion.id,
        outcome: "completed",
        finishReasons: ["length"],
        refused: false,
        usage: { inputTokens: 10, outputTokens: 100 },
        maxTokens: 100,
        outputType: undefined,
        outputSchema: undefined,
        // Content capture is off: no content.
        output: undefined,
        toolDefinitions: undefined,
      },
    ]);
    expect(Object.isFrozen(seen[0])).toBe(true);
  });

  it("count a throwing, a slow and a malformed evaluator, and still record the others' results", async () => {
    const throwing: Evaluator = {
      name: "throws",
      evaluate() {
        throw new Error("evaluator bug");
      },
    };
    const slow: Evaluator = { name: "slow", timeoutMs: 5, evaluate: () => new Promise(() => undefined) };
    const rejecting: Evaluator = { name: "rejects", evaluate: () => Promise.reject(new Error("judge down")) };
    const malformed: Evaluator = { name: "malformed", evaluate: () => "great" as never };
    const late: Evaluator = {
      name: "late",
      timeoutMs: 5,
      evaluate: () => new Promise((resolve) => setTimeout(() => resolve({ value: 1 }), 50)),
    };
    const judge: Evaluator = {
      name: "judge",
      source: "llm",
      evaluate: () => Promise.resolve({ value: 0.9, label: "good" }),
    };
    const { openai } = start([throwing, slow, rejecting, malformed, late, judge]);
    const completion = await openai.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "hi" }],
    });
    expect(completion.choices[0]?.message.content).toBe("Paris.");
    await evaluationsRan();
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(await failures()).toEqual({
      "throws exception": 1,
      "slow timeout": 1,
      "rejects exception": 1,
      "malformed invalid_result": 1,
      "late timeout": 1,
    });
    const recorded = sumPoints(await sink.collectMetrics(), "tokentrace.evaluation.results");
    expect(
      recorded.map((point) => [
        point.attributes["gen_ai.evaluation.name"],
        point.attributes["tokentrace.evaluation.source"],
        point.value,
      ]),
    ).toEqual([["judge", "llm", 1]]);
  });

  it("run on the share of calls their sample says, by trace id", async () => {
    let calls = 0;
    const { openai } = start([{ name: "never", sample: 0, evaluate: () => void calls++ }]);
    for (let index = 0; index < 5; index++)
      await openai.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] });
    await evaluationsRan();
    expect(calls).toBe(0);
  });

  it("are checked at set-up, naming the option and what it accepts", () => {
    const evaluate = () => undefined;
    const cases: Array<[unknown, string, string]> = [
      ["all", "evaluators", "expected an array of at most 32 evaluators"],
      [[null], "evaluators[0]", "expected an evaluator { name, evaluate, sample?, timeoutMs?, source? }"],
      [[{ evaluate }], "evaluators[0].name", "expected a non-blank string"],
      [[{ name: "a", evaluate: "x" }], "evaluators[0].evaluate", "expected a function (call) => result"],
      [[{ name: "a", evaluate, sample: 2 }], "evaluators[0].sample", "expected a number from 0 to 1"],
      [[{ name: "a", evaluate, timeoutMs: 0 }], "evaluators[0].timeoutMs", "expected an integer from 1 to 60000"],
      [[{ name: "a", evaluate, source: "human" }], "evaluators[0].source", 'expected "code" or "llm"'],
      [
        [
          { name: "a", evaluate },
          { name: "a", evaluate },
        ],
        "evaluators[1].name",
        '"a" is listed twice',
      ],
    ];
    for (const [evaluators, option, fragment] of cases) {
      let thrown: unknown;
      try {
        setup({ serviceName: "bad", sinks: [memorySink()], evaluators: evaluators as Evaluator[] });
      } catch (error) {
        thrown = error;
      }
      expect(thrown, option).toBeInstanceOf(InvalidOptionError);
      expect((thrown as InvalidOptionError).option).toBe(option);
      expect((thrown as Error).message).toContain(fragment);
    }
  });
});
