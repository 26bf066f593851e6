import { VERSION as anthropicVersion } from "@anthropic-ai/sdk/version";
import { VERSION as openaiVersion } from "openai/version";

/**
 * The versions of the SDK packages a test file runs against. The vitest projects alias `openai` and
 * `@anthropic-ai/sdk` (subpaths included) to other installed versions, so these are the versions under test,
 * not the ones in devDependencies. A test that only holds from some version on says so with
 * `it.skipIf(!sdkAtLeast(openaiSdkVersion, "4.55.0"))` and the reason in its title or a comment.
 */
export const openaiSdkVersion: string = openaiVersion;
export const anthropicSdkVersion: string = anthropicVersion;

/** The numeric `[major, minor, patch]` of a version string ("4.104.0", "0.40.0", "5.0.0-beta.1"). */
function parts(version: string): [number, number, number] {
  const [major = 0, minor = 0, patch = 0] = version.split(/[.-]/, 3).map((part) => Number.parseInt(part, 10));
  return [major, minor, patch];
}

/** The major version of `version`. */
export function majorOf(version: string): number {
  return parts(version)[0];
}

/** Whether `version` is `minimum` or later (major, minor and patch compared as numbers). */
export function sdkAtLeast(version: string, minimum: string): boolean {
  const have = parts(version);
  const want = parts(minimum);
  for (let index = 0; index < 3; index++) {
    const difference = (have[index] ?? 0) - (want[index] ?? 0);
    if (difference !== 0) return difference > 0;
  }
  return true;
}
