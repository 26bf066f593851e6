/**
 * The hazards of issue #10, measured: how long tokentrace holds the event loop, and how much CPU it adds, on
 * inputs that once made it stall the host. Run: `npm run bench:hazards` (builds, then
 * `node --expose-gc bench/hazards.mjs [scenario name prefix]`).
 *
 * - Each scenario is one function below (add one to `scenarios` to extend the suite). The parent runs each in
 *   a fresh child process of this file, under a timeout, so a scenario that hangs, runs out of memory or
 *   crashes is reported as such and the others still run.
 * - Event-loop delay: `perf_hooks.monitorEventLoopDelay` at 1 ms resolution, over the calls of one client;
 *   max, p99 and mean in ms. An idle loop shows about 1.1 ms (the sampling interval itself); a call that
 *   blocks the loop for 300 ms shows a max of about 300 ms.
 * - CPU per call: `process.cpuUsage()` of the process running the client. The long-history scenario's mock
 *   server runs in its own process (bench/mock-server-process.mjs) so its JSON parsing is not counted; the
 *   other scenarios' servers answer one small scripted payload in-process.
 * - `TOKENTRACE_BENCH_DIST=<dir>` measures another build of tokentrace (default `dist/`), for before/after
 *   figures.
 *
 * Informational: always exits 0 unless the bench itself breaks.
 */
import { fork } from "node:child_process";
import { createServer } from "node:http";
import path from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import OpenAI from "openai";
import { benchPipeline } from "./pipeline.mjs";
import { startServerProcess } from "./server-process.mjs";

const distURL =
  process.env.TOKENTRACE_BENCH_DIST === undefined
    ? new URL("../dist/", import.meta.url)
    : pathToFileURL(`${path.resolve(process.env.TOKENTRACE_BENCH_DIST)}/`);
const model = "gpt-4o-mini";

// ---------------------------------------------------------------------------------------------------------
// Scenarios. Each `run(clients)` is called in a fresh process with the client kinds to measure ("raw",
// "observed") and returns one row per client: { client, calls, cpuMs, wallMs, delay, note }.
// `freshProcessPerClient`: each client in a process of its own (for "the first call in a process").

const scenarios = [
  {
    name: "long history",
    description: "non-streaming chat call, 1,000-message history (~300 characters each), capture on, default limit",
    timeoutMs: 90_000,
    run: longHistory,
  },
  {
    name: "huge index",
    description: "chat stream with one chunk at choice index 10,000,000 and tool-call index 10,000,000",
    timeoutMs: 45_000,
    run: hugeIndex,
  },
  {
    name: "first estimate",
    description: "first call in a fresh process whose stream reports no usage (injectStreamUsage: false)",
    timeoutMs: 30_000,
    freshProcessPerClient: true,
    run: firstEstimate,
  },
];

async function longHistory(clients) {
  const turns = Array.from({ length: 1_000 }, (_, index) => ({
    role: index % 2 === 0 ? "user" : "assistant",
    content: `turn ${index}: ${"lorem ipsum ".repeat(25)}`,
  }));
  const messages = [{ role: "system", content: "You are a concise assistant." }, ...turns];
  const server = await startServerProcess({});
  try {
    const { observe } = await importDist();
    const telemetry = benchTelemetry();
    // A new connection per call: a build that blocks its loop for longer than the mock server's 5 s
    // keep-alive timeout (as before issue #10) would otherwise reuse a socket the server has closed.
    const made = makeClients(clients, server.baseURL, (client) => observe(client, telemetry.providers), {
      connection: "close",
    });
    const call = (client) => client.chat.completions.create({ model, messages });
    for (const client of Object.values(made)) for (let index = 0; index < 5; index++) await call(client);
    const rows = [];
    for (const [name, client] of Object.entries(made)) rows.push(await measure(name, 20, () => call(client)));
    await telemetry.shutdown();
    rows.find((row) => row.client === "observed")?.notes.push(`${telemetry.exporter.spanCount} spans exported`);
    return rows;
  } finally {
    await server.stop();
  }
}

async function hugeIndex(clients) {
  const huge = 10_000_000;
  const chunk = (choices, extra = {}) => ({
    id: "chatcmpl-huge",
    object: "chat.completion.chunk",
    created: 1,
    model,
    choices,
    ...extra,
  });
  // A request for the model "warm-up" gets the same stream with index 1 in place of the huge one.
  const server = await startScriptedServer((body) => [
    chunk([{ index: 0, delta: { role: "assistant", content: "Hello" }, finish_reason: null }]),
    chunk([
      {
        index: body?.model === "warm-up" ? 1 : huge,
        delta: {
          content: " there",
          tool_calls: [
            {
              index: body?.model === "warm-up" ? 1 : huge,
              id: "call_1",
              type: "function",
              function: { name: "lookup", arguments: "{}" },
            },
          ],
        },
        finish_reason: null,
      },
    ]),
    chunk([{ index: 0, delta: {}, finish_reason: "stop" }]),
    ...(body?.stream_options?.include_usage
      ? [chunk([], { usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 } })]
      : []),
  ]);
  try {
    const { observe } = await importDist();
    const telemetry = benchTelemetry();
    const made = makeClients(clients, server.baseURL, (client) => observe(client, telemetry.providers));
    const call = async (client, requestModel = model) => {
      const stream = await client.chat.completions.create({
        model: requestModel,
        messages: [{ role: "user", content: "Hi" }],
        stream: true,
      });
      let chunks = 0;
      for await (const _chunk of stream) chunks += 1;
      if (chunks !== 3) throw new Error(`the app saw ${chunks} chunks, expected 3`);
    };
    const rows = [];
    for (const [name, client] of Object.entries(made)) {
      for (let index = 0; index < 5; index++) await call(client, "warm-up");
      rows.push(await measure(name, 10, () => call(client)));
    }
    await telemetry.shutdown();
    return rows;
  } finally {
    await server.close();
  }
}

async function firstEstimate(clients) {
  const words = Array.from({ length: 100 }, (_, index) => `word${index} `);
  const chunk = (delta, finishReason = null) => ({
    id: "chatcmpl-estimate",
    object: "chat.completion.chunk",
    created: 1,
    model,
    choices: [{ index: 0, delta, finish_reason: finishReason }],
  });
  const server = await startScriptedServer(() => [
    chunk({ role: "assistant", content: "" }),
    ...words.map((word) => chunk({ content: word })),
    chunk({}, "stop"),
  ]);
  try {
    const { observe } = await importDist();
    const telemetry = benchTelemetry();
    const made = makeClients(clients, server.baseURL, (client) =>
      observe(client, { ...telemetry.providers, injectStreamUsage: false }),
    );
    const rows = [];
    for (const [name, client] of Object.entries(made)) {
      const row = await measure(name, 1, async () => {
        const stream = await client.chat.completions.create({
          model,
          messages: [{ role: "user", content: "Count to 100." }],
          stream: true,
        });
        let chunks = 0;
        for await (const _chunk of stream) chunks += 1;
        if (chunks !== words.length + 2) throw new Error(`the app saw ${chunks} chunks, expected ${words.length + 2}`);
      });
      // A tokenizer loaded in the background after the call would show here.
      const after = await measureIdle(1_000);
      row.notes.push(`loop delay in the 1 s after: max ${after.maxMs.toFixed(1)} ms, p99 ${after.p99Ms.toFixed(1)} ms`);
      rows.push(row);
    }
    await telemetry.shutdown();
    const span = telemetry.exporter.lastSpan;
    if (span !== undefined) {
      rows
        .find((row) => row.client === "observed")
        ?.notes.push(
          `output tokens ${span.attributes["gen_ai.usage.output_tokens"]}, estimated ${span.attributes["tokentrace.usage.estimated"]}`,
        );
    }
    return rows;
  } finally {
    await server.close();
  }
}

// ---------------------------------------------------------------------------------------------------------
// Measurement.

/** Runs `run` `calls` times, or as many as fit in `budgetMs` (at least once), and measures them together. */
async function measure(client, calls, run, budgetMs = 10_000) {
  global.gc?.();
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  const cpuBefore = process.cpuUsage();
  const startedMs = performance.now();
  const notes = [];
  let completed = 0;
  try {
    while (completed < calls && (completed === 0 || performance.now() - startedMs < budgetMs)) {
      await run();
      completed++;
    }
    if (completed < calls)
      notes.push(`stopped after ${completed} of ${calls} calls: over the ${budgetMs / 1000} s budget`);
  } catch (error) {
    notes.push(`threw after ${completed} calls: ${error?.message ?? error}`);
  }
  const wallMs = performance.now() - startedMs;
  const cpu = process.cpuUsage(cpuBefore);
  // Let the histogram's overdue timer fire: a block at the very end of the last call is recorded only then.
  await new Promise((resolve) => setTimeout(resolve, 5));
  histogram.disable();
  const done = Math.max(completed, 1);
  return {
    client,
    calls: completed,
    cpuMs: (cpu.user + cpu.system) / 1000 / done,
    wallMs: wallMs / done,
    delay: delayOf(histogram),
    notes,
  };
}

async function measureIdle(durationMs) {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  await new Promise((resolve) => setTimeout(resolve, durationMs));
  histogram.disable();
  return delayOf(histogram);
}

function delayOf(histogram) {
  // No sample at all: the whole window was shorter than one interval.
  if (histogram.count === 0) return { maxMs: 0, p99Ms: 0, meanMs: 0 };
  return { maxMs: histogram.max / 1e6, p99Ms: histogram.percentile(99) / 1e6, meanMs: histogram.mean / 1e6 };
}

// ---------------------------------------------------------------------------------------------------------
// Clients, telemetry and servers.

async function importDist() {
  return import(new URL("index.js", distURL).href);
}

function makeClients(kinds, baseURL, observeClient, defaultHeaders = {}) {
  const newClient = () => new OpenAI({ baseURL, apiKey: "sk-bench", maxRetries: 0, defaultHeaders });
  return Object.fromEntries(kinds.map((kind) => [kind, kind === "raw" ? newClient() : observeClient(newClient())]));
}

/** Real OpenTelemetry SDK providers, as in bench/run.mjs: spans batched to an exporter that counts them. */
function benchTelemetry() {
  const { exporter, tracerProvider, meterProvider } = benchPipeline();
  return {
    exporter,
    providers: { tracerProvider, meterProvider },
    async shutdown() {
      await tracerProvider.forceFlush();
      await Promise.all([tracerProvider.shutdown(), meterProvider.shutdown()]);
    },
  };
}

/**
 * A tiny server on 127.0.0.1 answering every request with the server-sent events `events(body)` returns
 * (as test/helpers/scripted-server.ts does), for payloads the mock server never sends.
 */
async function startScriptedServer(events) {
  const server = createServer((request, response) => {
    const pieces = [];
    request.on("data", (piece) => pieces.push(piece));
    request.on("end", () => {
      let body;
      try {
        body = JSON.parse(Buffer.concat(pieces).toString("utf8"));
      } catch {
        body = undefined;
      }
      response.writeHead(200, { "content-type": "text/event-stream" });
      response.end(
        `${events(body)
          .map((event) => `data: ${JSON.stringify(event)}\n\n`)
          .join("")}data: [DONE]\n\n`,
      );
    });
  });
  // A client whose loop was blocked for longer than the default 5 s would find its kept-alive socket closed.
  server.keepAliveTimeout = 120_000;
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    baseURL: `http://127.0.0.1:${server.address().port}/v1`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Parent: one child process per scenario (or per client), under the scenario's timeout.

function runChild(scenario, clients) {
  const child = fork(new URL(import.meta.url), ["--child", scenario.name, clients.join(",")], {
    execArgv: ["--expose-gc"],
    stdio: ["ignore", "inherit", "pipe", "ipc"],
  });
  let stderr = "";
  child.stderr.on("data", (piece) => {
    stderr = (stderr + piece).slice(-2000);
  });
  return new Promise((resolve) => {
    let result;
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      result ??= { failed: `timed out after ${scenario.timeoutMs / 1000} s` };
    }, scenario.timeoutMs);
    child.on("message", (message) => {
      result = message;
    });
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      const lastLine = stderr.trim().split("\n").slice(-3).join(" | ");
      resolve(
        result ?? {
          failed: `process ended (${signal ?? `exit code ${code}`}) without a result${lastLine ? `: ${lastLine}` : ""}`,
        },
      );
    });
  });
}

async function childMain(name, clients) {
  const scenario = scenarios.find((candidate) => candidate.name === name);
  try {
    const rows = await scenario.run(clients);
    process.send({ rows });
  } catch (error) {
    process.send({ failed: `the scenario threw: ${error?.stack ?? error}` });
  }
  process.disconnect();
}

async function parentMain() {
  const startedMs = performance.now();
  console.log(`tokentrace hazards bench  node ${process.version}  tokentrace build ${distURL.pathname}`);
  console.log("event-loop delay at 1 ms resolution (an idle loop shows ~1.1 ms); CPU of the client process\n");
  const selected = scenarios.filter(
    (scenario) => process.argv[2] === undefined || scenario.name.startsWith(process.argv[2]),
  );
  const header = [
    "scenario",
    "client",
    "calls",
    "CPU ms/call",
    "wall ms/call",
    "delay max ms",
    "p99 ms",
    "mean ms",
    "notes",
  ];
  const rows = [];
  for (const scenario of selected) {
    console.log(`${scenario.name}: ${scenario.description}`);
    const runs = scenario.freshProcessPerClient ? [["raw"], ["observed"]] : [["raw", "observed"]];
    for (const clients of runs) {
      const result = await runChild(scenario, clients);
      if (result.failed !== undefined) {
        rows.push([scenario.name, clients.join("+"), "-", "-", "-", "-", "-", "-", `FAILED: ${result.failed}`]);
        continue;
      }
      for (const row of result.rows) {
        rows.push([
          scenario.name,
          row.client,
          String(row.calls),
          row.cpuMs.toFixed(2),
          row.wallMs.toFixed(2),
          row.delay.maxMs.toFixed(1),
          row.delay.p99Ms.toFixed(1),
          row.delay.meanMs.toFixed(2),
          row.notes.join("; "),
        ]);
      }
    }
  }
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column].length)));
  const format = (cells) =>
    cells
      .map((cell, column) =>
        column < 2 || column === cells.length - 1 ? cell.padEnd(widths[column]) : cell.padStart(widths[column]),
      )
      .join("  ");
  console.log(`\n${format(header)}`);
  console.log(widths.map((width) => "-".repeat(width)).join("  "));
  for (const row of rows) console.log(format(row).trimEnd());
  console.log(`\nwall time ${((performance.now() - startedMs) / 1000).toFixed(1)} s`);
}

if (process.argv[2] === "--child") await childMain(process.argv[3], process.argv[4].split(","));
else await parentMain();
