/**
 * Prometheus: tokentrace's metrics on /metrics for Prometheus to scrape, on a port of their own and mounted
 * on the app's own HTTP server.
 *
 * Run: `npx tsx examples/prometheus-endpoint.ts`, then scrape http://localhost:9464/metrics (or the app's
 * http://localhost:3000/metrics). Point Prometheus at it with examples/prometheus/prometheus.yml, import
 * examples/grafana/tokentrace-dashboard.json into Grafana, and load examples/prometheus/alerts.yml.
 * Without OPENAI_API_KEY the model calls go to tokentrace's mock server. Stop it with Ctrl-C.
 *
 * In your app: `npm install @opentelemetry/exporter-prometheus` (an optional package of tokentrace; this
 * repository has it).
 */
import { createServer } from "node:http";
import OpenAI from "openai";
import { observe } from "../src/index.js";
import { setup } from "../src/setup-entry.js";
import { prometheusHandler, prometheusSink } from "../src/prometheus.js";
import { startMockLLMServer } from "../src/testing/index.js";

const port = Number(process.env["PORT"] ?? 3000);
const sink = prometheusSink({ port: Number(process.env["METRICS_PORT"] ?? 9464) });
const telemetry = setup({ serviceName: "tokentrace-prometheus-example", sinks: [sink] });
// Fails here, naming `prometheusSink.port`, when the port is already taken.
await telemetry.ready;

const apiKey = process.env["OPENAI_API_KEY"];
const mock = apiKey ? undefined : await startMockLLMServer();
const openai = observe(
  mock ? new OpenAI({ baseURL: mock.openaiBaseURL, apiKey: "sk-mock", maxRetries: 0 }) : new OpenAI({ apiKey }),
);

// The app's own server: /metrics serves the same text as the sink's port; /ask makes a model call.
// (With express: app.get("/metrics", prometheusHandler()).)
const metrics = prometheusHandler(sink);
const app = createServer((request, response) => {
  if (request.url === "/metrics") {
    metrics(request, response);
    return;
  }
  if (request.url === "/ask") {
    openai.chat.completions
      .create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Say hello." }] })
      .then((reply) => response.end(`${reply.choices[0]?.message.content ?? ""}\n`))
      .catch((error: unknown) => {
        response.statusCode = 502;
        response.end(`${String(error)}\n`);
      });
    return;
  }
  response.statusCode = 404;
  response.end("Try /ask or /metrics\n");
});
await new Promise<void>((resolve) => app.listen(port, resolve));

// A little traffic so the first scrape has something to show.
await openai.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }] });
const text = await (await fetch(`http://localhost:${port}/metrics`)).text();
console.log(
  text
    .split("\n")
    .filter(
      (line) => line.startsWith("tokentrace_client_calls_total") || line.startsWith("gen_ai_client_token_usage_sum"),
    )
    .join("\n"),
);
console.log(
  `\nMetrics: ${sink.url()} and http://localhost:${port}/metrics. Model calls: http://localhost:${port}/ask. Ctrl-C to stop.`,
);

process.once("SIGINT", () => {
  app.close();
  void telemetry.shutdown().then(() => mock?.close());
});
