import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { SpanStatusCode } from "@opentelemetry/api";
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { observe } from "../src/index.js";
import { startScriptedServer } from "./helpers/scripted-server.js";
import type { ScriptedAnswer, ScriptedServer } from "./helpers/scripted-server.js";
import { createTestTelemetry } from "./helpers/telemetry.js";
import type { TestTelemetry } from "./helpers/telemetry.js";

const KEY = "sk-live-ECHOED-key-0123456789";
const HEADER_TOKEN = "gateway-token-ABCDEFGH";
const PROMPT = "my secret prompt about project Falcon";

let server: ScriptedServer;
let telemetry: TestTelemetry;
let answer: (headers: Record<string, string | string[] | undefined>) => ScriptedAnswer;

beforeEach(async () => {
  server = await startScriptedServer((request) => answer(request.headers));
  telemetry = createTestTelemetry();
});
afterEach(async () => {
  await server.close();
  await telemetry.shutdown();
});

function openai(captureContent: boolean): OpenAI {
  const { tracerProvider, meterProvider } = telemetry;
  const client = new OpenAI({
    apiKey: KEY,
    baseURL: `${server.url}/v1`,
    maxRetries: 0,
    defaultHeaders: { "x-api-key": HEADER_TOKEN },
  });
  return observe(client, { tracerProvider, meterProvider, captureContent });
}

/** A 401 that echoes the key and the gateway header, as some servers and gateways do. */
function echo401(headers: Record<string, string | string[] | undefined>): ScriptedAnswer {
  return {
    status: 401,
    json: {
      error: {
        message: `Incorrect API key provided: ${String(headers["authorization"])} (gateway ${String(headers["x-api-key"])})`,
        type: "invalid_request_error",
        code: "invalid_api_key",
      },
    },
  };
}

/** Every text the span carries: status message, exception event attributes. */
function recordedText(span: ReadableSpan): string {
  return JSON.stringify({
    status: span.status,
    events: span.events.map((event) => event.attributes),
    attributes: span.attributes,
  });
}

describe("error text with content capture off", () => {
  it("records the class, status and code of an echoed 401, and none of the server's text", async () => {
    answer = echo401;
    const error: unknown = await openai(false)
      .chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: PROMPT }] })
      .catch((caught: unknown) => caught);
    // The app's error is untouched.
    expect((error as Error).message).toContain(KEY);
    const span = telemetry.onlySpan();
    const neutral = "AuthenticationError: HTTP 401, code invalid_api_key, type invalid_request_error";
    expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: neutral });
    expect(span.attributes["error.type"]).toBe("AuthenticationError");
    const event = span.events[0]!.attributes!;
    expect(event["exception.type"]).toBe("AuthenticationError");
    expect(event["exception.message"]).toBe(neutral);
    const stack = event["exception.stacktrace"] as string;
    expect(stack.split("\n")[0]).toBe(neutral);
    expect(stack.split("\n")[1]).toMatch(/^\s+at /);
    expect(recordedText(span)).not.toContain("Incorrect API key");
    expect(recordedText(span)).not.toContain(KEY);
    expect(recordedText(span)).not.toContain(HEADER_TOKEN);
  });

  it("records no prompt a 400 echoes back", async () => {
    answer = () => ({
      status: 400,
      json: { error: { message: `Bad request near "${PROMPT}"`, type: "invalid_request_error", code: null } },
    });
    await openai(false)
      .chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: PROMPT }] })
      .catch(() => undefined);
    const span = telemetry.onlySpan();
    expect(span.status.message).toBe("BadRequestError: HTTP 400, type invalid_request_error");
    expect(recordedText(span)).not.toContain("Falcon");
  });

  it("records no text of a mid-stream error event", async () => {
    answer = () => ({
      events: [{ error: { message: `stream failed for key ${KEY}`, type: "server_error", code: "boom" } }],
    });
    const stream = await openai(false).chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: PROMPT }],
      stream: true,
    });
    await (async () => {
      for await (const _ of stream) void _;
    })().catch(() => undefined);
    const span = telemetry.onlySpan();
    expect(span.attributes["error.type"]).toBe("server_error");
    expect(span.status.message).toBe("server_error: code boom");
    expect(recordedText(span)).not.toContain(KEY);
    expect(recordedText(span)).not.toContain("stream failed");
  });
});

describe("error text with content capture on", () => {
  it("records the server's text with the client's key and credential headers redacted", async () => {
    answer = echo401;
    await openai(true)
      .chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: PROMPT }] })
      .catch(() => undefined);
    const span = telemetry.onlySpan();
    const expected = "401 Incorrect API key provided: Bearer [REDACTED] (gateway [REDACTED])";
    expect(span.status.message).toBe(expected);
    expect(span.events[0]!.attributes!["exception.message"]).toBe(expected);
    expect((span.events[0]!.attributes!["exception.stacktrace"] as string).startsWith(`Error: ${expected}\n`)).toBe(
      true,
    );
    expect(recordedText(span)).not.toContain(KEY);
    expect(recordedText(span)).not.toContain(HEADER_TOKEN);
  });

  it("redacts an Anthropic client's key echoed in a 401", async () => {
    answer = (headers) => ({
      status: 401,
      json: {
        type: "error",
        error: {
          type: "authentication_error",
          message: `invalid credentials ${String(headers["x-api-key"] ?? headers["authorization"])}`,
        },
      },
    });
    const { tracerProvider, meterProvider } = telemetry;
    const anthropic = observe(new Anthropic({ apiKey: KEY, baseURL: server.url, maxRetries: 0 }), {
      tracerProvider,
      meterProvider,
      captureContent: true,
    });
    await anthropic.messages
      .create({ model: "claude-test", max_tokens: 10, messages: [{ role: "user", content: "x" }] })
      .catch(() => undefined);
    const span = telemetry.onlySpan();
    expect(span.attributes["error.type"]).toBe("AuthenticationError");
    expect(span.status.message).toMatch(/invalid credentials (Bearer )?\[REDACTED\]/);
    expect(recordedText(span)).not.toContain(KEY);
  });
});
