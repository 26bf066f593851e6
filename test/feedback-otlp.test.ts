import OpenAI from "openai";
import { ROOT_CONTEXT, context, trace } from "@opentelemetry/api";
import { SeverityNumber } from "@opentelemetry/api-logs";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { LoggerProvider } from "@opentelemetry/sdk-logs";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { VERSION, callInfo, observe, recordFeedback, withContext } from "../src/index.js";
import type { FeedbackResult } from "../src/index.js";
import { otlpSink } from "../src/otlp.js";
import { setup } from "../src/setup-entry.js";
import type { SetupOptions, TokentraceHandle } from "../src/setup-entry.js";
import { startMockLLMServer } from "../src/testing/index.js";
import type { MockLLMServer } from "../src/testing/index.js";
import { startOtlpReceiver } from "./helpers/otlp-receiver.js";
import type { OtlpReceiver, ReceivedDataPoint, ReceivedSpan } from "./helpers/otlp-receiver.js";

/**
 * recordFeedback() end to end (issue 14): the real OpenAI SDK against the mock server, setup() exporting spans,
 * metrics and log records with otlpSink() over OTLP/HTTP (protobuf to one receiver, and the log records also as
 * JSON to another, through a second, logs-only otlpSink()), all decoded from what arrived on the wire.
 */

const SERVICE = "feedback-otlp-test";
const LOGS_SERVICE = "feedback-otlp-logs";
const messages = [{ role: "user" as const, content: "What is the capital of France?" }];
/** The score histogram's bucket boundaries (its advice), as they arrive. */
const SCORE_BOUNDS = [0, 0.1, 0.25, 0.5, 0.75, 0.9, 1, 2, 3, 4, 5, 10];

let server: MockLLMServer;
/** Spans, metrics, and the log records in protobuf. */
let receiver: OtlpReceiver;
/** The log records in JSON. */
let jsonReceiver: OtlpReceiver;
let telemetry: TokentraceHandle | undefined;

beforeAll(async () => {
  server = await startMockLLMServer();
  receiver = await startOtlpReceiver();
  jsonReceiver = await startOtlpReceiver();
});

afterAll(async () => {
  await jsonReceiver.close();
  await receiver.close();
  await server.close();
});

beforeEach(() => {
  server.reset();
  receiver.reset();
  jsonReceiver.reset();
});

afterEach(async () => {
  await telemetry?.shutdown();
  telemetry = undefined;
});

/**
 * setup() exporting everything to the receiver over OTLP/HTTP protobuf and the log records also to the JSON
 * receiver (a logs-only sink), and an observed client on the mock server.
 */
function start(options: Pick<SetupOptions, "feedback"> = {}): OpenAI {
  telemetry = setup({
    serviceName: SERVICE,
    sinks: [
      otlpSink({ url: receiver.url }),
      otlpSink({ url: jsonReceiver.url, protocol: "http/json", traces: false, metrics: false }),
    ],
    ...options,
  });
  return observe(new OpenAI({ baseURL: server.openaiBaseURL, apiKey: "sk-test", maxRetries: 0 }));
}

/** Everything exported so far, delivered: spans, metrics and log records (both sinks). */
async function flushAll(): Promise<void> {
  const report = await telemetry!.flush();
  expect(report).toMatchObject({ ok: true, failed: [], pending: [] });
}

function onlyCallSpan(): ReceivedSpan {
  const calls = receiver.spans.filter((span) => span.name === "chat gpt-4o-mini");
  expect(calls).toHaveLength(1);
  return calls[0]!;
}

/** Points of the latest export of `name`, sorted by their attributes, keys in order (a stable order to compare). */
function points(name: string): ReceivedDataPoint[] {
  const metric = receiver.latestMetric(name);
  expect(metric, name).toBeDefined();
  const key = (point: ReceivedDataPoint): string =>
    JSON.stringify(Object.entries(point.attributes).sort(([a], [b]) => (a < b ? -1 : 1)));
  return [...metric!.points].sort((a, b) => (key(a) < key(b) ? -1 : 1));
}

/** Histogram bucket counts for `values`, with the upper-inclusive buckets of SCORE_BOUNDS (and one past them). */
function buckets(...values: number[]): number[] {
  const counts: number[] = new Array<number>(SCORE_BOUNDS.length + 1).fill(0);
  for (const value of values) {
    const index = SCORE_BOUNDS.findIndex((bound) => value <= bound);
    counts[index === -1 ? SCORE_BOUNDS.length : index]! += 1;
  }
  return counts;
}

/** What a call's metric points say of it, besides the result's own attributes. */
const callAttributes = { "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini" };

describe("recordFeedback() over OTLP", () => {
  it("parents the log record to the call's span when a ref comes back in another async context, after the span ended", async () => {
    const openai = start();
    server.enqueue({ id: "chatcmpl-feedback-ref" });
    const completion = await openai.chat.completions.create({ model: "gpt-4o-mini", messages });
    expect(completion.id).toBe("chatcmpl-feedback-ref");
    expect(callInfo(completion)?.ended).toBe(true);
    // The ref goes to a browser and back: only its text survives.
    const wire = JSON.stringify({ ref: callInfo(completion)?.ref });
    await flushAll();
    const call = onlyCallSpan();

    let activeSpanThen: unknown = "not run";
    const before = Date.now();
    const result = await new Promise<FeedbackResult>((resolve) => {
      setImmediate(() => {
        context.with(ROOT_CONTEXT, () => {
          activeSpanThen = trace.getActiveSpan();
          const { ref } = JSON.parse(wire) as { ref: string };
          resolve(recordFeedback(ref, { name: "rating", value: 4, source: "human" }));
        });
      });
    });
    const after = Date.now();
    expect(activeSpanThen).toBeUndefined();
    expect(result).toEqual({ ok: true, traceId: call.traceId, spanId: call.spanId });
    await flushAll();

    expect(receiver.logs).toEqual([
      {
        eventName: "gen_ai.evaluation.result",
        traceId: call.traceId,
        spanId: call.spanId,
        flags: 1, // sampled
        severityNumber: 9, // INFO
        severityText: "INFO",
        body: undefined,
        attributes: {
          "gen_ai.evaluation.name": "rating",
          "gen_ai.evaluation.score.value": 4,
          "tokentrace.evaluation.source": "human",
          "gen_ai.response.id": "chatcmpl-feedback-ref",
        },
        timeUnixNano: expect.stringMatching(/^\d+000000$/),
        observedTimeUnixNano: expect.stringMatching(/^\d+$/),
        resource: { "service.name": SERVICE },
        scope: { name: "tokentrace", version: VERSION },
      },
    ]);
    // Recorded when recordFeedback() ran (in milliseconds), not when the call did.
    const millis = Number(BigInt(receiver.logs[0]!.timeUnixNano!) / 1_000_000n);
    expect(millis).toBeGreaterThanOrEqual(before);
    expect(millis).toBeLessThanOrEqual(after);
    // The JSON encoding of the same record decodes alike.
    expect(jsonReceiver.logs).toEqual(receiver.logs);
    // The sinks take log records and spans were not asked for ("auto"): no `evaluation` span.
    expect(receiver.spans.map((span) => span.name)).toEqual(["chat gpt-4o-mini"]);

    expect(receiver.latestMetric("tokentrace.evaluation.results")).toMatchObject({
      type: "sum",
      unit: "{result}",
      isMonotonic: true,
      temporality: 2,
      scope: { name: "tokentrace", version: VERSION },
    });
    expect(points("tokentrace.evaluation.results")).toEqual([
      {
        attributes: { "gen_ai.evaluation.name": "rating", "tokentrace.evaluation.source": "human", ...callAttributes },
        value: 1,
      },
    ]);
    expect(receiver.latestMetric("tokentrace.evaluation.score")).toMatchObject({ type: "histogram", unit: "{score}" });
    expect(points("tokentrace.evaluation.score")).toEqual([
      {
        attributes: { "gen_ai.evaluation.name": "rating", "tokentrace.evaluation.source": "human", ...callAttributes },
        count: 1,
        sum: 4,
        bucketCounts: buckets(4),
        explicitBounds: SCORE_BOUNDS,
      },
    ]);
  });

  it("parents feedback given by { messageId } to the call made under withContext({ messageId })", async () => {
    const openai = start();
    server.enqueue({ id: "chatcmpl-feedback-msg" });
    await withContext({ messageId: "msg-1" }, () => openai.chat.completions.create({ model: "gpt-4o-mini", messages }));
    await flushAll();
    const call = onlyCallSpan();
    expect(call.attributes["tokentrace.message.id"]).toBe("msg-1");

    const result = recordFeedback({ messageId: "msg-1" }, { name: "thumbs", value: true, label: "up" });
    expect(result).toEqual({ ok: true, traceId: call.traceId, spanId: call.spanId });
    await flushAll();

    expect(
      receiver.logs.map(({ eventName, traceId, spanId, attributes }) => ({ eventName, traceId, spanId, attributes })),
    ).toEqual([
      {
        eventName: "gen_ai.evaluation.result",
        traceId: call.traceId,
        spanId: call.spanId,
        attributes: {
          "gen_ai.evaluation.name": "thumbs",
          "gen_ai.evaluation.score.value": 1,
          "gen_ai.evaluation.score.label": "up",
          "tokentrace.evaluation.source": "human",
          "gen_ai.response.id": "chatcmpl-feedback-msg",
        },
      },
    ]);
    expect(jsonReceiver.logs).toEqual(receiver.logs);
    const resultAttributes = {
      "gen_ai.evaluation.name": "thumbs",
      "tokentrace.evaluation.source": "human",
      "gen_ai.evaluation.score.label": "up",
      ...callAttributes,
    };
    expect(points("tokentrace.evaluation.results")).toEqual([{ attributes: resultAttributes, value: 1 }]);
    expect(points("tokentrace.evaluation.score")).toEqual([
      { attributes: resultAttributes, count: 1, sum: 1, bucketCounts: buckets(1), explicitBounds: SCORE_BOUNDS },
    ]);
  });

  it("counts and scores several results on one call by name, label and source, exactly", async () => {
    const openai = start();
    server.enqueue({ id: "chatcmpl-feedback-many" });
    const completion = await openai.chat.completions.create({ model: "gpt-4o-mini", messages });
    const ref = callInfo(completion)!.ref!;
    for (const [target, feedback] of [
      [ref, { name: "rating", value: 4 }],
      [{ ref }, { name: "rating", value: 5, source: "human" }],
      [completion, { name: "helpfulness", value: 0.8, source: "llm", evaluator: "judge-1" }],
      [completion, { name: "thumbs", value: false, label: "down", id: "fb-7" }],
    ] as const) {
      expect(recordFeedback(target, feedback)).toMatchObject({ ok: true });
    }
    await flushAll();
    const call = onlyCallSpan();

    const response = { "gen_ai.response.id": "chatcmpl-feedback-many" };
    expect(receiver.logs.map(({ traceId, spanId, attributes }) => ({ traceId, spanId, attributes }))).toEqual(
      [
        {
          "gen_ai.evaluation.name": "rating",
          "gen_ai.evaluation.score.value": 4,
          "tokentrace.evaluation.source": "human",
          ...response,
        },
        {
          "gen_ai.evaluation.name": "rating",
          "gen_ai.evaluation.score.value": 5,
          "tokentrace.evaluation.source": "human",
          ...response,
        },
        {
          "gen_ai.evaluation.name": "helpfulness",
          "gen_ai.evaluation.score.value": 0.8,
          "tokentrace.evaluation.source": "llm",
          "tokentrace.evaluation.evaluator": "judge-1",
          ...response,
        },
        {
          "gen_ai.evaluation.name": "thumbs",
          "gen_ai.evaluation.score.value": 0,
          "gen_ai.evaluation.score.label": "down",
          "tokentrace.evaluation.source": "human",
          "tokentrace.feedback.id": "fb-7",
          ...response,
        },
      ].map((attributes) => ({ traceId: call.traceId, spanId: call.spanId, attributes })),
    );
    expect(jsonReceiver.logs).toEqual(receiver.logs);

    // The evaluator and the feedback id are on the event only: metric series stay bounded.
    const rating = { "gen_ai.evaluation.name": "rating", "tokentrace.evaluation.source": "human", ...callAttributes };
    const helpfulness = {
      "gen_ai.evaluation.name": "helpfulness",
      "tokentrace.evaluation.source": "llm",
      ...callAttributes,
    };
    const thumbs = {
      "gen_ai.evaluation.name": "thumbs",
      "tokentrace.evaluation.source": "human",
      "gen_ai.evaluation.score.label": "down",
      ...callAttributes,
    };
    expect(points("tokentrace.evaluation.results")).toEqual([
      { attributes: helpfulness, value: 1 },
      { attributes: rating, value: 2 },
      { attributes: thumbs, value: 1 },
    ]);
    expect(points("tokentrace.evaluation.score")).toEqual([
      { attributes: helpfulness, count: 1, sum: 0.8, bucketCounts: buckets(0.8), explicitBounds: SCORE_BOUNDS },
      { attributes: rating, count: 2, sum: 9, bucketCounts: buckets(4, 5), explicitBounds: SCORE_BOUNDS },
      { attributes: thumbs, count: 1, sum: 0, bucketCounts: buckets(0), explicitBounds: SCORE_BOUNDS },
    ]);
  });

  it("with feedback.spans, also exports a zero-length `evaluation {name}` child span of the call's span", async () => {
    const openai = start({ feedback: { spans: true } });
    server.enqueue({ id: "chatcmpl-feedback-span" });
    const completion = await openai.chat.completions.create({ model: "gpt-4o-mini", messages });
    const wire = JSON.stringify({ ref: callInfo(completion)?.ref });
    await flushAll();
    const call = onlyCallSpan();

    const result = await new Promise<FeedbackResult>((resolve) => {
      setImmediate(() => {
        context.with(ROOT_CONTEXT, () => {
          resolve(recordFeedback((JSON.parse(wire) as { ref: string }).ref, { name: "thumbs", value: 1 }));
        });
      });
    });
    expect(result).toEqual({ ok: true, traceId: call.traceId, spanId: call.spanId });
    await flushAll();

    const attributes = {
      "gen_ai.evaluation.name": "thumbs",
      "gen_ai.evaluation.score.value": 1,
      "tokentrace.evaluation.source": "human",
      "gen_ai.response.id": "chatcmpl-feedback-span",
    };
    const evaluations = receiver.spans.filter((span) => span.name !== "chat gpt-4o-mini");
    expect(evaluations).toEqual([
      {
        name: "evaluation thumbs",
        kind: 1, // SPAN_KIND_INTERNAL
        traceId: call.traceId,
        spanId: expect.stringMatching(/^[0-9a-f]{16}$/),
        parentSpanId: call.spanId,
        startTimeUnixNano: expect.stringMatching(/^\d+000000$/),
        endTimeUnixNano: expect.stringMatching(/^\d+000000$/),
        attributes,
        status: { code: 0, message: undefined },
        events: [],
        resource: { "service.name": SERVICE },
        scope: { name: "tokentrace", version: VERSION },
      },
    ]);
    const [evaluation] = evaluations;
    expect(evaluation!.spanId).not.toBe(call.spanId);
    expect(evaluation!.endTimeUnixNano).toBe(evaluation!.startTimeUnixNano);
    // After the call: the span marks when the feedback came.
    expect(BigInt(evaluation!.startTimeUnixNano)).toBeGreaterThanOrEqual(BigInt(call.endTimeUnixNano));

    // The log record is still emitted (the sinks take log records), at the same instant, on the call's span.
    expect(receiver.logs).toHaveLength(1);
    expect(receiver.logs[0]).toMatchObject({
      eventName: "gen_ai.evaluation.result",
      traceId: call.traceId,
      spanId: call.spanId,
      attributes,
      timeUnixNano: evaluation!.startTimeUnixNano,
    });
  });

  it("the receiver decodes a plain log record (a body, no span context) alike from otlpSink()'s protobuf and JSON", async () => {
    // A provider of our own over the sinks' log record processors, for a record recordFeedback() never emits.
    const protobufSink = otlpSink({ url: receiver.url, traces: false, metrics: false });
    const jsonSink = otlpSink({ url: jsonReceiver.url, protocol: "http/json", traces: false, metrics: false });
    const loggerProvider = new LoggerProvider({
      resource: resourceFromAttributes({ "service.name": LOGS_SERVICE }),
      processors: [...protobufSink.logRecordProcessors!, ...jsonSink.logRecordProcessors!],
    });
    loggerProvider.getLogger("receiver-check", "1.2.3").emit({
      timestamp: 1_700_000_000_123,
      severityNumber: SeverityNumber.WARN,
      severityText: "WARN",
      body: { text: "hello", count: 3, ratio: 1.5, flags: [true, "x"] },
      attributes: { "check.kind": "plain" },
      context: ROOT_CONTEXT,
    });
    await loggerProvider.shutdown();
    expect(receiver.logs).toEqual([
      {
        eventName: undefined,
        traceId: undefined,
        spanId: undefined,
        flags: 0,
        severityNumber: 13, // WARN
        severityText: "WARN",
        body: { text: "hello", count: 3, ratio: 1.5, flags: [true, "x"] },
        attributes: { "check.kind": "plain" },
        timeUnixNano: "1700000000123000000",
        observedTimeUnixNano: expect.stringMatching(/^\d+$/),
        resource: { "service.name": LOGS_SERVICE },
        scope: { name: "receiver-check", version: "1.2.3" },
      },
    ]);
    expect(jsonReceiver.logs).toEqual(receiver.logs);
  });
});
