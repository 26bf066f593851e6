// The CommonJS declarations (dist/*.d.cts): in a .cts file TypeScript resolves package.json's "require"
// conditions, as for an app that calls require().
import { OpenAI } from "openai";
import { observe } from "tokentrace";
import type { PricingOptions } from "tokentrace";
import { memorySink, setup } from "tokentrace/setup";
import type { MemorySink, TokentraceHandle } from "tokentrace/setup";
import { expectTypeOf, test } from "vitest";

test("the CommonJS entries have the same types as the ES module ones", () => {
  expectTypeOf(observe(new OpenAI({ apiKey: "sk-x" }))).toEqualTypeOf<OpenAI>();
  expectTypeOf(setup).returns.toEqualTypeOf<TokentraceHandle>();
  expectTypeOf(memorySink).returns.toEqualTypeOf<MemorySink>();
  expectTypeOf<PricingOptions["discount"]>().toEqualTypeOf<number | undefined>();
});
