// Import cost of tokentrace's entries: CPU time of `await import()` in fresh Node processes, median of N runs
// per entry, entries run in turn. `node bench/import-time.mjs [runs] [dist dir of another build to compare]`.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

const runs = Number(process.argv[2] ?? 20);
const builds = [["this build", resolve("dist")]];
if (process.argv[3] !== undefined) builds.push(["compared build", resolve(process.argv[3])]);

const probe = (specifiers) => `
const before = process.cpuUsage();
${specifiers.map((s) => `await import(${JSON.stringify(s)});`).join("\n")}
const used = process.cpuUsage(before);
process.stdout.write(String((used.user + used.system) / 1000));`;

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

const rows = [["openai (reference)", ["openai"]]];
for (const [label, dist] of builds) {
  const url = (file) => pathToFileURL(resolve(dist, file)).href;
  // @opentelemetry/api is the app's own peer: loaded first, outside the measurement.
  rows.push([`${label}: tokentrace`, ["@opentelemetry/api", url("index.js")]]);
  // A build from before tokentrace/setup existed carried setup() in its main entry.
  if (existsSync(resolve(dist, "setup.js")))
    rows.push([`${label}: tokentrace + tokentrace/setup`, ["@opentelemetry/api", url("index.js"), url("setup.js")]]);
}
const samples = rows.map(() => []);
for (let run = 0; run < runs; run++) {
  rows.forEach(([, specifiers], index) => {
    const [first, ...rest] = specifiers;
    const warm = first === "@opentelemetry/api" ? `await import("@opentelemetry/api");` : "";
    const code = warm + probe(first === "@opentelemetry/api" ? rest : specifiers);
    const out = execFileSync(process.execPath, ["--input-type=module", "-e", code], { encoding: "utf8" });
    samples[index].push(Number(out));
  });
}
for (const [index, [label]] of rows.entries())
  console.log(`${label.padEnd(48)} ${median(samples[index]).toFixed(1)} ms CPU`);
