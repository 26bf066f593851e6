import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import type {
  Meter,
  MeterProvider as ApiMeterProvider,
  Span,
  Tracer,
  TracerProvider as ApiTracerProvider,
} from "@opentelemetry/api";
import { ExportResultCode } from "@opentelemetry/core";
import type { ExportResult } from "@opentelemetry/core";
import { AggregationTemporality, MeterProvider, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics";
import type { PushMetricExporter } from "@opentelemetry/sdk-metrics";
import { BasicTracerProvider, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import type { ReadableSpan, SpanExporter, SpanProcessor } from "@opentelemetry/sdk-trace-base";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { observe } from "../../src/index.js";
import { setup } from "../../src/setup-entry.js";
import type { ObserveOptions } from "../../src/index.js";
import { openCallCount } from "../../src/recorder/call.js";
import { startMockLLMServer } from "../../src/testing/index.js";
import type { MockLLMServer } from "../../src/testing/index.js";
import { SpanCounter, compareWorkload, differences, rawClients, workload } from "../helpers/reliability.js";
import type { Clients } from "../helpers/reliability.js";

/**
 * Fault injection (issue #10, "The reliability suite"): whatever the telemetry pipeline does (exporters and
 * processors that throw, report failure, never answer or answer late; tracer and meter providers that throw;
 * a clock that throws), the app gets exactly what a raw client gives it, its calls do not wait for telemetry,
 * and every span tokentrace started ends exactly once.
 */

let server: MockLLMServer;
let raw: Clients;
beforeAll(async () => {
  server = await startMockLLMServer();
  raw = rawClients(server);
});
afterAll(async () => {
  await server.close();
});

const boom = (what: string): Error => new Error(`injected failure: ${what}`);

/** A span exporter that records its calls and answers as told. */
class FaultyExporter implements SpanExporter {
  exported = 0;
  answered = 0;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(private readonly mode: "throw" | "fail" | "hang" | "slow") {}

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    this.exported += spans.length;
    const answer = (): void => {
      this.answered += spans.length;
      resultCallback({ code: ExportResultCode.FAILED, error: boom("export") });
    };
    switch (this.mode) {
      case "throw":
        throw boom("export");
      case "fail":
        answer();
        return;
      case "hang":
        return;
      case "slow": {
        // Late, not never: long after the call returned. Cleared at shutdown so the test leaves nothing behind.
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          answer();
        }, 60_000);
        timer.unref();
        this.timers.add(timer);
        return;
      }
    }
  }

  get pending(): number {
    return this.exported - this.answered;
  }

  shutdown(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    return Promise.resolve();
  }
}

/** A span processor that fails at one hook, and whose flush and shutdown reject or never settle. */
function faultyProcessor(failAt: "onStart" | "onEnd"): SpanProcessor {
  return {
    onStart() {
      if (failAt === "onStart") throw boom("onStart");
    },
    onEnd() {
      if (failAt === "onEnd") throw boom("onEnd");
    },
    forceFlush: () => Promise.reject(boom("forceFlush")),
    shutdown: () => new Promise<void>(() => undefined),
  };
}

/** A tracer provider whose tracers come from `real`, changed by `change`. */
function tracerProviderWith(real: ApiTracerProvider, change: (tracer: Tracer) => Tracer): ApiTracerProvider {
  return { getTracer: (name, version, options) => change(real.getTracer(name, version, options)) };
}

/** Spans whose every method throws; `end()` ends the real span first, then throws. */
function throwingSpan(span: Span, { isRecordingThrows }: { isRecordingThrows: boolean }): Span {
  const throwing = new Set([
    "setAttribute",
    "setAttributes",
    "addEvent",
    "addLink",
    "addLinks",
    "setStatus",
    "updateName",
    "recordException",
  ]);
  return new Proxy(span, {
    get(target, property) {
      const value = Reflect.get(target, property, target) as unknown;
      if (typeof value !== "function") return value;
      if (property === "end") {
        return (...args: unknown[]) => {
          (value as (...a: unknown[]) => void).apply(target, args);
          throw boom("end");
        };
      }
      if (property === "isRecording" && isRecordingThrows) {
        return () => {
          throw boom("isRecording");
        };
      }
      if (typeof property === "string" && throwing.has(property)) {
        return () => {
          throw boom(property);
        };
      }
      return (value as (...a: unknown[]) => unknown).bind(target);
    },
  });
}

/** A meter whose instruments are made by `instrument` (or whose creation throws, when it is undefined). */
function meterWith(real: Meter, instrument: (() => unknown) | undefined): Meter {
  return new Proxy(real, {
    get(target, property) {
      if (typeof property === "string" && property.startsWith("create")) {
        return () => {
          if (instrument === undefined) throw boom(property);
          return instrument();
        };
      }
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** A metric exporter that throws on every export. */
const throwingMetricExporter: PushMetricExporter = {
  export() {
    throw boom("metric export");
  },
  forceFlush: () => Promise.reject(boom("metric forceFlush")),
  shutdown: () => Promise.resolve(),
  selectAggregationTemporality: () => AggregationTemporality.CUMULATIVE,
};

interface Built {
  options: ObserveOptions;
  counter: SpanCounter;
  /** How many spans tokentrace gets to start: one per workload step, or none when starting one fails. */
  spans: "one per step" | "none" | "some";
  /** Runs right after each observed call returned. */
  afterEach?: (step: string) => void;
  /** Checks once the workload ran. */
  check?: () => void;
  cleanup?: () => Promise<void>;
}

interface Scenario {
  title: string;
  build(): Built;
}

function withProcessors(
  processors: SpanProcessor[],
  counter: SpanCounter,
): Pick<Built, "options" | "counter" | "cleanup"> {
  const tracerProvider = new BasicTracerProvider({ spanProcessors: processors });
  const meterProvider = new MeterProvider();
  return {
    options: { tracerProvider, meterProvider },
    counter,
    cleanup: async () => {
      // A processor may hang on shutdown; the test does not wait for it.
      void tracerProvider.shutdown().catch(() => undefined);
      await meterProvider.shutdown();
    },
  };
}

/** The export of the span that just ended is still waiting for the exporter: the call did not wait for it. */
function exportStillPending(exporter: FaultyExporter): (step: string) => void {
  let exportedBefore = 0;
  return (step) => {
    expect(exporter.exported, step).toBe(exportedBefore + 1);
    expect(exporter.pending, step).toBeGreaterThanOrEqual(1);
    exportedBefore = exporter.exported;
  };
}

const scenarios: Scenario[] = [
  {
    title: "the span exporter throws",
    build() {
      const counter = new SpanCounter();
      const exporter = new FaultyExporter("throw");
      return {
        ...withProcessors([counter, new SimpleSpanProcessor(exporter)], counter),
        spans: "one per step",
        check: () => expect(exporter.exported).toBe(workload.length),
      };
    },
  },
  {
    title: "the span exporter reports every export as failed",
    build() {
      const counter = new SpanCounter();
      const exporter = new FaultyExporter("fail");
      return {
        ...withProcessors([counter, new SimpleSpanProcessor(exporter)], counter),
        spans: "one per step",
        check: () => expect(exporter.answered).toBe(workload.length),
      };
    },
  },
  {
    title: "the span exporter never answers",
    build() {
      const counter = new SpanCounter();
      const exporter = new FaultyExporter("hang");
      return {
        ...withProcessors([counter, new SimpleSpanProcessor(exporter)], counter),
        spans: "one per step",
        afterEach: exportStillPending(exporter),
        check: () => {
          // Every call returned while every export was still waiting.
          expect(exporter.exported).toBe(workload.length);
          expect(exporter.answered).toBe(0);
        },
      };
    },
  },
  {
    title: "the span exporter answers a minute later",
    build() {
      const counter = new SpanCounter();
      const exporter = new FaultyExporter("slow");
      const built = withProcessors([counter, new SimpleSpanProcessor(exporter)], counter);
      return {
        ...built,
        spans: "one per step",
        afterEach: exportStillPending(exporter),
        check: () => expect(exporter.pending).toBe(workload.length),
        cleanup: async () => {
          await exporter.shutdown();
          await built.cleanup?.();
        },
      };
    },
  },
  {
    title: "setup()'s sinks hold an exporter that never answers and one that throws",
    build() {
      const counter = new SpanCounter();
      const hanging = new FaultyExporter("hang");
      // Given as a bare exporter, setup() batches it; given in a SimpleSpanProcessor, it runs at every span end.
      const handle = setup({ sinks: [counter, new SimpleSpanProcessor(hanging), new FaultyExporter("throw")] });
      return {
        options: {},
        counter,
        spans: "one per step",
        afterEach: exportStillPending(hanging),
        check: () => expect(hanging.answered).toBe(0),
        cleanup: () => {
          void handle.shutdown().catch(() => undefined);
          return Promise.resolve();
        },
      };
    },
  },
  {
    title: "the metric exporter throws at every periodic export",
    build() {
      const counter = new SpanCounter();
      const tracerProvider = new BasicTracerProvider({ spanProcessors: [counter] });
      const reader = new PeriodicExportingMetricReader({
        exporter: throwingMetricExporter,
        exportIntervalMillis: 5,
        exportTimeoutMillis: 5,
      });
      const meterProvider = new MeterProvider({ readers: [reader] });
      return {
        options: { tracerProvider, meterProvider },
        counter,
        spans: "one per step",
        cleanup: async () => {
          await tracerProvider.shutdown();
          await meterProvider.shutdown().catch(() => undefined);
        },
      };
    },
  },
  {
    title: "a span processor throws in onStart",
    build() {
      // The faulty processor runs first, so the span never gets to be started: the SDK's startSpan throws.
      const counter = new SpanCounter();
      return { ...withProcessors([faultyProcessor("onStart"), counter], counter), spans: "none" };
    },
  },
  {
    title: "a span processor throws in onEnd, and its flush rejects and its shutdown never settles",
    build() {
      const counter = new SpanCounter();
      return { ...withProcessors([counter, faultyProcessor("onEnd")], counter), spans: "one per step" };
    },
  },
  {
    title: "the tracer provider's getTracer throws",
    build() {
      const counter = new SpanCounter();
      const tracerProvider: ApiTracerProvider = {
        getTracer() {
          throw boom("getTracer");
        },
      };
      return { options: { tracerProvider, meterProvider: new MeterProvider() }, counter, spans: "none" };
    },
  },
  {
    title: "the tracer's startSpan throws",
    build() {
      const counter = new SpanCounter();
      const real = new BasicTracerProvider({ spanProcessors: [counter] });
      const tracerProvider = tracerProviderWith(real, (tracer) => ({
        startSpan() {
          throw boom("startSpan");
        },
        startActiveSpan: tracer.startActiveSpan.bind<Tracer["startActiveSpan"]>(tracer),
      }));
      return { options: { tracerProvider, meterProvider: new MeterProvider() }, counter, spans: "none" };
    },
  },
  {
    title: "every method of every span throws, end() included (after ending)",
    build() {
      const counter = new SpanCounter();
      const real = new BasicTracerProvider({ spanProcessors: [counter] });
      const tracerProvider = tracerProviderWith(real, (tracer) => ({
        startSpan: (...args: Parameters<Tracer["startSpan"]>) =>
          throwingSpan(tracer.startSpan(...args), { isRecordingThrows: false }),
        startActiveSpan: tracer.startActiveSpan.bind<Tracer["startActiveSpan"]>(tracer),
      }));
      return { options: { tracerProvider, meterProvider: new MeterProvider() }, counter, spans: "one per step" };
    },
  },
  {
    title: "every span's isRecording() throws",
    build() {
      const counter = new SpanCounter();
      const real = new BasicTracerProvider({ spanProcessors: [counter] });
      const tracerProvider = tracerProviderWith(real, (tracer) => ({
        startSpan: (...args: Parameters<Tracer["startSpan"]>) =>
          throwingSpan(tracer.startSpan(...args), { isRecordingThrows: true }),
        startActiveSpan: tracer.startActiveSpan.bind<Tracer["startActiveSpan"]>(tracer),
      }));
      return { options: { tracerProvider, meterProvider: new MeterProvider() }, counter, spans: "one per step" };
    },
  },
  {
    title: "the meter provider's getMeter throws",
    build() {
      const counter = new SpanCounter();
      const meterProvider: ApiMeterProvider = {
        getMeter() {
          throw boom("getMeter");
        },
      };
      return {
        options: { tracerProvider: new BasicTracerProvider({ spanProcessors: [counter] }), meterProvider },
        counter,
        spans: "one per step",
      };
    },
  },
  {
    title: "the meter cannot create instruments",
    build() {
      const counter = new SpanCounter();
      const real = new MeterProvider();
      const meterProvider: ApiMeterProvider = { getMeter: (...args) => meterWith(real.getMeter(...args), undefined) };
      return {
        options: { tracerProvider: new BasicTracerProvider({ spanProcessors: [counter] }), meterProvider },
        counter,
        spans: "one per step",
      };
    },
  },
  {
    title: "every instrument's record() and addCallback() throw",
    build() {
      const counter = new SpanCounter();
      const real = new MeterProvider();
      const failingInstrument = (): unknown => ({
        record() {
          throw boom("record");
        },
        add() {
          throw boom("add");
        },
        addCallback() {
          throw boom("addCallback");
        },
        removeCallback() {},
      });
      const meterProvider: ApiMeterProvider = {
        getMeter: (...args) => meterWith(real.getMeter(...args), failingInstrument),
      };
      return {
        options: { tracerProvider: new BasicTracerProvider({ spanProcessors: [counter] }), meterProvider },
        counter,
        spans: "one per step",
      };
    },
  },
  {
    title: "the clock throws at every read",
    build() {
      const counter = new SpanCounter();
      const now = (): number => {
        throw boom("now");
      };
      return {
        options: {
          tracerProvider: new BasicTracerProvider({ spanProcessors: [counter] }),
          meterProvider: new MeterProvider(),
          now,
        },
        counter,
        spans: "none",
      };
    },
  },
  {
    title: "the clock throws at every other read (starts, chunks and ends alike)",
    build() {
      const counter = new SpanCounter();
      let reads = 0;
      const now = (): number => {
        reads++;
        if (reads % 2 === 0) throw boom("now");
        return reads;
      };
      return {
        options: {
          tracerProvider: new BasicTracerProvider({ spanProcessors: [counter] }),
          meterProvider: new MeterProvider(),
          now,
        },
        counter,
        spans: "some",
      };
    },
  },
];

describe("fault injection", () => {
  for (const scenario of scenarios) {
    it(`gives the app exactly what a raw client gives, without waiting, and ends every span once, when ${scenario.title}`, async () => {
      const built = scenario.build();
      try {
        const observed: Clients = {
          openai: observe(
            new OpenAI({ baseURL: server.openaiBaseURL, apiKey: "sk-reliability-test", maxRetries: 0 }),
            built.options,
          ),
          anthropic: observe(
            new Anthropic({ baseURL: server.anthropicBaseURL, apiKey: "sk-reliability-test", maxRetries: 0 }),
            built.options,
          ),
        };
        const comparisons = await compareWorkload(server, raw, observed, built.afterEach);

        expect(differences(comparisons)).toEqual([]);
        // Every call ended by the time the app had its result; nothing is left open.
        expect(openCallCount()).toBe(0);
        expect(built.counter.problems()).toEqual([]);
        if (built.spans === "one per step") expect(built.counter.started.size).toBe(workload.length);
        if (built.spans === "none") expect(built.counter.started.size).toBe(0);
        if (built.spans === "some") expect(built.counter.started.size).toBeGreaterThan(0);
        built.check?.();
      } finally {
        await built.cleanup?.();
        server.reset();
      }
    });
  }
});
