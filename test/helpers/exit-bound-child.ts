/**
 * Child process for the bounded `flushOnExit` tests: a sink whose export never answers and holds the
 * process open (as a socket to a collector that never replies would), `flushTimeoutMs: 300`, one span, then
 * `sigterm` / `sigint`: stays alive until killed; `natural`: sets `process.exitCode = 3` and lets the event
 * loop run dry. Prints "ready" once the span has ended.
 *
 * Run: node --import tsx test/helpers/exit-bound-child.ts sigterm|sigint|natural
 */
import type { ExportResult } from "@opentelemetry/core";
import type { ReadableSpan, SpanExporter } from "@opentelemetry/sdk-trace-base";
import { setup } from "../../src/index.js";

const mode = process.argv[2];
if (mode !== "sigterm" && mode !== "sigint" && mode !== "natural")
  throw new Error("usage: exit-bound-child.ts sigterm|sigint|natural");

const hangingExporter: SpanExporter = {
  export(_spans: ReadableSpan[], _done: (result: ExportResult) => void): void {
    process.stdout.write("exporting\n");
    setInterval(() => undefined, 1_000); // never answers, and keeps the event loop busy
  },
  shutdown: () => new Promise<void>(() => undefined),
};

const telemetry = setup({
  serviceName: "exit-bound",
  sinks: [hangingExporter],
  flushOnExit: true,
  flushTimeoutMs: 300,
  warnings: "off",
});
telemetry.tracerProvider.getTracer("exit-bound").startSpan("work").end();
process.stdout.write("ready\n");
if (mode === "natural") process.exitCode = 3;
else setInterval(() => undefined, 1_000); // stay alive until killed
