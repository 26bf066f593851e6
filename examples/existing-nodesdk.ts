/**
 * Joining an app that already sets up OpenTelemetry with the NodeSDK: do not call tokentrace's setup().
 * Observed clients use the globally registered providers, so model-call spans land in your exporter, under
 * your own spans, and the GenAI metrics go to your metric reader.
 *
 * Run: `npx tsx examples/existing-nodesdk.ts`. Spans and metrics print to the console (ConsoleSpanExporter,
 * ConsoleMetricExporter); replace them with your OTLP exporters. Without OPENAI_API_KEY the model calls go
 * to tokentrace's mock server.
 */
import OpenAI from "openai";
import { trace } from "@opentelemetry/api";
import { NodeSDK, metrics, tracing } from "@opentelemetry/sdk-node";
import { observe } from "../src/index.js";
import { startMockLLMServer } from "../src/testing/index.js";

// Your existing set-up (usually in instrumentation.ts, loaded with --import before the app).
const sdk = new NodeSDK({
  serviceName: "support-bot",
  traceExporter: new tracing.ConsoleSpanExporter(),
  metricReaders: [
    new metrics.PeriodicExportingMetricReader({
      exporter: new metrics.ConsoleMetricExporter(),
      exportIntervalMillis: 60_000,
    }),
  ],
});
sdk.start();

const apiKey = process.env["OPENAI_API_KEY"];
const mock = apiKey ? undefined : await startMockLLMServer();
// The only tokentrace line: wrap the client.
const openai = observe(mock ? new OpenAI({ baseURL: mock.openaiBaseURL, apiKey: "sk-mock" }) : new OpenAI({ apiKey }));

// The model call's span ("chat gpt-4o-mini") becomes a child of the app's own span.
await trace.getTracer("support-bot").startActiveSpan("handle-ticket", async (span) => {
  const reply = await openai.chat.completions.create({
    model: "gpt-4o-mini",
    messages: [{ role: "user", content: "Summarise: the printer is on fire." }],
  });
  console.log(reply.choices[0]?.message.content);
  span.end();
});

await sdk.shutdown(); // flushes spans and metrics
await mock?.close();
