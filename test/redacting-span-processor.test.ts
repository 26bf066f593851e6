import { createHmac } from "node:crypto";
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, metrics } from "@opentelemetry/api";
import type { Attributes, Context } from "@opentelemetry/api";
import { MeterProvider, MetricReader } from "@opentelemetry/sdk-metrics";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import type { ReadableSpan, Span, SpanProcessor } from "@opentelemetry/sdk-trace-base";
import { afterEach, describe, expect, it, vi } from "vitest";
import { InvalidOptionError } from "../src/errors.js";
import { internalErrorCounts, resetWarningsForTests, setWarningMode } from "../src/internal/report.js";
import { redactingSpanProcessor } from "../src/redaction/span-processor.js";
import type { RedactingSpanProcessorOptions } from "../src/redaction/span-processor.js";
import {
  ATTR_TOKENTRACE_REDACTION_KIND,
  ATTR_TOKENTRACE_REDACTION_KINDS,
  INSTRUMENTATION_SCOPE,
  METRIC_TOKENTRACE_REDACTION_MATCHES,
} from "../src/semconv.js";
import { setup } from "../src/setup.js";

// Fake secrets, built by concatenation so secret scanners do not flag the repository.
const API_KEY = "sk-" + "proj-" + "Ab3dE".repeat(8);
const EMAIL = "jane.doe@example.com";
const PHONE = "555 123 4567";
const HASH_KEY = "k".repeat(16);

/** A processor that keeps what it is given, as another processor of the same provider would see it. */
class RecordingProcessor implements SpanProcessor {
  readonly started: { span: Span; context: Context }[] = [];
  readonly ended: ReadableSpan[] = [];
  /** The attributes each ended span had when this processor saw it, copied. */
  readonly attributesSeen: Attributes[] = [];

  onStart(span: Span, context: Context): void {
    this.started.push({ span, context });
  }
  onEnd(span: ReadableSpan): void {
    this.ended.push(span);
    this.attributesSeen.push({ ...span.attributes });
  }
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * A provider whose spans go through a recording processor, the redacting one (into an in-memory exporter), and
 * another recording processor, in that order.
 */
function pipeline(options: Partial<RedactingSpanProcessorOptions> = {}) {
  const exporter = new InMemorySpanExporter();
  const before = new RecordingProcessor();
  const after = new RecordingProcessor();
  const provider = new BasicTracerProvider({
    spanProcessors: [
      before,
      redactingSpanProcessor({ next: new SimpleSpanProcessor(exporter), pii: ["email"], ...options }),
      after,
    ],
  });
  /** End a span of `scope` with `attributes`; the one span exported. */
  const exported = async (attributes: Attributes, scope = "some-instrumentation"): Promise<ReadableSpan> => {
    exporter.reset();
    provider.getTracer(scope).startSpan("chat gpt-4o-mini", { attributes }).end();
    await provider.forceFlush();
    const spans = exporter.getFinishedSpans();
    expect(spans).toHaveLength(1);
    return spans[0]!;
  };
  return { exporter, before, after, provider, exported };
}

/** The stderr lines tokentrace wrote while `run` ran. */
async function stderrDuring(run: () => Promise<void>): Promise<string[]> {
  const written = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
  try {
    await run();
    return written.mock.calls.map((call) => String(call[0]));
  } finally {
    written.mockRestore();
  }
}

/** The InvalidOptionError `create` throws. */
function optionError(create: () => unknown): InvalidOptionError {
  try {
    create();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidOptionError);
    return error as InvalidOptionError;
  }
  throw new Error("expected an InvalidOptionError");
}

const next = (): SpanProcessor => new SimpleSpanProcessor(new InMemorySpanExporter());

afterEach(() => {
  vi.restoreAllMocks();
  setWarningMode(undefined);
});

describe("redactingSpanProcessor's attributes", () => {
  it("redacts OpenInference's content attributes, keeps JSON valid and leaves other attributes alone", async () => {
    const { exported } = pipeline();
    const body = { model: "gpt-4o-mini", messages: [{ role: "user", content: `Mail ${EMAIL} with key ${API_KEY}` }] };
    const span = await exported({
      "openinference.span.kind": "LLM",
      "llm.model_name": "gpt-4o-mini",
      "input.value": JSON.stringify(body),
      "input.mime_type": "application/json",
      "llm.input_messages.0.message.role": "user",
      "llm.input_messages.0.message.content": `Mail ${EMAIL} with key ${API_KEY}`,
      "llm.input_messages.1.message.contents.0.message_content.type": "text",
      "llm.input_messages.1.message.contents.0.message_content.text": `cc ${EMAIL}`,
      "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "send_mail",
      "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments": JSON.stringify({ to: EMAIL }),
      "retrieval.documents.0.document.content": `Contact ${EMAIL}`,
      "embedding.embeddings.0.embedding.text": EMAIL,
      "llm.token_count.prompt": 12,
    });
    expect(span.attributes).toEqual({
      "openinference.span.kind": "LLM",
      "llm.model_name": "gpt-4o-mini",
      "input.value": '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Mail [EMAIL] with key [API_KEY]"}]}',
      "input.mime_type": "application/json",
      "llm.input_messages.0.message.role": "user",
      "llm.input_messages.0.message.content": "Mail [EMAIL] with key [API_KEY]",
      "llm.input_messages.1.message.contents.0.message_content.type": "text",
      "llm.input_messages.1.message.contents.0.message_content.text": "cc [EMAIL]",
      "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "send_mail",
      "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments": '{"to":"[EMAIL]"}',
      "retrieval.documents.0.document.content": "Contact [EMAIL]",
      "embedding.embeddings.0.embedding.text": "[EMAIL]",
      "llm.token_count.prompt": 12,
      [ATTR_TOKENTRACE_REDACTION_KINDS]: ["email", "api_key"],
    });
  });

  it("redacts the Vercel AI SDK's prompt, response, tool and metadata attributes, string arrays item by item", async () => {
    const { exported } = pipeline();
    const span = await exported({
      "ai.operationId": "ai.generateText",
      "ai.model.id": "gpt-4o",
      "ai.prompt": JSON.stringify({ system: "Be brief.", prompt: `Write to ${EMAIL}` }),
      "ai.prompt.messages": JSON.stringify([{ role: "user", content: [{ type: "text", text: `I am ${EMAIL}` }] }]),
      "ai.prompt.tools": [
        JSON.stringify({ type: "function", name: "lookup", description: "Looks a person up" }),
        JSON.stringify({ type: "function", name: "notify", description: `Writes to ${EMAIL}` }),
      ],
      "ai.response.text": `Sent to ${EMAIL}.`,
      "ai.response.toolCalls": JSON.stringify([
        { toolCallType: "function", toolCallId: "call_1", toolName: "lookup", args: JSON.stringify({ email: EMAIL }) },
      ]),
      "ai.toolCall.result": JSON.stringify({ found: true, owner: EMAIL }),
      "ai.telemetry.metadata.requestedBy": EMAIL,
      "ai.usage.promptTokens": 10,
      "ai.usage.completionTokens": 4,
      "gen_ai.request.model": "gpt-4o",
    });
    expect(span.attributes).toEqual({
      "ai.operationId": "ai.generateText",
      "ai.model.id": "gpt-4o",
      "ai.prompt": '{"system":"Be brief.","prompt":"Write to [EMAIL]"}',
      "ai.prompt.messages": '[{"role":"user","content":[{"type":"text","text":"I am [EMAIL]"}]}]',
      "ai.prompt.tools": [
        '{"type":"function","name":"lookup","description":"Looks a person up"}',
        '{"type":"function","name":"notify","description":"Writes to [EMAIL]"}',
      ],
      "ai.response.text": "Sent to [EMAIL].",
      "ai.response.toolCalls":
        '[{"toolCallType":"function","toolCallId":"call_1","toolName":"lookup","args":"{\\"email\\":\\"[EMAIL]\\"}"}]',
      "ai.toolCall.result": '{"found":true,"owner":"[EMAIL]"}',
      "ai.telemetry.metadata.requestedBy": "[EMAIL]",
      "ai.usage.promptTokens": 10,
      "ai.usage.completionTokens": 4,
      "gen_ai.request.model": "gpt-4o",
      [ATTR_TOKENTRACE_REDACTION_KINDS]: ["email"],
    });
    // Still JSON of the same shape.
    expect(JSON.parse(span.attributes["ai.prompt.messages"] as string)).toEqual([
      { role: "user", content: [{ type: "text", text: "I am [EMAIL]" }] },
    ]);
  });

  it("redacts OpenLLMetry's indexed prompts and completions and the gen_ai.* content attributes", async () => {
    const { exported } = pipeline();
    const span = await exported({
      "gen_ai.system": "openai",
      "gen_ai.request.model": "gpt-4o-mini",
      "gen_ai.prompt.0.role": "user",
      "gen_ai.prompt.0.content": `My key is ${API_KEY}`,
      "gen_ai.completion.0.role": "assistant",
      "gen_ai.completion.0.content": `Noted, ${EMAIL}.`,
      "gen_ai.completion.0.tool_calls.0.name": "notify",
      "gen_ai.completion.0.tool_calls.0.arguments": JSON.stringify({ email: EMAIL }),
      "gen_ai.input.messages": JSON.stringify([{ role: "user", parts: [{ type: "text", content: `I am ${EMAIL}` }] }]),
      "gen_ai.system_instructions": JSON.stringify([{ type: "text", content: `Escalate to ${EMAIL}` }]),
      "gen_ai.tool.call.arguments": JSON.stringify({ recipient: EMAIL }),
      "gen_ai.usage.input_tokens": 7,
      "gen_ai.usage.output_tokens": 3,
    });
    expect(span.attributes).toEqual({
      "gen_ai.system": "openai",
      "gen_ai.request.model": "gpt-4o-mini",
      "gen_ai.prompt.0.role": "user",
      "gen_ai.prompt.0.content": "My key is [API_KEY]",
      "gen_ai.completion.0.role": "assistant",
      "gen_ai.completion.0.content": "Noted, [EMAIL].",
      "gen_ai.completion.0.tool_calls.0.name": "notify",
      "gen_ai.completion.0.tool_calls.0.arguments": '{"email":"[EMAIL]"}',
      "gen_ai.input.messages": '[{"role":"user","parts":[{"type":"text","content":"I am [EMAIL]"}]}]',
      "gen_ai.system_instructions": '[{"type":"text","content":"Escalate to [EMAIL]"}]',
      "gen_ai.tool.call.arguments": '{"recipient":"[EMAIL]"}',
      "gen_ai.usage.input_tokens": 7,
      "gen_ai.usage.output_tokens": 3,
      [ATTR_TOKENTRACE_REDACTION_KINDS]: ["api_key", "email"],
    });
  });

  it("redacts the attributes it is given, by exact name and by prefixes ending in . or *", async () => {
    const { exported } = pipeline({ attributes: ["acme.question", "acme.history.", "acme.answer*"] });
    const span = await exported({
      "acme.question": `Who is ${EMAIL}?`,
      "acme.history.0.text": EMAIL,
      "acme.answer_text": EMAIL,
      "acme.answer.final": EMAIL,
      "acme.questions": EMAIL,
    });
    expect(span.attributes).toEqual({
      "acme.question": "Who is [EMAIL]?",
      "acme.history.0.text": "[EMAIL]",
      "acme.answer_text": "[EMAIL]",
      "acme.answer.final": "[EMAIL]",
      "acme.questions": EMAIL,
      [ATTR_TOKENTRACE_REDACTION_KINDS]: ["email"],
    });
  });

  it("keeps JSON without a match as written, re-serialises JSON with one, and treats brace-led text as text", async () => {
    const { exported } = pipeline();
    // Written by hand: a number JSON.parse would round, and spacing JSON.stringify would not reproduce.
    const pretty = '{\n  "role": "user",\n  "content": "Hello",\n  "id": 12345678901234567890\n}';
    const span = await exported({
      "input.value": pretty,
      "output.value": JSON.stringify({ reply: `Write to ${EMAIL}` }, null, 2),
      "ai.response.text": `{name} wrote to ${EMAIL}`,
      "llm.prompts": ["[draft] no personal data", `[final] from ${EMAIL}`],
    });
    expect(span.attributes).toEqual({
      "input.value": pretty,
      "output.value": '{"reply":"Write to [EMAIL]"}',
      "ai.response.text": "{name} wrote to [EMAIL]",
      "llm.prompts": ["[draft] no personal data", "[final] from [EMAIL]"],
      [ATTR_TOKENTRACE_REDACTION_KINDS]: ["email"],
    });
  });

  it("adds the kinds it found to the kinds a span already lists", async () => {
    const { exported } = pipeline();
    const span = await exported({ [ATTR_TOKENTRACE_REDACTION_KINDS]: ["api_key"], "ai.response.text": EMAIL });
    expect(span.attributes[ATTR_TOKENTRACE_REDACTION_KINDS]).toEqual(["api_key", "email"]);
  });

  it("writes keyed hashes with redactReplacement: hash", async () => {
    const { exported } = pipeline({ redactReplacement: "hash", redactHashKey: HASH_KEY });
    const digest = createHmac("sha256", HASH_KEY).update(EMAIL).digest("hex").slice(0, 8);
    const span = await exported({ "ai.response.text": `Sent to ${EMAIL}` });
    expect(span.attributes["ai.response.text"]).toBe(`Sent to [EMAIL:${digest}]`);
  });

  it("passes the app's redact each text with the attribute's own name and, in GenAI messages, the role and part", async () => {
    const fields: unknown[] = [];
    const { exported } = pipeline({
      redact: (text, field) => {
        fields.push(field);
        return field.role === "system" ? null : text.toUpperCase();
      },
    });
    const span = await exported({
      "gen_ai.input.messages": JSON.stringify([
        { role: "system", parts: [{ type: "text", content: "Be brief." }] },
        { role: "user", parts: [{ type: "text", content: "hello" }] },
      ]),
      "llm.input_messages.0.message.content": "hi there",
    });
    expect(span.attributes).toEqual({
      "gen_ai.input.messages":
        '[{"role":"system","parts":[{"type":"text","content":"[REDACTED:dropped]"}]},' +
        '{"role":"user","parts":[{"type":"text","content":"HELLO"}]}]',
      "llm.input_messages.0.message.content": "HI THERE",
      [ATTR_TOKENTRACE_REDACTION_KINDS]: ["dropped"],
    });
    expect(fields).toEqual([
      { attribute: "gen_ai.input.messages", role: "system", part: "text" },
      { attribute: "gen_ai.input.messages", role: "user", part: "text" },
      { attribute: "llm.input_messages.0.message.content" },
    ]);
  });

  it('writes "[REDACTED:redaction_failed]" for each text a throwing redact was given, never the text', async () => {
    setWarningMode("off");
    const before = internalErrorCounts().get("redaction") ?? 0;
    const { exported } = pipeline({
      redact: () => {
        throw new Error("redact is broken");
      },
    });
    const span = await exported({
      "ai.response.text": `Sent to ${EMAIL}`,
      "input.value": JSON.stringify({ question: "hi" }),
      "ai.model.id": "gpt-4o",
    });
    expect(span.attributes).toEqual({
      "ai.response.text": "[REDACTED:redaction_failed]",
      "input.value": '{"question":"[REDACTED:redaction_failed]"}',
      "ai.model.id": "gpt-4o",
      [ATTR_TOKENTRACE_REDACTION_KINDS]: ["email", "redaction_failed"],
    });
    expect(internalErrorCounts().get("redaction")).toBe(before + 2);
  });
});

describe("redactingSpanProcessor's events and status", () => {
  it("redacts span events' attributes, exception messages and stack traces, and the status message", async () => {
    const { exporter, provider } = pipeline();
    const error = new Error(`Auth failed for ${API_KEY}`);
    const span = provider.getTracer("some-instrumentation").startSpan("chat gpt-4o-mini");
    span.addEvent("gen_ai.content.prompt", { "gen_ai.prompt": `Reach me at ${EMAIL}` });
    span.addEvent("ai.stream.firstChunk", { "ai.response.msToFirstChunk": 120 });
    span.recordException(error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: `Auth failed for ${API_KEY}` });
    span.end();
    await provider.forceFlush();
    const [exported] = exporter.getFinishedSpans();
    expect(exported!.events.map((event) => [event.name, event.attributes])).toEqual([
      ["gen_ai.content.prompt", { "gen_ai.prompt": "Reach me at [EMAIL]" }],
      ["ai.stream.firstChunk", { "ai.response.msToFirstChunk": 120 }],
      [
        "exception",
        {
          "exception.type": "Error",
          "exception.message": "Auth failed for [API_KEY]",
          "exception.stacktrace": error.stack!.split(API_KEY).join("[API_KEY]"),
        },
      ],
    ]);
    expect(exported!.events.map((event) => event.time)).toEqual(
      (span as unknown as ReadableSpan).events.map((event) => event.time),
    );
    expect(exported!.status).toEqual({ code: SpanStatusCode.ERROR, message: "Auth failed for [API_KEY]" });
    expect(exported!.attributes).toEqual({ [ATTR_TOKENTRACE_REDACTION_KINDS]: ["email", "api_key"] });
  });
});

describe("redactingSpanProcessor and the span itself", () => {
  it("hands next a copy with every other field of the span, and never changes the span other processors see", async () => {
    const { exporter, provider, before, after } = pipeline();
    const parent = provider.getTracer("app").startSpan("request");
    parent.end();
    const tracer = provider.getTracer("some-instrumentation", "1.2.3");
    const attributes = { "gen_ai.prompt.0.content": `I am ${EMAIL}`, "gen_ai.usage.input_tokens": 5 };
    const link = { context: parent.spanContext(), attributes: { "link.kind": "follows" } };
    const span = tracer.startSpan("chat", { kind: SpanKind.CLIENT, attributes, links: [link] }, ROOT_CONTEXT);
    span.addEvent("gen_ai.content.prompt", { "gen_ai.prompt": EMAIL });
    span.setStatus({ code: SpanStatusCode.ERROR, message: EMAIL });
    span.end();
    await provider.forceFlush();

    const original = span as unknown as ReadableSpan;
    const copy = exporter.getFinishedSpans().find((item) => item.name === "chat")!;
    expect(copy).not.toBe(original);
    expect(copy.attributes).toEqual({
      "gen_ai.prompt.0.content": "I am [EMAIL]",
      "gen_ai.usage.input_tokens": 5,
      [ATTR_TOKENTRACE_REDACTION_KINDS]: ["email"],
    });
    expect(copy.events[0]!.attributes).toEqual({ "gen_ai.prompt": "[EMAIL]" });
    expect(copy.status).toEqual({ code: SpanStatusCode.ERROR, message: "[EMAIL]" });
    expect(copy.spanContext()).toEqual(original.spanContext());
    for (const field of [
      "name",
      "kind",
      "parentSpanContext",
      "startTime",
      "endTime",
      "links",
      "duration",
      "ended",
      "resource",
      "instrumentationScope",
      "droppedAttributesCount",
      "droppedEventsCount",
      "droppedLinksCount",
    ] as const) {
      expect(copy[field], field).toEqual(original[field]);
    }
    expect(copy.instrumentationScope).toEqual({ name: "some-instrumentation", version: "1.2.3", schemaUrl: undefined });

    // The span, as the processors before and after the redacting one saw it, then and now.
    expect(before.ended.at(-1)).toBe(original);
    expect(after.ended.at(-1)).toBe(original);
    expect(before.attributesSeen.at(-1)).toEqual(attributes);
    expect(after.attributesSeen.at(-1)).toEqual(attributes);
    expect(original.attributes).toEqual(attributes);
    expect(original.events[0]!.attributes).toEqual({ "gen_ai.prompt": EMAIL });
    expect(original.status).toEqual({ code: SpanStatusCode.ERROR, message: EMAIL });
  });

  it("passes a span with nothing to redact on itself, uncopied", async () => {
    const { exporter, provider, before } = pipeline();
    provider
      .getTracer("http")
      .startSpan("GET", { attributes: { "http.request.method": "GET", "url.query": "q=weather" } })
      .end();
    provider
      .getTracer("some-instrumentation")
      .startSpan("chat", { attributes: { "ai.response.text": "Sunny." } })
      .end();
    await provider.forceFlush();
    const spans = exporter.getFinishedSpans();
    expect(spans).toHaveLength(2);
    expect(spans[0]).toBe(before.ended[0]);
    expect(spans[1]).toBe(before.ended[1]);
  });

  it("leaves tokentrace's own content on its spans as it is: the pipeline already ran on it with its client's options", async () => {
    const { exported } = pipeline();
    const attributes = {
      "gen_ai.input.messages": JSON.stringify([{ role: "user", parts: [{ type: "text", content: EMAIL }] }]),
      "tokentrace.stage.input": EMAIL,
      "tokentrace.metadata.owner": EMAIL,
      note: EMAIL,
    };
    const span = await exported(attributes, INSTRUMENTATION_SCOPE);
    expect(span.attributes).toEqual(attributes);
  });

  it("redacts what others wrote onto tokentrace's spans, and leaves its events and status to it", async () => {
    const { exporter, provider } = pipeline();
    const span = provider.getTracer(INSTRUMENTATION_SCOPE).startSpan("workflow answer");
    // An app or library writing onto the active stage's span through the OpenTelemetry API.
    span.setAttributes({ "input.value": `ask ${EMAIL}`, "ai.prompt": JSON.stringify({ to: EMAIL }) });
    span.addEvent("exception", { "exception.message": "already redacted by tokentrace" });
    span.setStatus({ code: SpanStatusCode.ERROR, message: "Error" });
    span.end();
    await provider.forceFlush();
    const [copy] = exporter.getFinishedSpans();
    expect(copy!.attributes).toEqual({
      "input.value": "ask [EMAIL]",
      "ai.prompt": '{"to":"[EMAIL]"}',
      "tokentrace.redaction.kinds": ["email"],
    });
    expect(copy!.events.map((event) => event.attributes)).toEqual([
      { "exception.message": "already redacted by tokentrace" },
    ]);
    expect(copy!.status).toEqual({ code: SpanStatusCode.ERROR, message: "Error" });
  });

  it("forwards onStart to next with the span and its parent context", () => {
    const recording = new RecordingProcessor();
    const provider = new BasicTracerProvider({ spanProcessors: [redactingSpanProcessor({ next: recording })] });
    const span = provider.getTracer("some-instrumentation").startSpan("chat", {}, ROOT_CONTEXT);
    expect(recording.started).toEqual([{ span, context: ROOT_CONTEXT }]);
    span.end();
    expect(recording.ended).toHaveLength(1);
    expect(recording.ended[0]).toBe(span);
  });
});

describe("redactingSpanProcessor's policy", () => {
  it("falls back to setup()'s redaction options, each on its own, while that set-up is active", async () => {
    const telemetry = setup({ pii: ["phone"] });
    try {
      const inherited = pipeline({ pii: undefined });
      const own = pipeline({ pii: ["email"] });
      expect((await inherited.exported({ "ai.response.text": `Call ${PHONE}` })).attributes["ai.response.text"]).toBe(
        "Call [PHONE]",
      );
      expect((await own.exported({ "ai.response.text": `Call ${PHONE}` })).attributes["ai.response.text"]).toBe(
        `Call ${PHONE}`,
      );
      await telemetry.shutdown();
      expect((await inherited.exported({ "ai.response.text": `Call ${PHONE}` })).attributes["ai.response.text"]).toBe(
        `Call ${PHONE}`,
      );
    } finally {
      await telemetry.shutdown();
    }
  });

  it("always redacts secrets, with no option at all", async () => {
    const { exported } = pipeline({ pii: undefined });
    const span = await exported({ "ai.response.text": `Key ${API_KEY}, mail ${EMAIL}` });
    expect(span.attributes["ai.response.text"]).toBe(`Key [API_KEY], mail ${EMAIL}`);
  });

  it("counts its matches by kind in tokentrace.redaction.matches", async () => {
    class CollectingReader extends MetricReader {
      protected override onForceFlush(): Promise<void> {
        return Promise.resolve();
      }
      protected override onShutdown(): Promise<void> {
        return Promise.resolve();
      }
    }
    const reader = new CollectingReader();
    const meterProvider = new MeterProvider({ readers: [reader] });
    metrics.setGlobalMeterProvider(meterProvider);
    try {
      const { exported } = pipeline();
      await exported({ "ai.response.text": `${EMAIL} ${EMAIL} ${API_KEY}` });
      await exported({ "gen_ai.prompt.0.content": EMAIL });
      const { resourceMetrics } = await reader.collect();
      const points: Record<string, number> = {};
      for (const scope of resourceMetrics.scopeMetrics) {
        for (const metric of scope.metrics) {
          if (metric.descriptor.name !== METRIC_TOKENTRACE_REDACTION_MATCHES) continue;
          for (const point of metric.dataPoints) {
            points[String(point.attributes[ATTR_TOKENTRACE_REDACTION_KIND])] = point.value as number;
          }
        }
      }
      expect(points).toEqual({ email: 3, api_key: 1 });
    } finally {
      metrics.disable();
      await meterProvider.shutdown();
    }
  });
});

describe("redactingSpanProcessor's warning about unknown content", () => {
  it("warns once per name about a content-looking attribute of a GenAI span that it does not know", async () => {
    resetWarningsForTests();
    const { exported } = pipeline();
    const lines = await stderrDuring(async () => {
      const genAi = {
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 5,
        "gen_ai.prompt.0.role": "user",
        "llm.token_count.prompt": 5,
        "llm.input_messages.0.message.role": "user",
        "ai.response.finishReason": "stop",
        "ai.usage.promptTokens": 5,
        "input.mime_type": "text/plain",
      };
      const first = await exported({ ...genAi, "acme.chat.user_prompt": EMAIL, "acme.turns.0.user_text": EMAIL });
      await exported({ ...genAi, "acme.chat.user_prompt": EMAIL, "acme.turns.1.user_text": EMAIL });
      // Not redacted, only reported: the processor redacts what it knows.
      expect(first.attributes["acme.chat.user_prompt"]).toBe(EMAIL);
      // Not a GenAI span: a database's query text is its business.
      await exported({ "db.system.name": "postgresql", "db.query.text": "SELECT 1", "url.query": "q=1" });
    });
    expect(lines).toEqual([
      'tokentrace: redactingSpanProcessor() passed on the attribute "acme.chat.user_prompt" unredacted: it looks like content, but is not one the processor knows. If it carries prompts, responses or other user text, list it: redactingSpanProcessor({ next, attributes: ["acme.chat.user_prompt"] }).\n',
      'tokentrace: redactingSpanProcessor() passed on the attribute "acme.turns.0.user_text" unredacted: it looks like content, but is not one the processor knows. If it carries prompts, responses or other user text, list it: redactingSpanProcessor({ next, attributes: ["acme.turns."] }).\n',
    ]);
  });

  it("does not warn about attributes it was told about, and redacts them", async () => {
    resetWarningsForTests();
    const { exported } = pipeline({ attributes: ["acme.chat.user_prompt"] });
    let span: ReadableSpan | undefined;
    const lines = await stderrDuring(async () => {
      span = await exported({ "gen_ai.request.model": "gpt-4o", "acme.chat.user_prompt": EMAIL });
    });
    expect(lines).toEqual([]);
    expect(span!.attributes["acme.chat.user_prompt"]).toBe("[EMAIL]");
  });
});

describe("redactingSpanProcessor's failures", () => {
  it("drops a span it cannot redact, never passing it on raw, and reports the failure", () => {
    setWarningMode("off");
    const recording = new RecordingProcessor();
    const processor = redactingSpanProcessor({ next: recording });
    const before = internalErrorCounts().get("redacting-span-processor") ?? 0;
    const broken = {
      name: "chat",
      instrumentationScope: { name: "some-instrumentation" },
      get attributes(): Attributes {
        throw new Error("attributes unreadable");
      },
      events: [],
      status: { code: SpanStatusCode.UNSET },
    } as unknown as ReadableSpan;
    expect(() => processor.onEnd(broken)).not.toThrow();
    expect(recording.ended).toEqual([]);
    expect(internalErrorCounts().get("redacting-span-processor")).toBe(before + 1);
  });

  it("reports a next that throws in onStart or onEnd instead of throwing into the app", () => {
    setWarningMode("off");
    const throwing: SpanProcessor = {
      onStart: () => {
        throw new Error("onStart failed");
      },
      onEnd: () => {
        throw new Error("onEnd failed");
      },
      forceFlush: () => Promise.resolve(),
      shutdown: () => Promise.resolve(),
    };
    const before = internalErrorCounts().get("redacting-span-processor") ?? 0;
    const provider = new BasicTracerProvider({ spanProcessors: [redactingSpanProcessor({ next: throwing })] });
    expect(() => provider.getTracer("some-instrumentation").startSpan("chat").end()).not.toThrow();
    expect(internalErrorCounts().get("redacting-span-processor")).toBe(before + 2);
  });

  it("passes next's flush and shutdown failures on as rejections, a synchronous throw included", async () => {
    const failing: SpanProcessor = {
      onStart: () => undefined,
      onEnd: () => undefined,
      forceFlush: () => Promise.reject(new Error("collector unreachable")),
      shutdown: () => {
        throw new Error("already shut down");
      },
    };
    const processor = redactingSpanProcessor({ next: failing });
    await expect(processor.forceFlush()).rejects.toThrow("collector unreachable");
    let shutdown: Promise<void> | undefined;
    expect(() => (shutdown = processor.shutdown())).not.toThrow();
    await expect(shutdown).rejects.toThrow("already shut down");
  });
});

describe("redactingSpanProcessor's options", () => {
  it("requires next, a SpanProcessor, and says how to wrap an exporter", () => {
    const missing = optionError(() => redactingSpanProcessor(undefined as never));
    expect(missing.option).toBe("next");
    expect(missing.message).toBe(
      "Invalid tokentrace option `next`: is required: the SpanProcessor that receives the redacted spans, e.g. redactingSpanProcessor({ next: new BatchSpanProcessor(exporter) }).",
    );
    const exporter = optionError(() => redactingSpanProcessor({ next: new InMemorySpanExporter() as never }));
    expect(exporter.message).toBe(
      "Invalid tokentrace option `next`: expected a SpanProcessor (onStart, onEnd, forceFlush, shutdown), received an instance of InMemorySpanExporter. That is a SpanExporter: wrap it, next: new BatchSpanProcessor(exporter).",
    );
    expect(optionError(() => redactingSpanProcessor({ next: {} as never })).message).toBe(
      "Invalid tokentrace option `next`: expected a SpanProcessor (onStart, onEnd, forceFlush, shutdown), received an object.",
    );
    expect(optionError(() => redactingSpanProcessor("next" as never)).option).toBe("redactingSpanProcessor");
  });

  it("checks the redaction options as setup() does", () => {
    const badPreset = optionError(() => redactingSpanProcessor({ next: next(), pii: ["emails" as never] }));
    expect(badPreset.option).toBe("pii[0]");
    expect(badPreset.message).toBe(
      'Invalid tokentrace option `pii[0]`: unknown preset the string "emails". Accepted presets: email, phone, credit_card, iban, ip_address, us_ssn (secrets are always redacted).',
    );
    expect(optionError(() => redactingSpanProcessor({ next: next(), redactReplacement: "mask" as never })).option).toBe(
      "redactReplacement",
    );
    expect(optionError(() => redactingSpanProcessor({ next: next(), redactHashKey: "short" })).option).toBe(
      "redactHashKey",
    );
    const asyncRedact = async (text: string): Promise<string> => {
      await Promise.resolve();
      return text;
    };
    expect(optionError(() => redactingSpanProcessor({ next: next(), redact: asyncRedact as never })).option).toBe(
      "redact",
    );
    expect(
      optionError(() => redactingSpanProcessor({ next: next(), redactPatterns: [{ kind: "Ticket", pattern: /T/ }] }))
        .option,
    ).toBe("redactPatterns[0].kind");
  });

  it("accepts attribute names and prefixes only", () => {
    expect(
      optionError(() => redactingSpanProcessor({ next: next(), attributes: "acme.prompt" as never })).message,
    ).toBe(
      'Invalid tokentrace option `attributes`: expected an array of at most 64 attribute names, received the string "acme.prompt".',
    );
    for (const name of ["has space", "*", "a*b", ".leading", ""]) {
      const error = optionError(() => redactingSpanProcessor({ next: next(), attributes: ["acme.prompt", name] }));
      expect(error.option).toBe("attributes[1]");
      expect(error.message).toBe(
        `Invalid tokentrace option \`attributes[1]\`: expected an attribute name ("myapp.prompt") or a prefix ending in "." or "*" ("myapp.llm.", "myapp.prompt*"), without spaces, received the string ${JSON.stringify(name)}.`,
      );
    }
    expect(
      optionError(() => redactingSpanProcessor({ next: next(), attributes: Array.from({ length: 65 }, () => "a") }))
        .option,
    ).toBe("attributes");
  });

  it("refuses options it does not take, naming the ones it does", () => {
    const error = optionError(() => redactingSpanProcessor({ next: next(), captureContent: true } as never));
    expect(error.option).toBe("captureContent");
    expect(error.message).toBe(
      "Invalid tokentrace option `captureContent`: unknown option. Accepted options: next, attributes, pii, redactPatterns, redact, redactReplacement, redactHashKey.",
    );
  });
});
