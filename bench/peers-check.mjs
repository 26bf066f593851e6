/**
 * What each peer of bench/peers.mjs really records, so the overhead benches compare like with like. Run:
 * `npm run build && node bench/peers-check.mjs` (the mock server comes from dist/testing.js).
 *
 * Each row runs in its own child process (`instrument()` must come before any SDK import), with the mock
 * server in that process and in-memory exporters: a span exporter, a metric reader collected after each
 * workload, and a logger provider (given to the peer and set as the global one). Per row and workload it prints
 * the spans (count and names), which usage attributes a span carries, whether the prompt ("input") or the reply
 * ("output") text appears in span attributes, span events or log records, the metric names and the log
 * records. Clients get a custom `fetch` (a pass-through), as the benches give theirs. "include_usage asked" says
 * whether the request carried `stream_options.include_usage` (the app's own, in the "+include_usage" workload).
 *
 * Rows: every peer with its defaults, plus "otel-openai +content", the same peer with
 * OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true. Informational: exits 0 unless a child breaks.
 *
 * `node bench/peers-check.mjs [row ...]`; internal: `--child <row>`.
 */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { peers } from "./peers.mjs";

const self = fileURLToPath(import.meta.url);
const prompt = "Summarise the plot of Hamlet in one sentence.";
const vocabulary = ["the", "prince", "returns", "to", "find", "his", "father", "dead", "and", "uncle", "crowned"];
const replyText = Array.from({ length: 200 }, (_, index) => vocabulary[index % vocabulary.length]).join(" ");
// A run of reply words long enough to be the reply, short enough to be in any chunk-joined or truncated copy.
const replyProbe = "the prince returns to find";

const variants = {
  "otel-openai +content": { peer: "otel-openai", env: { OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: "true" } },
};

const workloads = {
  openai: {
    chat: (client) =>
      client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: prompt }] }),
    "chat stream 200": async (client) => {
      const stream = await client.chat.completions.create({
        model: "gpt-4o-mini",
        messages: [{ role: "user", content: prompt }],
        stream: true,
      });
      for await (const _chunk of stream);
    },
    // What a peer records when the app itself asks for stream usage (none of them asks; tokentrace does).
    "chat stream 200 +include_usage": async (client) => {
      const stream = await client.chat.completions.create({
        model: "gpt-4o-mini",
        messages: [{ role: "user", content: prompt }],
        stream: true,
        stream_options: { include_usage: true },
      });
      for await (const _chunk of stream);
    },
  },
  anthropic: {
    messages: (client, server) => {
      server.enqueueAnthropic({ content: [{ type: "text", text: replyText }] });
      return client.messages.create({
        model: "claude-sonnet-5-5",
        max_tokens: 1024,
        messages: [{ role: "user", content: prompt }],
      });
    },
    "messages stream 200": async (client, server) => {
      server.enqueueAnthropic({ content: [{ type: "text", text: replyText }], chunks: 200 });
      const stream = await client.messages.create({
        model: "claude-sonnet-5-5",
        max_tokens: 1024,
        messages: [{ role: "user", content: prompt }],
        stream: true,
      });
      for await (const _event of stream);
    },
  },
};

/** Every string in a value (attribute values, log bodies), flattened for a substring search. */
const textOf = (value) => (typeof value === "string" ? value : JSON.stringify(value ?? null));

async function child(rowName) {
  const { peer: peerName = rowName } = variants[rowName] ?? {};
  const peer = peers[peerName];
  const { logs } = await import("@opentelemetry/api-logs");
  const { LoggerProvider, SimpleLogRecordProcessor, InMemoryLogRecordExporter } =
    await import("@opentelemetry/sdk-logs");
  const { MeterProvider, MetricReader } = await import("@opentelemetry/sdk-metrics");
  const { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } =
    await import("@opentelemetry/sdk-trace-base");
  const { startMockLLMServer } = await import("../dist/testing.js");

  class CollectingReader extends MetricReader {
    onForceFlush() {
      return Promise.resolve();
    }
    onShutdown() {
      return Promise.resolve();
    }
  }
  const spanExporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spanExporter)] });
  const reader = new CollectingReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const logExporter = new InMemoryLogRecordExporter();
  const loggerProvider = new LoggerProvider({ processors: [new SimpleLogRecordProcessor({ exporter: logExporter })] });
  logs.setGlobalLoggerProvider(loggerProvider);

  const sdk = await peer.instrument({ tracerProvider, meterProvider, loggerProvider });
  const server = await startMockLLMServer({ defaultReply: { chunks: 200, text: replyText } });
  const fetch = (url, init) => globalThis.fetch(url, init);
  const client =
    peer.provider === "openai"
      ? new sdk.OpenAI({ baseURL: server.openaiBaseURL, apiKey: "sk-bench", maxRetries: 0, fetch })
      : new sdk.Anthropic({ baseURL: server.anthropicBaseURL, apiKey: "sk-bench", maxRetries: 0, fetch });

  const results = [];
  const measured = new Map();
  for (const [workload, run] of Object.entries(workloads[peer.provider])) {
    spanExporter.reset();
    logExporter.reset();
    let error;
    try {
      await run(client, server);
    } catch (caught) {
      error = String(caught);
    }
    await new Promise((resolve) => setTimeout(resolve, 50)); // spans that end after the last chunk
    await tracerProvider.forceFlush();
    const spans = spanExporter.getFinishedSpans();
    const records = logExporter.getFinishedLogRecords();
    const { resourceMetrics } = await reader.collect();
    // Cumulative points: a metric counts for this workload when its measurement count grew during it.
    const metricNames = resourceMetrics.scopeMetrics
      .flatMap((scope) => scope.metrics)
      .filter((metric) => {
        const name = metric.descriptor.name;
        const count = metric.dataPoints.reduce(
          (total, point) => total + (typeof point.value === "number" ? point.value : point.value.count),
          0,
        );
        const grew = count > (measured.get(name) ?? 0);
        measured.set(name, count);
        return grew;
      })
      .map((metric) => metric.descriptor.name);
    const where = (probe) => {
      const places = [];
      if (spans.some((span) => Object.values(span.attributes).some((value) => textOf(value).includes(probe)))) {
        places.push("span attrs");
      }
      if (spans.some((span) => span.events.some((event) => textOf(event.attributes).includes(probe)))) {
        places.push("span events");
      }
      if (records.some((record) => textOf(record.body).includes(probe) || textOf(record.attributes).includes(probe))) {
        places.push("logs");
      }
      return places.length > 0 ? places.join("+") : "no";
    };
    const usage = [
      ...new Set(
        spans.flatMap((span) =>
          Object.entries(span.attributes)
            .filter(([key, value]) => /usage|token_count/.test(key) && typeof value === "number")
            .map(([key, value]) => `${key}=${value}`),
        ),
      ),
    ];
    results.push({
      workload,
      error,
      spans: spans.length,
      spanNames: [...new Set(spans.map((span) => `${span.name} (${span.instrumentationScope.name})`))],
      usage,
      input: where(prompt),
      output: where(replyProbe),
      metrics: [...new Set(metricNames)],
      logs: records.length,
      logNames: [...new Set(records.map((record) => record.eventName ?? record.attributes["event.name"] ?? "?"))],
      includeUsageAsked: server.requests.some((request) => request.body?.stream_options?.include_usage === true),
    });
    server.reset();
  }
  await server.close();
  process.stdout.write(`${JSON.stringify(results)}\n`);
  process.exit(0);
}

function parent(names) {
  const rows = names.length > 0 ? names : [...Object.keys(peers), ...Object.keys(variants)];
  const lines = [];
  for (const row of rows) {
    const { peer: peerName = row, env = {} } = variants[row] ?? {};
    const peer = peers[peerName];
    const out = execFileSync(process.execPath, [self, "--child", row], {
      env: { ...process.env, ...env },
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
    });
    const results = JSON.parse(out.trim().split("\n").at(-1));
    for (const result of results) {
      lines.push({
        row: `${row} ${peer.version} on ${peer.sdk}`,
        workload: result.workload,
        spans: result.error ? `ERROR ${result.error}` : `${result.spans}: ${result.spanNames.join(", ")}`,
        usage: result.usage.length > 0 ? result.usage.join(" ") : "none",
        "include_usage asked": result.includeUsageAsked ? "yes" : "no",
        input: result.input,
        output: result.output,
        metrics: result.metrics.length > 0 ? result.metrics.join(" ") : "none",
        logs: result.logs > 0 ? `${result.logs}: ${result.logNames.join(" ")}` : "none",
      });
    }
  }
  // One block per row and workload: the cells are too long for one line each.
  for (const line of lines) {
    console.log(`${line.row} | ${line.workload}`);
    for (const [key, value] of Object.entries(line)) {
      if (key !== "row" && key !== "workload") console.log(`  ${key.padEnd(20)} ${value}`);
    }
  }
}

if (process.argv[2] === "--child") await child(process.argv[3]);
else parent(process.argv.slice(2));
