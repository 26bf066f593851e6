import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { expectTypeOf, test } from "vitest";
import * as mainEntry from "tokentrace";
import { VERSION, isTokentraceError, observe, preloadTokenizer } from "tokentrace";
import type { InvalidOptionError, TokentraceError, UnsupportedClientError } from "tokentrace";
import type { CostBreakdown, ModelPrice, ObserveOptions, PriceQuery, PricingOptions, Usage } from "tokentrace";
import { consoleSink, memorySink, setup } from "tokentrace/setup";
import type {
  ConsoleSinkOptions,
  FlushReport,
  MemorySink,
  ObserveOptions as SetupObserveOptions,
  SetupOptions,
  Sink,
  SinkLike,
  TokentraceHandle,
  WarningMode,
} from "tokentrace/setup";
import { otlpSink } from "tokentrace/otlp";
import type { OtlpSink, OtlpSinkOptions, Sink as OtlpEntrySink } from "tokentrace/otlp";
import { prometheusHandler, prometheusSink } from "tokentrace/prometheus";
import type { PrometheusRequestHandler, PrometheusSink, Sink as PrometheusEntrySink } from "tokentrace/prometheus";
import { startMockLLMServer } from "tokentrace/testing";
import type { MockLLMServer, MockReply } from "tokentrace/testing";

test('"tokentrace": observe() returns exactly the client\'s type', () => {
  expectTypeOf(observe(new OpenAI({ apiKey: "sk-x" }))).toEqualTypeOf<OpenAI>();
  expectTypeOf(observe(new Anthropic({ apiKey: "sk-ant-x" }), { captureContent: false })).toEqualTypeOf<Anthropic>();
  expectTypeOf(observe).parameter(1).toEqualTypeOf<ObserveOptions | undefined>();
});

test('"tokentrace": the pricing types of ObserveOptions are exported and are the ones it uses', () => {
  expectTypeOf<ObserveOptions["pricing"]>().toEqualTypeOf<PricingOptions | undefined>();
  expectTypeOf<NonNullable<PricingOptions["models"]>[string]>().toEqualTypeOf<ModelPrice>();
  expectTypeOf<NonNullable<PricingOptions["resolvePrice"]>>().toEqualTypeOf<
    (query: PriceQuery) => ModelPrice | undefined
  >();
  expectTypeOf<PriceQuery["usage"]>().toEqualTypeOf<Usage>();
  expectTypeOf<CostBreakdown["totalUsd"]>().toEqualTypeOf<number>();
  expectTypeOf<CostBreakdown["source"]>().toEqualTypeOf<"snapshot" | "override">();
  expectTypeOf<Usage["estimateMethod"]>().toEqualTypeOf<"tokenizer" | "characters" | undefined>();
});

test('"tokentrace": errors, their guard, preloadTokenizer and VERSION', () => {
  expectTypeOf<InvalidOptionError>().toExtend<TokentraceError>();
  expectTypeOf<UnsupportedClientError>().toExtend<TokentraceError>();
  expectTypeOf<InvalidOptionError["option"]>().toEqualTypeOf<string>();
  const error: unknown = new Error("x");
  if (isTokentraceError(error)) expectTypeOf(error).toEqualTypeOf<TokentraceError>();
  expectTypeOf(preloadTokenizer).returns.toEqualTypeOf<Promise<void>>();
  expectTypeOf(VERSION).toExtend<string>();
});

test('"tokentrace" does not export setup() or the sinks: they are in "tokentrace/setup"', () => {
  expectTypeOf(mainEntry).not.toHaveProperty("setup");
  expectTypeOf(mainEntry).not.toHaveProperty("memorySink");
  expectTypeOf(mainEntry).not.toHaveProperty("consoleSink");
  expectTypeOf(mainEntry).toHaveProperty("observe");
});

test('"tokentrace/setup": setup(), its options and handle, and the console and memory sinks', () => {
  expectTypeOf(setup).parameter(0).toEqualTypeOf<SetupOptions | undefined>();
  expectTypeOf(setup).returns.toEqualTypeOf<TokentraceHandle>();
  expectTypeOf<SetupOptions["sinks"]>().toEqualTypeOf<readonly SinkLike[] | undefined>();
  expectTypeOf<SetupOptions["warnings"]>().toEqualTypeOf<WarningMode | undefined>();
  expectTypeOf<WarningMode>().toEqualTypeOf<"auto" | "stderr" | "diag" | "off">();
  expectTypeOf<SetupOptions["captureContent"]>().toEqualTypeOf<SetupObserveOptions["captureContent"]>();
  expectTypeOf<SetupObserveOptions>().toEqualTypeOf<ObserveOptions>();
  expectTypeOf<TokentraceHandle["flush"]>().returns.toEqualTypeOf<Promise<FlushReport>>();
  expectTypeOf<FlushReport["pending"]>().toEqualTypeOf<readonly string[]>();
  expectTypeOf(consoleSink).parameter(0).toEqualTypeOf<ConsoleSinkOptions | undefined>();
  expectTypeOf(consoleSink).returns.toEqualTypeOf<Sink>();
  expectTypeOf(memorySink).returns.toEqualTypeOf<MemorySink>();
  expectTypeOf<MemorySink["getSpans"]>().returns.toEqualTypeOf<ReadableSpan[]>();
  expectTypeOf<MemorySink>().toExtend<SinkLike>();
});

test('"tokentrace/otlp" and "tokentrace/prometheus": sinks that fit setup(), with the Sink type they extend', () => {
  expectTypeOf(otlpSink).parameter(0).toEqualTypeOf<OtlpSinkOptions | undefined>();
  expectTypeOf(otlpSink).returns.toEqualTypeOf<OtlpSink>();
  expectTypeOf<OtlpSink>().toExtend<SinkLike>();
  expectTypeOf<OtlpEntrySink>().toEqualTypeOf<Sink>();
  expectTypeOf(prometheusSink).returns.toEqualTypeOf<PrometheusSink>();
  expectTypeOf(prometheusHandler).returns.toEqualTypeOf<PrometheusRequestHandler>();
  expectTypeOf<PrometheusEntrySink>().toEqualTypeOf<Sink>();
});

test('"tokentrace/testing": the mock server and its reply types', () => {
  expectTypeOf(startMockLLMServer).returns.toEqualTypeOf<Promise<MockLLMServer>>();
  expectTypeOf<MockLLMServer["openaiBaseURL"]>().toEqualTypeOf<string>();
  expectTypeOf<MockLLMServer["enqueue"]>().parameter(0).toExtend<MockReply>();
});
