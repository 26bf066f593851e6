/**
 * Token usage of one call, normalised across providers so that one set of rules (attributes, metrics, cost)
 * serves them all.
 *
 * - `inputTokens` is the TOTAL input, cached and cache-write tokens included (where a provider reports
 *   cache tokens beside its input count, its adapter adds them).
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
  /** How an estimate was counted: the model's own encoding (`tokenizer`) or about four characters per token. */
  estimateMethod?: "tokenizer" | "characters";
}

/** The span attribute each Usage count is reported under: names what `validateUsage` left out. */
const fieldAttributes = {
  inputTokens: "gen_ai.usage.input_tokens",
  outputTokens: "gen_ai.usage.output_tokens",
  cacheReadInputTokens: "gen_ai.usage.cache_read.input_tokens",
  cacheWriteInputTokens: "gen_ai.usage.cache_write.input_tokens",
  cacheWrite5mInputTokens: "tokentrace.usage.cache_write_5m.input_tokens",
  cacheWrite1hInputTokens: "tokentrace.usage.cache_write_1h.input_tokens",
  reasoningOutputTokens: "gen_ai.usage.reasoning.output_tokens",
} as const;

type CountField = keyof typeof fieldAttributes;

export interface ValidatedUsage {
  usage: Usage;
  /** Attribute names of the counts left out, in a fixed order; empty when every count was sound. */
  invalidFields: string[];
}

/**
 * The one check between a provider's numbers and telemetry (issue 10): a count is used only when it is a
 * non-negative safe integer, and a part only when it does not exceed the total it is part of (cache read and
 * cache write together within the input, the 5-minute and 1-hour writes within the cache write, reasoning
 * within the output). Anything else is left out, never guessed, and named in `invalidFields`. A part whose
 * total is absent or itself invalid cannot be checked against it, so it is left out too (fail closed: a
 * part is only ever reported beside the total it belongs to).
 */
export function validateUsage(given: Usage): ValidatedUsage {
  const usage: Usage = {};
  const invalidFields: string[] = [];
  const take = (field: CountField): void => {
    const value: unknown = given[field];
    if (value === undefined) return;
    if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) usage[field] = value;
    else invalidFields.push(fieldAttributes[field]);
  };
  const drop = (...fields: CountField[]): void => {
    for (const field of fields) {
      if (usage[field] === undefined) continue;
      // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- one of the CountField names, a closed set
      delete usage[field];
      invalidFields.push(fieldAttributes[field]);
    }
  };
  for (const field of Object.keys(fieldAttributes) as CountField[]) take(field);
  const { inputTokens, outputTokens, cacheReadInputTokens = 0, cacheWriteInputTokens, reasoningOutputTokens } = usage;
  if (inputTokens === undefined || cacheReadInputTokens + (cacheWriteInputTokens ?? 0) > inputTokens) {
    drop("cacheReadInputTokens", "cacheWriteInputTokens");
  }
  if (usage.cacheWriteInputTokens !== undefined) {
    if ((usage.cacheWrite5mInputTokens ?? 0) + (usage.cacheWrite1hInputTokens ?? 0) > usage.cacheWriteInputTokens) {
      drop("cacheWrite5mInputTokens", "cacheWrite1hInputTokens");
    }
  } else if (given.cacheWriteInputTokens !== undefined) {
    // The total they are part of was left out: nothing to check the parts against, and nothing to price them as.
    drop("cacheWrite5mInputTokens", "cacheWrite1hInputTokens");
  }
  if (reasoningOutputTokens !== undefined && (outputTokens === undefined || reasoningOutputTokens > outputTokens)) {
    drop("reasoningOutputTokens");
  }
  if (given.estimated === true) {
    usage.estimated = true;
    if (given.estimateMethod !== undefined) usage.estimateMethod = given.estimateMethod;
  }
  return { usage, invalidFields };
}

/** A measured amount (seconds, USD, tokens per second) when it is finite and non-negative; otherwise undefined. */
export function measured(value: number | undefined): number | undefined {
  return value !== undefined && value >= 0 && value < Infinity ? value : undefined;
}
