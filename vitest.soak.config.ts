import { defineConfig } from "vitest/config";

/** `npm run test:soak`: the long soak of the reliability suite, kept out of `npm test` (issue #10). */
export default defineConfig({
  test: {
    include: ["test/reliability/**/*.soak.ts"],
    testTimeout: 300_000,
    hookTimeout: 30_000,
  },
});
