import { execFile } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// What users get: these tests load the built package (dist/, through package.json's exports) in fresh
// Node processes, as an app would. `npm test` builds before vitest runs.
const root = fileURLToPath(new URL("..", import.meta.url));
const dist = join(root, "dist");
const run = promisify(execFile);

function requireBuild(): void {
  const files = ["index.js", "index.cjs", "setup.js", "setup.cjs", "otlp.js", "prometheus.js", "testing.js"];
  const missing = files.filter((file) => !existsSync(join(dist, file)));
  if (missing.length > 0) {
    throw new Error(
      `dist/ has no ${missing.join(", ")}: these tests run against the build. Run \`npm run build\` first (\`npm test\` builds before vitest).`,
    );
  }
}

/** An environment without the caller's OTEL_* / TOKENTRACE_* settings. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const key of ["PATH", "HOME", "SYSTEMROOT", "TMPDIR"])
    if (process.env[key] !== undefined) env[key] = process.env[key];
  return { ...env, ...extra };
}

/** The package names in module paths or URLs: `.../node_modules/@opentelemetry/api/build/...` -> `@opentelemetry/api`. */
function packagesIn(locations: readonly string[]): string[] {
  const names = new Set<string>();
  for (const location of locations) {
    const matches = [...location.matchAll(/node_modules\/((?:@[^/]+\/)?[^/]+)\//g)];
    const last = matches[matches.length - 1];
    if (last?.[1] !== undefined) names.add(last[1]);
  }
  return [...names].sort();
}

let scratch: string | undefined;

/**
 * The packages a fresh process has loaded after `require`/`import` of `entry` (then running `then`, with the
 * module as `m`): every URL ES module resolution returned (a resolve hook) and every CommonJS module loaded.
 */
async function loadedPackages(format: "esm" | "cjs", entry: string, then = ""): Promise<string[]> {
  if (scratch === undefined) throw new Error("no scratch directory");
  const file = join(scratch, `loads-${Math.random().toString(36).slice(2)}.txt`);
  writeFileSync(file, "");
  const report = `process.stdout.write(JSON.stringify(Object.keys(require.cache))); process.exit(0);`;
  const args =
    format === "esm"
      ? [
          "--import",
          "./test/helpers/record-loads.mjs",
          "--input-type=module",
          "-e",
          `const m = await import(${JSON.stringify(entry)}); ${then}
           const require = (await import("node:module")).createRequire(process.cwd() + "/"); ${report}`,
        ]
      : ["-e", `const m = require(${JSON.stringify(entry)}); ${then} ${report}`];
  const { stdout } = await run(process.execPath, args, { cwd: root, env: cleanEnv({ RECORD_LOADS_FILE: file }) });
  const cjsModules = JSON.parse(stdout) as string[];
  const esmURLs = readFileSync(file, "utf8").split("\n").filter(Boolean);
  return packagesIn([...cjsModules, ...esmURLs]);
}

/** OpenTelemetry SDK packages (and what builds on them): what `observe()` alone must never load. */
const sdkPackage = /^@opentelemetry\/(sdk-|resources$|exporter-|otlp-)/;
const heavy = (packages: readonly string[]): string[] =>
  packages.filter((name) => sdkPackage.test(name) || name === "gpt-tokenizer");

beforeAll(() => {
  requireBuild();
  scratch = mkdtempSync(join(tmpdir(), "tokentrace-loads-"));
});
afterAll(() => {
  if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
});

describe("the built package", () => {
  for (const format of ["esm", "cjs"] as const) {
    it(`loads only @opentelemetry/api (no OpenTelemetry SDK, exporter or tokenizer) when "tokentrace" is imported (${format})`, async () => {
      const packages = await loadedPackages(format, "tokentrace");
      expect(packages).toContain("@opentelemetry/api");
      expect(heavy(packages)).toEqual([]);
    });

    it(`loads the OpenTelemetry SDK, but no exporter or tokenizer, when "tokentrace/setup" is imported (${format})`, async () => {
      const packages = await loadedPackages(format, "tokentrace/setup");
      expect(packages).toEqual(
        expect.arrayContaining([
          "@opentelemetry/resources",
          "@opentelemetry/sdk-metrics",
          "@opentelemetry/sdk-trace-base",
        ]),
      );
      expect(
        packages.filter((name) => name.startsWith("@opentelemetry/exporter-") || name === "gpt-tokenizer"),
      ).toEqual([]);
    });
  }

  it("loads an OTLP exporter only when otlpSink() is called, and only the one for its protocol", async () => {
    const exporters = (packages: string[]): string[] =>
      packages.filter((name) => name.startsWith("@opentelemetry/exporter-"));
    expect(exporters(await loadedPackages("esm", "tokentrace/otlp"))).toEqual([]);
    // The log exporter too, by default, where it is installed (it is here).
    expect(exporters(await loadedPackages("esm", "tokentrace/otlp", "m.otlpSink({ metrics: false });"))).toEqual([
      "@opentelemetry/exporter-logs-otlp-proto",
      "@opentelemetry/exporter-trace-otlp-proto",
    ]);
    expect(
      exporters(
        await loadedPackages("cjs", "tokentrace/otlp", 'm.otlpSink({ protocol: "http/json", traces: false });'),
      ),
    ).toEqual(["@opentelemetry/exporter-logs-otlp-http", "@opentelemetry/exporter-metrics-otlp-http"]);
    expect(
      exporters(await loadedPackages("esm", "tokentrace/otlp", "m.otlpSink({ metrics: false, logs: false });")),
    ).toEqual(["@opentelemetry/exporter-trace-otlp-proto"]);
  });

  it("loads the Prometheus exporter only when prometheusSink() is called", async () => {
    const exporters = (packages: string[]): string[] =>
      packages.filter((name) => name.startsWith("@opentelemetry/exporter-"));
    expect(exporters(await loadedPackages("esm", "tokentrace/prometheus"))).toEqual([]);
    expect(
      exporters(await loadedPackages("esm", "tokentrace/prometheus", "m.prometheusSink({ port: false });")),
    ).toEqual(["@opentelemetry/exporter-prometheus"]);
  });
});

describe("an install without the optional packages", () => {
  let project = "";

  // A project whose node_modules holds tokentrace (a copy of the build) and its required dependencies only:
  // no OTLP or Prometheus exporter, no gpt-tokenizer reachable from tokentrace's files.
  beforeAll(() => {
    requireBuild();
    project = mkdtempSync(join(tmpdir(), "tokentrace-no-optional-"));
    const own = join(project, "node_modules", "tokentrace");
    mkdirSync(own, { recursive: true });
    cpSync(dist, join(own, "dist"), { recursive: true });
    cpSync(join(root, "package.json"), join(own, "package.json"));
    const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
      dependencies: Record<string, string>;
    };
    for (const name of [...Object.keys(manifest.dependencies), "@opentelemetry/api", "openai"]) {
      const target = join(project, "node_modules", name);
      mkdirSync(dirname(target), { recursive: true });
      symlinkSync(join(root, "node_modules", name), target, "dir");
    }
  });
  afterAll(() => {
    if (project !== "") rmSync(project, { recursive: true, force: true });
  });

  const script = `
import OpenAI from "openai";
import { isTokentraceError, observe, preloadTokenizer } from "tokentrace";
import { memorySink, setup } from "tokentrace/setup";
import { otlpSink } from "tokentrace/otlp";
import { prometheusSink } from "tokentrace/prometheus";
import { startMockLLMServer } from "tokentrace/testing";

const results = {};
const attempt = (label, make) => {
  try {
    make();
    results[label] = "no error";
  } catch (error) {
    results[label] = { name: error.name, message: error.message, isTokentraceError: isTokentraceError(error) };
  }
};
attempt("otlp", () => otlpSink());
attempt("otlp json traces", () => otlpSink({ protocol: "http/json", metrics: false }));
attempt("otlp logs", () => otlpSink({ traces: false, metrics: false, logs: true }));
attempt("prometheus", () => prometheusSink({ port: false }));

const server = await startMockLLMServer({ defaultReply: { text: "The capital of France is Paris." } });
const sink = memorySink();
const telemetry = setup({ sinks: [sink] });
const client = observe(new OpenAI({ baseURL: server.openaiBaseURL, apiKey: "sk-test", maxRetries: 0 }), {
  injectStreamUsage: false,
});
const call = async () => {
  const stream = await client.chat.completions.create({
    model: "gpt-4o-mini",
    messages: [{ role: "user", content: "What is the capital of France?" }],
    stream: true,
  });
  for await (const chunk of stream) void chunk;
};
await call();
await preloadTokenizer("gpt-4o-mini");
await call();
results.estimates = sink.getSpans().map((span) => [
  span.attributes["tokentrace.usage.estimate_method"],
  span.attributes["gen_ai.usage.input_tokens"],
]);
await telemetry.shutdown();
await server.close();
process.stdout.write(JSON.stringify(results));
`;

  it("throws at sink creation an error naming each missing package and its install command, and estimates tokens by characters with one warning", async () => {
    writeFileSync(join(project, "app.mjs"), script);
    const { stdout, stderr } = await run(process.execPath, ["app.mjs"], {
      cwd: project,
      env: cleanEnv({ TOKENTRACE_WARNINGS: "stderr" }),
    });
    const results = JSON.parse(stdout) as Record<string, unknown>;
    expect(results["otlp"]).toEqual({
      name: "TokentraceError",
      message:
        "otlpSink() needs the optional packages @opentelemetry/exporter-trace-otlp-proto and @opentelemetry/exporter-metrics-otlp-proto, which are not installed. Install them: npm install @opentelemetry/exporter-trace-otlp-proto @opentelemetry/exporter-metrics-otlp-proto",
      isTokentraceError: true,
    });
    expect(results["otlp json traces"]).toEqual({
      name: "TokentraceError",
      message:
        "otlpSink() needs the optional package @opentelemetry/exporter-trace-otlp-http, which is not installed. Install it: npm install @opentelemetry/exporter-trace-otlp-http",
      isTokentraceError: true,
    });
    // Logs by default only where their exporter is installed; asked for, it is required.
    expect(results["otlp logs"]).toEqual({
      name: "TokentraceError",
      message:
        "otlpSink() needs the optional package @opentelemetry/exporter-logs-otlp-proto, which is not installed. Install it: npm install @opentelemetry/exporter-logs-otlp-proto",
      isTokentraceError: true,
    });
    expect(results["prometheus"]).toEqual({
      name: "TokentraceError",
      message:
        "prometheusSink() needs the optional package @opentelemetry/exporter-prometheus, which is not installed. Install it: npm install @opentelemetry/exporter-prometheus",
      isTokentraceError: true,
    });
    // "What is the capital of France?" is 30 characters: ceil(30 / 4) + 3 per message + 3 priming.
    expect(results["estimates"]).toEqual([
      ["characters", 14],
      ["characters", 14],
    ]);
    const warnings = stderr.split("\n").filter((line) => line.includes("gpt-tokenizer"));
    expect(warnings).toEqual([
      "tokentrace: gpt-tokenizer is not installed, so token estimates (for responses without usage) count about four characters per token (tokentrace.usage.estimate_method = characters). For OpenAI's own encodings: npm install gpt-tokenizer",
    ]);
  });

  it("throws the same error from the CommonJS build", async () => {
    const { stdout } = await run(
      process.execPath,
      [
        "-e",
        `try { require("tokentrace/otlp").otlpSink({ metrics: false }); } catch (error) { process.stdout.write(error.name + ": " + error.message); }`,
      ],
      { cwd: project, env: cleanEnv() },
    );
    expect(stdout).toBe(
      "TokentraceError: otlpSink() needs the optional package @opentelemetry/exporter-trace-otlp-proto, which is not installed. Install it: npm install @opentelemetry/exporter-trace-otlp-proto",
    );
  });
});
