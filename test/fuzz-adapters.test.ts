import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_CHOICES, MAX_CONTENT_BLOCKS } from "../src/providers/payload-bounds.js";
import { streamOf } from "./helpers/fuzz-payloads.js";
import { arrayLengths, createScriptedClients, STREAM_KINDS } from "./helpers/scripted-clients.js";
import type { ScriptedClients, StreamKind } from "./helpers/scripted-clients.js";

/**
 * Issue 10's property-based tests: random chunk sequences, usage objects and index values through every adapter
 * and stream type, via the real SDKs and a scripted server. Seeded and bounded in `npm test`;
 * `npm run test:fuzz` (FUZZ_RUNS=2000) runs many more.
 */

const numRuns = Number(process.env["FUZZ_RUNS"] ?? 30);
const seed = 20_261_001;
/** Each run is two calls on a local server; long runs get the time they need. */
const timeout = 20_000 + numRuns * 60;

let clients: ScriptedClients;
beforeAll(async () => {
  clients = await createScriptedClients();
});
afterAll(async () => {
  await clients.close();
});

/** The script through a raw client, then the observed one: what each app saw, and the observed call's span. */
async function runBoth(kind: StreamKind, events: (string | object)[]) {
  clients.reset();
  clients.script = { events };
  const raw = await clients.run(kind, false);
  const observed = await clients.run(kind, true);
  return { raw, observed, spans: clients.spans(), endCalls: clients.endCalls() };
}

describe.each(STREAM_KINDS)("random %s streams", (kind) => {
  it(
    "reach the app exactly as through a raw client, with one span ended once and bounded arrays",
    async () => {
      await fc.assert(
        fc.asyncProperty(streamOf(kind), async (events) => {
          const { raw, observed, spans, endCalls } = await runBoth(kind, events);
          // No throw into the app beyond what the raw client throws, and the same chunks.
          expect(observed).toEqual(raw);
          expect(endCalls).toEqual([1]);
          expect(spans).toHaveLength(1);
          const lengths = arrayLengths(spans[0]!);
          expect(lengths["gen_ai.response.finish_reasons"] ?? 0).toBeLessThanOrEqual(MAX_CHOICES);
          for (const length of Object.values(lengths)) expect(length).toBeLessThanOrEqual(MAX_CONTENT_BLOCKS);
          const ignored = spans[0]!.attributes["tokentrace.payload.ignored_entries"];
          expect(ignored === undefined || (Number.isSafeInteger(ignored) && (ignored as number) > 0)).toBe(true);
        }),
        { seed, numRuns },
      );
    },
    timeout,
  );

  it(
    "put no impossible number on the span: token counts are non-negative safe integers, every number finite",
    async () => {
      await fc.assert(
        fc.asyncProperty(streamOf(kind), async (events) => {
          const { spans } = await runBoth(kind, events);
          const attributes = spans[0]!.attributes;
          for (const [name, value] of Object.entries(attributes)) {
            if (typeof value === "number") expect(Number.isFinite(value), `${name} = ${value}`).toBe(true);
            if (
              (name.startsWith("gen_ai.usage.") || name.startsWith("tokentrace.usage.")) &&
              name.endsWith("_tokens")
            ) {
              expect(Number.isSafeInteger(value) && (value as number) >= 0, `${name} = ${String(value)}`).toBe(true);
            }
            if (name === "gen_ai.usage.cost" || name.startsWith("tokentrace.cost.")) {
              if (typeof value === "number") expect(value >= 0, `${name} = ${value}`).toBe(true);
            }
          }
          // Parts never exceed the totals they are part of.
          const input = attributes["gen_ai.usage.input_tokens"];
          const output = attributes["gen_ai.usage.output_tokens"];
          const cacheRead = attributes["gen_ai.usage.cache_read.input_tokens"];
          const reasoning = attributes["gen_ai.usage.reasoning.output_tokens"];
          if (typeof cacheRead === "number") expect(typeof input === "number" && cacheRead <= input).toBe(true);
          if (typeof reasoning === "number") expect(typeof output === "number" && reasoning <= output).toBe(true);
        }),
        { seed, numRuns },
      );
    },
    timeout,
  );
});
