import { createServer } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InvalidOptionError, observe } from "../src/index.js";
import { setup } from "../src/setup-entry.js";
import { prometheusHandler, prometheusSink } from "../src/prometheus.js";
import type { PrometheusSinkOptions } from "../src/prometheus.js";
import { DURATION_BUCKETS_SECONDS, TOKEN_USAGE_BUCKETS } from "../src/semconv.js";
import { startMockLLMServer } from "../src/testing/index.js";
import { startPrometheusScenario } from "./helpers/prometheus-server.js";
import type { PrometheusSample, PrometheusScenario } from "./helpers/prometheus-server.js";

/** `{ "label values joined by |": value }`, for exact comparisons independent of order. */
function byLabels(samples: PrometheusSample[], ...labels: string[]): Record<string, number> {
  const result: Record<string, number> = {};
  for (const sample of samples) result[labels.map((label) => sample.metric[label] ?? "").join("|")] = sample.value;
  return result;
}

describe("prometheusSink() scraped by a real Prometheus", () => {
  let scenario: PrometheusScenario;
  beforeAll(async () => {
    scenario = await startPrometheusScenario();
  }, 60_000);
  afterAll(async () => {
    await scenario?.close();
  });

  const query = (expression: string): Promise<PrometheusSample[]> => scenario.prometheus.query(expression);

  it("serves the metrics under the names OpenTelemetry's Prometheus exporter gives them", async () => {
    const names = (await scenario.prometheus.api("/api/v1/label/__name__/values")) as string[];
    expect(names.filter((name) => /^(gen_ai|tokentrace)_/.test(name))).toEqual([
      "gen_ai_client_operation_duration_bucket",
      "gen_ai_client_operation_duration_count",
      "gen_ai_client_operation_duration_sum",
      "gen_ai_client_operation_time_per_output_chunk_bucket",
      "gen_ai_client_operation_time_per_output_chunk_count",
      "gen_ai_client_operation_time_per_output_chunk_sum",
      "gen_ai_client_operation_time_to_first_chunk_bucket",
      "gen_ai_client_operation_time_to_first_chunk_count",
      "gen_ai_client_operation_time_to_first_chunk_sum",
      "gen_ai_client_token_usage_bucket",
      "gen_ai_client_token_usage_count",
      "gen_ai_client_token_usage_sum",
      "tokentrace_client_calls_total",
      "tokentrace_client_cost_total",
      "tokentrace_client_finish_reasons_total",
      "tokentrace_client_model_changes_total",
      "tokentrace_client_token_cache_read_total",
      "tokentrace_ratelimit_limit",
      "tokentrace_ratelimit_remaining",
      "tokentrace_ratelimit_reset",
      "tokentrace_signals_series",
    ]);
    const scrape = await (await fetch(scenario.sink.url()!)).text();
    expect(scrape).toContain("# TYPE gen_ai_client_token_usage histogram");
    expect(scrape).toContain("# TYPE gen_ai_client_operation_duration histogram");
    expect(scrape).toContain("# TYPE tokentrace_client_calls_total counter");
    expect(scrape).toContain("# TYPE tokentrace_client_cost_total counter");
    expect(scrape).toContain('target_info{service_name="prometheus-scenario"} 1');
  });

  it("carries only low-cardinality labels", async () => {
    const labels = (await query("tokentrace_client_calls_total")).flatMap((sample) => Object.keys(sample.metric));
    expect([...new Set(labels)].sort()).toEqual([
      "__name__",
      "error_type",
      "gen_ai_operation_name",
      "gen_ai_provider_name",
      "gen_ai_request_model",
      "gen_ai_response_model",
      "instance",
      "job",
      "otel_scope_name",
      "otel_scope_version",
      "server_address",
      "server_port",
      "tokentrace_call_outcome",
    ]);
  });

  it("sums tokens exactly by type and model", async () => {
    const sums = await query("sum by (gen_ai_request_model, gen_ai_token_type) (gen_ai_client_token_usage_sum)");
    expect(byLabels(sums, "gen_ai_request_model", "gen_ai_token_type")).toEqual({
      "gpt-4o-mini|input": 80, // 2 batches × (10 + 10 + 20)
      "gpt-4o-mini|output": 36, // 2 × (5 + 5 + 8)
      "gpt-4o|input": 200,
      "gpt-4o|output": 80,
    });
    const counts = await query("sum by (gen_ai_request_model, gen_ai_token_type) (gen_ai_client_token_usage_count)");
    expect(byLabels(counts, "gen_ai_request_model", "gen_ai_token_type")).toEqual({
      "gpt-4o-mini|input": 6,
      "gpt-4o-mini|output": 6,
      "gpt-4o|input": 2,
      "gpt-4o|output": 2,
    });
    const responseModels = await query("sum by (gen_ai_response_model) (gen_ai_client_token_usage_count)");
    expect(byLabels(responseModels, "gen_ai_response_model")).toEqual({ "gpt-4o-mini-2024-07-18": 12, "gpt-4o": 4 });
  });

  it("counts calls by outcome, and errors by type", async () => {
    expect(
      byLabels(
        await query("sum by (tokentrace_call_outcome) (tokentrace_client_calls_total)"),
        "tokentrace_call_outcome",
      ),
    ).toEqual({
      completed: 8,
      error: 2,
    });
    expect(
      byLabels(
        await query(
          'sum by (error_type, gen_ai_request_model) (tokentrace_client_calls_total{tokentrace_call_outcome="error"})',
        ),
        "error_type",
        "gen_ai_request_model",
      ),
    ).toEqual({ "RateLimitError|gpt-4o-mini": 2 });
    expect(
      byLabels(
        await query('sum by (error_type) (gen_ai_client_operation_duration_count{error_type!=""})'),
        "error_type",
      ),
    ).toEqual({
      RateLimitError: 2,
    });
  });

  it("counts histogram observations exactly, with the conventions' bucket boundaries", async () => {
    expect(
      byLabels(
        await query("sum by (gen_ai_request_model) (gen_ai_client_operation_duration_count)"),
        "gen_ai_request_model",
      ),
    ).toEqual({
      "gpt-4o-mini": 8,
      "gpt-4o": 2,
    });
    expect((await query("sum(gen_ai_client_operation_time_to_first_chunk_count)"))[0]?.value).toBe(2);
    // Each stream: role chunk, 4 content chunks and the finish chunk seen by the app: 5 gaps after the first.
    expect((await query("sum(gen_ai_client_operation_time_per_output_chunk_count)"))[0]?.value).toBe(10);
    // The +Inf bucket of a histogram holds every observation.
    expect((await query('sum(gen_ai_client_operation_duration_bucket{le="+Inf"})'))[0]?.value).toBe(10);

    const bounds = async (metric: string): Promise<number[]> =>
      (await query(`count by (le) (${metric}_bucket)`))
        .map((sample) => (sample.metric["le"] === "+Inf" ? Number.POSITIVE_INFINITY : Number(sample.metric["le"])))
        .sort((a, b) => a - b);
    expect(await bounds("gen_ai_client_token_usage")).toEqual([...TOKEN_USAGE_BUCKETS, Number.POSITIVE_INFINITY]);
    expect(await bounds("gen_ai_client_operation_duration")).toEqual([
      ...DURATION_BUCKETS_SECONDS,
      Number.POSITIVE_INFINITY,
    ]);
    expect(await bounds("gen_ai_client_operation_time_to_first_chunk")).toEqual([
      ...DURATION_BUCKETS_SECONDS,
      Number.POSITIVE_INFINITY,
    ]);

    // Token counts fall in the right buckets: 10, 10, 20 input tokens per batch for gpt-4o-mini are <= 64, > 4.
    const le = await query(
      'sum by (le) (gen_ai_client_token_usage_bucket{gen_ai_request_model="gpt-4o-mini", gen_ai_token_type="input", le=~"4|16|64"})',
    );
    expect(byLabels(le, "le")).toEqual({ "4": 0, "16": 4, "64": 6 });
  });

  it("adds up cost by model", async () => {
    const cost = byLabels(
      await query("sum by (gen_ai_request_model) (tokentrace_client_cost_total)"),
      "gen_ai_request_model",
    );
    expect(Object.keys(cost).sort()).toEqual(["gpt-4o", "gpt-4o-mini"]);
    // Prices per million tokens: gpt-4o-mini $0.15 in / $0.60 out; gpt-4o $2.50 in, $1.25 cached in, $10 out.
    expect(cost["gpt-4o-mini"]).toBeCloseTo((80 * 0.15 + 36 * 0.6) / 1e6, 12);
    expect(cost["gpt-4o"]).toBeCloseTo((80 * 2.5 + 120 * 1.25 + 80 * 10) / 1e6, 12);
  });

  it("counts input tokens read from the prompt cache by model", async () => {
    const cached = byLabels(
      await query("sum by (gen_ai_request_model) (tokentrace_client_token_cache_read_total)"),
      "gen_ai_request_model",
    );
    // The mock reports cached_tokens 0 unless told otherwise; gpt-4o read 60 of its 100 input tokens from the cache, twice.
    expect(cached).toEqual({ "gpt-4o": 120, "gpt-4o-mini": 0 });
  });
});

describe("prometheusSink() and prometheusHandler()", () => {
  async function listen(server: Server): Promise<string> {
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  it("serves the same text on the app's own server, and 404 beside its path", async () => {
    const mock = await startMockLLMServer();
    const sink = prometheusSink({ port: 0, host: "127.0.0.1", path: "/internal/metrics" });
    const telemetry = setup({ sinks: [sink] });
    const app = createServer((request, response) => {
      if (request.url === "/metrics") {
        prometheusHandler()(request, response);
        return;
      }
      if (request.url === "/explicit") {
        prometheusHandler(sink)(request, response);
        return;
      }
      response.end("app");
    });
    try {
      await telemetry.ready;
      const base = await listen(app);
      await observe(
        new OpenAI({ baseURL: mock.openaiBaseURL, apiKey: "sk-test", maxRetries: 0 }),
      ).chat.completions.create({
        model: "gpt-4o-mini",
        messages: [{ role: "user", content: "Hi" }],
      });
      expect(sink.url()).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/internal\/metrics$/);
      const own = await (await fetch(sink.url()!)).text();
      const mounted = await fetch(`${base}/metrics`);
      expect(mounted.status).toBe(200);
      expect(await mounted.text()).toBe(own);
      expect(await (await fetch(`${base}/explicit`)).text()).toBe(own);
      expect(own).toMatch(/^tokentrace_client_calls_total\{.*tokentrace_call_outcome="completed".*\} 1$/m);
      expect((await fetch(sink.url()!.replace("/internal/metrics", "/metrics"))).status).toBe(404);
    } finally {
      await new Promise((resolve) => app.close(resolve));
      await telemetry.shutdown();
      await mock.close();
    }
    // Shut down: its port is closed and prometheusHandler() has no sink left to serve.
    const response = {
      statusCode: 0,
      body: "",
      setHeader: () => undefined,
      end: (text: string) => (response.body = text),
    };
    prometheusHandler()({} as never, response as never);
    expect(response).toMatchObject({ statusCode: 503, body: "# tokentrace: no prometheusSink() is set up yet\n" });
  });

  it("starts no server with port false, serving only through the handler", async () => {
    const sink = prometheusSink({ port: false });
    const telemetry = setup({ sinks: [sink] });
    await expect(telemetry.ready).resolves.toBeUndefined();
    expect(sink.url()).toBeUndefined();
    const app = createServer(prometheusHandler(sink));
    try {
      const text = await (await fetch(`${await listen(app)}/anything`)).text();
      expect(text).toContain("target_info{");
    } finally {
      await new Promise((resolve) => app.close(resolve));
      await telemetry.shutdown();
    }
  });

  it("rejects ready with an error naming prometheusSink.port when the port is in use", async () => {
    const blocker = createServer();
    const port = Number(new URL(await listen(blocker)).port);
    const telemetry = setup({ sinks: [prometheusSink({ port, host: "127.0.0.1" })] });
    try {
      const error = await telemetry.ready.then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect((error as InvalidOptionError).option).toBe("prometheusSink.port");
      expect((error as Error).message).toBe(
        `Invalid tokentrace option \`prometheusSink.port\`: port ${port} is already in use (127.0.0.1, port ${port}). Choose another port, 0 for any free port, or false to serve the metrics only through prometheusHandler().`,
      );
    } finally {
      await telemetry.shutdown();
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  it("fails at once, naming the option, for invalid options", () => {
    const cases: Array<[PrometheusSinkOptions, string, string]> = [
      [{ port: 70_000 }, "prometheusSink.port", "expected an integer from 0 to 65535 (0: any free port) or false"],
      [{ port: "9464" as never }, "prometheusSink.port", 'received the string "9464"'],
      [{ host: "" }, "prometheusSink.host", "expected a host name or IP address"],
      [{ path: "metrics" }, "prometheusSink.path", 'expected a path starting with "/"'],
      [{ prot: 1 } as never, "prometheusSink.prot", "unknown option. Accepted options: port, host, path."],
    ];
    for (const [options, option, fragment] of cases) {
      let thrown: unknown;
      try {
        prometheusSink(options);
      } catch (error) {
        thrown = error;
      }
      expect(thrown, option).toBeInstanceOf(InvalidOptionError);
      expect((thrown as InvalidOptionError).option).toBe(option);
      expect((thrown as Error).message).toContain(fragment);
    }
  });
});
