import { context } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { MeterProvider } from "@opentelemetry/sdk-metrics";
import { BasicTracerProvider } from "@opentelemetry/sdk-trace-base";
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { memorySink } from "../../src/setup-entry.js";
import type { MemorySink, TokentraceHandle } from "../../src/setup-entry.js";
import { afterAll, afterEach, beforeAll } from "vitest";

/** Providers over an in-memory sink, and the span look-ups every provider's tests use. */
export interface TestTelemetry {
  sink: MemorySink;
  tracerProvider: BasicTracerProvider;
  meterProvider: MeterProvider;
  spans(): ReadableSpan[];
  /** The one span recorded so far; fails when there is not exactly one. */
  onlySpan(): ReadableSpan;
  /** Wait until `count` spans have ended (stream spans end asynchronously after abort/GC). */
  waitForSpans(count: number, timeoutMs?: number): Promise<ReadableSpan[]>;
  // A function property, so `const { shutdown, ...rest } = createTestTelemetry()` is type-safe.
  shutdown: () => Promise<void>;
}

export function createTestTelemetry(): TestTelemetry {
  const sink = memorySink();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [...sink.spanProcessors] });
  const meterProvider = new MeterProvider({ readers: [...sink.metricReaders] });
  const spans = (): ReadableSpan[] => sink.getSpans();
  return {
    sink,
    tracerProvider,
    meterProvider,
    spans,
    onlySpan() {
      const all = spans();
      if (all.length !== 1)
        throw new Error(`expected exactly one span, found ${all.length}: ${all.map((s) => s.name).join(", ")}`);
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
    async shutdown() {
      await tracerProvider.shutdown();
      await meterProvider.shutdown();
    },
  };
}

/** What a file whose tests each call setup() shares: its server, and the running test's setup() handle. */
export interface SetupSuite<S> {
  readonly server: S;
  /** Shut down after the test, then cleared. */
  telemetry: TokentraceHandle | undefined;
}

/**
 * Hooks for a file whose tests each call setup(): an AsyncLocalStorage context manager and the server
 * `startServer` gives, for the whole file; after each test, the handle left in `telemetry` shut down, then
 * `afterEachTest`.
 */
export function setupSuite<S extends { close(): Promise<void> }>(
  startServer: () => Promise<S>,
  afterEachTest?: () => void,
): SetupSuite<S> {
  let server: S | undefined;
  const suite: SetupSuite<S> = {
    get server(): S {
      if (server === undefined) throw new Error("the suite's server starts in beforeAll");
      return server;
    },
    telemetry: undefined,
  };
  beforeAll(async () => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    server = await startServer();
  });
  afterAll(async () => {
    await server?.close();
    context.disable();
  });
  afterEach(async () => {
    await suite.telemetry?.shutdown();
    suite.telemetry = undefined;
    afterEachTest?.();
  });
  return suite;
}
