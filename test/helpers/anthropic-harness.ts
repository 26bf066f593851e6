import Anthropic from "@anthropic-ai/sdk";
import { observe } from "../../src/index.js";
import type { ObserveOptions } from "../../src/index.js";
import { startMockLLMServer } from "../../src/testing/index.js";
import type { MockLLMServer } from "../../src/testing/index.js";
import { createTestTelemetry } from "./telemetry.js";
import type { TestTelemetry } from "./telemetry.js";

/** The API key tests use; a test checks it never appears in any attribute. */
export const ANTHROPIC_API_KEY = "sk-ant-test-SECRET-do-not-export";

export type AnthropicClientOptions = NonNullable<ConstructorParameters<typeof Anthropic>[0]>;

export interface AnthropicHarness extends Omit<TestTelemetry, "shutdown"> {
  server: MockLLMServer;
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
  close(): Promise<void>;
}

export async function createAnthropicHarness(options: ObserveOptions = {}): Promise<AnthropicHarness> {
  const server = await startMockLLMServer();
  const { shutdown, ...telemetry } = createTestTelemetry();
  const { tracerProvider, meterProvider } = telemetry;
  const newClient = (extra: AnthropicClientOptions = {}): Anthropic =>
    new Anthropic({ baseURL: server.anthropicBaseURL, apiKey: ANTHROPIC_API_KEY, maxRetries: 0, ...extra });
  const observeClient = <T extends object>(client: T, extra: ObserveOptions = {}): T =>
    // Content capture is off by default (issue 13); the suites assert content, so they opt in unless told not to.
    observe(client, { tracerProvider, meterProvider, captureContent: true, ...options, ...extra });
  const raw = newClient();
  const sdkTraces = typeof (raw as unknown as { _tracer?: unknown })._tracer === "object";
  return {
    ...telemetry,
    server,
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
    async close() {
      await server.close();
      await shutdown();
    },
  };
}
