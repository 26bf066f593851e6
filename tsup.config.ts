import { defineConfig } from "tsup";

export default defineConfig({
  entry: {
    index: "src/index.ts",
    setup: "src/setup-entry.ts",
    testing: "src/testing/index.ts",
    otlp: "src/otlp.ts",
    prometheus: "src/prometheus.ts",
  },
  format: ["esm", "cjs"],
  dts: true,
  sourcemap: true,
  clean: true,
  target: "node20",
  // Shared chunks: `setup()` (tokentrace/setup) and `observe()` (tokentrace) must share one copy of the
  // module state that connects them (the active set-up, the warning mode), not one each.
  splitting: true,
  // import.meta.url in the CommonJS build, for createRequire() of the optional packages.
  shims: true,
  treeshake: true,
});
