/**
 * Token usage of one call, normalised across providers so that one set of rules (attributes, metrics, cost)
 * serves them all.
 *
 * - `inputTokens` is the TOTAL input, cached and cache-write tokens included (OpenAI already reports it that
 *   way; Anthropic reports cache tokens beside `input_tokens`, so its adapter adds them).
 * - `outputTokens` includes reasoning/thinking tokens.
 */
export interface Usage {
  inputTokens?: number;
  outputTokens?: number;
  /** Input tokens read from the provider's prompt cache (a subset of `inputTokens`). */
  cacheReadInputTokens?: number;
  /** Input tokens written to the prompt cache (a subset of `inputTokens`), all TTLs together. */
  cacheWriteInputTokens?: number;
  /** Part of `cacheWriteInputTokens` written with the 5-minute TTL, when the provider splits it. */
  cacheWrite5mInputTokens?: number;
  /** Part of `cacheWriteInputTokens` written with the 1-hour TTL, when the provider splits it. */
  cacheWrite1hInputTokens?: number;
  /** Reasoning/thinking tokens (a subset of `outputTokens`). */
  reasoningOutputTokens?: number;
  /** True when any count here is tokentrace's estimate rather than the provider's report. */
  estimated?: boolean;
}
