import js from "@eslint/js";
import importX from "eslint-plugin-import-x";
import { createTypeScriptImportResolver } from "eslint-import-resolver-typescript";
import globals from "globals";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "coverage/**"] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked.map((config) => ({ ...config, files: ["**/*.ts", "**/*.mts"] })),
  {
    files: ["**/*.ts", "**/*.mts"],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { "import-x": importX },
    settings: {
      "import-x/resolver-next": [createTypeScriptImportResolver({ project: "./tsconfig.json" })],
      "import-x/parsers": { "@typescript-eslint/parser": [".ts", ".mts"] },
    },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": "error",
      "@typescript-eslint/await-thenable": "error",
      "@typescript-eslint/consistent-type-imports": ["error", { fixStyle: "separate-type-imports" }],
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/no-explicit-any": "error",
      // Strict level (typescript-eslint strictTypeChecked), with two options chosen: numbers and booleans read
      // fine in messages and test titles, and an arrow that returns a void call is the shortest callback.
      "@typescript-eslint/restrict-template-expressions": ["error", { allowNumber: true, allowBoolean: true }],
      "@typescript-eslint/no-confusing-void-expression": ["error", { ignoreArrowShorthand: true }],
    },
  },
  {
    // Tests assert presence by failing on it: a non-null assertion there is the assertion. `void chunk` marks a
    // stream read to its end on purpose. Tests send the deprecated request fields real apps still send, and
    // vitest's asymmetric matchers (`expect.any`, `expect.stringMatching`) are typed `any`.
    files: ["test/**/*.ts", "bench/**/*.ts"],
    rules: {
      "@typescript-eslint/no-non-null-assertion": "off",
      "@typescript-eslint/no-meaningless-void-operator": "off",
      "@typescript-eslint/no-deprecated": "off",
      "@typescript-eslint/no-unsafe-assignment": "off",
      // Tests guard against a failed set-up (an `afterAll` after a `beforeAll` that threw) and check payload
      // fields that the SDKs' types call certain but a wire may omit; harness methods are closures, not `this`-bound.
      "@typescript-eslint/no-unnecessary-condition": "off",
      "@typescript-eslint/unbound-method": "off",
    },
  },
  {
    files: ["src/**/*.ts"],
    rules: { "import-x/no-cycle": "error" },
  },
  {
    files: ["src/**/*.ts"],
    ignores: ["src/sinks/console.ts"],
    rules: { "no-console": "error" },
  },
  {
    // Adapters are pure translation (issue 11): no spans, clocks, timers or I/O, and none of the core's moving
    // parts. They import names, record types and pure helpers; OpenTelemetry types only (`import type`).
    files: ["src/providers/**/*.ts"],
    rules: {
      "@typescript-eslint/no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: ["@opentelemetry/*"],
              allowTypeImports: true,
              message: "Adapters start no spans and read no context: import OpenTelemetry types only.",
            },
            {
              // One service is allowed from internal/: the tokenizer worker (internal/tokenizer.ts), which turns
              // texts into counts for the estimates; it reads no span and no clock of the call.
              group: [
                "**/recorder/**",
                "**/intercept-call*",
                "**/stream-wrapper*",
                "**/internal/**",
                "!**/internal/tokenizer.js",
                "**/metrics/**",
              ],
              message:
                "Adapters return facts; the recorder, the interceptor and the stream wrapper act on them. Report an anomaly as a fact.",
            },
          ],
        },
      ],
      "no-restricted-globals": [
        "error",
        ...["Date", "performance", "setTimeout", "setInterval", "setImmediate", "queueMicrotask", "fetch"].map(
          (name) => ({ name, message: "Adapters read no clock, start no timer and do no I/O: the core does." }),
        ),
      ],
      "no-restricted-syntax": [
        "error",
        {
          selector:
            "MemberExpression[object.name='globalThis'][property.name=/^(Date|performance|setTimeout|setInterval|setImmediate|fetch)$/]",
          message: "Adapters read no clock, start no timer and do no I/O: the core does.",
        },
        {
          selector:
            "NewExpression[callee.name=/^(WeakMap|Map)$/][parent.type='VariableDeclarator'][parent.parent.parent.type='Program']",
          message: "No module-level side maps of per-client facts: return them as the description's traits.",
        },
      ],
    },
  },
  {
    files: ["**/*.mjs", "**/*.js"],
    languageOptions: { globals: { ...globals.node } },
    rules: { "no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }] },
  },
);
