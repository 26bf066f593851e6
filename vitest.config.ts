import { defineConfig } from "vitest/config";

/**
 * The whole suite runs against the openai version in devDependencies; the OpenAI contract suites run again
 * against every other major we claim (npm aliases `openai-v4`, `openai-v5`, `openai-v7`).
 */
const otherOpenAIMajors = ["v4", "v5", "v7"];
const openAIContractSuites = [
  "test/openai-chat.test.ts",
  "test/openai-chat-helpers.test.ts",
  "test/openai-responses.test.ts",
  "test/openai-embeddings-completions.test.ts",
  "test/openai-providers.test.ts",
  "test/injected-usage.test.ts",
];

export default defineConfig({
  test: {
    testTimeout: 20_000,
    hookTimeout: 30_000,
    projects: [
      {
        extends: true,
        test: {
          name: "main",
          include: ["test/**/*.test.ts"],
          // Installs Prometheus for test/prometheus.test.ts and test/dashboard.test.ts where it can.
          globalSetup: ["test/helpers/prometheus-global-setup.ts"],
          typecheck: { enabled: true, include: ["test/**/*.test-d.ts"], tsconfig: "./tsconfig.json" },
        },
      },
      {
        // The Anthropic contract suites again, against a recent 0.x: 0.133, the last without the SDK's own
        // tracing (1.x, in the main project, has it).
        extends: true,
        test: {
          name: "anthropic-v0",
          include: ["test/anthropic-messages.test.ts", "test/anthropic-clients.test.ts"],
          alias: [{ find: /^@anthropic-ai\/sdk$/, replacement: "anthropic-v0" }],
        },
      },
      ...otherOpenAIMajors.map((major) => ({
        extends: true as const,
        test: {
          name: `openai-${major}`,
          include: openAIContractSuites,
          alias: [{ find: /^openai$/, replacement: `openai-${major}` }],
        },
      })),
    ],
  },
});
