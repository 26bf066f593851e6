import { readFileSync } from "node:fs";
import { defineConfig } from "vitest/config";
import type { TestProjectInlineConfiguration } from "vitest/config";

/**
 * Projects (`npm test` runs them all; `npm run test:fast` runs only `main`):
 * - `main`: every suite against the SDK versions in devDependencies, and the type tests; fast.
 * - `slow`: the suites that take seconds each (leak, short soak, collector stalls, real Prometheus).
 * - one project per other SDK version we claim (npm aliases), running the suites that depend on the SDK's
 *   version: the contract suites, `observe()` itself, the leak test and the stream suites (issue #11),
 *   including the oldest version of each SDK that we support.
 */
const slowSuites = [
  "test/leak.test.ts",
  "test/reliability/soak-short.test.ts",
  "test/otlp-stalls.test.ts",
  "test/prometheus.test.ts",
  "test/dashboard.test.ts",
];

/** The version installed under `node_modules/<name>` (an npm alias or the package itself). */
function installedVersion(name: string): string {
  const manifest = JSON.parse(readFileSync(`node_modules/${name}/package.json`, "utf8")) as { version: string };
  return manifest.version;
}

/**
 * The SDK versions a project means to test, checked by test/sdk-versions.test.ts, so an alias that stops
 * applying (a new import path, a moved suite) fails instead of testing the default version twice.
 */
function expectedVersions(openai: string, anthropic: string): Record<string, string> {
  return {
    TOKENTRACE_TEST_OPENAI_VERSION: installedVersion(openai),
    TOKENTRACE_TEST_ANTHROPIC_VERSION: installedVersion(anthropic),
  };
}

const openAISuites = [
  "test/sdk-versions.test.ts",
  "test/observe.test.ts",
  "test/leak.test.ts",
  "test/openai-chat.test.ts",
  "test/openai-chat-helpers.test.ts",
  "test/openai-responses.test.ts",
  "test/openai-embeddings-completions.test.ts",
  "test/openai-providers.test.ts",
  "test/injected-usage.test.ts",
];
const anthropicSuites = [
  "test/sdk-versions.test.ts",
  "test/observe.test.ts",
  "test/anthropic-messages.test.ts",
  "test/anthropic-clients.test.ts",
];

/**
 * A project running `include` with `pkg` (and its subpaths, such as `openai/version`) resolved to the
 * installed alias `alias` instead.
 */
function sdkProject(name: string, pkg: string, alias: string, include: string[]): TestProjectInlineConfiguration {
  const escaped = pkg.replace(/[/]/g, "\\/");
  const env = pkg === "openai" ? expectedVersions(alias, "@anthropic-ai/sdk") : expectedVersions("openai", alias);
  return {
    extends: true,
    test: { name, include, env, alias: [{ find: new RegExp(`^${escaped}(/.*)?$`), replacement: `${alias}$1` }] },
  };
}

export default defineConfig({
  test: {
    testTimeout: 20_000,
    hookTimeout: 30_000,
    coverage: {
      provider: "v8",
      include: ["src/**/*.ts"],
      // The per-file table wide enough for src/'s longest path, the summary last, where a terminal ends.
      reporter: [["text", { maxCols: 140 }], "text-summary", "html", "json-summary"],
      reportsDirectory: "coverage",
    },
    projects: [
      {
        extends: true,
        test: {
          name: "main",
          env: expectedVersions("openai", "@anthropic-ai/sdk"),
          include: ["test/**/*.test.ts"],
          exclude: slowSuites,
          typecheck: { enabled: true, include: ["test/**/*.test-d.ts"], tsconfig: "./tsconfig.json" },
        },
      },
      {
        extends: true,
        test: {
          name: "slow",
          include: slowSuites,
          // Installs Prometheus for test/prometheus.test.ts and test/dashboard.test.ts where it can.
          globalSetup: ["test/helpers/prometheus-global-setup.ts"],
        },
      },
      // openai: the newest 4.x, 5.x and 7.x (6.x is in devDependencies), and 4.92.0, the oldest we support: older
      // 4.x lack what the suites check (4.91 does not default embeddings to base64, 4.87 has no output_text).
      sdkProject("openai-v4", "openai", "openai-v4", openAISuites),
      sdkProject("openai-v4-oldest", "openai", "openai-v4-oldest", openAISuites),
      sdkProject("openai-v5", "openai", "openai-v5", openAISuites),
      sdkProject("openai-v7", "openai", "openai-v7", openAISuites),
      // @anthropic-ai/sdk: 0.133, the last 0.x without the SDK's own tracing (1.x, in devDependencies, has it),
      // and 0.81.0, the oldest we support (0.80 and older give API errors no `type`).
      sdkProject("anthropic-v0", "@anthropic-ai/sdk", "anthropic-v0", anthropicSuites),
      sdkProject("anthropic-oldest", "@anthropic-ai/sdk", "anthropic-oldest", anthropicSuites),
    ],
  },
});
