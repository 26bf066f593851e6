import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";
import { diag, DiagLogLevel } from "@opentelemetry/api";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { InvalidOptionError, UnsupportedClientError, observe } from "../src/index.js";
import { memorySink, setup } from "../src/setup-entry.js";
import type { TokentraceHandle } from "../src/setup-entry.js";
import { resolveOptions } from "../src/config.js";
import { reportInternalError, resetWarningsForTests, setWarningMode, warnOnce } from "../src/internal/report.js";
import { startMockLLMServer } from "../src/testing/index.js";
import type { MockLLMServer } from "../src/testing/index.js";

const messages = [{ role: "user" as const, content: "Hi" }];
let server: MockLLMServer;
let telemetry: TokentraceHandle | undefined;

beforeAll(async () => {
  server = await startMockLLMServer();
});
afterAll(async () => {
  await server.close();
});
afterEach(async () => {
  await telemetry?.shutdown();
  telemetry = undefined;
  setWarningMode(undefined);
  vi.restoreAllMocks();
});

const newOpenAI = (): OpenAI => new OpenAI({ baseURL: server.openaiBaseURL, apiKey: "sk-test", maxRetries: 0 });
const chat = (client: OpenAI) => client.chat.completions.create({ model: "gpt-4o-mini", messages });

describe("a client observed before setup()", () => {
  it("uses setup()'s providers and defaults from its next call, keeps its own options, and drops them after shutdown()", async () => {
    const early = observe(newOpenAI());
    const ownOptions = observe(newOpenAI(), { captureContent: true });
    const sink = memorySink();
    telemetry = setup({ sinks: [sink], captureContent: false, warnings: "off" });
    await chat(early);
    await chat(ownOptions);
    const [earlySpan, ownSpan] = sink.getSpans();
    expect(earlySpan!.attributes["gen_ai.input.messages"]).toBeUndefined();
    expect(ownSpan!.attributes["gen_ai.input.messages"]).toBe(
      '[{"role":"user","parts":[{"type":"text","content":"Hi"}]}]',
    );

    const second = memorySink();
    const next = setup({ sinks: [second], captureContent: true, warnings: "off" });
    await chat(early);
    expect(second.getSpans()[0]!.attributes["gen_ai.input.messages"]).toBe(
      '[{"role":"user","parts":[{"type":"text","content":"Hi"}]}]',
    );
    await next.shutdown();
    await chat(early); // back to the global (no-op) provider: neither set-up's sink sees it
    expect(sink.getSpans()).toHaveLength(2);
  });
});

describe("observing again", () => {
  it("returns the same wrapper for no or equal options, from the raw client or the wrapper", () => {
    const raw = newOpenAI();
    const observed = observe(raw);
    expect(observe(raw)).toBe(observed);
    expect(observe(observed)).toBe(observed);
    expect(observe(observed, {})).toBe(observed);
    const off = observe(raw, { captureContent: false });
    expect(observe(raw, { captureContent: false })).toBe(off);
    expect(observe(off, { captureContent: false })).toBe(off);
    expect(observe(off)).toBe(off);
    expect((observed as unknown as Record<symbol, { client: object }>)[Symbol.for("tokentrace.observed")]!.client).toBe(
      raw,
    );
  });

  it("returns a wrapper with different options over the same client, layered on the wrapper's own, traced once per call", async () => {
    const sink = memorySink();
    telemetry = setup({ sinks: [sink], warnings: "off" });
    const raw = newOpenAI();
    const observed = observe(raw, { captureContent: true });
    const off = observe(observed, { captureContent: false });
    const offAndShort = observe(off, { maxContentLength: 64 });
    expect(off).not.toBe(observed);
    expect(observe(raw, { captureContent: false, maxContentLength: 64 })).toBe(offAndShort);
    await chat(observed);
    await chat(off);
    await chat(offAndShort);
    const spans = sink.getSpans();
    expect(spans.map((span) => span.name)).toEqual(["chat gpt-4o-mini", "chat gpt-4o-mini", "chat gpt-4o-mini"]);
    expect(spans.map((span) => span.attributes["gen_ai.input.messages"] !== undefined)).toEqual([true, false, false]);
    expect(new Set(spans.map((span) => span.parentSpanContext?.spanId))).toEqual(new Set([undefined]));
  });

  it("validates options on every path, also when it would return an existing wrapper", () => {
    const raw = newOpenAI();
    const observed = observe(raw);
    const invalid = new InvalidOptionError(
      "maxContentLength",
      "expected an integer of at least 64 (characters), received number 3.",
    );
    expect(() => observe(raw, { maxContentLength: 3 })).toThrow(invalid);
    expect(() => observe(observed, { maxContentLength: 3 })).toThrow(invalid);
    expect(() => observe(observed, { bogus: true } as never)).toThrow(
      /Invalid tokentrace option `bogus`: unknown option/,
    );
  });
});

describe("pricing options", () => {
  it("are checked and compiled once per options object, however many clients and set-ups use them", async () => {
    let discountReads = 0;
    const pricing = { models: { "gpt-4o-mini": { inputPerMillionUsd: 1, outputPerMillionUsd: 2 } } };
    Object.defineProperty(pricing, "discount", {
      enumerable: true,
      get: () => {
        discountReads += 1;
        return 0.5;
      },
    });
    const sink = memorySink();
    telemetry = setup({ sinks: [sink], pricing, warnings: "off" });
    const byDefault = observe(newOpenAI());
    const own = observe(newOpenAI(), { pricing });
    await chat(byDefault);
    await chat(own);
    const second = memorySink();
    const next = setup({ sinks: [second], pricing, warnings: "off" });
    await chat(byDefault);
    await chat(own);
    const spans = [...sink.getSpans(), ...second.getSpans()];
    await next.shutdown();
    expect(spans).toHaveLength(4);
    for (const span of spans) {
      const input = span.attributes["gen_ai.usage.input_tokens"] as number;
      const output = span.attributes["gen_ai.usage.output_tokens"] as number;
      expect(span.attributes["gen_ai.usage.cost"]).toBeCloseTo(((input * 1 + output * 2) / 1e6) * 0.5, 15);
    }
    // One check of the object reads `discount` twice (is it set, then its value); every later use is a hit.
    expect(discountReads).toBe(2);
  });
});

describe("frozen and sealed clients", () => {
  const clients = {
    openai: (): object => newOpenAI(),
    anthropic: (): object => new Anthropic({ baseURL: server.anthropicBaseURL, apiKey: "sk-ant", maxRetries: 0 }),
  };

  it("refuses a frozen OpenAI or Anthropic client at observe(), naming the property", () => {
    expect(() => observe(Object.freeze(clients.openai()))).toThrow(UnsupportedClientError);
    expect(() => observe(Object.freeze(clients.openai()))).toThrow(
      /cannot trace a frozen client: `chat` is a read-only, non-configurable property/,
    );
    expect(() => observe(Object.freeze(clients.anthropic()))).toThrow(
      /cannot trace a frozen client: `messages` is a read-only/,
    );
  });

  it("traces a sealed OpenAI and a sealed Anthropic client", async () => {
    const sink = memorySink();
    telemetry = setup({ sinks: [sink], warnings: "off" });
    const openai = observe(Object.seal(clients.openai()) as OpenAI);
    const anthropic = observe(Object.seal(clients.anthropic()) as Anthropic);
    const reply = await chat(openai);
    expect(reply.choices[0]?.message.content).toBe("Hello from the tokentrace mock server.");
    await anthropic.messages.create({ model: "claude-3-5-haiku-latest", max_tokens: 10, messages });
    expect(sink.getSpans().map((span) => span.attributes["gen_ai.provider.name"])).toEqual(["openai", "anthropic"]);
  });
});

describe("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", () => {
  const capture = (value: string): boolean => {
    vi.stubEnv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", value);
    return resolveOptions(undefined, {}).captureContent;
  };
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it("accepts true and false in any case, and the GenAI instrumentations' modes", () => {
    setWarningMode("off");
    const values = [
      "true",
      "TRUE",
      "True",
      "1",
      "false",
      "FALSE",
      "0",
      "NO_CONTENT",
      "no_content",
      "SPAN_ONLY",
      "span_and_event",
      "SPAN_AND_EVENT",
      "EVENT_ONLY",
    ];
    expect(values.map((value) => [value, capture(value)])).toEqual([
      ["true", true],
      ["TRUE", true],
      ["True", true],
      ["1", true],
      ["false", false],
      ["FALSE", false],
      ["0", false],
      ["NO_CONTENT", false],
      ["no_content", false],
      ["SPAN_ONLY", true],
      ["span_and_event", true],
      ["SPAN_AND_EVENT", true],
      ["EVENT_ONLY", false],
    ]);
    // Unset: off, as the GenAI conventions require (issue 13).
    vi.stubEnv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", undefined);
    expect(resolveOptions(undefined, {}).captureContent).toBe(false);
  });

  it("turns capture off for an unrecognised value and says so on stderr, once", () => {
    resetWarningsForTests();
    const written = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    expect(capture("yes please")).toBe(false);
    expect(capture("yes please")).toBe(false);
    expect(written.mock.calls.map((call) => call[0])).toEqual([
      'tokentrace: OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="yes please" is not one of true, false, NO_CONTENT, SPAN_ONLY, EVENT_ONLY, SPAN_AND_EVENT; content capture is off.\n',
    ]);
  });
});

describe("warnings without a diag logger", () => {
  it("go to stderr once per kind, internal errors included, and not while a diag logger is registered", () => {
    resetWarningsForTests();
    const written = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    warnOnce("something odd");
    warnOnce("something odd");
    reportInternalError("config-test-kind", new Error("first"));
    reportInternalError("config-test-kind", new Error("second"));
    expect(written.mock.calls.map((call) => call[0])).toEqual([
      "tokentrace: something odd\n",
      "tokentrace: internal error (config-test-kind), telemetry for this call may be incomplete: Error: first\n",
    ]);
    const seen: string[] = [];
    diag.setLogger(
      { error: () => {}, warn: (message) => seen.push(message), info: () => {}, debug: () => {}, verbose: () => {} },
      DiagLogLevel.WARN,
    );
    try {
      warnOnce("told to diag only");
    } finally {
      diag.disable();
    }
    expect(seen).toEqual(["tokentrace: told to diag only"]);
    expect(written).toHaveBeenCalledTimes(2);
  });

  it('are silenced by setup({ warnings: "off" }) and sent to diag only by "diag"; an invalid mode is refused', () => {
    resetWarningsForTests();
    const written = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    telemetry = setup({ warnings: "off" });
    warnOnce("not shown");
    setWarningMode("diag");
    warnOnce("diag only");
    expect(written).not.toHaveBeenCalled();
    expect(() => setup({ warnings: "loud" as never })).toThrow(
      new InvalidOptionError(
        "warnings",
        'expected one of "auto", "stderr", "diag", "off", received the string "loud".',
      ),
    );
  });
});
