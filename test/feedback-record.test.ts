import OpenAI from "openai";
import { ROOT_CONTEXT, context } from "@opentelemetry/api";
import { logs } from "@opentelemetry/api-logs";
import { InMemoryLogRecordExporter, LoggerProvider, SimpleLogRecordProcessor } from "@opentelemetry/sdk-logs";
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { describe, expect, it } from "vitest";
import {
  InvalidOptionError,
  callInfo,
  currentRef,
  defineFeedback,
  observe,
  recordFeedback,
  withAgent,
  withContext,
  withTool,
} from "../src/index.js";
import type { Feedback, FeedbackRejection } from "../src/index.js";
import { clearFeedbackDefinitions } from "../src/feedback/definitions.js";
import { CallFacts, recentCalls } from "../src/feedback/call-info.js";
import { RecentCalls } from "../src/feedback/recent.js";
import { memorySink, setup } from "../src/setup-entry.js";
import type { MemorySink } from "../src/setup-entry.js";
import { startMockLLMServer } from "../src/testing/mock-server.js";
import { histogramPoints, sumPoints } from "./helpers/harness.js";
import { setupSuite } from "./helpers/telemetry.js";

/**
 * recordFeedback() and defineFeedback() (issue 14): results tied to the exact span they rate, as the
 * conventions' `gen_ai.evaluation.result` log record, an `evaluation {name}` span where asked, and metrics.
 */

const SECRET = "feedback-secret-0123456789";
const messages = [{ role: "user" as const, content: "What is the capital of France?" }];

let sink: MemorySink;
let logExporter: InMemoryLogRecordExporter | undefined;
const suite = setupSuite(startMockLLMServer, () => {
  clearFeedbackDefinitions();
  logs.disable();
  logExporter = undefined;
});

/**
 * setup() with a memory sink, which takes log records; `spansOnly`: only its span processor and metric reader
 * (no sink takes log records); `globalLogs`: a global logger provider keeping log records in memory too.
 */
function start(
  options: {
    globalLogs?: boolean;
    spansOnly?: boolean;
    secret?: string;
    spans?: boolean | "auto";
    captureContent?: boolean;
  } = {},
): OpenAI {
  sink = memorySink();
  const feedback: { secret?: string; spans?: boolean | "auto" } = {};
  if (options.secret !== undefined) feedback.secret = options.secret;
  if (options.spans !== undefined) feedback.spans = options.spans;
  suite.telemetry = setup({
    serviceName: "feedback",
    sinks: options.spansOnly === true ? [...sink.spanProcessors, ...sink.metricReaders] : [sink],
    feedback,
    captureContent: options.captureContent ?? false,
    pii: ["email"],
  });
  if (options.globalLogs === true) {
    logExporter = new InMemoryLogRecordExporter();
    logs.setGlobalLoggerProvider(
      new LoggerProvider({ processors: [new SimpleLogRecordProcessor({ exporter: logExporter })] }),
    );
  }
  return observe(new OpenAI({ baseURL: suite.server.openaiBaseURL, apiKey: "sk-test", maxRetries: 0 }));
}

function callSpan(): ReadableSpan {
  const span = sink.getSpans().find((candidate) => candidate.name.startsWith("chat "));
  if (span === undefined) throw new Error("no call span");
  return span;
}

/** The log records emitted, the sink's then the global provider's, as plain facts. */
function logRecords() {
  return [...sink.getLogRecords(), ...(logExporter?.getFinishedLogRecords() ?? [])].map((record) => ({
    eventName: record.eventName,
    traceId: record.spanContext?.traceId,
    spanId: record.spanContext?.spanId,
    severityText: record.severityText,
    attributes: record.attributes,
    scope: record.instrumentationScope.name,
  }));
}

async function rejections(): Promise<Record<string, number>> {
  const points = sumPoints(await sink.collectMetrics(), "tokentrace.feedback.rejections");
  const counts: Record<string, number> = {};
  for (const point of points) counts[String(point.attributes["tokentrace.feedback.rejection_reason"])] = point.value;
  return counts;
}

describe("recordFeedback()", () => {
  it("records a result on the call an observed client returned, as a log record parented to its span", async () => {
    const openai = start();
    const completion = await openai.chat.completions.create({ model: "gpt-4o-mini", messages });
    const span = callSpan();
    const { traceId, spanId } = span.spanContext();
    expect(recordFeedback(completion, { name: "thumbs", value: 1, label: "up", id: "fb-1" })).toEqual({
      ok: true,
      traceId,
      spanId,
    });
    expect(logRecords()).toEqual([
      {
        eventName: "gen_ai.evaluation.result",
        traceId,
        spanId,
        severityText: "INFO",
        scope: "tokentrace",
        attributes: {
          "gen_ai.evaluation.name": "thumbs",
          "gen_ai.evaluation.score.value": 1,
          "gen_ai.evaluation.score.label": "up",
          "tokentrace.evaluation.source": "human",
          "tokentrace.feedback.id": "fb-1",
          "gen_ai.response.id": span.attributes["gen_ai.response.id"],
        },
      },
    ]);
    // The sink takes log records: no evaluation span by default.
    expect(sink.getSpans().map((recorded) => recorded.name)).toEqual(["chat gpt-4o-mini"]);
  });

  it("follows a ref through JSON, from another async context, after the span ended", async () => {
    const openai = start({ secret: SECRET });
    const completion = await openai.chat.completions.create({ model: "gpt-4o-mini", messages });
    const sent = JSON.stringify({ ref: callInfo(completion)?.ref });
    const { traceId, spanId } = callSpan().spanContext();
    const result = await new Promise((resolve) =>
      setImmediate(() =>
        context.with(ROOT_CONTEXT, () => {
          const body = JSON.parse(sent) as { ref: string };
          resolve(recordFeedback(body.ref, { name: "rating", value: 4, source: "human" }));
        }),
      ),
    );
    expect(result).toEqual({ ok: true, traceId, spanId });
    expect(logRecords().map((record) => [record.traceId, record.spanId])).toEqual([[traceId, spanId]]);
    // `{ ref }` is the same target.
    expect(recordFeedback({ ref: callInfo(completion)?.ref }, { name: "rating", value: 5 })).toMatchObject({
      ok: true,
    });
  });

  it("names a call by withContext({ messageId }), which its span carries", async () => {
    const openai = start();
    await withContext({ messageId: "msg-42" }, () =>
      openai.chat.completions.create({ model: "gpt-4o-mini", messages }),
    );
    const span = callSpan();
    expect(span.attributes["tokentrace.message.id"]).toBe("msg-42");
    const { traceId, spanId } = span.spanContext();
    expect(recordFeedback({ messageId: "msg-42" }, { name: "thumbs", value: true })).toEqual({
      ok: true,
      traceId,
      spanId,
    });
    expect(recordFeedback({ messageId: "msg-43" }, { name: "thumbs", value: true })).toEqual({
      ok: false,
      reason: "unknown_ref",
    });
    expect(await rejections()).toEqual({ unknown_ref: 1 });
  });

  it("rates a stage through currentRef()", () => {
    start();
    let ref: string | undefined;
    withTool("lookup", () => {
      ref = currentRef();
    });
    const [tool] = sink.getSpans();
    const { traceId, spanId } = tool!.spanContext();
    expect(recordFeedback(ref!, { name: "useful", value: 0.5, source: "llm", evaluator: "judge-1" })).toEqual({
      ok: true,
      traceId,
      spanId,
    });
    expect(logRecords()[0]?.attributes).toEqual({
      "gen_ai.evaluation.name": "useful",
      "gen_ai.evaluation.score.value": 0.5,
      "tokentrace.evaluation.source": "llm",
      "tokentrace.evaluation.evaluator": "judge-1",
    });
  });

  it("also records a zero-length child span when no sink or global provider takes log records, or when told to", async () => {
    const openai = start({ spansOnly: true });
    const completion = await openai.chat.completions.create({ model: "gpt-4o-mini", messages });
    const call = callSpan();
    recordFeedback(completion, { name: "thumbs", value: 0, label: "down" });
    const evaluation = sink.getSpans().find((span) => span.name === "evaluation thumbs");
    expect(evaluation?.parentSpanContext?.spanId).toBe(call.spanContext().spanId);
    expect(evaluation?.spanContext().traceId).toBe(call.spanContext().traceId);
    expect(evaluation?.startTime).toEqual(evaluation?.endTime);
    expect(evaluation?.attributes).toEqual({
      "gen_ai.evaluation.name": "thumbs",
      "gen_ai.evaluation.score.value": 0,
      "gen_ai.evaluation.score.label": "down",
      "tokentrace.evaluation.source": "human",
      "gen_ai.response.id": call.attributes["gen_ai.response.id"],
    });
    await suite.telemetry?.shutdown();

    // spans: true with a logger provider: both; spans: false without one: neither.
    const both = start({ spans: true });
    recordFeedback(await both.chat.completions.create({ model: "gpt-4o-mini", messages }), { name: "x", value: 1 });
    expect(sink.getSpans().map((span) => span.name)).toEqual(["chat gpt-4o-mini", "evaluation x"]);
    expect(logRecords()).toHaveLength(1);
    await suite.telemetry?.shutdown();
    // No sink takes log records, but a global logger provider does: the log record, no span.
    const global = start({ spansOnly: true, globalLogs: true });
    recordFeedback(await global.chat.completions.create({ model: "gpt-4o-mini", messages }), { name: "y", value: 1 });
    expect(sink.getSpans().map((span) => span.name)).toEqual(["chat gpt-4o-mini"]);
    expect(logRecords().map((record) => record.attributes["gen_ai.evaluation.name"])).toEqual(["y"]);
    await suite.telemetry?.shutdown();
    logs.disable();
    logExporter = undefined;
    const neither = start({ spansOnly: true, spans: false });
    recordFeedback(await neither.chat.completions.create({ model: "gpt-4o-mini", messages }), { name: "x", value: 1 });
    expect(sink.getSpans().map((span) => span.name)).toEqual(["chat gpt-4o-mini"]);
  });

  it("records a comment only with content capture on, redacted", async () => {
    const openai = start();
    const completion = await openai.chat.completions.create({ model: "gpt-4o-mini", messages });
    recordFeedback(completion, { name: "thumbs", value: 0, comment: "wrong, mail me at ann@example.com" });
    expect(logRecords()[0]?.attributes["gen_ai.evaluation.explanation"]).toBeUndefined();
    expect(logRecords()[0]?.attributes["tokentrace.content.present"]).toBeUndefined();
    await suite.telemetry?.shutdown();

    const capturing = start({ captureContent: true });
    const answer = await capturing.chat.completions.create({ model: "gpt-4o-mini", messages });
    recordFeedback(answer, { name: "thumbs", value: 0, comment: "wrong, mail me at ann@example.com" });
    expect(logRecords()[0]?.attributes).toMatchObject({
      "gen_ai.evaluation.explanation": "wrong, mail me at [EMAIL]",
      "tokentrace.redaction.kinds": ["email"],
      "tokentrace.content.present": true,
    });
  });

  it("records a comment under the rated call's own client: its capture switch and its credentials", async () => {
    start({ captureContent: true });
    const key = "client-credential-0123456789";
    const own = observe(new OpenAI({ baseURL: suite.server.openaiBaseURL, apiKey: key, maxRetries: 0 }));
    const silent = observe(new OpenAI({ baseURL: suite.server.openaiBaseURL, apiKey: key, maxRetries: 0 }), {
      captureContent: false,
    });
    recordFeedback(await own.chat.completions.create({ model: "gpt-4o-mini", messages }), {
      name: "thumbs",
      value: 0,
      comment: `it printed my key ${key}`,
    });
    recordFeedback(await silent.chat.completions.create({ model: "gpt-4o-mini", messages }), {
      name: "thumbs",
      value: 0,
      comment: "not recorded: this client captures no content",
    });
    expect(logRecords().map((record) => record.attributes["gen_ai.evaluation.explanation"])).toEqual([
      "it printed my key [REDACTED]",
      undefined,
    ]);
  });

  it("counts results and scores by name, label, source, model, provider and agent", async () => {
    const openai = start();
    defineFeedback({ name: "thumbs", type: "boolean", labels: ["up", "down"] });
    const inAgent = await withAgent("support", () =>
      openai.chat.completions.create({ model: "gpt-4o-mini", messages }),
    );
    const outside = await openai.chat.completions.create({ model: "gpt-4o", messages });
    for (const value of [true, true, false]) recordFeedback(inAgent, { name: "thumbs", value });
    recordFeedback(outside, { name: "thumbs", label: "down" });
    const metrics = await sink.collectMetrics();
    const labels = (agent: string | undefined, model: string, label: string) => ({
      "gen_ai.evaluation.name": "thumbs",
      "tokentrace.evaluation.source": "human",
      "gen_ai.evaluation.score.label": label,
      "gen_ai.provider.name": "openai",
      "gen_ai.request.model": model,
      ...(agent === undefined ? {} : { "gen_ai.agent.name": agent }),
    });
    expect(sumPoints(metrics, "tokentrace.evaluation.results")).toEqual([
      { attributes: labels("support", "gpt-4o-mini", "up"), value: 2 },
      { attributes: labels("support", "gpt-4o-mini", "down"), value: 1 },
      { attributes: labels(undefined, "gpt-4o", "down"), value: 1 },
    ]);
    expect(
      histogramPoints(metrics, "tokentrace.evaluation.score").map((point) => [
        point.attributes["gen_ai.evaluation.score.label"],
        point.attributes["gen_ai.request.model"],
        point.value.count,
        point.value.sum,
      ]),
    ).toEqual([
      ["up", "gpt-4o-mini", 2, 2],
      ["down", "gpt-4o-mini", 1, 0],
      ["down", "gpt-4o", 1, 0],
    ]);
  });

  it("refuses what does not fit, never throwing, and counts each refusal by reason", async () => {
    const openai = start({ secret: SECRET });
    const completion = await openai.chat.completions.create({ model: "gpt-4o-mini", messages });
    const ref = callInfo(completion)!.ref!;
    defineFeedback({ name: "thumbs", type: "boolean", labels: ["up", "down"] });
    defineFeedback({ name: "rating", type: "numeric", range: [1, 5] });
    defineFeedback({ name: "topic", type: "categorical", labels: ["billing", "other"] });
    const last = ref.at(-1) === "A" ? "B" : "A";
    const throwing = {
      get name(): string {
        throw new Error("a getter that throws");
      },
    };
    const cases: Array<[unknown, unknown, FeedbackRejection]> = [
      ["not a ref", { name: "thumbs", value: 1 }, "bad_ref"],
      [42, { name: "thumbs", value: 1 }, "bad_ref"],
      [`${ref.slice(0, -1)}${last}`, { name: "thumbs", value: 1 }, "bad_signature"],
      [ref.slice(0, ref.lastIndexOf(".")), { name: "thumbs", value: 1 }, "bad_signature"],
      [{ some: "object" }, { name: "thumbs", value: 1 }, "unknown_ref"],
      [ref, "thumbs up", "bad_feedback"],
      [ref, { name: "thumbs", value: "1" }, "bad_feedback"],
      [ref, { name: "thumbs", value: 1, source: "robot" }, "bad_feedback"],
      [ref, { name: "thumbs", value: 1, comment: 7 }, "bad_feedback"],
      [ref, { name: "", value: 1 }, "bad_name"],
      [ref, { name: "x".repeat(129), value: 1 }, "bad_name"],
      [ref, { name: "stars", value: 1 }, "unknown_name"],
      [ref, { name: "rating", value: Number.NaN }, "value_not_finite"],
      [ref, { name: "rating", value: Number.POSITIVE_INFINITY }, "value_not_finite"],
      [ref, { name: "rating" }, "missing_value"],
      [ref, { name: "topic", value: 1 }, "missing_value"],
      [ref, { name: "rating", value: 6 }, "out_of_range"],
      [ref, { name: "thumbs", value: 2 }, "out_of_range"],
      [ref, { name: "topic", label: "x".repeat(65) }, "label_too_long"],
      [ref, { name: "topic", label: "sales" }, "unknown_label"],
      [ref, throwing, "internal_error"],
    ];
    for (const [target, feedback, reason] of cases) {
      expect(recordFeedback(target as string, feedback as Feedback), reason).toEqual({ ok: false, reason });
    }
    expect(await rejections()).toEqual({
      bad_ref: 2,
      bad_signature: 2,
      unknown_ref: 1,
      bad_feedback: 4,
      bad_name: 2,
      unknown_name: 1,
      value_not_finite: 2,
      missing_value: 2,
      out_of_range: 2,
      label_too_long: 1,
      unknown_label: 1,
      internal_error: 1,
    });
    expect(logRecords()).toEqual([]);
    // What fits is recorded: the same ref, a declared name, a value in range.
    expect(recordFeedback(ref, { name: "rating", value: 5 })).toMatchObject({ ok: true });
    expect(recordFeedback(ref, { name: "topic", label: "billing" })).toMatchObject({ ok: true });
  });
});

describe("defineFeedback()", () => {
  it("throws InvalidOptionError at declaration, naming the option and what it accepts", () => {
    const cases: Array<[unknown, string, string]> = [
      ["thumbs", "defineFeedback", "expected an object { name, type, range?, labels? }"],
      [{ name: "", type: "boolean" }, "defineFeedback.name", "expected a printable, non-blank string"],
      [{ name: "a", type: "stars" }, "defineFeedback.type", "expected one of boolean, numeric, categorical"],
      [{ name: "a", type: "numeric", range: [5, 1] }, "defineFeedback.range", "min not above max"],
      [{ name: "a", type: "boolean", range: [0, 1] }, "defineFeedback.range", "applies to numeric feedback only"],
      [{ name: "a", type: "boolean", labels: ["yes"] }, "defineFeedback.labels", "a boolean's labels are two"],
      [{ name: "a", type: "categorical", labels: [] }, "defineFeedback.labels", "expected an array of 1 to 64 labels"],
      [{ name: "a", type: "categorical", labels: ["x", "x"] }, "defineFeedback.labels", "lists a label twice"],
      [{ name: "a", type: "categorical", labels: ["ok", 3] }, "defineFeedback.labels[1]", "expected a printable"],
      [{ name: "a", type: "numeric", scale: 5 }, "defineFeedback.scale", "unknown option"],
    ];
    for (const [definition, option, fragment] of cases) {
      let thrown: unknown;
      try {
        defineFeedback(definition as Parameters<typeof defineFeedback>[0]);
      } catch (error) {
        thrown = error;
      }
      expect(thrown, option).toBeInstanceOf(InvalidOptionError);
      expect((thrown as InvalidOptionError).option).toBe(option);
      expect((thrown as Error).message).toContain(fragment);
    }
  });

  it("accepts the same declaration twice and refuses a different one under the same name", () => {
    const first = defineFeedback({ name: "rating", type: "numeric", range: [1, 5] });
    expect(defineFeedback({ name: "rating", type: "numeric", range: [1, 5] })).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
    expect(() => defineFeedback({ name: "rating", type: "numeric", range: [0, 10] })).toThrow(InvalidOptionError);
  });
});

describe("the recent calls", () => {
  it("forget the oldest past their bound, and each one past its time limit", () => {
    let now = 0;
    const recent = new RecentCalls(2, 1000, () => now);
    const facts = (spanId: string, messageId?: string) => {
      const made = new CallFacts("0".repeat(31) + "1", spanId, "openai", "gpt-4o-mini", messageId);
      made.responseId = `resp-${spanId.charAt(0)}`;
      return made;
    };
    const note = (noted: CallFacts) => {
      recent.noteSpan(noted);
      recent.noteMessage(noted);
      recent.noteResponse(noted);
    };
    note(facts("a".repeat(16), "m1"));
    note(facts("b".repeat(16)));
    note(facts("c".repeat(16), "m2"));
    expect(recent.size).toEqual({ spans: 2, messages: 2, responses: 2 });
    expect(recent.bySpanId("a".repeat(16))).toBeUndefined();
    expect(recent.byResponseId("resp-a")).toBeUndefined();
    expect(recent.bySpanId("b".repeat(16))?.spanId).toBe("b".repeat(16));
    expect(recent.byResponseId("resp-b")?.spanId).toBe("b".repeat(16));
    expect(recent.byMessageId("m1")?.spanId).toBe("a".repeat(16));
    now = 1001;
    expect(recent.bySpanId("b".repeat(16))).toBeUndefined();
    expect(recent.byMessageId("m2")).toBeUndefined();
    expect(recent.byResponseId("resp-c")).toBeUndefined();
    expect(recent.size).toEqual({ spans: 1, messages: 1, responses: 1 });
  });

  it("hold a call only once something can name it: its ref handed out, or its message id", async () => {
    const openai = start();
    const unnamed = await openai.chat.completions.create({ model: "gpt-4o-mini", messages });
    const byMessage = await withContext({ messageId: "msg-held" }, () =>
      openai.chat.completions.create({ model: "gpt-4o", messages }),
    );
    const [first, second] = sink.getSpans().map((recorded) => recorded.spanContext().spanId);
    expect(recentCalls.bySpanId(first!)).toBeUndefined();
    expect(recentCalls.bySpanId(second!)).toBeUndefined();
    expect(recentCalls.byMessageId("msg-held")?.spanId).toBe(second);
    const ref = callInfo(unnamed)?.ref;
    expect(recentCalls.bySpanId(first!)?.requestModel).toBe("gpt-4o-mini");
    expect(recordFeedback(ref!, { name: "thumbs", value: false })).toMatchObject({ ok: true, spanId: first });
    expect(callInfo(byMessage)?.spanId).toBe(second);
  });
});
