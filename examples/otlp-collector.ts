/**
 * OTLP to an OpenTelemetry Collector (or any OTLP/HTTP backend): traces and metrics of every model call.
 *
 * Run: `npx tsx examples/otlp-collector.ts`. It sends to OTEL_EXPORTER_OTLP_ENDPOINT, else to a collector on
 * http://localhost:4318, for example one started with
 *   docker run --rm -p 4318:4318 otel/opentelemetry-collector:latest
 * Without OPENAI_API_KEY the model calls go to tokentrace's mock server. Without a collector the example
 * still runs: the telemetry is dropped, counted and reported once, and the calls are not slowed down.
 *
 * In your app: `npm install @opentelemetry/exporter-trace-otlp-proto @opentelemetry/exporter-metrics-otlp-proto`
 * (optional packages of tokentrace; this repository has them).
 */
import OpenAI from "openai";
import { DiagConsoleLogger, DiagLogLevel, diag } from "@opentelemetry/api";
import { observe } from "../src/index.js";
import { setup } from "../src/setup-entry.js";
import { otlpSink } from "../src/otlp.js";
import { startMockLLMServer } from "../src/testing/index.js";

// Show tokentrace's (and OpenTelemetry's) warnings, such as an unreachable collector.
diag.setLogger(new DiagConsoleLogger(), DiagLogLevel.WARN);

const sink = otlpSink({
  // url: "http://otel-collector:4318",   // default: OTEL_EXPORTER_OTLP_ENDPOINT, else http://localhost:4318
  // headers: { authorization: "Bearer ..." },
  // protocol: "http/json",              // default: http/protobuf
  compression: "gzip",
  metricExportIntervalMs: 10_000,
  timeoutMs: 5_000, // how long flush/shutdown may wait on an unreachable collector (default 10 s)
});
const telemetry = setup({ serviceName: "tokentrace-otlp-example", sinks: [sink], flushOnExit: true });
console.log(`Exporting traces to ${sink.endpoints.traces} and metrics to ${sink.endpoints.metrics}`);

const apiKey = process.env["OPENAI_API_KEY"];
const mock = apiKey ? undefined : await startMockLLMServer();
const openai = observe(mock ? new OpenAI({ baseURL: mock.openaiBaseURL, apiKey: "sk-mock" }) : new OpenAI({ apiKey }));

const reply = await openai.chat.completions.create({
  model: "gpt-4o-mini",
  messages: [{ role: "user", content: "Name one OpenTelemetry signal." }],
});
console.log(reply.choices[0]?.message.content);

const stream = await openai.chat.completions.create({
  model: "gpt-4o-mini",
  messages: [{ role: "user", content: "Count to five." }],
  stream: true,
});
for await (const chunk of stream) process.stdout.write(chunk.choices[0]?.delta.content ?? "");
process.stdout.write("\n");

// In a long-running service, flushOnExit exports what is left when the process stops. A script can flush
// itself (serverless functions must: `await telemetry.flush()` before returning).
await telemetry.shutdown();
console.log("Dropped (collector unreachable or failing):", sink.dropped());
await mock?.close();
