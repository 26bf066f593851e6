/**
 * Before/after for a change: the raw client, this build's observed client and another build's observed client,
 * alternating call by call in one process against one mock server (so the VM's drift hits all three alike).
 * Run: `npm run build && node --expose-gc bench/compare-builds.mjs <dist dir of the other build>`; build the other
 * one from a `git worktree` of the commit to compare with. Prints trimmed-mean client CPU µs per call (each
 * client's slowest 5% left out, as in bench/run.mjs) and what each build adds. Informational.
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { observe } from "../dist/index.js";
import { benchPipeline } from "./pipeline.mjs";
import { startServerProcess } from "./server-process.mjs";

const otherDist = process.argv[2];
if (typeof global.gc !== "function" || otherDist === undefined) {
  console.error("usage: node --expose-gc bench/compare-builds.mjs <dist dir of the other build>");
  process.exit(1);
}
const other = await import(pathToFileURL(resolve(otherDist, "index.js")).href);

const messages = [
  { role: "system", content: "You are a concise assistant." },
  { role: "user", content: "Summarise the plot of Hamlet in one sentence." },
];
const words = ["the", "prince", "returns", "to", "find", "his", "father", "dead", "and", "uncle", "crowned"];
const streamText = Array.from({ length: 200 }, (_, index) => words[index % words.length]).join(" ");

const scenarios = [
  {
    name: "non-streaming",
    reply: {},
    client: (baseURL) => new OpenAI({ baseURL, apiKey: "sk-bench", maxRetries: 0 }),
    warmUp: 3000,
    measured: 4000,
    run: (client) => client.chat.completions.create({ model: "gpt-4o-mini", messages }),
  },
  {
    name: "stream 200, burst",
    reply: { chunks: 200, text: streamText },
    client: (baseURL) => new OpenAI({ baseURL, apiKey: "sk-bench", maxRetries: 0 }),
    warmUp: 300,
    measured: 1000,
    run: async (client) => {
      const stream = await client.chat.completions.create({ model: "gpt-4o-mini", messages, stream: true });
      for await (const _chunk of stream);
    },
  },
  {
    name: "Anthropic stream 200, burst",
    reply: {},
    anthropicReply: { chunks: 200, content: [{ type: "text", text: streamText }] },
    client: (_baseURL, anthropicURL) => new Anthropic({ baseURL: anthropicURL, apiKey: "sk-ant-bench", maxRetries: 0 }),
    warmUp: 300,
    measured: 1000,
    run: async (client) => {
      const stream = await client.messages.create({
        model: "claude-haiku-4-5",
        max_tokens: 1024,
        messages: [messages[1]],
        stream: true,
      });
      for await (const _event of stream);
    },
  },
];

const { tracerProvider, meterProvider } = benchPipeline();
const providers = { tracerProvider, meterProvider };

const trimmedMean = (values) => {
  const kept = [...values].sort((a, b) => a - b).slice(0, Math.ceil(values.length * 0.95));
  return kept.reduce((sum, value) => sum + value, 0) / kept.length;
};

console.log(`client CPU µs/call (trimmed means); "other": ${resolve(otherDist)}\n`);
console.log("scenario                       raw      this    other   this adds  other adds");
for (const scenario of scenarios) {
  const { child, baseURL, anthropicURL, stop } = await startServerProcess(scenario.reply, scenario.anthropicReply);
  try {
    const clients = {
      raw: scenario.client(baseURL, anthropicURL),
      this: observe(scenario.client(baseURL, anthropicURL), providers),
      other: other.observe(scenario.client(baseURL, anthropicURL), providers),
    };
    const names = Object.keys(clients);
    for (let call = 0; call < scenario.warmUp; call++) {
      for (const name of names) await scenario.run(clients[name]);
      if (call % 500 === 499) child.send("reset");
    }
    global.gc();
    const used = Object.fromEntries(names.map((name) => [name, []]));
    for (let call = 0; call < scenario.measured; call++) {
      const shift = call % names.length;
      for (const name of [...names.slice(shift), ...names.slice(0, shift)]) {
        const before = process.cpuUsage();
        await scenario.run(clients[name]);
        const after = process.cpuUsage(before);
        used[name].push(after.user + after.system);
      }
      if (call % 500 === 499) child.send("reset");
    }
    const [raw, mine, theirs] = names.map((name) => trimmedMean(used[name]));
    const percent = (value) => `${(((value - raw) / raw) * 100).toFixed(1)}%`;
    console.log(
      `${scenario.name.padEnd(28)} ${raw.toFixed(0).padStart(6)} ${mine.toFixed(0).padStart(8)} ${theirs.toFixed(0).padStart(8)}` +
        `  ${`+${(mine - raw).toFixed(0)} (${percent(mine)})`.padStart(11)} ${`+${(theirs - raw).toFixed(0)} (${percent(theirs)})`.padStart(11)}`,
    );
  } finally {
    await stop();
  }
}
