import Anthropic from "@anthropic-ai/sdk";
import { MeterProvider } from "@opentelemetry/sdk-metrics";
import { BasicTracerProvider } from "@opentelemetry/sdk-trace-base";
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { memorySink, observe } from "../../src/index.js";
import type { MemorySink, ObserveOptions } from "../../src/index.js";
import { startMockLLMServer } from "../../src/testing/index.js";
import type { MockLLMServer } from "../../src/testing/index.js";

/** The API key tests use; a test checks it never appears in any attribute. */
export const ANTHROPIC_API_KEY = "sk-ant-test-SECRET-do-not-export";

export type AnthropicClientOptions = NonNullable<ConstructorParameters<typeof Anthropic>[0]>;

export interface AnthropicHarness {
  server: MockLLMServer;
  sink: MemorySink;
  tracerProvider: BasicTracerProvider;
  meterProvider: MeterProvider;
  /** A raw client on the same server, to compare behaviour with. */
  raw: Anthropic;
  /** The observed client (the SDK's own tracing at its defaults). */
  anthropic: Anthropic;
  /** A new raw client on the mock server (no retries), with extra client options. */
  newClient(options?: AnthropicClientOptions): Anthropic;
  observeClient<T extends object>(client: T, options?: ObserveOptions): T;
  /**
   * Whether the installed SDK traces itself (`@anthropic-ai/sdk` 0.134+; the suite runs against 1.x and
   * against 0.133, which does not).
   */
  sdkTraces: boolean;
  /**
   * The attributes the SDK's own tracing records on the span tokentrace lends it, for a call to `path`:
   * none for an SDK without tracing, or with its tracing off.
   */
  attemptAttributes(options?: { path?: string; sdkTracing?: boolean }): Record<string, string>;
  spans(): ReadableSpan[];
  /** The one span recorded so far; fails when there is not exactly one. */
  onlySpan(): ReadableSpan;
  /** Wait until `count` spans have ended (stream spans end asynchronously after abort/GC). */
  waitForSpans(count: number, timeoutMs?: number): Promise<ReadableSpan[]>;
  close(): Promise<void>;
}

export async function createAnthropicHarness(options: ObserveOptions = {}): Promise<AnthropicHarness> {
  const server = await startMockLLMServer();
  const sink = memorySink();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [...sink.spanProcessors] });
  const meterProvider = new MeterProvider({ readers: [...sink.metricReaders] });
  const newClient = (extra: AnthropicClientOptions = {}): Anthropic =>
    new Anthropic({ baseURL: server.anthropicBaseURL, apiKey: ANTHROPIC_API_KEY, maxRetries: 0, ...extra });
  const observeClient = <T extends object>(client: T, extra: ObserveOptions = {}): T =>
    observe(client, { tracerProvider, meterProvider, ...options, ...extra });
  const spans = (): ReadableSpan[] => sink.getSpans();
  const raw = newClient();
  const sdkTraces = typeof (raw as unknown as { _tracer?: unknown })._tracer === "object";
  return {
    server,
    sink,
    tracerProvider,
    meterProvider,
    raw,
    anthropic: observeClient(newClient()),
    newClient,
    observeClient,
    sdkTraces,
    attemptAttributes({ path = "/v1/messages", sdkTracing = true } = {}): Record<string, string> {
      if (!sdkTraces || !sdkTracing) return {};
      return {
        "http.request.method": "POST",
        "url.scheme": "http",
        "url.path": path,
        "url.full": `${server.url}${path}`,
      };
    },
    spans,
    onlySpan() {
      const all = spans();
      if (all.length !== 1) throw new Error(`expected exactly one span, found ${all.length}: ${all.map((s) => s.name).join(", ")}`);
      return all[0]!;
    },
    async waitForSpans(count, timeoutMs = 5_000) {
      const deadline = Date.now() + timeoutMs;
      while (spans().length < count) {
        if (Date.now() > deadline) throw new Error(`expected ${count} spans, found ${spans().length}`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      return spans();
    },
    async close() {
      await server.close();
      await tracerProvider.shutdown();
      await meterProvider.shutdown();
    },
  };
}

/**
 * Span attributes without the cost ones (`gen_ai.usage.cost`, `tokentrace.cost.*`): the exact-attribute tests
 * here are about the Anthropic adapter; the cost of a call is asserted on its own, with its arithmetic.
 */
export function withoutCost(attributes: Readonly<Record<string, unknown>>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(attributes).filter(([name]) => name !== "gen_ai.usage.cost" && !name.startsWith("tokentrace.cost.")),
  );
}
