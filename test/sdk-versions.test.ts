import { describe, expect, it } from "vitest";
import { anthropicSdkVersion, majorOf, openaiSdkVersion, sdkAtLeast } from "./helpers/sdk-versions.js";

/**
 * Each vitest project aliases `openai` or `@anthropic-ai/sdk` to another installed version
 * (vitest.config.ts); this proves the suites of a project really import the version it names.
 */
describe("the SDK versions under test", () => {
  it("are the versions this vitest project names", () => {
    expect({ openai: openaiSdkVersion, anthropic: anthropicSdkVersion }).toEqual({
      openai: process.env["TOKENTRACE_TEST_OPENAI_VERSION"],
      anthropic: process.env["TOKENTRACE_TEST_ANTHROPIC_VERSION"],
    });
  });

  it("compare as numbers, major, minor and patch", () => {
    expect(majorOf("4.92.0")).toBe(4);
    expect(majorOf("0.81.0")).toBe(0);
    expect(sdkAtLeast("4.100.0", "4.92.0")).toBe(true);
    expect(sdkAtLeast("4.92.0", "4.92.0")).toBe(true);
    expect(sdkAtLeast("4.91.9", "4.92.0")).toBe(false);
    expect(sdkAtLeast("5.0.0-beta.1", "4.104.0")).toBe(true);
    expect(sdkAtLeast("0.133.0", "0.134.0")).toBe(false);
  });
});
