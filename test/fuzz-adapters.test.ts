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
  it("reach the app exactly as through a raw client, with one span ended once and bounded arrays", async () => {
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
  }, timeout);
});
