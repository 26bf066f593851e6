/**
 * Starts a real Prometheus (the Debian package's `prometheus` binary) for tests: 127.0.0.1, a free port, a
 * temporary directory, and a configuration that scrapes the given targets every second. Also runs
 * `promtool`. When the binaries are missing the test fails with an install hint; it never skips.
 */
import { execFile, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import OpenAI from "openai";
import {
  callInfo,
  defineFeedback,
  observe,
  recordFeedback,
  withAgent,
  withRetrieval,
  withStep,
  withTool,
  withWorkflow,
} from "../../src/index.js";
import type { Feedback, FeedbackRejection, FeedbackTarget } from "../../src/index.js";
import { clearFeedbackDefinitions } from "../../src/feedback/definitions.js";
import { setup } from "../../src/setup-entry.js";
import type { TokentraceHandle } from "../../src/setup-entry.js";
import { prometheusSink } from "../../src/prometheus.js";
import type { PrometheusSink } from "../../src/prometheus.js";
import { startMockLLMServer } from "../../src/testing/index.js";
import type { MockLLMServer } from "../../src/testing/index.js";

export const INSTALL_HINT =
  "Prometheus is needed for this test and was not found on PATH (the test set-up installs it itself only when run as root with apt-get). Install it with " +
  "`sudo apt-get update && sudo apt-get install -y --no-install-recommends prometheus` (Debian/Ubuntu; `.ci/run` does this), " +
  "or put the `prometheus` and `promtool` binaries from https://prometheus.io/download/ on PATH.";

/** Absolute path of a binary on PATH, or undefined. */
export function findBinary(name: string): string | undefined {
  for (const directory of (process.env["PATH"] ?? "").split(delimiter)) {
    if (directory === "") continue;
    const candidate = join(directory, name);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

/** Both binaries, or an Error carrying the install hint (never a skip: the test must fail without them). */
export function requirePrometheusBinaries(): { prometheus: string; promtool: string } {
  const prometheus = findBinary("prometheus");
  const promtool = findBinary("promtool");
  if (prometheus === undefined || promtool === undefined) throw new Error(INSTALL_HINT);
  return { prometheus, promtool };
}

export interface PrometheusSample {
  metric: Record<string, string>;
  value: number;
}

export interface PrometheusServer {
  /** e.g. `http://127.0.0.1:41234` */
  url: string;
  /** An instant query at the current time; values parsed to numbers (NaN stays NaN). */
  query(expression: string): Promise<PrometheusSample[]>;
  /** Polls `expression` until `accept` holds for its result; returns that result. */
  waitFor(
    expression: string,
    accept: (samples: PrometheusSample[]) => boolean,
    timeoutMs?: number,
  ): Promise<PrometheusSample[]>;
  /** GET a JSON API path such as `/api/v1/rules`; returns `data`. */
  api(path: string): Promise<unknown>;
  close(): Promise<void>;
}

export interface StartPrometheusOptions {
  /** `host:port` targets of the one scrape job, named `tokentrace`. */
  targets: string[];
  metricsPath?: string;
  /** Absolute paths of rule files to load (evaluated every second). */
  ruleFiles?: string[];
}

export async function startPrometheus(options: StartPrometheusOptions): Promise<PrometheusServer> {
  const { prometheus } = requirePrometheusBinaries();
  const directory = await mkdtemp(join(tmpdir(), "tokentrace-prometheus-"));
  const port = await freePort();
  const config = [
    "global:",
    "  scrape_interval: 1s",
    "  scrape_timeout: 1s",
    "  evaluation_interval: 1s",
    ...(options.ruleFiles && options.ruleFiles.length > 0
      ? ["rule_files:", ...options.ruleFiles.map((file) => `  - ${JSON.stringify(file)}`)]
      : []),
    "scrape_configs:",
    "  - job_name: tokentrace",
    `    metrics_path: ${JSON.stringify(options.metricsPath ?? "/metrics")}`,
    "    static_configs:",
    `      - targets: [${options.targets.map((target) => JSON.stringify(target)).join(", ")}]`,
    "",
  ].join("\n");
  await writeFile(join(directory, "prometheus.yml"), config);

  const child = spawn(
    prometheus,
    [
      `--config.file=${join(directory, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(directory, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let log = "";
  child.stdout.on("data", (chunk: Buffer) => (log += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (log += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));

  const url = `http://127.0.0.1:${port}`;
  const close = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await rm(directory, { recursive: true, force: true });
  };

  try {
    await waitUntilReady(url, child, () => log);
  } catch (error) {
    await close();
    throw error;
  }

  const api = async (path: string): Promise<unknown> => {
    const response = await fetch(`${url}${path}`);
    const body = (await response.json()) as { status: string; data?: unknown; error?: string };
    if (body.status !== "success") throw new Error(`Prometheus ${path}: ${body.error ?? response.status}`);
    return body.data;
  };
  const query = async (expression: string): Promise<PrometheusSample[]> => {
    const data = (await api(`/api/v1/query?query=${encodeURIComponent(expression)}`)) as {
      resultType: string;
      result: Array<{ metric: Record<string, string>; value: [number, string] }> | [number, string];
    };
    if (data.resultType === "scalar") {
      const [, value] = data.result as [number, string];
      return [{ metric: {}, value: Number(value) }];
    }
    return (data.result as Array<{ metric: Record<string, string>; value: [number, string] }>).map((sample) => ({
      metric: sample.metric,
      value: Number(sample.value[1]),
    }));
  };
  return {
    url,
    query,
    api,
    async waitFor(expression, accept, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      let last: PrometheusSample[] = [];
      for (;;) {
        last = await query(expression);
        if (accept(last)) return last;
        if (Date.now() > deadline) {
          throw new Error(
            `Prometheus: timed out waiting on ${expression}; last result ${JSON.stringify(last)}\n${log}`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    },
    close,
  };
}

/** Runs promtool with the given arguments; resolves with its exit code and output. */
export function runPromtool(args: string[]): Promise<{ code: number; output: string }> {
  const { promtool } = requirePrometheusBinaries();
  return new Promise((resolve) => {
    execFile(promtool, args, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1;
      resolve({ code, output: `${stdout}${stderr}` });
    });
  });
}

async function waitUntilReady(url: string, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`prometheus exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${log()}`);
    }
    try {
      const response = await fetch(`${url}/-/ready`);
      if (response.ok) return;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) throw new Error(`prometheus did not become ready within 20 s:\n${log()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A port the operating system reports free right now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

// --- the scenario shared by prometheus.test.ts and dashboard.test.ts ---

export interface PrometheusScenario {
  prometheus: PrometheusServer;
  sink: PrometheusSink;
  telemetry: TokentraceHandle;
  mock: MockLLMServer;
  close(): Promise<void>;
}

/**
 * The requests left in the rate-limit window after each plain gpt-4o-mini call, per batch: of 100, falling to 5
 * (under the low-headroom alert's 10%); 90,000 of 100,000 tokens left throughout; both windows reset in 10 min.
 */
const RATE_LIMIT_REMAINING = [
  [50, 40],
  [8, 5],
] as const;

function rateLimitHeaders(remainingRequests: number): Record<string, string> {
  return {
    "x-ratelimit-limit-requests": "100",
    "x-ratelimit-remaining-requests": String(remainingRequests),
    "x-ratelimit-reset-requests": "10m0s",
    "x-ratelimit-limit-tokens": "100000",
    "x-ratelimit-remaining-tokens": "90000",
    "x-ratelimit-reset-tokens": "10m0s",
  };
}

/** Calls per batch; the scenario runs two batches, one scrape apart, so rates and quantiles have data. */
export const CALLS_PER_BATCH = 5;
/** The model calls inside the stages a batch adds with `stages: true`. */
const STAGE_CALLS_PER_BATCH = 2;
/** The results a batch records with `feedback: true` (see `recordBatchFeedback`): 12 thumbs, 2 ratings. */
const FEEDBACK_RESULTS_PER_BATCH = 14;

/**
 * With `feedback: true`, an evaluator that throws on every call: its failures feed the dashboard's failures
 * panel and the failing-evaluator alert.
 */
const failingJudge = {
  name: "judge",
  evaluate: (): undefined => {
    throw new Error("the judge model is down");
  },
};

/**
 * An app with `prometheusSink()` on a free port, scraped every second by a real Prometheus (with the
 * example alert rules loaded), after two identical batches of known calls against the mock server:
 * - gpt-4o-mini, 2 plain calls, usage 10 in / 5 out each, with OpenAI's rate-limit headers (RATE_LIMIT_REMAINING)
 * - gpt-4o-mini, 1 stream of 4 content chunks, usage 20 in / 8 out
 * - gpt-4o, 1 plain call, usage 100 in (60 of them read from the prompt cache) / 40 out; in the second batch
 *   with a new system fingerprint (a model change)
 * - gpt-4o-mini, 1 call answered 429 (RateLimitError)
 * - with `stages: true`, one more: a workflow "answer" (an agent "helper" with a retrieval "kb", a tool "lookup",
 *   a step "render" and one gpt-4o-mini call, usage 30 in / 6 out) and a workflow "summarize" (one gpt-4o call,
 *   usage 50 in / 10 out)
 * - with `feedback: true`, after `defineFeedback` of `thumbs` (boolean, labels up / down) and `rating` (numeric,
 *   1 to 5), the feedback `recordBatchFeedback` records on the batch's calls through `recordFeedback()`, and an
 *   evaluator `judge` that throws on every call
 */
export async function startPrometheusScenario(
  options: { ruleFiles?: string[]; stages?: boolean; feedback?: boolean } = {},
): Promise<PrometheusScenario> {
  requirePrometheusBinaries();
  const mock = await startMockLLMServer();
  const sink = prometheusSink({ port: 0, host: "127.0.0.1" });
  // chunkTimingMetric: the opt-in gen_ai.client.operation.time_per_output_chunk, which the dashboard charts.
  const telemetry = setup({
    serviceName: "prometheus-scenario",
    sinks: [sink],
    chunkTimingMetric: true,
    ...(options.feedback === true ? { evaluators: [failingJudge] } : {}),
  });
  let prometheus: PrometheusServer | undefined;
  const close = async (): Promise<void> => {
    await prometheus?.close();
    await telemetry.shutdown();
    await mock.close();
    if (options.feedback === true) clearFeedbackDefinitions();
  };
  try {
    await telemetry.ready;
    const target = new URL(sink.url()!).host;
    prometheus = await startPrometheus({ targets: [target], ruleFiles: options.ruleFiles });
    await prometheus.waitFor('up{job="tokentrace"}', (samples) => samples[0]?.value === 1);
    if (options.feedback === true) {
      defineFeedback({ name: "thumbs", type: "boolean", labels: ["up", "down"] });
      defineFeedback({ name: "rating", type: "numeric", range: [1, 5] });
    }
    const openai = observe(new OpenAI({ baseURL: mock.openaiBaseURL, apiKey: "sk-test", maxRetries: 0 }));
    const messages = [{ role: "user" as const, content: "Hello" }];
    for (let batch = 1; batch <= 2; batch++) {
      const miniResults: object[] = [];
      for (let index = 0; index < 2; index++) {
        mock.enqueue({
          usage: { prompt_tokens: 10, completion_tokens: 5 },
          headers: rateLimitHeaders(RATE_LIMIT_REMAINING[batch - 1]![index]!),
        });
        miniResults.push(await openai.chat.completions.create({ model: "gpt-4o-mini", messages }));
      }
      mock.enqueue({ usage: { prompt_tokens: 20, completion_tokens: 8 }, chunks: 4 });
      const stream = await openai.chat.completions.create({ model: "gpt-4o-mini", messages, stream: true });
      for await (const _chunk of stream) {
        // read to the end
      }
      miniResults.push(stream);
      // The second batch's is answered by a backend not seen before: one model change.
      mock.enqueue({
        usage: { prompt_tokens: 100, completion_tokens: 40, cached_tokens: 60 },
        ...(batch === 2 ? { systemFingerprint: "fp_mock_new" } : {}),
      });
      const gpt4o = await openai.chat.completions.create({ model: "gpt-4o", messages });
      mock.enqueue({ status: 429 });
      await openai.chat.completions.create({ model: "gpt-4o-mini", messages }).catch(() => undefined);
      if (options.stages === true) {
        mock.enqueue({ usage: { prompt_tokens: 30, completion_tokens: 6 } });
        await withWorkflow("answer", () =>
          withAgent("helper", async () => {
            await withRetrieval("kb", () => Promise.resolve([]));
            await withTool("lookup", () => Promise.resolve("found"));
            withStep("render", () => "prompt");
            await openai.chat.completions.create({ model: "gpt-4o-mini", messages });
          }),
        );
        mock.enqueue({ usage: { prompt_tokens: 50, completion_tokens: 10 } });
        await withWorkflow("summarize", () => openai.chat.completions.create({ model: "gpt-4o", messages }));
      }
      if (options.feedback === true) recordBatchFeedback(miniResults, gpt4o);
      const expected = batch * (CALLS_PER_BATCH + (options.stages === true ? STAGE_CALLS_PER_BATCH : 0));
      await prometheus
        .waitFor("sum(tokentrace_client_calls_total)", (samples) => samples[0]?.value === expected)
        .catch(async (error: unknown) => {
          const scrape = await (await fetch(sink.url()!)).text();
          throw new Error(
            `${String(error)}\nThe sink serves:\n${scrape
              .split("\n")
              .filter((line) => line.startsWith("tokentrace_client_calls"))
              .join("\n")}`,
          );
        });
      if (options.feedback === true) {
        await prometheus.waitFor(
          "sum(tokentrace_evaluation_results_total)",
          (samples) => samples[0]?.value === batch * FEEDBACK_RESULTS_PER_BATCH,
        );
        const judgeFailures = expected;
        await prometheus.waitFor(
          "sum(tokentrace_evaluation_failures_total)",
          (samples) => samples[0]?.value === judgeFailures,
        );
      }
    }
    return { prometheus, sink, telemetry, mock, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/**
 * One batch's feedback, recorded synchronously (no scrape sees half of it), every batch the same, so that each
 * series grows by the same factor and the dashboard's rate ratios come out exact:
 * - `thumbs` on the gpt-4o-mini results: 7 up, 3 down (30% negative, 10 results), as refs, `{ ref }`, the
 *   response and the stream
 * - `thumbs` on the gpt-4o result: 1 up, 1 down (50% negative, but 2 results: too few to alert on)
 * - `rating` (source `llm`) on the gpt-4o result: 4 and 5
 * - refused: `stars` twice (`unknown_name`), a `rating` of 7 once (`out_of_range`)
 */
function recordBatchFeedback(miniResults: object[], gpt4o: object): void {
  const ref = (result: object): string => {
    const found = callInfo(result)?.ref;
    if (found === undefined) throw new Error("the scenario: callInfo() gave no ref for an observed call's result");
    return found;
  };
  const record = (target: FeedbackTarget, feedback: Feedback, refused?: FeedbackRejection): void => {
    const result = recordFeedback(target, feedback);
    const expected = refused === undefined ? { ok: true } : { ok: false, reason: refused };
    if (result.ok !== expected.ok || (!result.ok && result.reason !== refused)) {
      throw new Error(
        `the scenario: recordFeedback(${JSON.stringify(feedback)}) answered ${JSON.stringify(result)}, expected ${JSON.stringify(expected)}`,
      );
    }
  };
  const [first, second, stream] = miniResults as [object, object, object];
  const miniTargets: FeedbackTarget[] = [ref(first), second, stream, { ref: ref(second) }];
  for (let index = 0; index < 10; index++) {
    record(miniTargets[index % miniTargets.length]!, { name: "thumbs", value: index < 7 });
  }
  record(gpt4o, { name: "thumbs", value: true });
  record(ref(gpt4o), { name: "thumbs", label: "down" });
  record(gpt4o, { name: "rating", value: 4, source: "llm", evaluator: "judge" });
  record(gpt4o, { name: "rating", value: 5, source: "llm", evaluator: "judge" });
  record(gpt4o, { name: "stars", value: 3 }, "unknown_name");
  record(ref(gpt4o), { name: "stars", value: 5 }, "unknown_name");
  record(gpt4o, { name: "rating", value: 7 }, "out_of_range");
}

// --- the opt-in signals' scenario (dashboard.test.ts) ---

/** The anomaly and drift settings of `startSignalsScenario`. */
export const SIGNALS_ANOMALIES = { minSamples: 20, signals: ["error_rate"], cooldownMs: 0 } as const;
export const SIGNALS_DRIFT = { windowSize: 50 } as const;

/** What `startSignalsScenario` asks the mock for, in order: `stop` answers, 429s, then `length` answers. */
export const SIGNALS_SEQUENCE = { stops: 60, errors: 10, lengthStops: 40 } as const;

/**
 * An app with `anomalies` and `drift` on and `prometheusSink()`, scraped by a real Prometheus with `ruleFiles`:
 * gpt-4o-mini answers `stop` 60 times, then 429 ten times in a row (an error-rate anomaly), then `length` 40
 * times (the last 50 completed calls, 10 `stop` and 40 `length`, drift from the first 50, all `stop`).
 */
export async function startSignalsScenario(options: { ruleFiles?: string[] } = {}): Promise<PrometheusScenario> {
  requirePrometheusBinaries();
  const mock = await startMockLLMServer();
  const sink = prometheusSink({ port: 0, host: "127.0.0.1" });
  const telemetry = setup({
    serviceName: "signals-scenario",
    sinks: [sink],
    anomalies: { ...SIGNALS_ANOMALIES, signals: [...SIGNALS_ANOMALIES.signals] },
    drift: SIGNALS_DRIFT,
  });
  let prometheus: PrometheusServer | undefined;
  const close = async (): Promise<void> => {
    await prometheus?.close();
    await telemetry.shutdown();
    await mock.close();
  };
  try {
    await telemetry.ready;
    prometheus = await startPrometheus({ targets: [new URL(sink.url()!).host], ruleFiles: options.ruleFiles });
    await prometheus.waitFor('up{job="tokentrace"}', (samples) => samples[0]?.value === 1);
    const openai = observe(new OpenAI({ baseURL: mock.openaiBaseURL, apiKey: "sk-test", maxRetries: 0 }));
    const messages = [{ role: "user" as const, content: "Hello" }];
    const { stops, errors, lengthStops } = SIGNALS_SEQUENCE;
    for (let index = 0; index < stops; index++) mock.enqueue({});
    for (let index = 0; index < errors; index++) mock.enqueue({ status: 429 });
    for (let index = 0; index < lengthStops; index++) mock.enqueue({ finishReason: "length" });
    for (let index = 0; index < stops + errors + lengthStops; index++) {
      await openai.chat.completions.create({ model: "gpt-4o-mini", messages }).catch(() => undefined);
    }
    await prometheus.waitFor(
      "sum(tokentrace_client_calls_total)",
      (samples) => samples[0]?.value === stops + errors + lengthStops,
    );
    return { prometheus, sink, telemetry, mock, close };
  } catch (error) {
    await close();
    throw error;
  }
}
