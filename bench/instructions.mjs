/**
 * Deterministic overhead (issue #17): instructions executed per call, counted by Valgrind's Callgrind around each
 * measured call only, in the main thread, with garbage collection reported apart. Run: `npm run bench:instructions`
 * (builds tokentrace and the tiny Callgrind addon in bench/callgrind/, then runs every client and workload in its
 * own process under Valgrind, two at a time).
 *
 * What makes the counts repeat:
 * - Transport: an in-memory `fetch` (bench/replay-transport.mjs) replays the embedded mock server's reply for
 *   each distinct request, one server-sent event per read. Sockets and undici's timers would otherwise decide
 *   chunk boundaries and add timer work depending on how fast Valgrind runs.
 * - Exporting pipeline (bench/pipeline.mjs): a batch span processor and a meter provider with a reader, as an
 *   app has. The processor's timer never fires: spans are exported by hand during the warm-up and once after
 *   it; from then on they only queue (its batch and queue sizes are large enough), as between two exports in an
 *   app, so no export lands in a counted call.
 * - Node runs with `--single-threaded` (no concurrent compiler or GC threads); warm-up calls run uninstrumented
 *   (`--instr-atstart=no`) until V8's code is in its steady state (a forced GC there would drop optimised
 *   code, so there is none); ten more calls after instrumentation starts are not counted (Valgrind translating code it has not run instrumented), then collection is on from just
 *   before each measured call to a `setImmediate` after it (so trailing work of the call counts).
 * - GC apart: a call's instructions inside V8's collector entry points (`Heap::CollectGarbage`, incremental
 *   marking steps) are subtracted from it and reported as the average over the measured calls; what drives them
 *   is the heap a call allocates, reported as well (measured on calls without a GC in them).
 *
 * Clients: `raw` (the bare client); `raw, context active` (OpenTelemetry's AsyncLocalStorage context manager
 * registered and each call run inside `context.with`, as in any app whose OpenTelemetry SDK exports spans: the
 * baseline every instrumentation is measured against); tokentrace with content capture off and on, inside a
 * context and a stage, and with the opt-in signals on (`anomalies: true`, `drift`); and each peer of
 * bench/peers.mjs whose provider matches the workload, all with the context active.
 *
 * Also "by hand" on the non-streaming call: the raw client with tokentrace's telemetry written out by hand against
 * the OpenTelemetry SDK (bench/by-hand.mjs), what the SDK alone costs to record it.
 *
 * `node bench/instructions.mjs [--runs N] [--calls N] [--jobs N] [--json FILE]` (env BENCH_WORKLOADS,
 * BENCH_CLIENTS: `|`-separated names); internal: `--child <workload> <client> <calls> <result file>`.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const words = ["the", "prince", "returns", "to", "find", "his", "father", "dead", "and", "uncle", "crowned"];
const streamText = Array.from({ length: 200 }, (_, index) => words[index % words.length]).join(" ");
const systemText = "You are a concise assistant.";
const userText = "Summarise the plot of Hamlet in one sentence.";
const messages = [
  { role: "system", content: systemText },
  { role: "user", content: userText },
];
const replies = {
  chat: { chunks: 200, text: streamText },
  responses: { chunks: 200, output: [{ type: "message", text: streamText }] },
  anthropic: { chunks: 200, content: [{ type: "text", text: streamText }] },
};

const drain = async (stream) => {
  for await (const _event of stream);
};
const chatStream = async (client) =>
  drain(await client.chat.completions.create({ model: "gpt-4o-mini", messages, stream: true }));

/** Each workload: the provider it calls, uninstrumented warm-up calls, and one measured unit of work. */
export const allWorkloads = {
  "chat, non-streaming": {
    provider: "openai",
    warmUp: 2000,
    run: (client) => client.chat.completions.create({ model: "gpt-4o-mini", messages }),
  },
  "chat, 200-chunk stream": { provider: "openai", warmUp: 300, run: chatStream },
  // The app asks for the usage chunk itself, so tokentrace adds nothing to the request: this shows what the
  // stream above pays for the usage tokentrace asks for (the extra bytes the SDK reads, and hiding them).
  "chat, 200-chunk stream, app asks for usage": {
    provider: "openai",
    warmUp: 300,
    run: async (client) =>
      drain(
        await client.chat.completions.create({
          model: "gpt-4o-mini",
          messages,
          stream: true,
          stream_options: { include_usage: true },
        }),
      ),
  },
  "Responses, 200-delta stream": {
    provider: "openai",
    warmUp: 300,
    run: async (client) =>
      drain(await client.responses.create({ model: "gpt-4o-mini", input: messages, stream: true })),
  },
  "Anthropic, 200-delta stream": {
    provider: "anthropic",
    warmUp: 300,
    run: async (client) =>
      drain(
        await client.messages.create({
          model: "claude-sonnet-4-5",
          max_tokens: 1024,
          system: systemText,
          messages: [{ role: "user", content: userText }],
          stream: true,
        }),
      ),
  },
  "32 concurrent chat streams": {
    provider: "openai",
    warmUp: 12,
    run: (client) => Promise.all(Array.from({ length: 32 }, () => chatStream(client))),
  },
};

const baseClients = [
  "raw",
  "raw, context active",
  "by hand",
  "tokentrace",
  "tokentrace, content on",
  "tokentrace, context and stage",
  "tokentrace, signals on",
];
const defaultSdks = ["openai", "@anthropic-ai/sdk"];
/** The row a client's added cost is counted from: the raw client of the same SDK, context active. */
const baselineOf = (peer) =>
  peer === undefined || defaultSdks.includes(peer.sdk) ? "raw, context active" : `raw, context active, ${peer.sdk}`;

const argv = process.argv.slice(2);

async function loadPeers() {
  const file = join(here, "peers.mjs");
  return existsSync(file) ? (await import(file)).peers : {};
}

async function child(workloadName, clientName, calls, resultFile) {
  const workload = allWorkloads[workloadName];
  const callgrind = createRequire(import.meta.url)("./callgrind/build/Release/callgrind.node");
  const peer = (await loadPeers())[clientName];
  const contextActive = clientName !== "raw";
  const api = await import("@opentelemetry/api");
  if (contextActive) {
    const { AsyncLocalStorageContextManager } = await import("@opentelemetry/context-async-hooks");
    api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  }
  const { benchPipeline } = await import("./pipeline.mjs");
  const pipeline =
    clientName.startsWith("tokentrace") || clientName === "by hand" || peer !== undefined
      ? benchPipeline({ exportByHand: true })
      : undefined;
  // A peer registers the providers itself, the way its docs say (bench/peers.mjs); a raw row on another SDK
  // version than the default ("raw, context active, anthropic-v0") is the baseline of the peers that run on it.
  const sdk = /, (openai-v\d+|anthropic-v\d+)$/.exec(clientName)?.[1];
  const classes =
    peer !== undefined
      ? await peer.instrument(pipeline)
      : {
          OpenAI: (await import(sdk?.startsWith("openai") ? sdk : "openai")).default,
          Anthropic: (await import(sdk?.startsWith("anthropic") ? sdk : "@anthropic-ai/sdk")).default,
        };
  const transport = await import("./replay-transport.mjs").then(({ startReplayTransport }) =>
    startReplayTransport(replies),
  );
  const options = { apiKey: "sk-bench", maxRetries: 0, fetch: transport.fetch };
  let client =
    workload.provider === "openai"
      ? new classes.OpenAI({ ...options, baseURL: transport.baseURL })
      : new classes.Anthropic({ ...options, baseURL: transport.anthropicURL });
  if (clientName.startsWith("tokentrace")) {
    const { observe } = await import("../dist/index.js");
    // BENCH_TOKENTRACE_PARTS (attribution, not figures): "nospans" gives tokentrace a provider whose sampler
    // drops every span, "nometrics" the no-op meter provider.
    const exp = process.env["BENCH_TOKENTRACE_PARTS"] ?? "";
    const { AlwaysOffSampler, BasicTracerProvider } = await import("@opentelemetry/sdk-trace-base");
    client = observe(client, {
      tracerProvider: exp.includes("nospans")
        ? new BasicTracerProvider({ sampler: new AlwaysOffSampler() })
        : pipeline.tracerProvider,
      meterProvider: exp.includes("nometrics") ? api.metrics.getMeterProvider() : pipeline.meterProvider,
      captureContent: clientName === "tokentrace, content on",
      // Issue 15: the opt-in signals, every anomaly signal and drift, past their warm-up (the bench's warm-up
      // calls fill the drift window, so the measured calls compare and score).
      ...(clientName === "tokentrace, signals on" ? { anomalies: true, drift: { windowSize: 50 } } : {}),
    });
  }
  // Issue 12: the call inside withContext() and one stage, whose span goes to the same pipeline (stages use the
  // global providers when there is no setup()).
  let run = workload.run;
  if (clientName === "tokentrace, context and stage") {
    const { withAgent, withContext } = await import("../dist/index.js");
    api.trace.setGlobalTracerProvider(pipeline.tracerProvider);
    api.metrics.setGlobalMeterProvider(pipeline.meterProvider);
    const values = { userId: "user-42", sessionId: "session-7", tags: ["bench"] };
    run = (tracedClient) => withContext(values, () => withAgent("bench-agent", () => workload.run(tracedClient)));
  }
  if (clientName === "by hand") {
    const { instrumentByHand } = await import("./by-hand.mjs");
    client = instrumentByHand(client, pipeline);
  }
  const requestContext = api.ROOT_CONTEXT.setValue(api.createContextKey("tokentrace bench request"), true);
  const call = contextActive ? () => api.context.with(requestContext, run, undefined, client) : () => run(client);
  const exportSpans = async () => pipeline?.tracerProvider.forceFlush();

  for (let index = 0; index < workload.warmUp; index++) {
    await call();
    if (index % 64 === 63) await exportSpans();
  }
  await exportSpans();
  // Every request the measured calls make has been seen: the server goes, so nothing of it runs while counting.
  const distinctRequests = transport.recorded;
  await transport.close();
  // No forced GC here: V8 drops optimised code and feedback in a forced full GC, and the calls after it would
  // measure recompilation.
  callgrind.instrument();
  // From here on spans only queue, as between two exports of an app's batch span processor (whose timer is
  // running): no export lands inside a counted call.
  for (let index = 0; index < 10; index++) await call();
  const heapUsed = [];
  const v8 = await import("node:v8");
  for (let index = 0; index < calls; index++) {
    const before = v8.getHeapStatistics().used_heap_size;
    callgrind.start();
    await call();
    await new Promise((resolve) => setImmediate(resolve));
    callgrind.stop();
    heapUsed.push(v8.getHeapStatistics().used_heap_size - before);
  }
  writeFileSync(resultFile, JSON.stringify({ heapUsed, distinctRequests, coverage: await coverageOf(pipeline) }));
}

/** What the client recorded on its last span and which metrics it fed, read from the pipeline after the run. */
async function coverageOf(pipeline) {
  if (pipeline === undefined) return undefined;
  await pipeline.tracerProvider.forceFlush();
  const span = pipeline.exporter.lastSpan;
  const { resourceMetrics } = await pipeline.reader.collect();
  const metrics = resourceMetrics.scopeMetrics.flatMap((scope) =>
    scope.metrics.map((metric) => metric.descriptor.name),
  );
  if (span === undefined) return { spans: pipeline.exporter.spanCount, metrics };
  const attributes = span.attributes;
  const text = JSON.stringify([attributes, span.events.map((event) => event.attributes)]);
  const tokens = Object.entries(attributes).find(
    ([key, value]) => /output_tokens|completion_tokens|token_count\.completion/.test(key) && typeof value === "number",
  );
  return {
    spans: pipeline.exporter.spanCount,
    name: span.name,
    attributeCount: Object.keys(attributes).length,
    outputTokens: tokens === undefined ? undefined : `${tokens[0]}=${tokens[1]}`,
    inputContent: text.includes("Summarise the plot of Hamlet"),
    outputContent: text.includes("prince returns to find"),
    cost: Object.keys(attributes).some((key) => /cost/.test(key)),
    metrics: [...new Set(metrics)].sort(),
  };
}

/** The instructions of one Callgrind dump (the summary line) and the part of them inside V8's collector. */
export function readDump(text) {
  const summary = /^summary:\s+(\d+)/m.exec(text);
  if (summary === null) throw new Error("a Callgrind dump without a summary line");
  // Function names are compressed: the first mention is `(id) name`, later ones `(id)`.
  const names = new Map();
  const nameOf = (reference) => {
    const match = /^\((\d+)\)(?: (.*))?$/.exec(reference);
    if (match === null) return reference;
    if (match[2] !== undefined) names.set(match[1], match[2]);
    return names.get(match[1]) ?? "";
  };
  let caller = "";
  let callee = "";
  let inCall = false;
  let gc = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith("fn=")) caller = nameOf(line.slice(3));
    else if (line.startsWith("cfn=")) callee = nameOf(line.slice(4));
    else if (line.startsWith("calls=")) inCall = true;
    else if (inCall) {
      // The line after `calls=` is the call's position and its inclusive cost.
      inCall = false;
      if (isCollector(callee) && !isCollector(caller)) gc += Number(line.split(" ")[1]);
    }
  }
  return { total: Number(summary[1]), gc };
}

const isCollector = (name) =>
  /^v8::internal::(Heap::CollectGarbage\(|Heap::CollectAllGarbage|Heap::CollectAllAvailableGarbage|IncrementalMarking::(AdvanceOnAllocation|Step|Start|AdvanceAndFinalizeIfComplete|AdvanceAndFinalizeIfNecessary)|ScavengeJob|MinorGCJob|MemoryReducer)/.test(
    name,
  );

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};

/** One client and workload in a fresh process under Callgrind: per measured call, instructions outside GC, GC, heap. */
export async function measure(workloadName, clientName, calls) {
  const directory = mkdtempSync(join(tmpdir(), "tokentrace-callgrind-"));
  try {
    const resultFile = join(directory, "result.json");
    const args = [
      "--tool=callgrind",
      "--collect-atstart=no",
      "--instr-atstart=no",
      "--separate-threads=yes",
      `--callgrind-out-file=${join(directory, "cg.out")}`,
      process.execPath,
      "--single-threaded",
      // Garbage collection without time-driven parts: incremental marking (whose write barriers slow the code
      // that runs while it is on) and the memory reducer (which collects on a timer) are off; a full GC then
      // runs at once, inside the collector's entry point, and is reported apart whole.
      "--no-incremental-marking",
      "--no-memory-reducer",
      "--expose-gc",
      ...(process.env["BENCH_NODE_FLAGS"]?.split(" ").filter(Boolean) ?? []),
      join(here, "instructions.mjs"),
      "--child",
      workloadName,
      clientName,
      String(calls),
      resultFile,
    ];
    const stderr = await new Promise((resolve, reject) => {
      const process = spawn("valgrind", args, { stdio: ["ignore", "ignore", "pipe"] });
      let output = "";
      process.stderr.on("data", (data) => (output += data));
      process.on("error", reject);
      process.on("exit", (code) =>
        code === 0
          ? resolve(output)
          : reject(new Error(`${clientName} / ${workloadName}: exit ${code}\n${output.slice(-3000)}`)),
      );
    });
    // One dump per measured call per thread (`cg.out.<n>-<thread>`); thread 01 is the main thread.
    const dumps = readdirSync(directory)
      .filter((file) => /\.\d+-01$/.test(file))
      .sort((a, b) => Number(/\.(\d+)-01$/.exec(a)[1]) - Number(/\.(\d+)-01$/.exec(b)[1]))
      .map((file) => readDump(readFileSync(join(directory, file), "utf8")));
    if (dumps.length !== calls)
      throw new Error(`expected ${calls} dumps of the main thread, found ${dumps.length}\n${stderr.slice(-2000)}`);
    const result = JSON.parse(readFileSync(resultFile, "utf8"));
    const withoutGc = dumps.filter((dump) => dump.gc === 0);
    if (process.env["BENCH_KEEP_DUMPS"] === "1")
      console.log(
        `  per call: ${dumps.map((dump) => `${(dump.total / 1e6).toFixed(3)}${dump.gc > 0 ? `(gc ${(dump.gc / 1e6).toFixed(3)})` : ""}`).join(" ")}`,
      );
    return {
      instructions: median(dumps.map((dump) => dump.total - dump.gc)),
      gc: dumps.reduce((sum, dump) => sum + dump.gc, 0) / dumps.length,
      gcCalls: dumps.length - withoutGc.length,
      heapBytes: median(result.heapUsed.filter((_, index) => dumps[index].gc === 0)),
      coverage: result.coverage,
    };
  } finally {
    // BENCH_KEEP_DUMPS=1 keeps each process's dumps for `callgrind_annotate`, and prints where.
    if (process.env["BENCH_KEEP_DUMPS"] === "1")
      console.log(`  (dumps of ${clientName} / ${workloadName}: ${directory})`);
    else rmSync(directory, { recursive: true, force: true });
  }
}

async function parent() {
  const option = (name, fallback) => {
    const index = argv.indexOf(name);
    return index === -1 ? fallback : argv[index + 1];
  };
  const runs = Number(option("--runs", 2));
  const calls = Number(option("--calls", 25));
  const jobs = Number(option("--jobs", 2));
  const jsonFile = option("--json", undefined);
  const version = await new Promise((resolve) => {
    const process = spawn("valgrind", ["--version"]);
    let output = "";
    process.stdout?.on("data", (data) => (output += data));
    process.on("error", () => resolve(undefined));
    process.on("exit", (code) => resolve(code === 0 ? output.trim() : undefined));
  });
  if (version === undefined) {
    console.error("bench/instructions.mjs needs Valgrind: apt-get install valgrind");
    process.exit(1);
  }
  const peers = await loadPeers();
  const selectedWorkloads = process.env["BENCH_WORKLOADS"]?.split("|") ?? Object.keys(allWorkloads);
  const selectedClients = process.env["BENCH_CLIENTS"]?.split("|") ?? [...baseClients, ...Object.keys(peers)];
  const tasks = [];
  for (const workloadName of selectedWorkloads) {
    const workload = allWorkloads[workloadName];
    if (workload === undefined) throw new Error(`unknown workload ${workloadName}`);
    const clientNames = [];
    for (const clientName of selectedClients) {
      const peer = peers[clientName];
      if (peer !== undefined && peer.provider !== workload.provider) continue;
      if (clientName === "by hand" && workloadName !== "chat, non-streaming") continue;
      const base = baselineOf(peer);
      if (!clientNames.includes(base) && clientName !== "raw") clientNames.push(base);
      if (!clientNames.includes(clientName)) clientNames.push(clientName);
    }
    for (const clientName of clientNames)
      for (let run = 0; run < runs; run++) tasks.push({ workloadName, clientName, run });
  }
  console.log(`instructions per call (Callgrind, main thread, GC apart), ${calls} calls per process, ${runs} runs`);
  console.log(`${version}  node ${process.version}  ${tasks.length} processes, ${jobs} at a time\n`);
  const started = Date.now();
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const task = tasks[next++];
      task.result = await measure(task.workloadName, task.clientName, calls);
    }
  };
  await Promise.all(Array.from({ length: jobs }, worker));

  const figures = {};
  for (const workloadName of selectedWorkloads) {
    const rows = tasks.filter((task) => task.workloadName === workloadName);
    const clientNames = [...new Set(rows.map((task) => task.clientName))];
    const resultsOf = (name) => rows.filter((task) => task.clientName === name).map((task) => task.result);
    const baseOf = (clientName) => resultsOf(baselineOf(peers[clientName]))[0]?.instructions;
    console.log(workloadName);
    figures[workloadName] = {};
    for (const clientName of clientNames) {
      const results = resultsOf(clientName);
      const values = results.map((result) => result.instructions);
      const spread = ((Math.max(...values) - Math.min(...values)) / Math.min(...values)) * 100;
      const first = results[0];
      const added = clientName.startsWith("raw") ? undefined : values[0] - baseOf(clientName);
      figures[workloadName][clientName] = {
        instructions: values,
        added,
        gc: first.gc,
        heapBytes: first.heapBytes,
        coverage: first.coverage,
      };
      console.log(
        `  ${clientName.padEnd(34)} ${values.map((value) => (value / 1e6).toFixed(3)).join(" / ")} M` +
          `  (within ${spread.toFixed(2)}%)` +
          (added === undefined ? "" : `  added ${(added / 1e6).toFixed(3)} M`) +
          `  GC ${(first.gc / 1e6).toFixed(3)} M/call (${first.gcCalls} of ${calls} calls)  heap ${(first.heapBytes / 1024).toFixed(1)} KiB/call`,
      );
      if (first.coverage !== undefined) console.log(`  ${"".padEnd(34)} ${JSON.stringify(first.coverage)}`);
    }
  }
  console.log(`\n${((Date.now() - started) / 1000).toFixed(0)} s`);
  if (jsonFile !== undefined)
    writeFileSync(
      jsonFile,
      `${JSON.stringify({ date: new Date().toISOString().slice(0, 10), node: process.version, valgrind: version, calls, figures }, null, 2)}\n`,
    );
}

if (argv[0] === "--child") await child(argv[1], argv[2], Number(argv[3]), argv[4]);
else if (import.meta.url === `file://${process.argv[1]}`) await parent();
