/**
 * Child process for the `flushOnExit` tests: sets up an OTLP sink with a long batch delay and metric
 * interval (so nothing leaves before the exit hook runs), makes one call, prints "called", then either
 * waits to be killed (`signal`) or lets the event loop run dry (`natural`).
 *
 * Run: node --import tsx test/helpers/flush-on-exit-child.ts signal|natural
 */
import OpenAI from "openai";
import { observe } from "../../src/index.js";
import { setup } from "../../src/setup-entry.js";
import { otlpSink } from "../../src/otlp.js";

const mode = process.argv[2];
const receiverUrl = process.env["RECEIVER_URL"];
const baseURL = process.env["MOCK_BASE_URL"];
if (receiverUrl === undefined || baseURL === undefined || (mode !== "signal" && mode !== "natural")) {
  throw new Error("usage: RECEIVER_URL=... MOCK_BASE_URL=... flush-on-exit-child.ts signal|natural");
}

setup({
  serviceName: "flush-on-exit",
  sinks: [otlpSink({ url: receiverUrl, metricExportIntervalMs: 600_000, timeoutMs: 2_000 })],
  flushOnExit: true,
});
const openai = observe(new OpenAI({ baseURL, apiKey: "sk-test", maxRetries: 0 }));

async function main(): Promise<void> {
  await openai.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }] });
  process.stdout.write("called\n");
  if (mode === "signal") setInterval(() => undefined, 1_000); // stay alive until killed
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
