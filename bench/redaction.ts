/**
 * Cost of the redaction pipeline (issue 13), which runs once per content attribute at span end, never per
 * chunk. Run: `npm run bench:redaction` (`npx tsx bench/redaction.ts`).
 *
 * Reports, as the median of five rounds:
 * - per call: a typical chat exchange (a system message, two user turns, an answer with a tool call; ~1.5 KB of
 *   text) with the secrets preset alone (the default) and with every personal-data preset;
 * - per KB: plain prose of 1, 10 and 100 KB, every preset on;
 * - hostile input: 10 KB and 100 KB of the fragments detectors look for (`a@`, `1-`, `-----BEGIN `, ...). The
 *   ratio of the two must stay near 10 (linear); a quadratic detector would show ~100. It exits 1 past 20.
 */
import { performance } from "node:perf_hooks";
import { RedactionAudit, redactValue, resolvePolicy } from "../src/redaction/pipeline.js";
import type { RedactionPolicy } from "../src/redaction/pipeline.js";
import { serializeContent } from "../src/content.js";

const rounds = 5;
const secretsOnly = resolvePolicy({});
const everything = resolvePolicy({ pii: ["email", "phone", "credit_card", "iban", "ip_address", "us_ssn"] });

const prose =
  "The quarterly report shows revenue growth in every region, with the strongest results in the north, where " +
  "new customers signed up after the spring campaign. Costs stayed flat, and the team expects the same next year. ";

const exchange = [
  { role: "system", parts: [{ type: "text", content: "You are a helpful support assistant. " + prose }] },
  { role: "user", parts: [{ type: "text", content: "Hi, my email is jane.doe@example.com. " + prose }] },
  { role: "assistant", parts: [{ type: "text", content: prose + prose }] },
  { role: "user", parts: [{ type: "text", content: "Please call me on +44 20 7946 0958. " + prose }] },
  {
    role: "assistant",
    parts: [
      { type: "text", content: prose },
      { type: "tool_call", id: "call_1", name: "lookup", arguments: { email: "jane.doe@example.com", limit: 5 } },
    ],
    finish_reason: "tool_calls",
  },
];

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

/** Microseconds per run of `work`, median of the rounds, after a warm-up. */
function measure(work: () => void, iterations: number): number {
  for (let index = 0; index < Math.min(iterations, 1_000); index++) work();
  const perRound: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const started = performance.now();
    for (let index = 0; index < iterations; index++) work();
    perRound.push(((performance.now() - started) * 1000) / iterations);
  }
  return median(perRound);
}

function redactAndSerialize(value: unknown, policy: RedactionPolicy): void {
  const redacted = redactValue(value, "gen_ai.input.messages", policy, [], new RedactionAudit());
  serializeContent(redacted, 1 << 20);
}

const bytes = Buffer.byteLength(JSON.stringify(exchange));
console.log(`typical exchange (${bytes} bytes of JSON):`);
console.log(
  `  serialise only:                  ${measure(() => serializeContent(exchange, 1 << 20), 20_000).toFixed(1)} µs`,
);
console.log(
  `  redact + serialise, secrets:     ${measure(() => redactAndSerialize(exchange, secretsOnly), 20_000).toFixed(1)} µs`,
);
console.log(
  `  redact + serialise, all presets: ${measure(() => redactAndSerialize(exchange, everything), 20_000).toFixed(1)} µs`,
);

console.log("plain prose, all presets:");
for (const kilobytes of [1, 10, 100]) {
  const text = prose.repeat(Math.ceil((kilobytes * 1024) / prose.length)).slice(0, kilobytes * 1024);
  const micros = measure(
    () => redactValue(text, "x", everything, [], new RedactionAudit()),
    kilobytes === 100 ? 50 : 500,
  );
  console.log(
    `  ${String(kilobytes).padStart(3)} KB: ${micros.toFixed(0).padStart(6)} µs (${(micros / kilobytes).toFixed(1)} µs/KB)`,
  );
}

console.log("hostile input, all presets (100 KB / 10 KB time ratio; linear is ~10):");
const fragments = ["a@", "1-", "1", "1 ", "-----BEGIN ", "AB12 ", "a:b@", "+1 ", "eyJ", "sk-", "http://a:"];
let worst = 0;
for (const unit of fragments) {
  const fill = (size: number): string => unit.repeat(Math.ceil(size / unit.length)).slice(0, size);
  const small = fill(10_000);
  const large = fill(100_000);
  const smallMicros = measure(() => redactValue(small, "x", everything, [], new RedactionAudit()), 50);
  const largeMicros = measure(() => redactValue(large, "x", everything, [], new RedactionAudit()), 5);
  const ratio = largeMicros / smallMicros;
  worst = Math.max(worst, ratio);
  console.log(
    `  ${JSON.stringify(unit).padEnd(14)} 10 KB ${smallMicros.toFixed(0).padStart(6)} µs, 100 KB ${largeMicros.toFixed(0).padStart(7)} µs, ratio ${ratio.toFixed(1)}`,
  );
}
if (worst > 20) {
  console.error(`a detector is not linear: 100 KB took ${worst.toFixed(1)}× as long as 10 KB`);
  process.exit(1);
}
