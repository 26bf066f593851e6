import { describe, expect, it } from "vitest";
import { describeFigures, expectSoakHeld, runSoak } from "../helpers/soak.js";
import type { SoakPlan } from "../helpers/soak.js";

/** The soak in miniature, part of `npm test`; `npm run test:soak` runs the long one (soak.soak.ts). */
const plan: SoakPlan = { calls: 1_000, streams: 150, workers: 8 };

describe("a short soak", () => {
  it("counts every one of 1,150 calls and streams exactly, ends every span once and leaves nothing open", async () => {
    const figures = await runSoak(plan);
    expect(describeFigures(plan, figures)).toContain("1150 in all");
    // 1,035 calls after the warm-up: a leak of 4 KB per call would show as 4 MB.
    expectSoakHeld(plan, figures, 4 * 1024 * 1024);
  }, 60_000);
});
