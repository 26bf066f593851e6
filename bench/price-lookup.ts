/**
 * Cost of pricing one call (issue target: under 2 µs after the first lookup of a model, thanks to the
 * pricer's per-model cache). Run: `npx tsx bench/price-lookup.ts`.
 *
 * Each case prices the same query 100 000 times after a 10 000-call warm-up and reports the median of five
 * rounds, so one burst of other work on a shared machine does not decide the figure. The first lookup
 * (match rules scanned, nothing cached) and the pricer's set-up are reported apart.
 *
 * Informational: always exits 0 unless the bench itself breaks.
 */
import { createPricer, type PriceQuery } from "../src/metrics/cost.js";

const callsPerRound = 100_000;
const warmupCalls = 10_000;
const rounds = 5;
const targetMicroseconds = 2;
const timestampMs = Date.parse("2026-11-01T12:00:00Z");

const cases: [label: string, query: PriceQuery][] = [
  [
    "openai gpt-4o-mini",
    {
      providerName: "openai",
      requestModel: "gpt-4o-mini",
      responseModel: "gpt-4o-mini-2024-07-18",
      usage: { inputTokens: 1200, cacheReadInputTokens: 1024, outputTokens: 300 },
      timestampMs,
    },
  ],
  [
    "anthropic claude-sonnet-4 (cache 5m + 1h)",
    {
      providerName: "anthropic",
      requestModel: "claude-sonnet-4-20250514",
      responseModel: "claude-sonnet-4-20250514",
      usage: {
        inputTokens: 4000,
        cacheReadInputTokens: 1500,
        cacheWriteInputTokens: 500,
        cacheWrite1hInputTokens: 200,
        outputTokens: 300,
      },
      timestampMs,
    },
  ],
  [
    "anthropic claude-sonnet-4-5 (long-context tier)",
    {
      providerName: "anthropic",
      responseModel: "claude-sonnet-4-5-20250929",
      usage: { inputTokens: 250_000, outputTokens: 2000 },
      timestampMs,
    },
  ],
  [
    "openai o3 (dated prices, flex)",
    {
      providerName: "openai",
      responseModel: "o3-2025-04-16",
      serviceTier: "flex",
      usage: { inputTokens: 1000, outputTokens: 5000, reasoningOutputTokens: 4000 },
      timestampMs,
    },
  ],
  [
    "deepseek-chat (time-of-day prices)",
    {
      providerName: "deepseek",
      responseModel: "deepseek-chat",
      usage: { inputTokens: 1000, outputTokens: 1000 },
      timestampMs,
    },
  ],
  [
    "azure deployment via alias",
    {
      providerName: "azure.ai.openai",
      requestModel: "prod-chat",
      usage: { inputTokens: 1000, outputTokens: 500 },
      timestampMs,
    },
  ],
  [
    "unknown model (cached miss)",
    {
      providerName: "openai",
      requestModel: "llama-3.3-70b-local",
      usage: { inputTokens: 1000, outputTokens: 500 },
      timestampMs,
    },
  ],
];

let sink = 0; // Keeps the results alive so the loop cannot be optimised away.

function nanosecondsPerCall(run: () => void, calls: number): number {
  const start = process.hrtime.bigint();
  for (let index = 0; index < calls; index++) run();
  return Number(process.hrtime.bigint() - start) / calls;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

const setupStart = process.hrtime.bigint();
const pricer = createPricer({ aliases: { "prod-chat": "gpt-4o" } });
const setupMicroseconds = Number(process.hrtime.bigint() - setupStart) / 1000;
process.stdout.write(`createPricer (first in process, compiles the snapshot): ${setupMicroseconds.toFixed(0)} µs\n\n`);

let worstMicroseconds = 0;
for (const [label, query] of cases) {
  const firstStart = process.hrtime.bigint();
  sink += pricer(query)?.totalUsd ?? 0;
  const firstMicroseconds = Number(process.hrtime.bigint() - firstStart) / 1000;
  const run = () => {
    sink += pricer(query)?.totalUsd ?? 0;
  };
  nanosecondsPerCall(run, warmupCalls);
  const perCallMicroseconds =
    median(Array.from({ length: rounds }, () => nanosecondsPerCall(run, callsPerRound))) / 1000;
  worstMicroseconds = Math.max(worstMicroseconds, perCallMicroseconds);
  process.stdout.write(
    `${label.padEnd(48)} first ${firstMicroseconds.toFixed(1).padStart(7)} µs   then ${perCallMicroseconds.toFixed(3)} µs/call\n`,
  );
}

const verdict = worstMicroseconds < targetMicroseconds ? "within" : "OVER";
process.stdout.write(
  `\nworst case ${worstMicroseconds.toFixed(3)} µs/call: ${verdict} the ${targetMicroseconds} µs target (checksum ${sink.toFixed(6)})\n`,
);
