/**
 * The instrumentations a user would otherwise pick instead of tokentrace, for the overhead benches (issue #17)
 * to run against the same mock server and exporting pipeline (bench/pipeline.mjs). Each row's `instrument()`
 * is called once, in a fresh process, before that process imports any SDK; it hands the peer the bench's
 * providers the way the peer's docs say, enables the peer with its default options, and returns the SDK's
 * client class, patched. The harness then creates the clients itself (`new OpenAI({ baseURL, apiKey, maxRetries:
 * 0, fetch })`); every peer wraps SDK methods (`Completions.prototype.create`, `Messages.prototype.create`), not
 * the HTTP layer, so a custom `fetch` does not bypass it. `node bench/peers-check.mjs` shows what each row
 * records (spans, usage on streams, content, metrics, log records).
 *
 * - The bench is ESM, and require-in-the-middle hooks do not patch ESM imports: peers with a documented
 *   `manuallyInstrument()` get the ESM module (what their docs say for ESM apps); the OpenTelemetry
 *   instrumentation, which has none (its ESM path is a `--experimental-loader` hook), is enabled and then the
 *   CommonJS build is required through `createRequire`, which its require hook patches. Both builds of an SDK
 *   are the same code.
 * - Every row runs on the SDK versions of tokentrace's default rows (`openai` 6, `@anthropic-ai/sdk` 1.14)
 *   but "traceloop-anthropic", which cannot patch `@anthropic-ai/sdk` 1.x and runs on `anthropic-v0` (0.133.0).
 * - `@anthropic-ai/sdk` 1.x traces its own calls by default, with the global tracer provider. The peer rows set
 *   no global provider (each peer is handed the bench's), so there the SDK's own tracing runs against the no-op
 *   global provider, as it does for the raw client; the "anthropic-sdk" row is that tracing itself, given the
 *   bench's provider as the global one, which is how the SDK's docs enable it.
 * - `instrument()` also takes an optional `loggerProvider`, for the one peer that emits log records
 *   (`@opentelemetry/instrumentation-openai`, through the global logger provider otherwise).
 */
import { createRequire } from "node:module";
import { trace } from "@opentelemetry/api";

const require = createRequire(import.meta.url);

export const peers = {
  // Spans, the two GenAI client metrics, and log records (events) for the messages and choices, bodies left out
  // by default: `captureMessageContent` is false unless OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true.
  // Patches `openai` >=4.19.0 <7. Does not ask for stream usage (`stream_options.include_usage`).
  "otel-openai": {
    provider: "openai",
    sdk: "openai",
    version: "0.21.0",
    async instrument({ tracerProvider, meterProvider, loggerProvider }) {
      const { OpenAIInstrumentation } = await import("@opentelemetry/instrumentation-openai");
      // Enabled on construction (its require hook is installed); then what `registerInstrumentations` does.
      const instrumentation = new OpenAIInstrumentation();
      instrumentation.setTracerProvider(tracerProvider);
      instrumentation.setMeterProvider(meterProvider);
      if (loggerProvider !== undefined) instrumentation.setLoggerProvider(loggerProvider);
      return { OpenAI: require("openai").OpenAI };
    },
  },
  // Spans only (no metrics). Records prompts and completions as span attributes by default (`traceContent`
  // true unless TRACELOOP_TRACE_CONTENT=false). Patches `openai` >=4 <7.
  "traceloop-openai": {
    provider: "openai",
    sdk: "openai",
    version: "0.27.0",
    async instrument({ tracerProvider }) {
      const { OpenAIInstrumentation } = await import("@traceloop/instrumentation-openai");
      const instrumentation = new OpenAIInstrumentation();
      instrumentation.setTracerProvider(tracerProvider);
      const { OpenAI } = await import("openai");
      // Its manual API takes the client class (it wraps `OpenAI.Chat.Completions.prototype.create`, ...).
      instrumentation.manuallyInstrument(OpenAI);
      return { OpenAI };
    },
  },
  // Spans only. Records the request and response (`input.value`, `output.value`, `llm.input_messages.*`) by
  // default (OPENINFERENCE_HIDE_INPUTS / _OUTPUTS unset). Patches `openai` ^5, ^6 and ^7.
  "openinference-openai": {
    provider: "openai",
    sdk: "openai",
    version: "4.2.7",
    async instrument({ tracerProvider }) {
      const { OpenAIInstrumentation } = await import("@arizeai/openinference-instrumentation-openai");
      const instrumentation = new OpenAIInstrumentation({ tracerProvider });
      const openai = await import("openai");
      instrumentation.manuallyInstrument(openai);
      return { OpenAI: openai.OpenAI };
    },
  },
  // Spans only. Content as span attributes by default (`traceContent`, as for its OpenAI instrumentation).
  // Declares `@anthropic-ai/sdk` >=0.9.1 but cannot patch 1.x: it wraps `Anthropic.Completions.prototype.create`
  // too, and 1.x has no `Completions` (the legacy Text Completions API is gone): `manuallyInstrument()` throws
  // before patching anything, and with the instrumentation enabled `require("@anthropic-ai/sdk")` itself throws
  // (its require hook does the same wraps). It runs on the newest 0.x, `anthropic-v0` (0.133.0,
  // which also predates the SDK's own tracing).
  "traceloop-anthropic": {
    provider: "anthropic",
    sdk: "anthropic-v0",
    version: "0.27.0",
    async instrument({ tracerProvider }) {
      const { AnthropicInstrumentation } = await import("@traceloop/instrumentation-anthropic");
      const instrumentation = new AnthropicInstrumentation();
      instrumentation.setTracerProvider(tracerProvider);
      const anthropic = await import("anthropic-v0");
      // Its manual API takes the module (it wraps `module.Anthropic.Messages.prototype.create`, ...).
      instrumentation.manuallyInstrument(anthropic);
      return { Anthropic: anthropic.Anthropic };
    },
  },
  // Spans only. Records the request and response by default, as for its OpenAI instrumentation. Patches any
  // `@anthropic-ai/sdk` ("*").
  "openinference-anthropic": {
    provider: "anthropic",
    sdk: "@anthropic-ai/sdk",
    version: "0.2.8",
    async instrument({ tracerProvider }) {
      const { AnthropicInstrumentation } = await import("@arizeai/openinference-instrumentation-anthropic");
      const instrumentation = new AnthropicInstrumentation({ tracerProvider });
      const anthropic = await import("@anthropic-ai/sdk");
      instrumentation.manuallyInstrument(anthropic);
      return { Anthropic: anthropic.Anthropic };
    },
  },
  // The SDK's own tracing (`@anthropic-ai/sdk` 0.134+): on by default, one CLIENT span per call from the global
  // tracer provider (or the client option `openTelemetry.tracerProvider`), no metrics. Content is off by
  // default (`contentMode: "metadata_only"` unless ANTHROPIC_OPEN_TELEMETRY_TRACES_CONTENT_MODE=content).
  "anthropic-sdk": {
    provider: "anthropic",
    sdk: "@anthropic-ai/sdk",
    version: "1.14.0",
    async instrument({ tracerProvider }) {
      trace.setGlobalTracerProvider(tracerProvider);
      const { Anthropic } = await import("@anthropic-ai/sdk");
      return { Anthropic };
    },
  },
};
