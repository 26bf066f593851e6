/**
 * Client-side CPU that tokentrace adds to each call, measured against the raw `openai` and
 * `@anthropic-ai/sdk` clients in the same run. Run: `npm run bench` (builds, then `node --expose-gc bench/run.mjs`).
 *
 * - The mock server runs in a forked process (bench/mock-server-process.mjs), so only client work is
 *   counted by `process.cpuUsage()`: request building, HTTP, parsing, and for the observed client the
 *   spans and metrics too.
 * - The observed client gets real OpenTelemetry SDK providers (a BatchSpanProcessor over an exporter that
 *   discards spans, a MeterProvider with a reader so histograms really aggregate) and tokentrace's
 *   defaults (content capture on, stream usage injected), so the cost is what an app would pay.
 * - Raw and observed alternate over several rounds, and inside each round in short blocks (order flipped
 *   every block, so raw-observed-observed-raw...), with a GC at the start of each round; the median round
 *   per client is kept. On a shared 2-core machine, bursts of other work inflate CPU time per call by up
 *   to 2x for seconds at a time; short alternating blocks make such a burst hit both clients alike
 *   instead of one client's whole round.
 * - In trials the block right after a forced GC tended to measure slower (likely heap regrowth and GC
 *   helper threads, which `process.cpuUsage()` also counts), so a few unmeasured calls follow each GC and
 *   the client that goes first in a round alternates between rounds.
 *
 * Informational: always exits 0 unless the bench itself breaks.
 */
import { fork } from "node:child_process";
import { readFileSync } from "node:fs";
import os from "node:os";
import { ExportResultCode } from "@opentelemetry/core";
import { MeterProvider, MetricReader } from "@opentelemetry/sdk-metrics";
import { BasicTracerProvider, BatchSpanProcessor } from "@opentelemetry/sdk-trace-base";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { observe, VERSION } from "../dist/index.js";

if (typeof global.gc !== "function") {
  console.error("bench/run.mjs needs --expose-gc: run it with `npm run bench`.");
  process.exit(1);
}

const rounds = 5;
// Blocks per client per round: enough that a burst of background load spreads over both clients, few
// enough that a block is long (~0.2 s) next to the cost of reading the CPU clock.
const blocksPerRound = 10;
const warmUpCalls = 200;
// Unmeasured calls per client after each round's GC (see the header comment).
const settleCallsPerClient = 10;
const model = "gpt-4o-mini";
const messages = [
  { role: "system", content: "You are a concise assistant." },
  { role: "user", content: "Summarise the plot of Hamlet in one sentence." },
];

// 200 words, one per chunk: the stream scenario is 200 content chunks, as a long answer would be.
const vocabulary = ["the", "prince", "returns", "to", "find", "his", "father", "dead", "and", "uncle", "crowned"];
const streamText = Array.from({ length: 200 }, (_, index) => vocabulary[index % vocabulary.length]).join(" ");

const openaiClient = (baseURL) => new OpenAI({ baseURL, apiKey: "sk-bench", maxRetries: 0 });

const openaiStream = {
  name: "stream, 200 chunks",
  createClient: openaiClient,
  defaultReply: { chunks: 200, text: streamText },
  callsPerRound: 300,
  targetAddedPercent: 5,
  run: async (client) => {
    const stream = await client.chat.completions.create({ model, messages, stream: true });
    let contentChunkCount = 0;
    for await (const chunk of stream) if (chunk.choices[0]?.delta.content) contentChunkCount++;
    if (contentChunkCount !== 200) throw new Error(`stream had ${contentChunkCount} content chunks, expected 200`);
  },
};

const scenarios = [
  {
    name: "non-streaming",
    createClient: openaiClient,
    defaultReply: {},
    callsPerRound: 2000,
    // Targets are added CPU as a share of the raw client's CPU.
    targetAddedPercent: 10,
    run: async (client) => {
      await client.chat.completions.create({ model, messages });
    },
  },
  openaiStream,
  // The same stream with the opt-in gen_ai.client.operation.time_per_output_chunk: one point per chunk after the first.
  { ...openaiStream, name: "stream, 200, chunk metric", observeOptions: { chunkTimingMetric: true } },
  {
    name: "Anthropic stream, 200",
    createClient: (_baseURL, anthropicURL) => new Anthropic({ baseURL: anthropicURL, apiKey: "sk-ant-bench", maxRetries: 0 }),
    defaultReply: {},
    anthropicReply: { chunks: 200, content: [{ type: "text", text: streamText }] },
    callsPerRound: 300,
    targetAddedPercent: 5,
    run: async (client) => {
      const stream = await client.messages.create({ model: "claude-haiku-4-5", max_tokens: 1024, messages: [messages[1]], stream: true });
      let textDeltaCount = 0;
      for await (const event of stream) if (event.type === "content_block_delta" && event.delta.type === "text_delta") textDeltaCount++;
      if (textDeltaCount !== 200) throw new Error(`stream had ${textDeltaCount} text deltas, expected 200`);
    },
  },
];

/** Discards spans but counts them, so the run can show that every observed call really made a span. */
class CountingDiscardExporter {
  spanCount = 0;
  export(spans, resultCallback) {
    this.spanCount += spans.length;
    resultCallback({ code: ExportResultCode.SUCCESS });
  }
  shutdown() {
    return Promise.resolve();
  }
  forceFlush() {
    return Promise.resolve();
  }
}

/** A reader that is never collected from: metric points are aggregated as in production, never exported. */
class IdleMetricReader extends MetricReader {
  onForceFlush() {
    return Promise.resolve();
  }
  onShutdown() {
    return Promise.resolve();
  }
}

function startServerProcess(defaultReply, anthropicReply) {
  const args = [JSON.stringify(defaultReply), ...(anthropicReply === undefined ? [] : [JSON.stringify(anthropicReply)])];
  const child = fork(new URL("./mock-server-process.mjs", import.meta.url), args, {
    // The bench's --expose-gc is of no use to the server.
    execArgv: [],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  return new Promise((resolve, reject) => {
    const onExit = (code) => reject(new Error(`mock server process exited early with code ${code}`));
    child.once("exit", onExit);
    child.once("error", reject);
    child.once("message", (message) => {
      child.off("exit", onExit);
      resolve({ child, baseURL: message.url, anthropicURL: message.anthropicURL });
    });
  });
}

function stopServerProcess(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    // Disconnecting lets the server close cleanly; the kill is a backstop so the bench never hangs.
    const backstop = setTimeout(() => child.kill("SIGKILL"), 5000);
    child.once("exit", () => {
      clearTimeout(backstop);
      resolve();
    });
    child.disconnect();
  });
}

/** CPU (user + system) microseconds spent on `callCount` sequential calls. */
async function cpuMicros(run, client, callCount) {
  const before = process.cpuUsage();
  for (let call = 0; call < callCount; call++) await run(client);
  const used = process.cpuUsage(before);
  return used.user + used.system;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

async function measureScenario(scenario, providers) {
  const { child, baseURL, anthropicURL } = await startServerProcess(scenario.defaultReply, scenario.anthropicReply);
  try {
    const clients = {
      raw: scenario.createClient(baseURL, anthropicURL),
      observed: observe(scenario.createClient(baseURL, anthropicURL), { ...providers, ...scenario.observeOptions }),
    };
    for (const client of Object.values(clients)) {
      for (let call = 0; call < warmUpCalls; call++) await scenario.run(client);
    }
    const perRound = { raw: [], observed: [] };
    const callsPerBlock = scenario.callsPerRound / blocksPerRound;
    for (let round = 0; round < rounds; round++) {
      child.send("reset");
      global.gc();
      for (let call = 0; call < settleCallsPerClient; call++) {
        for (const client of Object.values(clients)) await scenario.run(client);
      }
      const usedMicros = { raw: 0, observed: 0 };
      for (let block = 0; block < blocksPerRound; block++) {
        const order = (round + block) % 2 === 0 ? ["raw", "observed"] : ["observed", "raw"];
        for (const name of order) usedMicros[name] += await cpuMicros(scenario.run, clients[name], callsPerBlock);
      }
      for (const name of ["raw", "observed"]) perRound[name].push(usedMicros[name] / scenario.callsPerRound);
    }
    return perRound;
  } finally {
    await stopServerProcess(child);
  }
}

function packageVersion(name) {
  try {
    const url = new URL(`../node_modules/${name}/package.json`, import.meta.url);
    return JSON.parse(readFileSync(url, "utf8")).version;
  } catch {
    return "?";
  }
}

const exporter = new CountingDiscardExporter();
const tracerProvider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(exporter)] });
const meterProvider = new MeterProvider({ readers: [new IdleMetricReader()] });

const cpus = os.cpus();
console.log(`tokentrace ${VERSION} client-side CPU bench`);
console.log(
  `date ${new Date().toISOString()}  node ${process.version}  openai ${packageVersion("openai")}  ` +
    `@anthropic-ai/sdk ${packageVersion("@anthropic-ai/sdk")}  ` +
    `${cpus.length} x ${cpus[0]?.model ?? "unknown CPU"}`,
);
console.log(
  `${rounds} rounds per scenario of ${blocksPerRound} alternating raw/observed blocks per client, median round ` +
    `kept; warm-up ${warmUpCalls} calls per client\n`,
);

const startedMs = performance.now();
const results = [];
for (const scenario of scenarios) {
  const perRound = await measureScenario(scenario, { tracerProvider, meterProvider });
  results.push({ scenario, perRound });
}
await tracerProvider.forceFlush();
const observedCalls = scenarios.reduce(
  (sum, scenario) => sum + warmUpCalls + rounds * (settleCallsPerClient + scenario.callsPerRound),
  0,
);
await Promise.all([tracerProvider.shutdown(), meterProvider.shutdown()]);

const header = ["scenario", "calls/round", "raw µs/call", "observed µs/call", "added µs/call", "ratio", "added %", "target", "result"];
const rows = results.map(({ scenario, perRound }) => {
  const rawMicros = median(perRound.raw);
  const observedMicros = median(perRound.observed);
  const addedMicros = observedMicros - rawMicros;
  const addedPercent = (addedMicros / rawMicros) * 100;
  return [
    scenario.name,
    String(scenario.callsPerRound),
    rawMicros.toFixed(1),
    observedMicros.toFixed(1),
    addedMicros.toFixed(1),
    (observedMicros / rawMicros).toFixed(3),
    `${addedPercent.toFixed(1)}%`,
    `< ${scenario.targetAddedPercent}%`,
    addedPercent < scenario.targetAddedPercent ? "PASS" : "MISS",
  ];
});
const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column].length)));
const format = (cells) => cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]) : cell.padStart(widths[column]))).join("  ");
console.log(format(header));
console.log(widths.map((width) => "-".repeat(width)).join("  "));
for (const row of rows) console.log(format(row));

console.log("\nper-round µs/call (in run order), to judge the noise:");
for (const { scenario, perRound } of results) {
  for (const name of ["raw", "observed"]) {
    console.log(`  ${scenario.name.padEnd(20)} ${name.padEnd(8)} ${perRound[name].map((micros) => micros.toFixed(1).padStart(7)).join(" ")}`);
  }
  const ratios = perRound.raw.map((rawMicros, round) => (perRound.observed[round] / rawMicros).toFixed(3).padStart(7));
  console.log(`  ${scenario.name.padEnd(20)} ${"ratio".padEnd(8)} ${ratios.join(" ")}`);
}
console.log(`\nspans exported ${exporter.spanCount} of ${observedCalls} observed calls; wall time ${((performance.now() - startedMs) / 1000).toFixed(1)} s`);
