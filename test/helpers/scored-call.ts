import type { ScoredCall } from "../../src/signals/anomalies.js";

/** A gpt-4o-mini chat call as the anomaly detector scores it: `overrides` given, every other value unscored. */
export function scoredCall(overrides: Partial<ScoredCall>): ScoredCall {
  return {
    operation: "chat",
    provider: "openai",
    requestModel: "gpt-4o-mini",
    durationSeconds: undefined,
    timeToFirstChunkSeconds: undefined,
    inputTokens: undefined,
    outputTokens: undefined,
    costUsd: undefined,
    maxChunkGapSeconds: undefined,
    failed: undefined,
    lengthStop: undefined,
    ...overrides,
  };
}
