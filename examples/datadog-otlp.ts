/**
 * Datadog over OTLP, two ways:
 * - Through the Datadog Agent (the usual set-up): enable OTLP ingest in datadog.yaml
 *   (otlp_config.receiver.protocols.http.endpoint: 0.0.0.0:4318) and point the sink at the Agent.
 * - Agentless, straight to Datadog's OTLP intake: set DD_API_KEY (and DD_SITE, default datadoghq.com).
 *   Per Datadog's docs the intake takes http/protobuf with a `dd-api-key` header; metrics must use delta
 *   temporality; the traces intake (in Preview) also wants `dd-protocol: otlp` and `dd-otlp-source`
 *   (the value Datadog gives you; set DD_OTLP_SOURCE). Check your site's endpoint in Datadog's "OTLP
 *   Intake Endpoint" docs and override it with DD_OTLP_URL if it differs.
 *
 * Run: `npx tsx examples/datadog-otlp.ts`. Without OPENAI_API_KEY the model calls go to tokentrace's mock
 * server; without an Agent or DD_API_KEY, the telemetry is dropped and reported once.
 *
 * In your app: `npm install @opentelemetry/exporter-trace-otlp-proto @opentelemetry/exporter-metrics-otlp-proto`
 * (optional packages of tokentrace; this repository has them).
 */
import OpenAI from "openai";
import { DiagConsoleLogger, DiagLogLevel, diag } from "@opentelemetry/api";
import { observe } from "../src/index.js";
import { setup } from "../src/setup-entry.js";
import type { Sink } from "../src/setup-entry.js";
import { otlpSink } from "../src/otlp.js";
import { startMockLLMServer } from "../src/testing/index.js";

diag.setLogger(new DiagConsoleLogger(), DiagLogLevel.WARN);

const ddApiKey = process.env["DD_API_KEY"];
let sinks: Sink[];
if (ddApiKey) {
  const url = process.env["DD_OTLP_URL"] ?? `https://otlp.${process.env["DD_SITE"] ?? "datadoghq.com"}`;
  const source = process.env["DD_OTLP_SOURCE"];
  sinks = [
    otlpSink({
      url,
      metrics: false,
      protocol: "http/protobuf",
      headers: { "dd-api-key": ddApiKey, "dd-protocol": "otlp", ...(source ? { "dd-otlp-source": source } : {}) },
    }),
    otlpSink({
      url,
      traces: false,
      protocol: "http/protobuf",
      temporality: "delta",
      headers: { "dd-api-key": ddApiKey },
    }),
  ];
} else {
  // The Agent's OTLP receiver takes either temporality; Datadog recommends delta for metrics.
  sinks = [otlpSink({ url: process.env["DD_AGENT_OTLP_URL"] ?? "http://localhost:4318", temporality: "delta" })];
}
const telemetry = setup({
  serviceName: "tokentrace-datadog-example",
  sinks,
  resourceAttributes: { "deployment.environment.name": "dev" },
});

const apiKey = process.env["OPENAI_API_KEY"];
const mock = apiKey ? undefined : await startMockLLMServer();
const openai = observe(mock ? new OpenAI({ baseURL: mock.openaiBaseURL, apiKey: "sk-mock" }) : new OpenAI({ apiKey }));
const reply = await openai.chat.completions.create({
  model: "gpt-4o-mini",
  messages: [{ role: "user", content: "Hello, Datadog." }],
});
console.log(reply.choices[0]?.message.content);

await telemetry.shutdown();
await mock?.close();
