import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { describe, expect, it } from "vitest";
import { observe, recordFeedback, withContext, withTool, withWorkflow } from "../src/index.js";
import { CONTENT_ATTRIBUTES, CONTENT_ATTRIBUTE_PREFIXES } from "../src/semconv.js";
import { memorySink, setup } from "../src/setup-entry.js";
import type { MemorySink } from "../src/setup-entry.js";
import { sumPoints } from "./helpers/harness.js";
import { ALL_PII, CLIENT_KEY, CORPUS, REDACTED, SENSITIVE, exportedText } from "./helpers/content-corpus.js";
import {
  anthropicMessage,
  chatChunk,
  chatCompletion,
  chatUsage,
  responsesResponse,
} from "./helpers/provider-bodies.js";
import { anthropicFrame } from "./helpers/scripted-clients.js";
import { sseText, startScriptedServer } from "./helpers/scripted-server.js";
import type { ScriptedAnswer, ScriptedRequest } from "./helpers/scripted-server.js";
import { setupSuite } from "./helpers/telemetry.js";

/**
 * Issue 13: every attribute that carries content goes through the one redaction pipeline. Personal data and
 * secrets are placed in every content-bearing field (messages, instructions, tool definitions and calls, stage
 * inputs and outputs, error bodies the server echoes, context metadata and tags) of real SDK calls against a
 * local server; nothing matching leaves, and each content attribute of `CONTENT_ATTRIBUTES` is shown to carry
 * the markers instead. A content attribute added to the list without a scenario here fails the first test.
 */

/** For a tag, which holds at most 256 characters. */
const SHORT_SENSITIVE = `${CORPUS[0]![0]} ${CORPUS[1]![0]}`;
/** The corpus with the secrets preset alone (no personal-data presets). */
const REDACTED_SECRETS_ONLY = CORPUS.map(([value, marker]) =>
  marker === "[API_KEY]" || marker === "[JWT]" ? `(${marker})` : `(${value})`,
).join(" ");

/** Answers as the providers do, echoing what the request said (as models and error bodies do). */
function answer(request: ScriptedRequest): ScriptedAnswer {
  const body = request.body as { stream?: boolean; messages?: { content?: unknown }[] };
  const said = JSON.stringify(body.messages ?? []);
  if (said.includes("FAIL")) {
    return {
      status: 400,
      json: {
        error: { message: `invalid request from key ${CLIENT_KEY}: ${SENSITIVE}`, type: "invalid_request_error" },
      },
    };
  }
  if (request.url.startsWith("/v1/chat/completions")) {
    if (body.stream === true) {
      return {
        events: [
          chatChunk([
            { index: 0, delta: { role: "assistant", content: `streamed ${SENSITIVE}` }, finish_reason: null },
          ]),
          chatChunk([{ index: 0, delta: {}, finish_reason: "stop" }]),
          chatChunk([], { usage: chatUsage(10, 5) }),
          "[DONE]",
        ],
      };
    }
    const toolCalls = [
      {
        id: "call_1",
        type: "function" as const,
        function: { name: "send_mail", arguments: JSON.stringify({ to: SENSITIVE }) },
      },
    ];
    return { json: chatCompletion({ content: `answer ${SENSITIVE}`, toolCalls, finishReason: "tool_calls" }) };
  }
  if (request.url.startsWith("/v1/responses")) return { json: responsesResponse({ text: `answer ${SENSITIVE}` }) };
  // Anthropic messages.
  if (body.stream === true) {
    return {
      headers: { "content-type": "text/event-stream" },
      text: sseText([
        anthropicFrame({
          type: "message_start",
          message: anthropicMessage({ stopReason: null, usage: { input_tokens: 10, output_tokens: 1 } }),
        }),
        anthropicFrame({ type: "content_block_start", index: 0, content_block: { type: "text", text: "" } }),
        anthropicFrame({
          type: "content_block_delta",
          index: 0,
          delta: { type: "text_delta", text: `streamed ${SENSITIVE}` },
        }),
        anthropicFrame({ type: "content_block_stop", index: 0 }),
        anthropicFrame({
          type: "message_delta",
          delta: { stop_reason: "end_turn", stop_sequence: null },
          usage: { output_tokens: 5 },
        }),
        anthropicFrame({ type: "message_stop" }),
      ]),
    };
  }
  return { json: anthropicMessage({ text: `answer ${SENSITIVE}` }) };
}

let sink: MemorySink;
const suite = setupSuite(() => startScriptedServer(answer));

const user = { role: "user" as const, content: `hello ${SENSITIVE}` };
const tools = [
  {
    type: "function" as const,
    function: {
      name: "send_mail",
      description: `sends mail, e.g. to ${SENSITIVE}`,
      parameters: { type: "object", properties: { to: { type: "string" } } },
    },
  },
];

/** Every call kind and stage, each with the corpus in every field it has. */
async function runEverything(): Promise<void> {
  const openai = observe(new OpenAI({ apiKey: CLIENT_KEY, baseURL: `${suite.server.url}/v1`, maxRetries: 0 }));
  const anthropic = observe(new Anthropic({ apiKey: CLIENT_KEY, baseURL: suite.server.url, maxRetries: 0 }));
  await withContext({ tags: [`tag ${SHORT_SENSITIVE}`], metadata: { note: `note ${SENSITIVE}` } }, () =>
    withWorkflow(
      "answer",
      async (workflow) => {
        workflow.recordInput({ question: SENSITIVE });
        const completion = await openai.chat.completions.create({
          model: "gpt-4o-mini",
          messages: [user],
          tools,
          metadata: { note: `note ${SENSITIVE}` },
          stop: [`stop ${SHORT_SENSITIVE}`],
        });
        // A user's comment on the answer: a log record the memory sink keeps.
        recordFeedback(completion, { name: "thumbs", value: 0, comment: `wrong ${SENSITIVE}` });
        const stream = await openai.chat.completions.create({
          model: "gpt-4o-mini",
          messages: [user],
          stream: true,
          stream_options: { include_usage: true },
        });
        for await (const chunk of stream) void chunk;
        await openai.responses.create({ model: "gpt-4o-mini", instructions: `be kind to ${SENSITIVE}`, input: "hi" });
        await anthropic.messages.create({
          model: "claude-3-5-haiku-latest",
          max_tokens: 100,
          system: `you serve ${SENSITIVE}`,
          messages: [user],
          stop_sequences: [`stop ${SHORT_SENSITIVE}`, "END"],
        });
        const events = await anthropic.messages.create({
          model: "claude-3-5-haiku-latest",
          max_tokens: 100,
          messages: [user],
          stream: true,
        });
        for await (const event of events) void event;
        await openai.chat.completions
          .create({ model: "gpt-4o-mini", messages: [{ role: "user", content: `FAIL ${SENSITIVE}` }] })
          .catch(() => undefined);
        withTool(
          "send_mail",
          (tool) => {
            tool.recordInput({ to: SENSITIVE });
            return `sent to ${SENSITIVE}`;
          },
          { capture: true },
        );
        try {
          withTool("lookup", () => {
            throw new Error(`no record for ${SENSITIVE}`);
          });
        } catch {
          // The app's own error: recorded on the tool's span, with its text redacted.
        }
        return `done for ${SENSITIVE}`;
      },
      { capture: true },
    ),
  );
}

/** Every value an attribute (or an event attribute, or the status message) of that name took. */
function valuesOf(spans: readonly ReadableSpan[], name: string): string[] {
  const values: string[] = [];
  for (const span of spans) {
    const found: unknown[] = [span.attributes[name]];
    for (const event of span.events) found.push(event.attributes?.[name]);
    if (name === "otel.status_description") found.push(span.status.message);
    for (const value of found) if (value !== undefined) values.push(JSON.stringify(value));
  }
  for (const prefix of CONTENT_ATTRIBUTE_PREFIXES) {
    if (name !== prefix) continue;
    for (const span of spans)
      for (const [key, value] of Object.entries(span.attributes))
        if (key.startsWith(prefix)) values.push(String(value));
  }
  return values;
}

/** Markers as they appear inside a JSON string value (once or twice encoded). */
const markerIn = (text: string, marker: string): boolean => text.includes(marker);

/** The sink's spans, and its log records (feedback's events) read as spans: name, attributes, nothing else. */
function exportedSignals(from: MemorySink): ReadableSpan[] {
  const records = from.getLogRecords().map(
    (record) =>
      ({
        name: record.eventName ?? "",
        attributes: record.attributes,
        events: [],
        status: { code: 0 },
        links: [],
      }) as unknown as ReadableSpan,
  );
  return [...from.getSpans(), ...records];
}

describe("every content attribute goes through the redaction pipeline", () => {
  it("with every preset on, nothing of the corpus leaves in any span, event, status or metric", async () => {
    sink = memorySink();
    suite.telemetry = setup({ serviceName: "corpus", sinks: [sink], captureContent: true, pii: ALL_PII });
    await runEverything();
    const spans = exportedSignals(sink);
    const exported = exportedText(spans);
    for (const [value] of CORPUS) expect(exported).not.toContain(value);
    expect(exported).not.toContain(CLIENT_KEY);
    const metrics = JSON.stringify(await sink.collectMetrics());
    for (const [value] of CORPUS) expect(metrics).not.toContain(value);

    // Each content attribute, and each family, was written, and carries the markers: a new one without a
    // scenario here has no values and fails.
    for (const name of [...CONTENT_ATTRIBUTES, ...CONTENT_ATTRIBUTE_PREFIXES]) {
      const values = valuesOf(spans, name);
      expect(values.length, `${name} was never written`).toBeGreaterThan(0);
      const short = name === "tokentrace.tags" || name === "gen_ai.request.stop_sequences";
      const markers = short ? [CORPUS[0]!, CORPUS[1]!] : CORPUS;
      expect(
        values.some((value) => markers.every(([, marker]) => markerIn(value, marker))),
        `${name} has no value with every marker: ${values.join(" | ")}`,
      ).toBe(true);
    }

    // The error body echoed the client's key: replaced by [REDACTED], and listed.
    const failed = spans.find((span) => span.status.message?.includes("invalid request"));
    expect(failed?.status.message).toBe(`400 invalid request from key [REDACTED]: ${REDACTED}`);
    expect(failed?.attributes["tokentrace.redaction.kinds"]).toEqual([
      "email",
      "api_key",
      "credit_card",
      "phone",
      "iban",
      "us_ssn",
      "ip_address",
      "jwt",
      "client_secret",
    ]);
  });

  it("counts replacements by kind, never values", async () => {
    sink = memorySink();
    suite.telemetry = setup({ serviceName: "corpus", sinks: [sink], captureContent: true, pii: ["email"] });
    const openai = observe(new OpenAI({ apiKey: CLIENT_KEY, baseURL: `${suite.server.url}/v1`, maxRetries: 0 }));
    await openai.chat.completions.create({ model: "gpt-4o-mini", messages: [user] });
    const counts = Object.fromEntries(
      sumPoints(await sink.collectMetrics(), "tokentrace.redaction.matches").map((point) => [
        point.attributes["tokentrace.redaction.kind"],
        point.value,
      ]),
    );
    // The request's message and the answer each hold one email, two API keys (the OpenAI and the AWS one) and
    // a JWT (the secrets preset, always on); the tool call's arguments hold them once more.
    expect(counts).toEqual({ email: 3, api_key: 6, jwt: 3 });
    const [span] = sink.getSpans();
    expect(span?.attributes["tokentrace.redaction.kinds"]).toEqual(["email", "api_key", "jwt"]);
    expect(span?.attributes["tokentrace.content.present"]).toBe(true);
  });

  it("hands the app's redact each text (not the messages' structure) with its attribute, role and part; null drops it, a throw fails closed", async () => {
    sink = memorySink();
    const seen: string[] = [];
    suite.telemetry = setup({
      serviceName: "corpus",
      sinks: [sink],
      captureContent: true,
      redact: (text, field) => {
        seen.push(`${field.attribute} ${field.role ?? "-"} ${field.part ?? "-"}`);
        if (field.role === "user") return null;
        if (field.part === "tool_call") throw new Error("the app's redact failed");
        return text.replace("answer", "ANSWER");
      },
    });
    const openai = observe(new OpenAI({ apiKey: CLIENT_KEY, baseURL: `${suite.server.url}/v1`, maxRetries: 0 }));
    const completion = await openai.chat.completions.create({ model: "gpt-4o-mini", messages: [user] });
    // The app's own result is untouched.
    expect(completion.choices[0]?.message.content).toBe(`answer ${SENSITIVE}`);
    const [span] = sink.getSpans();
    expect(JSON.parse(span?.attributes["gen_ai.input.messages"] as string)).toEqual([
      { role: "user", parts: [{ type: "text", content: "[REDACTED:dropped]" }] },
    ]);
    const output = JSON.parse(span?.attributes["gen_ai.output.messages"] as string) as {
      parts: Record<string, unknown>[];
    }[];
    expect(output[0]?.parts[0]).toEqual({ type: "text", content: `ANSWER ${REDACTED_SECRETS_ONLY}` });
    expect(output[0]?.parts[1]).toEqual({
      type: "tool_call",
      id: "call_1",
      name: "send_mail",
      arguments: { to: "[REDACTED:redaction_failed]" },
    });
    // In the order first met: the answer is written first, and the presets run before the app's redact.
    expect(span?.attributes["tokentrace.redaction.kinds"]).toEqual(["api_key", "jwt", "redaction_failed", "dropped"]);
    expect(seen).toEqual([
      "gen_ai.output.messages assistant text",
      "gen_ai.output.messages assistant tool_call",
      "gen_ai.input.messages user text",
    ]);
  });

  it("redacts the string values a stage's setAttribute is given, whatever the content switch says", async () => {
    sink = memorySink();
    suite.telemetry = setup({ serviceName: "corpus", sinks: [sink], captureContent: false, pii: ["email"] });
    withContext({ metadata: { owner: CORPUS[0]![0] } }, () =>
      withTool("lookup", (tool) => {
        tool.setAttribute("app.query", `find ${CORPUS[0]![0]}`);
        tool.setAttribute("app.terms", [CORPUS[0]![0], "plain"]);
        tool.setAttribute("app.limit", 5);
      }),
    );
    const [span] = sink.getSpans();
    expect(span?.attributes["app.query"]).toBe("find [EMAIL]");
    expect(span?.attributes["app.terms"]).toEqual(["[EMAIL]", "plain"]);
    expect(span?.attributes["app.limit"]).toBe(5);
    expect(span?.attributes["tokentrace.metadata.owner"]).toBe("[EMAIL]");
    // The scope's kind and the stage's own, listed once.
    expect(span?.attributes["tokentrace.redaction.kinds"]).toEqual(["email"]);
    const counts = sumPoints(await sink.collectMetrics(), "tokentrace.redaction.matches");
    expect(counts.map((point) => [point.attributes["tokentrace.redaction.kind"], point.value])).toEqual([["email", 3]]);
  });

  it("redacts an app's failure reasons, which become error.type on the span, its status and the stage metric", async () => {
    sink = memorySink();
    suite.telemetry = setup({ serviceName: "corpus", sinks: [sink], captureContent: false, pii: ["email"] });
    const email = CORPUS[0]![0];
    withTool("lookup", () => "none", { failWhen: () => `no account for ${email}` });
    withTool("charge", (tool) => {
      tool.fail(`card of ${email} declined`);
    });
    const [lookup, charge] = sink.getSpans();
    expect(lookup?.attributes["error.type"]).toBe("no account for [EMAIL]");
    expect(lookup?.status.message).toBe("no account for [EMAIL]");
    expect(charge?.attributes["error.type"]).toBe("card of [EMAIL] declined");
    expect(exportedText(sink.getSpans())).not.toContain(email);
    const metrics = JSON.stringify(await sink.collectMetrics());
    expect(metrics).not.toContain(email);
  });

  it("with content capture off, no content attribute is written at all, and context text is still redacted", async () => {
    sink = memorySink();
    suite.telemetry = setup({ serviceName: "corpus", sinks: [sink], captureContent: false, pii: ALL_PII });
    await runEverything();
    const spans = exportedSignals(sink);
    for (const name of CONTENT_ATTRIBUTES) {
      // Written in every capture mode, as the app's settings (and redacted): below.
      if (name === "otel.status_description" || name === "tokentrace.tags") continue;
      if (name === "gen_ai.request.stop_sequences") continue;
      expect(
        valuesOf(spans, name).filter((value) => !isNeutral(value)),
        name,
      ).toEqual([]);
    }
    const exported = exportedText(spans);
    for (const [value] of CORPUS) expect(exported).not.toContain(value);
    expect(spans.some((span) => span.attributes["tokentrace.content.present"] !== undefined)).toBe(false);
    expect(spans[0]?.attributes["tokentrace.metadata.note"]).toBe(`note ${REDACTED}`);
    expect(valuesOf(spans, "gen_ai.request.stop_sequences")).toEqual([
      '["stop [EMAIL] [API_KEY]"]',
      '["stop [EMAIL] [API_KEY]","END"]',
    ]);
  });
});

/** With capture off an error is recorded with a neutral text of its type and status (and its stack frames). */
function isNeutral(value: string): boolean {
  return /^"(BadRequestError: HTTP 400, type invalid_request_error|Error)(\\n|")/.test(value);
}
