import { context } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { InvalidOptionError, observe, withContext } from "../src/index.js";
import { createHarness, histogramPoints } from "./helpers/harness.js";
import type { Harness } from "./helpers/harness.js";

/**
 * `metricContextKey` (issue 12): one `withContext()` metadata key on the call metrics, its distinct values capped;
 * nothing else from the context ever reaches a metric.
 */
const messages = [{ role: "user" as const, content: "Hi" }];
const ATTRIBUTE = "tokentrace.metadata.tenant";

const manager = new AsyncLocalStorageContextManager();
beforeAll(() => {
  context.setGlobalContextManager(manager.enable());
});
afterAll(() => {
  context.disable();
});

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** Each duration point's tenant attribute and count, sorted by tenant ("-" for none). */
async function durationCounts(harness: Harness): Promise<[string, number][]> {
  const points = histogramPoints(await harness.sink.collectMetrics(), "gen_ai.client.operation.duration");
  return points
    .map((point): [string, number] => [(point.attributes[ATTRIBUTE] as string | undefined) ?? "-", point.value.count])
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

describe("metricContextKey", () => {
  it("puts the named metadata key on the call metrics, the values past the cap under _other, and nothing else from the context", async () => {
    h = await createHarness({ metricContextKey: { key: "tenant", maxValues: 2 } });
    const harness = h;
    const call = (tenant: string | undefined): Promise<unknown> =>
      withContext(
        {
          userId: `user-${tenant}`,
          sessionId: "s-1",
          metadata: tenant === undefined ? { plan: "pro" } : { tenant, plan: "pro" },
        },
        () => harness.openai.chat.completions.create({ model: "gpt-4o-mini", messages }),
      );
    for (const tenant of ["acme", "globex", "acme", "initech", "umbrella", undefined]) await call(tenant);

    expect(await durationCounts(harness)).toEqual([
      ["-", 1],
      ["_other", 2],
      ["acme", 2],
      ["globex", 1],
    ]);
    // The other context values stay on the spans only.
    const metrics = await harness.sink.collectMetrics();
    for (const scope of metrics.scopeMetrics) {
      for (const metric of scope.metrics) {
        for (const point of metric.dataPoints) {
          const keys = Object.keys(point.attributes);
          expect(keys.filter((key) => key.startsWith("user.") || key.startsWith("session."))).toEqual([]);
          expect(keys).not.toContain("tokentrace.metadata.plan");
        }
      }
    }
    const tokens = histogramPoints(metrics, "gen_ai.client.token.usage");
    expect(new Set(tokens.map((point) => point.attributes[ATTRIBUTE]))).toEqual(
      new Set(["acme", "globex", "_other", undefined]),
    );
  });

  it("is off by default: the metadata stays on the span", async () => {
    h = await createHarness();
    const harness = h;
    await withContext({ metadata: { tenant: "acme" } }, () =>
      harness.openai.chat.completions.create({ model: "gpt-4o-mini", messages }),
    );
    expect(await durationCounts(harness)).toEqual([["-", 1]]);
    expect(harness.onlySpan().attributes[ATTRIBUTE]).toBe("acme");
  });

  it("rejects a bad option at set-up, naming it and what is accepted", async () => {
    h = await createHarness();
    const client = h.raw;
    const cases: [unknown, string, string][] = [
      ["tenant", "metricContextKey", "expected an object { key, maxValues? }"],
      [{ key: "a b" }, "metricContextKey.key", "expected a metadata key"],
      [{ key: "tenant", maxValues: 0 }, "metricContextKey.maxValues", "expected an integer from 1 to 200"],
      [{ key: "tenant", max: 3 }, "metricContextKey.max", "Accepted options: key, maxValues."],
    ];
    for (const [option, name, message] of cases) {
      const error: unknown = (() => {
        try {
          observe(client, { metricContextKey: option } as never);
        } catch (caught) {
          return caught;
        }
        return undefined;
      })();
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect((error as InvalidOptionError).option).toBe(name);
      expect((error as Error).message).toContain(message);
    }
  });
});
