import Anthropic from "@anthropic-ai/sdk";
import { ProxyTracerProvider, SpanStatusCode, propagation } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { UnsupportedClientError, observe } from "../src/index.js";
import { createAnthropicHarness } from "./helpers/anthropic-harness.js";
import type { AnthropicClientOptions, AnthropicHarness } from "./helpers/anthropic-harness.js";
import { collect } from "./helpers/harness.js";

/**
 * Anthropic clients as observe() sees them: the platform clients, derived clients, and, for SDKs that trace
 * themselves (0.134+, so 1.x), one span per call however the SDK's own tracing is set. Runs against 1.x and,
 * in the `anthropic-v0` project, against 0.133.
 */
const messages = [{ role: "user" as const, content: "What is the capital of France?" }];
const MODEL = "claude-sonnet-5";
const sdkTraces =
  typeof (new Anthropic({ apiKey: "sk-ant-x" }) as unknown as { _tracer?: unknown })._tracer === "object";

let h: AnthropicHarness;
beforeEach(async () => {
  h = await createAnthropicHarness();
});
afterEach(async () => {
  await h.close();
});

/**
 * Stand-ins for the platform clients, shaped as `@anthropic-ai/bedrock-sdk` and `@anthropic-ai/vertex-sdk`
 * shape theirs (which tokentrace must recognise without those packages installed): subclasses of the SDK's
 * client, named after the platform; from 1.x on they also declare their `gen_ai.provider.name`.
 */
class AnthropicBedrock extends Anthropic {
  _genAIProviderName = "aws.bedrock";
  awsRegion = "us-east-1";
}

/** As a 0.x platform package builds it: the class name is all that tells the platform. */
class AnthropicVertex extends Anthropic {
  region = "us-east5";
  projectId = "my-project";
  constructor(options: AnthropicClientOptions) {
    super(options);
    delete (this as { _genAIProviderName?: unknown })._genAIProviderName;
  }
}

/** A platform client whose class a bundler renamed: only its shape is left. */
const Renamed = class extends Anthropic {
  awsRegion = "eu-west-1";
  constructor(options: AnthropicClientOptions) {
    super(options);
    delete (this as { _genAIProviderName?: unknown })._genAIProviderName;
  }
};

describe("observe() with Anthropic clients", () => {
  it("returns a wrapper that is still the same Anthropic client, with plain properties passing through", () => {
    expect(h.anthropic).toBeInstanceOf(Anthropic);
    expect(h.anthropic.baseURL).toBe(h.server.anthropicBaseURL);
    expect(h.anthropic.maxRetries).toBe(0);
    expect(observe(h.anthropic)).toBe(h.anthropic);
  });

  it("observes the client that withOptions() returns", async () => {
    const derived = h.anthropic.withOptions({ timeout: 5_000 });
    expect(derived).toBeInstanceOf(Anthropic);
    expect(derived.timeout).toBe(5_000);
    await derived.messages.create({ model: MODEL, max_tokens: 100, messages });
    expect(h.onlySpan().name).toBe(`chat ${MODEL}`);
  });

  it.each([
    [
      "AnthropicBedrock, which declares its provider",
      // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment -- the rows mix client classes on purpose
      (options: AnthropicClientOptions) => new AnthropicBedrock(options),
      "aws.bedrock",
    ],
    [
      "AnthropicVertex, known by its class name",
      (options: AnthropicClientOptions) => new AnthropicVertex(options),
      "gcp.vertex_ai",
    ],
    [
      "a renamed Bedrock client, known by its shape",
      (options: AnthropicClientOptions) => new Renamed(options),
      "aws.bedrock",
    ],
  ])("names the provider of %s without its package", async (_title, make, providerName) => {
    const client = h.observeClient(make({ baseURL: h.server.anthropicBaseURL, apiKey: "sk-ant-x", maxRetries: 0 }));
    await client.messages.create({ model: MODEL, max_tokens: 100, messages });
    const span = h.onlySpan();
    expect(span.attributes["gen_ai.provider.name"]).toBe(providerName);
    expect(span.attributes["server.address"]).toBe("127.0.0.1");
    expect(span.attributes["gen_ai.usage.output_tokens"]).toBe(6);
  });

  it("refuses an object that only has a messages.create method", () => {
    expect(() => observe({ messages: { create: () => undefined } })).toThrow(UnsupportedClientError);
  });

  it("emits gen_ai.usage.cache_creation.input_tokens only with legacyCacheCreationAttribute or TOKENTRACE_EMIT_LEGACY_CACHE_CREATION=true", async () => {
    const usage = { cache_creation_input_tokens: 300 };
    h.server.enqueueAnthropic({ usage }, { usage }, { usage }, { usage });
    const byOption = h.observeClient(h.newClient(), { legacyCacheCreationAttribute: true });
    await byOption.messages.create({ model: MODEL, max_tokens: 100, messages });
    expect(h.spans()[0]!.attributes["gen_ai.usage.cache_creation.input_tokens"]).toBe(300);
    h.sink.reset();
    vi.stubEnv("TOKENTRACE_EMIT_LEGACY_CACHE_CREATION", "true");
    const legacy = h.observeClient(h.newClient());
    vi.stubEnv("TOKENTRACE_EMIT_LEGACY_CACHE_CREATION", "yes please");
    const invalid = h.observeClient(h.newClient());
    vi.unstubAllEnvs();
    await legacy.messages.create({ model: MODEL, max_tokens: 100, messages });
    await invalid.messages.create({ model: MODEL, max_tokens: 100, messages });
    await h.anthropic.messages.create({ model: MODEL, max_tokens: 100, messages });
    const [withLegacy, withInvalid, byDefault] = h.spans();
    expect(withLegacy!.attributes["gen_ai.usage.cache_write.input_tokens"]).toBe(300);
    expect(withLegacy!.attributes["gen_ai.usage.cache_creation.input_tokens"]).toBe(300);
    expect(withInvalid!.attributes["gen_ai.usage.cache_creation.input_tokens"]).toBeUndefined();
    expect(byDefault!.attributes["gen_ai.usage.cache_write.input_tokens"]).toBe(300);
    expect(byDefault!.attributes["gen_ai.usage.cache_creation.input_tokens"]).toBeUndefined();
  });
});

// @anthropic-ai/sdk 0.133 (the anthropic-v0 project) predates the SDK's own tracing, so these tests only
// apply to 0.134 and later (the main project runs them on 1.x); under anthropic-v0 they are skipped.
describe.runIf(sdkTraces)("coexisting with the SDK's own tracing (@anthropic-ai/sdk 0.134+)", () => {
  const sdkTracing = (extra: AnthropicClientOptions["openTelemetry"]): Anthropic =>
    h.observeClient(h.newClient({ openTelemetry: extra }));

  it("gives each call exactly one span, tokentrace's, when the SDK traces to the same provider", async () => {
    const client = sdkTracing({ tracerProvider: h.tracerProvider });
    await client.messages.create({ model: MODEL, max_tokens: 100, messages });
    await collect(await client.messages.create({ model: MODEL, max_tokens: 100, messages, stream: true }));
    await client.messages.stream({ model: MODEL, max_tokens: 100, messages }).finalMessage();
    await client.messages.parse({ model: MODEL, max_tokens: 100, messages });
    await client.beta.messages.create({ model: MODEL, max_tokens: 100, messages });
    await client.beta.messages.stream({ model: MODEL, max_tokens: 100, messages }).finalMessage();
    const spans = await h.waitForSpans(6);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(h.spans()).toHaveLength(6);
    for (const span of spans) {
      expect(span.instrumentationScope.name).toBe("tokentrace");
      expect(span.name).toBe(`chat ${MODEL}`);
      expect(span.attributes["url.path"]).toBe("/v1/messages");
      expect(span.attributes["gen_ai.usage.output_tokens"]).toBe(6);
      // tokentrace's status and attributes, not the SDK's (which would set OK and its own anthropic.* names).
      expect(span.status.code).toBe(SpanStatusCode.UNSET);
      expect(
        Object.keys(span.attributes).filter(
          (name) => name.startsWith("anthropic.") && name !== "anthropic.response.service_tier",
        ),
      ).toEqual([]);
    }
  });

  it("keeps error.type and the status the recorder's when the SDK records an error", async () => {
    const client = sdkTracing({ tracerProvider: h.tracerProvider });
    h.server.enqueueAnthropic({ status: 429 }, { errorEventAfterDeltas: 1 });
    await client.messages.create({ model: MODEL, max_tokens: 100, messages }).catch(() => undefined);
    await collect(await client.messages.create({ model: MODEL, max_tokens: 100, messages, stream: true })).catch(
      () => undefined,
    );
    const [http, midStream] = await h.waitForSpans(2);
    expect(h.spans()).toHaveLength(2);
    expect(http!.attributes["error.type"]).toBe("RateLimitError");
    expect(http!.status.code).toBe(SpanStatusCode.ERROR);
    // An error event inside the stream is named by its own type, not by the generic APIError class.
    expect(midStream!.attributes["error.type"]).toBe("overloaded_error");
    expect(midStream!.attributes["tokentrace.stream.end"]).toBe("error");
  });

  it("counts the SDK's retries on tokentrace's span", async () => {
    const client = h.observeClient(h.newClient({ maxRetries: 1 }));
    h.server.enqueueAnthropic({ status: 529 });
    await client.messages.create({ model: MODEL, max_tokens: 100, messages });
    const span = h.onlySpan();
    expect(h.server.requests).toHaveLength(2);
    expect(span.attributes["http.request.resend_count"]).toBe(1);
    expect(span.attributes["http.response.status_code"]).toBe(200);
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
  });

  it("sends the trace context of tokentrace's span when the SDK's propagation is on, and none when it is off", async () => {
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    try {
      await sdkTracing(undefined).messages.create({ model: MODEL, max_tokens: 100, messages });
      await sdkTracing({ propagation: false }).messages.create({ model: MODEL, max_tokens: 100, messages });
      await h
        .observeClient(h.newClient({ openTelemetry: false }))
        .messages.create({ model: MODEL, max_tokens: 100, messages });
    } finally {
      propagation.disable();
    }
    const [propagated] = h.spans();
    const { traceId, spanId } = propagated!.spanContext();
    expect(h.server.requests.map((request) => request.headers["traceparent"])).toEqual([
      `00-${traceId}-${spanId}-01`,
      undefined,
      undefined,
    ]);
  });

  it("adds no SDK attribute to the span when the SDK's tracing is off", async () => {
    await h
      .observeClient(h.newClient({ openTelemetry: false }))
      .messages.create({ model: MODEL, max_tokens: 100, messages });
    const attributes = h.onlySpan().attributes;
    expect(attributes["gen_ai.usage.output_tokens"]).toBe(6);
    expect(
      Object.keys(attributes).filter((name) => name.startsWith("url.") || name.startsWith("http.request.")),
    ).toEqual([]);
  });

  it("lets tokentrace's capture switch decide the span's content, whatever the SDK's content mode", async () => {
    const client = h.observeClient(h.newClient({ openTelemetry: { traces: { contentMode: "content" } } }), {
      captureContent: false,
    });
    await client.messages.create({ model: MODEL, max_tokens: 100, system: "Be brief.", messages });
    const names = Object.keys(h.onlySpan().attributes);
    expect(names.filter((name) => name.includes("messages") || name.includes("instructions"))).toEqual([]);
  });

  it("leaves the calls tokentrace does not trace to the SDK's own spans", async () => {
    const client = sdkTracing({ tracerProvider: h.tracerProvider });
    await client.messages.countTokens({ model: MODEL, messages }).catch(() => undefined);
    const span = h.onlySpan();
    expect(span.name).toBe("anthropic.messages.count_tokens");
    expect(span.instrumentationScope.name).toBe("com.anthropic.sdk.typescript");
  });

  it("lets the SDK trace the call itself where tokentrace's span is a no-op: still one span per call", async () => {
    const client = observe(h.newClient({ openTelemetry: { tracerProvider: h.tracerProvider } }), {
      tracerProvider: new ProxyTracerProvider(),
    });
    await client.messages.create({ model: MODEL, max_tokens: 100, messages });
    await client.messages.stream({ model: MODEL, max_tokens: 100, messages }).finalMessage();
    const spans = await h.waitForSpans(2);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(h.spans()).toHaveLength(2);
    expect(spans.map((span) => [span.name, span.instrumentationScope.name])).toEqual([
      ["anthropic.messages.create", "com.anthropic.sdk.typescript"],
      ["anthropic.messages.create", "com.anthropic.sdk.typescript"],
    ]);
  });
});

describe("the mock server's Anthropic wire format", () => {
  it("answers errors with Anthropic's error envelope and a request-id header", async () => {
    h.server.enqueueAnthropic({ status: 529 });
    const response = await fetch(`${h.server.anthropicBaseURL}/v1/messages`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-api-key": "sk-ant-secret" },
      body: JSON.stringify({ model: MODEL, max_tokens: 10, messages }),
    });
    expect(response.status).toBe(529);
    expect(response.headers.get("request-id")).toBe("req_mock_1");
    expect(await response.json()).toEqual({
      type: "error",
      error: { type: "overloaded_error", message: "Overloaded (tokentrace mock server)" },
      request_id: "req_mock_1",
    });
    expect(h.server.requests[0]?.headers["x-api-key"]).toBeUndefined();
  });

  it("rejects a reply it cannot send, naming the field", () => {
    expect(() => h.server.enqueueAnthropic({}, { chunks: 0 })).toThrow(
      new RangeError("replies[1].chunks must be an integer of at least 1, got 0."),
    );
    expect(() => h.server.enqueueAnthropic({ content: [{ type: "image" } as never] })).toThrow(
      /replies\[0\]\.content\[0\]\.type must be one of/,
    );
  });
});
