import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import OpenAI from "openai";
import { ExportResultCode } from "@opentelemetry/core";
import type { ExportResult } from "@opentelemetry/core";
import { AggregationTemporality, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics";
import type { PushMetricExporter, ResourceMetrics } from "@opentelemetry/sdk-metrics";
import type { ReadableSpan, SpanExporter, SpanProcessor } from "@opentelemetry/sdk-trace-base";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { InvalidOptionError, observe } from "../src/index.js";
import { memorySink, setup } from "../src/setup-entry.js";
import type { SinkLike, TokentraceHandle } from "../src/setup-entry.js";
import { setWarningMode } from "../src/internal/report.js";
import { startMockLLMServer } from "../src/testing/index.js";
import type { MockLLMServer } from "../src/testing/index.js";

const messages = [{ role: "user" as const, content: "Hi" }];
let server: MockLLMServer;
let telemetry: TokentraceHandle | undefined;

beforeAll(async () => {
  server = await startMockLLMServer();
  setWarningMode("off"); // this file provokes failures on purpose
});
afterAll(async () => {
  setWarningMode(undefined);
  await server.close();
});
afterEach(async () => {
  await telemetry?.shutdown();
  telemetry = undefined;
});

/** A span exporter (the OpenTelemetry interface) that fails in the given way. */
function spanExporter(
  behaviour: "works" | "throws" | "rejects-shutdown" | "hangs" | "reports-failure" | "slow",
): SpanExporter & { exported: number } {
  const exporter = {
    exported: 0,
    export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
      if (behaviour === "throws") throw new Error("export threw");
      if (behaviour === "hangs") return; // never calls back
      if (behaviour === "reports-failure") {
        done({ code: ExportResultCode.FAILED, error: new Error("collector said no") });
        return;
      }
      const finish = (): void => {
        exporter.exported += spans.length;
        done({ code: ExportResultCode.SUCCESS });
      };
      if (behaviour === "slow") setTimeout(finish, 50);
      else finish();
    },
    shutdown(): Promise<void> {
      if (behaviour === "hangs") return new Promise(() => undefined);
      if (behaviour === "rejects-shutdown") return Promise.reject(new Error("shutdown rejected"));
      return Promise.resolve();
    },
  };
  return exporter;
}

/** A span processor whose flush throws synchronously or rejects. */
function failingProcessor(how: "throws" | "rejects"): SpanProcessor {
  const fail = (): Promise<void> => {
    if (how === "throws") throw new Error("forceFlush threw");
    return Promise.reject(new Error("forceFlush rejected"));
  };
  return { onStart: () => undefined, onEnd: () => undefined, forceFlush: fail, shutdown: fail };
}

/** A metric exporter that answers FAILED, or never. */
function metricReader(behaviour: "reports-failure" | "hangs"): PeriodicExportingMetricReader {
  const exporter: PushMetricExporter = {
    export(_metrics: ResourceMetrics, done: (result: ExportResult) => void): void {
      if (behaviour === "reports-failure") done({ code: ExportResultCode.FAILED, error: new Error("metrics refused") });
    },
    forceFlush: () => Promise.resolve(),
    shutdown: () => Promise.resolve(),
    selectAggregationTemporality: () => AggregationTemporality.CUMULATIVE,
  };
  return new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 600_000, exportTimeoutMillis: 600_000 });
}

async function oneCall(sinks: SinkLike[], flushTimeoutMs = 200): Promise<TokentraceHandle> {
  telemetry = setup({ sinks, flushTimeoutMs });
  const openai = observe(new OpenAI({ baseURL: server.openaiBaseURL, apiKey: "sk-test", maxRetries: 0 }));
  const reply = await openai.chat.completions.create({ model: "gpt-4o-mini", messages });
  expect(reply.choices[0]?.message.content).toBe("Hello from the tokentrace mock server.");
  return telemetry;
}

describe("flush() and shutdown() settle within flushTimeoutMs and never reject", () => {
  it("report every sink flushed when all answer, a slow one included", async () => {
    const slow = spanExporter("slow");
    const handle = await oneCall([memorySink(), slow], 5_000);
    expect(await handle.flush()).toEqual({
      ok: true,
      timedOut: false,
      flushed: ["sinks[0] (memory)", "sinks[1] (an object)"],
      failed: [],
      pending: [],
    });
    expect(slow.exported).toBe(1);
  });

  it("list a sink whose flush throws synchronously or rejects as failed, and still flush the others", async () => {
    const good = spanExporter("works");
    const handle = await oneCall([failingProcessor("throws"), failingProcessor("rejects"), good]);
    const report = await handle.flush();
    expect(report).toEqual({
      ok: false,
      timedOut: false,
      flushed: ["sinks[2] (an object)"],
      failed: [
        { sink: "sinks[0] (an object)", error: "forceFlush threw" },
        { sink: "sinks[1] (an object)", error: "forceFlush rejected" },
      ],
      pending: [],
    });
    expect(good.exported).toBe(1);
  });

  it("list a span exporter that throws or reports a failed export through its callback as failed", async () => {
    const handle = await oneCall([spanExporter("throws"), spanExporter("reports-failure")]);
    const report = await handle.flush();
    expect(report.ok).toBe(false);
    expect(report.timedOut).toBe(false);
    expect(report.failed).toEqual([
      { sink: "sinks[0] (an object)", error: "export threw" },
      { sink: "sinks[1] (an object)", error: "collector said no" },
    ]);
  });

  it("resolve at the bound with a hanging span exporter or metric reader listed as pending", async () => {
    const handle = await oneCall([spanExporter("hangs"), metricReader("hangs"), memorySink()]);
    expect(await handle.flush()).toEqual({
      ok: false,
      timedOut: true,
      flushed: ["sinks[2] (memory)"],
      failed: [],
      pending: ["sinks[0] (an object)", "sinks[1] (PeriodicExportingMetricReader)"],
    });
  });

  it("count a periodic metric reader as flushed when its exporter reports failure, as the SDK's reader keeps that to itself", async () => {
    // PeriodicExportingMetricReader hands a failed export to OpenTelemetry's global error handler and
    // resolves its forceFlush(): nothing above it can tell.
    const handle = await oneCall([metricReader("reports-failure")]);
    expect(await handle.flush()).toEqual({
      ok: true,
      timedOut: false,
      flushed: ["sinks[0] (PeriodicExportingMetricReader)"],
      failed: [],
      pending: [],
    });
  });

  it("shut down within the bound whatever the sinks do, once, and answer a second call with the same report", async () => {
    const handle = await oneCall([
      spanExporter("hangs"),
      spanExporter("rejects-shutdown"),
      failingProcessor("throws"),
      memorySink(),
    ]);
    telemetry = undefined;
    const first = handle.shutdown();
    expect(handle.shutdown()).toBe(first);
    expect(await first).toEqual({
      ok: false,
      timedOut: true,
      flushed: ["sinks[3] (memory)"],
      failed: [
        { sink: "sinks[1] (an object)", error: "shutdown rejected" },
        { sink: "sinks[2] (an object)", error: "forceFlush threw" },
      ],
      pending: ["sinks[0] (an object)"],
    });
  });

  it("resolve with an empty, successful report without sinks", async () => {
    telemetry = setup({});
    expect(await telemetry.flush()).toEqual({ ok: true, timedOut: false, flushed: [], failed: [], pending: [] });
  });

  it("accepts flushTimeoutMs only as a whole number of milliseconds from 1", () => {
    for (const value of [0, -1, 1.5, "100", Number.POSITIVE_INFINITY, 2 ** 31]) {
      expect(() => setup({ flushTimeoutMs: value as never })).toThrow(InvalidOptionError);
    }
    expect(() => setup({ flushTimeoutMs: 0 })).toThrow(
      new InvalidOptionError(
        "flushTimeoutMs",
        "expected an integer number of milliseconds from 1 to 2147483647, received number 0.",
      ),
    );
  });
});

describe("flushOnExit with a sink that never answers", () => {
  const child = fileURLToPath(new URL("./helpers/exit-bound-child.ts", import.meta.url));

  function runChild(
    mode: "sigterm" | "sigint" | "natural",
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }> {
    return new Promise((resolve, reject) => {
      const process_ = spawn(process.execPath, ["--import", "tsx", child, mode], { stdio: ["ignore", "pipe", "pipe"] });
      let output = "";
      let killed = false;
      process_.stdout.on("data", (chunk: Buffer) => {
        output += chunk.toString();
        if (mode !== "natural" && !killed && output.includes("ready")) {
          killed = true;
          process_.kill(mode === "sigterm" ? "SIGTERM" : "SIGINT");
        }
      });
      process_.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
      process_.on("error", reject);
      // The test's own timeout (20 s) is the bound this asserts: without flushTimeoutMs the child never exits.
      process_.on("exit", (code, signal) => resolve({ code, signal, output }));
    });
  }

  it("ends on SIGTERM, killed by the signal as without the hook, once the bound runs out", async () => {
    const { code, signal, output } = await runChild("sigterm");
    expect({ code, signal }, output).toEqual({ code: null, signal: "SIGTERM" });
    expect(output).toBe("ready\nexporting\n");
  });

  it("ends on SIGINT, killed by the signal as without the hook, once the bound runs out", async () => {
    const { code, signal, output } = await runChild("sigint");
    expect({ code, signal }, output).toEqual({ code: null, signal: "SIGINT" });
  });

  it("ends with the app's exit code when the event loop ran dry and the sink holds the process open", async () => {
    const { code, signal, output } = await runChild("natural");
    expect({ code, signal }, output).toEqual({ code: 3, signal: null });
    expect(output).toBe("ready\nexporting\n");
  });
});
