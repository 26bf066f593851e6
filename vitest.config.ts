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
