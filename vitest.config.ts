import { defineConfig } from "vitest/config";

/**
 * The whole suite runs against the openai version in devDependencies; the chat-completions contract suite
 * runs again against every other major we claim (npm aliases `openai-v4`, `openai-v5`, `openai-v7`).
 */
const otherOpenAIMajors = ["v4", "v5", "v7"];

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
          include: ["test/openai-chat.test.ts"],
          alias: [{ find: /^openai$/, replacement: `openai-${major}` }],
        },
      })),
    ],
  },
});
