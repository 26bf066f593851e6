/**
 * The overhead guard (issue #17): the deterministic bench (bench/instructions.mjs) for the non-streaming chat call
 * and the 200-chunk chat stream, raw (context active) and tokentrace, compared with the figures committed in
 * bench/instructions-figures.json. Fails when tokentrace's added instructions (over the raw client) exceed the
 * committed figure by more than `ADDED_SLACK` of it plus `RAW_SLACK` of the raw client's count: between separate
 * invocations the counts move by up to about 1% (the medians of calls whose costs differ by where a V8
 * internal event lands), and an added figure is the difference of two such counts.
 *
 * Run: `npm run bench:check` (builds tokentrace and the Callgrind addon first; about 2 minutes on two cores).
 * Refresh the figures after a change that is meant to move them: `npm run bench:check -- --update`, and commit
 * the file with the change that moved them (say why in the message).
 *
 * The counts repeat exactly for the same Node.js, Valgrind, libc and CPU features; the raw client's figure shows
 * whether this machine is such a one. When it differs from the committed one by more than `TOLERANCE`, the check
 * says so and compares nothing (exit 0): the figures were made in another environment, and only a refresh there
 * tells anything. Without Valgrind it says so and exits 0 too.
 */
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { measure } from "./instructions.mjs";

const ADDED_SLACK = 0.05;
const RAW_SLACK = 0.01;
/** A raw count this far from the committed one means another environment (see above). */
const TOLERANCE = 0.03;
const CALLS = 25;
const figuresFile = fileURLToPath(new URL("./instructions-figures.json", import.meta.url));
const workloads = ["chat, non-streaming", "chat, 200-chunk stream"];
const clients = ["raw, context active", "tokentrace"];
const update = process.argv.includes("--update");

const valgrind = spawnSync("valgrind", ["--version"], { encoding: "utf8" });
if (valgrind.status !== 0) {
  console.log("bench:check: Valgrind is not installed (apt-get install valgrind); nothing compared.");
  process.exit(0);
}

const measured = {};
await Promise.all(
  workloads.map(async (workload) => {
    measured[workload] = {};
    // Two processes at a time: one workload's two clients.
    for (const client of clients) measured[workload][client] = (await measure(workload, client, CALLS)).instructions;
  }),
);

const environment = { node: process.version, valgrind: valgrind.stdout.trim() };
if (update) {
  const figures = { date: new Date().toISOString().slice(0, 10), ...environment, calls: CALLS, instructions: measured };
  writeFileSync(figuresFile, `${JSON.stringify(figures, null, 2)}\n`);
  console.log(`bench:check: figures written to bench/instructions-figures.json\n${JSON.stringify(measured, null, 2)}`);
  process.exit(0);
}

const committed = JSON.parse(readFileSync(figuresFile, "utf8"));
const millions = (value) => `${(value / 1e6).toFixed(3)} M`;
let failed = false;
for (const workload of workloads) {
  const raw = measured[workload]["raw, context active"];
  const committedRaw = committed.instructions[workload]["raw, context active"];
  if (Math.abs(raw - committedRaw) / committedRaw > TOLERANCE) {
    console.log(
      `bench:check: ${workload}: the raw client runs ${millions(raw)} here and ${millions(committedRaw)} where the ` +
        `figures were made (${committed.node}, ${committed.valgrind}, ${committed.date}): another environment, ` +
        `nothing compared. Refresh the figures on this machine to use it (see bench/instructions-check.mjs).`,
    );
    continue;
  }
  const added = measured[workload]["tokentrace"] - raw;
  const committedAdded = committed.instructions[workload]["tokentrace"] - committedRaw;
  const limit = committedAdded * (1 + ADDED_SLACK) + committedRaw * RAW_SLACK;
  const verdict = added > limit ? "REGRESSION" : "ok";
  if (added > limit) failed = true;
  console.log(
    `bench:check: ${workload}: tokentrace adds ${millions(added)} (committed ${millions(committedAdded)}, ` +
      `limit ${millions(limit)}): ${verdict}`,
  );
}
process.exit(failed ? 1 : 0);
