import { describe, it } from "vitest";
import { describeFigures, expectSoakHeld, runSoak } from "../helpers/soak.js";
import type { SoakPlan } from "../helpers/soak.js";

/**
 * The long soak (`npm run test:soak`, not part of `npm test`): 20,000 calls (one in ten failing with a 429)
 * and 3,000 streams (read fully, left early, never read and dropped), in 16 concurrent workers. It prints its
 * figures; the README's reliability section quotes them.
 */
const plan: SoakPlan = { calls: 20_000, streams: 3_000, workers: 16 };

describe("the soak", () => {
  it("counts every one of 23,000 calls and streams exactly, ends every span once, leaves nothing open and keeps the heap flat", async () => {
    const figures = await runSoak(plan);
    process.stdout.write(`\n${describeFigures(plan, figures)}\n`);
    // 20,700 calls after the warm-up: a leak of 500 bytes per call would show as 10 MB.
    expectSoakHeld(plan, figures, 10 * 1024 * 1024);
  }, 300_000);
});
