/**
 * Last9 over OTLP: traces and metrics straight to Last9's OTLP/HTTP endpoint.
 *
 * From Last9's Integrations page (OpenTelemetry), copy the endpoint and the Authorization header value, then
 *   LAST9_OTLP_ENDPOINT=https://otlp.last9.io LAST9_AUTH_HEADER="Basic ..." npx tsx examples/last9-otlp.ts
 * (https://otlp-aps1.last9.io for the AP-SOUTH-1 region). The same works with the standard variables alone:
 *   OTEL_EXPORTER_OTLP_ENDPOINT=https://otlp.last9.io OTEL_EXPORTER_OTLP_HEADERS="Authorization=Basic ..."
 * Without OPENAI_API_KEY the model calls go to tokentrace's mock server; without credentials the telemetry
 * is dropped and reported once.
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

diag.setLogger(new DiagConsoleLogger(), DiagLogLevel.WARN);

const authorization = process.env["LAST9_AUTH_HEADER"];
const telemetry = setup({
  serviceName: "tokentrace-last9-example",
  sinks: [
    otlpSink({
      url: process.env["LAST9_OTLP_ENDPOINT"] ?? "https://otlp.last9.io",
      headers: authorization ? { Authorization: authorization } : {},
      compression: "gzip",
    }),
  ],
});

const apiKey = process.env["OPENAI_API_KEY"];
const mock = apiKey ? undefined : await startMockLLMServer();
const openai = observe(mock ? new OpenAI({ baseURL: mock.openaiBaseURL, apiKey: "sk-mock" }) : new OpenAI({ apiKey }));
const reply = await openai.chat.completions.create({
  model: "gpt-4o-mini",
  messages: [{ role: "user", content: "Hello, Last9." }],
});
console.log(reply.choices[0]?.message.content);

await telemetry.shutdown();
await mock?.close();
