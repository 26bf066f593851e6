// Event-loop delay of loading the tokenizer behind token estimates (issue #10, "Nothing loads synchronously on
// a call path"). Each case runs in a fresh child process: `node bench/first-estimate.mjs`.
// - main: the tokenizer module imported on the main thread (what the first estimated call does today, and what
//   a "background" import() would still do, only later: module evaluation is synchronous).
// - worker: the same module loaded in a worker thread; the main thread only spawns it.
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { Worker } from "node:worker_threads";

const require = createRequire(import.meta.url);

async function child(mode, encoding) {
  await new Promise((resolve) => setTimeout(resolve, 50));
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  await new Promise((resolve) => setTimeout(resolve, 20)); // let the histogram's timer start sampling
  const start = performance.now();
  const path = require.resolve(`gpt-tokenizer/encoding/${encoding}`);
  if (mode === "main") {
    const tokenizer = require(path);
    tokenizer.countTokens("warm up the tokenizer");
  } else {
    const worker = new Worker(
      `const { parentPort, workerData } = require("node:worker_threads");
       require(workerData.path).countTokens("warm up the tokenizer");
       parentPort.postMessage("ready");`,
      { eval: true, workerData: { path } },
    );
    worker.unref();
    await new Promise((resolve) => worker.once("message", resolve));
  }
  const readyMs = performance.now() - start;
  await new Promise((resolve) => setTimeout(resolve, 20));
  histogram.disable();
  console.log(JSON.stringify({ mode, encoding, readyMs, maxDelayMs: histogram.max / 1e6 }));
}

if (process.argv[2] === "--child") {
  await child(process.argv[3], process.argv[4]);
} else {
  for (const encoding of ["o200k_base", "cl100k_base"]) {
    for (const mode of ["main", "worker"]) {
      const out = execFileSync(process.execPath, [new URL(import.meta.url).pathname, "--child", mode, encoding]);
      const { readyMs, maxDelayMs } = JSON.parse(String(out));
      console.log(
        `${encoding} loaded on ${mode}: ready after ${readyMs.toFixed(0)} ms, max event-loop delay ${maxDelayMs.toFixed(1)} ms`,
      );
    }
  }
}
