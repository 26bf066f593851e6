import Anthropic from "@anthropic-ai/sdk";
import type { Span, Tracer, TracerProvider } from "@opentelemetry/api";
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import OpenAI from "openai";
import { observe } from "../../src/index.js";
import type { ObserveOptions } from "../../src/index.js";
import { startScriptedServer } from "./scripted-server.js";
import type { ScriptedAnswer, ScriptedServer } from "./scripted-server.js";
import { createTestTelemetry } from "./telemetry.js";
import type { TestTelemetry } from "./telemetry.js";

/**
 * Raw and observed OpenAI and Anthropic clients on one scripted server: a test scripts a stream, runs it through
 * both, and compares what the app sees. The tracer provider counts each span's `end()` calls, so a span ended
 * twice shows (the SDK itself only warns).
 */
export type StreamKind = "chat" | "completions" | "responses" | "anthropic";

export const STREAM_KINDS: readonly StreamKind[] = ["chat", "completions", "responses", "anthropic"];

/** What the app saw of one call: every chunk, and the error it got (name and message), if any. */
export interface AppView {
  chunks: unknown[];
  error: { name: string; message: string } | undefined;
}

export interface ScriptedClients extends Omit<TestTelemetry, "shutdown"> {
  server: ScriptedServer;
  /** The answer every request gets until changed. */
  script: ScriptedAnswer;
  /** `end()` calls per span started by tokentrace, in start order. */
  endCalls(): number[];
  /** Run one streamed call of `kind` through a raw client (`observed` false) or the observed one. */
  run(kind: StreamKind, observed: boolean): Promise<AppView>;
  /** The clients `run` uses, for calls of other shapes. */
  clients: { raw: { openai: OpenAI; anthropic: Anthropic }; observed: { openai: OpenAI; anthropic: Anthropic } };
  /** Forget the spans and end counts recorded so far. */
  reset(): void;
  close(): Promise<void>;
}

function countingTracerProvider(inner: TracerProvider, counts: { span: Span; ends: number }[]): TracerProvider {
  return {
    getTracer(name, version, options): Tracer {
      const tracer = inner.getTracer(name, version, options);
      return {
        startSpan(spanName, spanOptions, context) {
          const span = tracer.startSpan(spanName, spanOptions, context);
          const entry = { span, ends: 0 };
          counts.push(entry);
          const end = span.end.bind(span);
          span.end = (time) => {
            entry.ends++;
            end(time);
          };
          return span;
        },
        startActiveSpan: tracer.startActiveSpan.bind(tracer),
      };
    },
  };
}

async function view(stream: () => Promise<AsyncIterable<unknown>>): Promise<AppView> {
  const chunks: unknown[] = [];
  try {
    for await (const chunk of await stream()) chunks.push(chunk);
    return { chunks, error: undefined };
  } catch (error) {
    const { name, message } = error instanceof Error ? error : { name: typeof error, message: String(error) };
    return { chunks, error: { name, message } };
  }
}

export async function createScriptedClients(options: ObserveOptions = {}): Promise<ScriptedClients> {
  let script: ScriptedAnswer = { events: [] };
  const server = await startScriptedServer(() => script);
  const { shutdown, ...telemetry } = createTestTelemetry();
  const counts: { span: Span; ends: number }[] = [];
  const tracerProvider = countingTracerProvider(telemetry.tracerProvider, counts);
  const openaiClient = (): OpenAI => new OpenAI({ apiKey: "sk-test", baseURL: `${server.url}/v1`, maxRetries: 0 });
  const anthropicClient = (): Anthropic => new Anthropic({ apiKey: "sk-ant-test", baseURL: server.url, maxRetries: 0 });
  // Content capture is off by default (issue 13); these suites check content too, so they opt in unless told not to.
  const observeOptions = { tracerProvider, meterProvider: telemetry.meterProvider, captureContent: true, ...options };
  const clients = {
    raw: { openai: openaiClient(), anthropic: anthropicClient() },
    observed: {
      openai: observe(openaiClient(), observeOptions),
      anthropic: observe(anthropicClient(), observeOptions),
    },
  };
  const message = [{ role: "user" as const, content: "Hello" }];
  return {
    ...telemetry,
    server,
    clients,
    get script() {
      return script;
    },
    set script(next: ScriptedAnswer) {
      script = next;
    },
    endCalls: () => counts.map((entry) => entry.ends),
    reset() {
      counts.length = 0;
      telemetry.sink.reset();
    },
    run(kind, observed) {
      const { openai, anthropic } = observed ? clients.observed : clients.raw;
      switch (kind) {
        // The app asks for the usage chunk itself: tokentrace then adds nothing, and the app sees every chunk.
        case "chat":
          return view(() =>
            openai.chat.completions.create({
              model: "gpt-4o-mini",
              messages: message,
              stream: true,
              stream_options: { include_usage: true },
            }),
          );
        case "completions":
          return view(() =>
            openai.completions.create({
              model: "gpt-3.5-turbo-instruct",
              prompt: "Hello",
              stream: true,
              stream_options: { include_usage: true },
            }),
          );
        case "responses":
          return view(() => openai.responses.create({ model: "gpt-4o-mini", input: "Hello", stream: true }));
        case "anthropic":
          return view(() =>
            anthropic.messages.create({
              model: "claude-3-5-haiku-latest",
              max_tokens: 100,
              messages: message,
              stream: true,
            }),
          );
      }
    },
    async close() {
      await server.close();
      await shutdown();
    },
  };
}

/** An Anthropic SSE frame: the event name is the payload's `type` (the SDK drops frames without one). */
export function anthropicFrame(event: Record<string, unknown> & { type: string }): string {
  return `event: ${event.type}\ndata: ${JSON.stringify(event)}`;
}

/** Span attributes that are arrays, with their lengths (to check that none grows past a bound). */
export function arrayLengths(span: ReadableSpan): Record<string, number> {
  const lengths: Record<string, number> = {};
  for (const [name, value] of Object.entries(span.attributes)) if (Array.isArray(value)) lengths[name] = value.length;
  return lengths;
}
