/*
 * The public shapes of pricing: the `pricing` option, what the pricer is asked about one call, and the price
 * it answers with. Exported from `tokentrace` through `src/metrics/cost.ts`.
 *
 * Token semantics (see src/usage.ts): `inputTokens` is the TOTAL input, cache reads and cache writes
 * included; `outputTokens` includes reasoning. Uncached input = total − cache read − cache write.
 */
import type { Usage } from "../../usage.js";

/** Prices of one model, in USD per million tokens. */
export interface ModelPrice {
  /**
   * Uncached input tokens. Required.
   * @example 2.5
   */
  inputPerMillionUsd: number;
  /**
   * Output tokens, reasoning tokens included. Required.
   * @example 10
   */
  outputPerMillionUsd: number;
  /**
   * Input tokens read from the prompt cache. Default: `inputPerMillionUsd` (no cache discount). Set it for
   * any model with prompt caching, or cached tokens are charged at the full input rate.
   * @example 1.25
   */
  cacheReadPerMillionUsd?: number;
  /**
   * Input tokens written to the prompt cache (Anthropic's 5-minute TTL, and every TTL when no 1-hour rate is
   * given). Default: `inputPerMillionUsd` (OpenAI charges nothing extra for cache writes). Set it for models
   * that charge a cache-write premium, as Anthropic does (1.25× input).
   * @example 3.75
   */
  cacheWritePerMillionUsd?: number;
  /**
   * Input tokens written to the cache with a 1-hour TTL (`usage.cacheWrite1hInputTokens`). Default:
   * `cacheWritePerMillionUsd`. Set it for Anthropic models, where a 1-hour write costs 2× input.
   * @example 6
   */
  cacheWrite1hPerMillionUsd?: number;
}

/** Pricing options of `observe()` and `setup()`. Each pricer has its own; nothing here is global. */
export interface PricingOptions {
  /**
   * Prices for model names, matched case-insensitively against the response model and then the request
   * model, before anything else. Default: none. Use it for fine-tuned models, private deployments or
   * negotiated rates. Service-tier multipliers (flex and batch at half, OpenAI priority) and `discount`
   * still apply on top.
   * @example { "my-ft-model": { inputPerMillionUsd: 3, outputPerMillionUsd: 12 } }
   */
  models?: Record<string, ModelPrice>;
  /**
   * Model names to price as another model: a key of `models` or any model the price data knows. Matched like
   * `models`, and like them they win over the price data. Default: none. Use it for Azure deployment names
   * and gateway aliases that hide the real model.
   * @example { "my-azure-deployment": "gpt-4o" }
   */
  aliases?: Record<string, string>;
  /**
   * Multiplier applied to every price, snapshot and override alike: 0.8 means 20% off. Default: 1. Use it
   * for an enterprise discount that applies to the whole bill.
   * @example 0.8
   */
  discount?: number;
  /**
   * A genai-prices data file (its parsed JSON: an array of providers) that replaces the bundled snapshot.
   * Default: the bundled snapshot. Use it to pick up prices newer than your tokentrace version without
   * fetching anything at run time; calls it prices report `source: "override"`.
   * @example JSON.parse(readFileSync("genai-prices-data.json", "utf8"))
   */
  data?: unknown;
  /**
   * Called for every call that `models` and `aliases` do not price, before the price data; return a price to
   * use it (`source: "override"`), or `undefined` to fall through. Default: none. Use it for rules the tables
   * cannot express (per-region rates, time-of-day contracts). It runs on every such call, so keep it cheap;
   * if it throws or returns an invalid price, the call is priced as if it had returned `undefined`.
   * @example (call) => (call.requestModel?.startsWith("eu-") ? { inputPerMillionUsd: 2.75, outputPerMillionUsd: 11 } : undefined)
   */
  resolvePrice?: (query: PriceQuery) => ModelPrice | undefined;
}

/** What the pricer needs to know about one call. */
export interface PriceQuery {
  /** The call's `gen_ai.provider.name`: "openai" | "anthropic" | "azure.ai.openai" | "aws.bedrock" | "gcp.vertex_ai" | ... */
  providerName: string;
  /** The model the request asked for (on Azure, the deployment name). */
  requestModel?: string;
  /** The model the response reports: tried first, as it names the snapshot that actually ran. */
  responseModel?: string;
  usage: Usage;
  /** The service tier the RESPONSE reports (OpenAI `service_tier`, Anthropic `usage.service_tier`). */
  serviceTier?: string;
  /** When the request was sent (ms since the epoch): picks date- and time-dependent prices. */
  timestampMs: number;
}

/** The price of one call, in USD. The parts add up to `totalUsd`. */
export interface CostBreakdown {
  totalUsd: number;
  /** Uncached input tokens. */
  inputUsd: number;
  /** Input tokens read from the prompt cache. */
  cachedInputUsd: number;
  /** Input tokens written to the prompt cache, all TTLs. */
  cacheWriteUsd: number;
  /** Output tokens, reasoning included. */
  outputUsd: number;
  /** `override` when the user's `models`, `aliases`, `resolvePrice` or `data` priced the call. */
  source: "snapshot" | "override";
  /** Generation date of the bundled snapshot (YYYY-MM-DD). */
  snapshotDate: string;
  /** The price entry that matched: a snapshot model id, a `models` key, or the model name given to `resolvePrice`. */
  model: string;
  /** True when cache tokens exceeded the total input, so uncached input was clamped to 0. */
  inputClamped?: boolean;
}

/** Prices one call; `undefined` when the model is unknown (report it unpriced, never as $0). Never throws. */
export type Pricer = (query: PriceQuery) => CostBreakdown | undefined;
