import { describe, expect, it } from "vitest";
import { InvalidOptionError } from "../src/errors.js";
import {
  createPricer,
  validatePricingOptions,
  type CostBreakdown,
  type PriceQuery,
  type PricingOptions,
} from "../src/metrics/cost.js";
import { PRICE_SNAPSHOT } from "../src/metrics/price-snapshot.js";
import type { Usage } from "../src/usage.js";

// Prices quoted in comments are USD per million tokens from the bundled snapshot (genai-prices 0.1.8).
const now = Date.parse("2026-11-01T12:00:00Z");
const digits = 12;

function price(query: Partial<PriceQuery> & { usage: Usage }, options?: PricingOptions): CostBreakdown | undefined {
  return createPricer(options)({ providerName: "openai", timestampMs: now, ...query });
}

function priced(query: Partial<PriceQuery> & { usage: Usage }, options?: PricingOptions): CostBreakdown {
  const breakdown = price(query, options);
  if (!breakdown) throw new Error(`expected ${query.responseModel ?? query.requestModel} to be priced`);
  return breakdown;
}

function optionError(value: unknown): InvalidOptionError {
  try {
    validatePricingOptions(value, "pricing");
  } catch (error) {
    if (error instanceof InvalidOptionError) return error;
    throw error;
  }
  throw new Error("expected validatePricingOptions to throw");
}

describe("snapshot prices", () => {
  it("prices gpt-4o-mini at $0.00045 for 1000 input and 500 output tokens", () => {
    // 1000 × 0.15 + 500 × 0.60 = 150 + 300 = 450 per million → $0.00045
    const cost = priced({ requestModel: "gpt-4o-mini", usage: { inputTokens: 1000, outputTokens: 500 } });
    expect(cost).toEqual({
      totalUsd: 0.00045,
      inputUsd: 0.00015,
      cachedInputUsd: 0,
      cacheWriteUsd: 0,
      outputUsd: 0.0003,
      source: "snapshot",
      snapshotDate: PRICE_SNAPSHOT.generatedDate,
      model: "gpt-4o-mini",
    });
  });

  it("prices Claude Sonnet 4 cache reads and writes apart from uncached input, for $0.012825", () => {
    // inputTokens is the total: 2000 uncached + 1500 cache read + 500 cache write = 4000.
    // 2000 × 3 + 1500 × 0.30 + 500 × 3.75 + 300 × 15 = 6000 + 450 + 1875 + 4500 = 12825 → $0.012825
    const cost = priced({
      providerName: "anthropic",
      responseModel: "claude-sonnet-4-20250514",
      usage: { inputTokens: 4000, cacheReadInputTokens: 1500, cacheWriteInputTokens: 500, outputTokens: 300 },
    });
    expect(cost.model).toBe("claude-sonnet-4-0");
    expect(cost.totalUsd).toBeCloseTo(0.012825, digits);
    expect(cost.inputUsd).toBeCloseTo(0.006, digits);
    expect(cost.cachedInputUsd).toBeCloseTo(0.00045, digits);
    expect(cost.cacheWriteUsd).toBeCloseTo(0.001875, digits);
    expect(cost.outputUsd).toBeCloseTo(0.0045, digits);
    expect(cost.inputClamped).toBeUndefined();
  });

  it("prices 1-hour cache writes at their own rate and the rest at the 5-minute rate", () => {
    // 1000 uncached × 3 + 800 five-minute writes × 3.75 + 1200 one-hour writes × 6 = 3000 + 3000 + 7200 = 13200
    const cost = priced({
      providerName: "anthropic",
      responseModel: "claude-sonnet-4-20250514",
      usage: { inputTokens: 3000, cacheWriteInputTokens: 2000, cacheWrite1hInputTokens: 1200, outputTokens: 0 },
    });
    expect(cost.cacheWriteUsd).toBeCloseTo(0.0102, digits);
    expect(cost.totalUsd).toBeCloseTo(0.0132, digits);
  });

  it("adds up the 5-minute and 1-hour split when the total cache write is not reported", () => {
    // 300 uncached × 3 + 100 × 3.75 + 200 × 6 = 900 + 375 + 1200 = 2475
    const cost = priced({
      providerName: "anthropic",
      responseModel: "claude-sonnet-4-20250514",
      usage: { inputTokens: 600, cacheWrite5mInputTokens: 100, cacheWrite1hInputTokens: 200 },
    });
    expect(cost.totalUsd).toBeCloseTo(0.002475, digits);
  });

  it("prices a reasoning model's reasoning tokens as output, at the price of the request date", () => {
    // o3 was 10 / 40 until 2025-06-10 and 2 / 8 from then. 5000 output tokens include 4000 reasoning.
    const usage: Usage = { inputTokens: 1000, outputTokens: 5000, reasoningOutputTokens: 4000 };
    // 1000 × 2 + 5000 × 8 = 42000 → $0.042
    expect(priced({ responseModel: "o3-2025-04-16", usage }).totalUsd).toBeCloseTo(0.042, digits);
    // 1000 × 10 + 5000 × 40 = 210000 → $0.21
    const before = priced({ responseModel: "o3-2025-04-16", usage, timestampMs: Date.parse("2025-06-09T23:59:59Z") });
    expect(before.totalUsd).toBeCloseTo(0.21, digits);
  });

  it("returns undefined for a model no price data knows", () => {
    expect(
      price({ requestModel: "llama-3.3-70b-local", usage: { inputTokens: 10, outputTokens: 10 } }),
    ).toBeUndefined();
    expect(price({ usage: { inputTokens: 10 } })).toBeUndefined();
  });

  it("returns undefined, not $0, for a model priced only in units Usage does not count", () => {
    // whisper-1 is priced per audio hour upstream.
    expect(price({ requestModel: "whisper-1", usage: { inputTokens: 10, outputTokens: 10 } })).toBeUndefined();
  });

  it("clamps uncached input at zero and flags it when cache tokens exceed the total", () => {
    // 150 cache read × 0.075 = 11.25 per million; uncached would be 100 − 150 = −50.
    const cost = priced({ requestModel: "gpt-4o-mini", usage: { inputTokens: 100, cacheReadInputTokens: 150 } });
    expect(cost.inputUsd).toBe(0);
    expect(cost.inputClamped).toBe(true);
    expect(cost.totalUsd).toBeCloseTo(0.00001125, digits);
  });
});

describe("long-context tiers", () => {
  const sonnet45 = { providerName: "anthropic", responseModel: "claude-sonnet-4-5-20250929" };

  it("keeps the base rate at exactly the tier start", () => {
    // Claude Sonnet 4.5: 3 / 15, and 6 / 22.5 for prompts over 200000 tokens.
    // 200000 × 3 + 1000 × 15 = 615000 → $0.615
    const cost = priced({ ...sonnet45, usage: { inputTokens: 200_000, outputTokens: 1000 } });
    expect(cost.totalUsd).toBeCloseTo(0.615, digits);
  });

  it("prices the whole request, output included, at the tier rate one token past the start", () => {
    // 200001 × 6 + 1000 × 22.5 = 1200006 + 22500 = 1222506 → $1.222506
    const cost = priced({ ...sonnet45, usage: { inputTokens: 200_001, outputTokens: 1000 } });
    expect(cost.totalUsd).toBeCloseTo(1.222506, digits);
  });

  it("counts cached tokens towards the tier", () => {
    // 150001 uncached + 50000 cache read = 200001 > 200000: 150001 × 6 + 50000 × 0.6 + 1000 × 22.5 = 952506
    const cost = priced({
      ...sonnet45,
      usage: { inputTokens: 200_001, cacheReadInputTokens: 50_000, outputTokens: 1000 },
    });
    expect(cost.totalUsd).toBeCloseTo(0.952506, digits);
  });

  it("follows the data's OpenAI tier start of 271999, so 272000 input tokens is already long context", () => {
    // gpt-5.4: 2.5 / 15, and 5 / 22.5 past 271999. 271999 × 2.5 = 679997.5; 272000 × 5 = 1360000
    expect(priced({ responseModel: "gpt-5.4", usage: { inputTokens: 271_999 } }).totalUsd).toBeCloseTo(
      0.6799975,
      digits,
    );
    expect(priced({ responseModel: "gpt-5.4", usage: { inputTokens: 272_000 } }).totalUsd).toBeCloseTo(1.36, digits);
  });

  it("drops a tier from the date the provider dropped it", () => {
    // Claude Sonnet 4.6 was tiered (6 / 22.5 over 200000) until 2026-03-13, flat 3 / 15 from then.
    const usage: Usage = { inputTokens: 250_000, outputTokens: 1000 };
    const query = { providerName: "anthropic", responseModel: "claude-sonnet-4-6", usage };
    // 250000 × 6 + 1000 × 22.5 = 1522500
    expect(priced({ ...query, timestampMs: Date.parse("2026-03-12T23:59:59Z") }).totalUsd).toBeCloseTo(1.5225, digits);
    // 250000 × 3 + 1000 × 15 = 765000
    expect(priced({ ...query, timestampMs: Date.parse("2026-03-13T00:00:00Z") }).totalUsd).toBeCloseTo(0.765, digits);
  });

  it("applies time-of-day prices by the request time in UTC", () => {
    // deepseek-chat: 0.27 / 1.1 from 00:30 to 16:30 UTC, 0.135 / 0.55 (off-peak) otherwise.
    const query = {
      providerName: "deepseek",
      responseModel: "deepseek-chat",
      usage: { inputTokens: 1_000_000, outputTokens: 1_000_000 },
    };
    expect(priced({ ...query, timestampMs: Date.parse("2026-11-01T12:00:00Z") }).totalUsd).toBeCloseTo(1.37, digits);
    expect(priced({ ...query, timestampMs: Date.parse("2026-11-01T20:00:00Z") }).totalUsd).toBeCloseTo(0.685, digits);
  });
});

describe("service tiers", () => {
  it("halves the price of a flex response", () => {
    // gpt-5: 1000 × 1.25 + 1000 × 10 = 11250, half = 5625 → $0.005625
    const cost = priced({
      responseModel: "gpt-5-2025-08-07",
      serviceTier: "flex",
      usage: { inputTokens: 1000, outputTokens: 1000 },
    });
    expect(cost.totalUsd).toBeCloseTo(0.005625, digits);
    expect(cost.inputUsd).toBeCloseTo(0.000625, digits);
  });

  it("halves the price of an Anthropic batch response", () => {
    // 1000 × 3 + 1000 × 15 = 18000, half = 9000 → $0.009
    const usage = { inputTokens: 1000, outputTokens: 1000 };
    const cost = priced({
      providerName: "anthropic",
      responseModel: "claude-sonnet-4-20250514",
      serviceTier: "batch",
      usage,
    });
    expect(cost.totalUsd).toBeCloseTo(0.009, digits);
  });

  it("applies OpenAI's per-model priority multiplier", () => {
    // gpt-4o priority is 4.25 / 17 against 2.5 / 10: 1.7×. (1000 × 2.5 + 1000 × 10) × 1.7 = 21250
    const usage = { inputTokens: 1000, outputTokens: 1000 };
    expect(priced({ responseModel: "gpt-4o-2024-08-06", serviceTier: "priority", usage }).totalUsd).toBeCloseTo(
      0.02125,
      digits,
    );
    // gpt-5 priority is 2× (listed default): 11250 × 2 = 22500
    expect(priced({ responseModel: "gpt-5", serviceTier: "priority", usage }).totalUsd).toBeCloseTo(0.0225, digits);
  });

  it("prices Anthropic's priority tier and default tiers at standard rates", () => {
    const usage = { inputTokens: 1000, outputTokens: 1000 };
    const anthropic = { providerName: "anthropic", responseModel: "claude-sonnet-4-20250514", usage };
    expect(priced({ ...anthropic, serviceTier: "priority" }).totalUsd).toBeCloseTo(0.018, digits);
    expect(priced({ ...anthropic, serviceTier: "standard" }).totalUsd).toBeCloseTo(0.018, digits);
    expect(priced({ responseModel: "gpt-5", serviceTier: "default", usage }).totalUsd).toBeCloseTo(0.01125, digits);
  });
});

describe("model names", () => {
  const usage: Usage = { inputTokens: 1000, outputTokens: 500 };

  it.each([
    ["openai", "gpt-4o-2024-08-06", "gpt-4o"],
    ["openai", "GPT-4o-Mini-2024-07-18", "gpt-4o-mini"],
    ["openai", "gpt-4o-mini-2027-01-01", "gpt-4o-mini"],
    ["openai", "openai/gpt-4o-mini", "gpt-4o-mini"],
    ["openai", "anthropic/claude-sonnet-4", "claude-sonnet-4-0"],
    ["gcp.vertex_ai", "claude-3-5-sonnet@20240620", "claude-3-5-sonnet"],
    ["gcp.vertex_ai", "claude-opus-4@20250514", "claude-opus-4-0"],
    ["anthropic", "claude-3-7-sonnet-20250219", "claude-3-7-sonnet-latest"],
    ["aws.bedrock", "us.anthropic.claude-sonnet-4-20250514-v1:0", "regional.anthropic.claude-sonnet-4-20250514-v1:0"],
    ["openai", "ft:gpt-4.1-2025-04-14:acme::9xYz", "gpt-4.1"],
  ])("resolves %s %s to the entry %s", (providerName, name, model) => {
    expect(priced({ providerName, responseModel: name, usage }).model).toBe(model);
  });

  it("prices an ft: model at the data's fine-tuning rate when it has one", () => {
    // ft:gpt-4o-mini-2024-…: 0.30 / 1.20 (twice the base model). 1000 × 0.3 + 500 × 1.2 = 900
    const cost = priced({ responseModel: "ft:gpt-4o-mini-2024-07-18:acme::9xYz", usage });
    expect(cost.model).toBe("ft:gpt-4o-mini");
    expect(cost.totalUsd).toBeCloseTo(0.0009, digits);
  });

  it("prices by the response model first, then the request model", () => {
    // gpt-4o-2024-05-13 is 5 / 15; gpt-4o is 2.5 / 10.
    expect(priced({ requestModel: "gpt-4o", responseModel: "gpt-4o-2024-05-13", usage }).model).toBe(
      "gpt-4o-2024-05-13",
    );
    expect(priced({ requestModel: "gpt-4o", responseModel: "no-such-model", usage }).model).toBe("gpt-4o");
  });
});

describe("Azure", () => {
  const usage: Usage = { inputTokens: 1000, outputTokens: 500 };

  it("prices a deployment by the response model, like OpenAI", () => {
    // 1000 × 2.5 + 500 × 10 = 7500
    const cost = priced({
      providerName: "azure.ai.openai",
      requestModel: "prod-chat",
      responseModel: "gpt-4o-2024-08-06",
      usage,
    });
    expect(cost).toMatchObject({ model: "gpt-4o", source: "snapshot" });
    expect(cost.totalUsd).toBeCloseTo(0.0075, digits);
  });

  it("prices a deployment by alias when the response names no model", () => {
    const options = { aliases: { "prod-chat": "gpt-4o" } };
    const cost = priced({ providerName: "azure.ai.openai", requestModel: "Prod-Chat", usage }, options);
    expect(cost).toMatchObject({ model: "gpt-4o", source: "override" });
    expect(cost.totalUsd).toBeCloseTo(0.0075, digits);
    expect(price({ providerName: "azure.ai.openai", requestModel: "prod-chat", usage })).toBeUndefined();
  });

  it("lets an override on the deployment name beat the base model the response reports", () => {
    // An Azure fine-tune answers with its base model's name; the deployment's own price must win.
    const options = { models: { "ft-deploy": { inputPerMillionUsd: 0.3, outputPerMillionUsd: 1.2 } } };
    const query = {
      providerName: "azure.ai.openai",
      requestModel: "ft-deploy",
      responseModel: "gpt-4o-mini-2024-07-18",
      usage,
    };
    expect(priced(query, options)).toMatchObject({ model: "ft-deploy", source: "override" });
    expect(priced(query, options).totalUsd).toBeCloseTo(0.0009, digits);
  });
});

describe("overrides", () => {
  it("prices a model from `models`, cache read at its own rate", () => {
    // 1500 uncached × 3 + 500 cached × 1.5 + 1000 × 12 = 4500 + 750 + 12000 = 17250
    const options = {
      models: { "my-ft-model": { inputPerMillionUsd: 3, outputPerMillionUsd: 12, cacheReadPerMillionUsd: 1.5 } },
    };
    const cost = priced(
      { requestModel: "my-ft-model", usage: { inputTokens: 2000, cacheReadInputTokens: 500, outputTokens: 1000 } },
      options,
    );
    expect(cost).toMatchObject({ source: "override", model: "my-ft-model" });
    expect(cost.totalUsd).toBeCloseTo(0.01725, digits);
  });

  it("applies a discount to snapshot and override prices alike", () => {
    // 17250 × 0.8 = 13800; gpt-4o-mini 450 × 0.8 = 360
    const options = {
      discount: 0.8,
      models: { "my-ft-model": { inputPerMillionUsd: 3, outputPerMillionUsd: 12, cacheReadPerMillionUsd: 1.5 } },
    };
    const usage = { inputTokens: 2000, cacheReadInputTokens: 500, outputTokens: 1000 };
    expect(priced({ requestModel: "my-ft-model", usage }, options).totalUsd).toBeCloseTo(0.0138, digits);
    expect(
      priced({ requestModel: "gpt-4o-mini", usage: { inputTokens: 1000, outputTokens: 500 } }, options).totalUsd,
    ).toBeCloseTo(0.00036, digits);
  });

  it("asks resolvePrice for calls the tables do not price, and falls through when it declines or throws", () => {
    const seen: string[] = [];
    const pricer = createPricer({
      resolvePrice: (call) => {
        seen.push(call.requestModel ?? "");
        if (call.requestModel === "boom") throw new Error("callback bug");
        return call.requestModel === "eu-model" ? { inputPerMillionUsd: 1, outputPerMillionUsd: 2 } : undefined;
      },
    });
    const base = { providerName: "openai", timestampMs: now, usage: { inputTokens: 1000, outputTokens: 1000 } };
    // 1000 × 1 + 1000 × 2 = 3000
    expect(pricer({ ...base, requestModel: "eu-model" })).toMatchObject({
      source: "override",
      model: "eu-model",
      totalUsd: 0.003,
    });
    expect(pricer({ ...base, requestModel: "gpt-4o-mini" })?.source).toBe("snapshot");
    expect(pricer({ ...base, requestModel: "boom" })).toBeUndefined();
    expect(seen).toEqual(["eu-model", "gpt-4o-mini", "boom"]);
  });

  it("keeps each pricer's overrides to itself", () => {
    const usage = { inputTokens: 1000, outputTokens: 0 };
    const overridden = createPricer({
      models: { "gpt-4o-mini": { inputPerMillionUsd: 100, outputPerMillionUsd: 100 } },
    });
    const plain = createPricer();
    const query = { providerName: "openai", requestModel: "gpt-4o-mini", usage, timestampMs: now };
    expect(overridden(query)?.totalUsd).toBeCloseTo(0.1, digits);
    expect(plain(query)?.totalUsd).toBeCloseTo(0.00015, digits);
  });

  it("replaces the snapshot with a user-supplied genai-prices data file", () => {
    const data = [
      {
        id: "openai",
        models: [
          {
            id: "gpt-9",
            match: { or: [{ equals: "gpt-9" }, { starts_with: "gpt-9-" }] },
            prices: { input_mtok: 1, output_mtok: 4 },
          },
        ],
      },
    ];
    const pricer = createPricer({ data });
    const query = { providerName: "openai", timestampMs: now, usage: { inputTokens: 1000, outputTokens: 1000 } };
    expect(pricer({ ...query, responseModel: "GPT-9-2027-01-01" })).toMatchObject({
      model: "gpt-9",
      source: "override",
      totalUsd: 0.005,
    });
    expect(pricer({ ...query, responseModel: "gpt-4o-mini" })).toBeUndefined();
  });
});

describe("validatePricingOptions", () => {
  it("accepts undefined and returns a clean copy of valid options", () => {
    expect(validatePricingOptions(undefined, "pricing")).toBeUndefined();
    const options = {
      models: { m: { inputPerMillionUsd: 1, outputPerMillionUsd: 2 } },
      aliases: { d: "m", e: "gpt-4o" },
      discount: 0.8,
    };
    expect(validatePricingOptions(options, "pricing")).toEqual(options);
  });

  it.each<[string, unknown, string]>([
    [
      "a negative rate",
      { models: { "my-model": { inputPerMillionUsd: -1, outputPerMillionUsd: 2 } } },
      "pricing.models.my-model.inputPerMillionUsd",
    ],
    [
      "a rate that is not a number",
      { models: { "my-model": { inputPerMillionUsd: "3", outputPerMillionUsd: 2 } } },
      "pricing.models.my-model.inputPerMillionUsd",
    ],
    [
      "a missing output rate",
      { models: { "my-model": { inputPerMillionUsd: 1 } } },
      "pricing.models.my-model.outputPerMillionUsd",
    ],
    [
      "a misspelt rate",
      { models: { "my-model": { inputPerMillion: 1, outputPerMillionUsd: 2 } } },
      "pricing.models.my-model.inputPerMillion",
    ],
    ["a discount given in percent", { discount: 20 }, "pricing.discount"],
    ["an alias to a model nobody knows", { aliases: { prod: "gpt4o" } }, "pricing.aliases.prod"],
    ["a resolvePrice that is not a function", { resolvePrice: 5 }, "pricing.resolvePrice"],
    ["data that is not an array", { data: { providers: [] } }, "pricing.data"],
    [
      "a bad price in data",
      { data: [{ id: "x", models: [{ id: "m", match: { equals: "m" }, prices: { input_mtok: -2 } }] }] },
      "pricing.data[0].models[0].prices.input_mtok",
    ],
    ["an unknown field", { modles: {} }, "pricing.modles"],
  ])("names the field for %s", (_case, value, option) => {
    const error = optionError(value);
    expect(error.option).toBe(option);
    expect(error.message).toContain(`\`${option}\``);
  });

  it("suggests the spelled-out name for a misspelt rate", () => {
    expect(optionError({ models: { m: { inputPerMillion: 1, outputPerMillionUsd: 2 } } }).message).toContain(
      "did you mean `inputPerMillionUsd`?",
    );
  });

  it("makes createPricer fail at set-up, not at the first call", () => {
    expect(() => createPricer({ discount: -0.1 })).toThrow(InvalidOptionError);
  });
});

describe("pricing decided once", () => {
  const options: PricingOptions = {
    models: { "my-model": { inputPerMillionUsd: 1, outputPerMillionUsd: 2 } },
    aliases: { prod: "gpt-4o" },
  };

  it("returns the same clean copy for the same options object, and for that copy", () => {
    const clean = validatePricingOptions(options, "pricing");
    expect(clean).not.toBe(options);
    expect(validatePricingOptions(options, "pricing")).toBe(clean);
    expect(validatePricingOptions(clean, "pricing")).toBe(clean);
  });

  it("builds one pricer per distinct options object, shared by the object and its clean copy", () => {
    const pricer = createPricer(options);
    expect(createPricer(options)).toBe(pricer);
    expect(createPricer(validatePricingOptions(options, "pricing"))).toBe(pricer);
    expect(createPricer({ ...options })).not.toBe(pricer);
    expect(createPricer()).toBe(createPricer());
  });

  it("still refuses an invalid object each time it is given", () => {
    const invalid = { discount: 2 };
    expect(() => createPricer(invalid as PricingOptions)).toThrow(InvalidOptionError);
    expect(() => createPricer(invalid as PricingOptions)).toThrow(InvalidOptionError);
  });
});
