import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import {
  SIGNALS_ANOMALIES,
  SIGNALS_DRIFT,
  SIGNALS_SEQUENCE,
  runPromtool,
  startPrometheusScenario,
  startSignalsScenario,
} from "./helpers/prometheus-server.js";
import { AnomalyDetector, checkAnomalies } from "../src/signals/anomalies.js";
import { psi } from "../src/signals/drift.js";
import { scoredCall } from "./helpers/scored-call.js";
import type { PrometheusSample, PrometheusScenario } from "./helpers/prometheus-server.js";

const dashboardPath = fileURLToPath(new URL("../examples/grafana/tokentrace-dashboard.json", import.meta.url));
const alertsPath = fileURLToPath(new URL("../examples/prometheus/alerts.yml", import.meta.url));
const recordingRulesPath = fileURLToPath(new URL("../examples/prometheus/recording-rules.yml", import.meta.url));
const readmePath = fileURLToPath(new URL("../README.md", import.meta.url));
const prometheusConfigPath = fileURLToPath(new URL("../examples/prometheus/prometheus.yml", import.meta.url));

interface Target {
  expr: string;
  refId: string;
  legendFormat?: string;
  datasource?: { type: string; uid: string };
}
interface Panel {
  id: number;
  title: string;
  type: string;
  datasource?: { type: string; uid: string };
  gridPos: { h: number; w: number; x: number; y: number };
  targets?: Target[];
}
interface Dashboard {
  title: string;
  uid: string;
  panels: Panel[];
  templating: { list: Array<{ name: string; type: string }> };
}

const dashboard = JSON.parse(readFileSync(dashboardPath, "utf8")) as Dashboard;

interface AlertRule {
  alert: string;
  expr: string;
  for: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}
const alertRules = (parse(readFileSync(alertsPath, "utf8")) as { groups: Array<{ name: string; rules: AlertRule[] }> })
  .groups[0]!.rules;
const negativeFeedbackRule = alertRules.find((rule) => rule.alert === "TokentraceNegativeFeedbackRising")!;
const evaluatorFailingRule = alertRules.find((rule) => rule.alert === "TokentraceEvaluatorFailing")!;
const headroomRule = alertRules.find((rule) => rule.alert === "TokentraceRateLimitHeadroomLow")!;
/** The test copies of the rules with a `for`: the same expressions with `for: 0s`, so they fire at once. */
const FIRING_COPY_GROUP = "tokentrace-for-0s";

/**
 * Panels whose metric tokentrace does not emit yet: their query must return nothing, and the metric must be
 * absent from Prometheus. When it starts being emitted this test fails: move the panel out of this list.
 */
const panelsAwaitingMetric: Record<string, string> = {};

/** Panels of the opt-in signals (anomalies, drift): checked against the signals scenario, where they are on. */
const SIGNALS_PANELS: ReadonlySet<string> = new Set([
  "Anomalies in range by model and signal",
  "Output drift (PSI) by model and feature",
]);
const driftRule = alertRules.find((rule) => rule.alert === "TokentraceOutputDrift")!;

/**
 * The `count` alerts of `name` once Prometheus has them all, each as its state followed by the values of
 * `labels`, sorted.
 */
async function alertsOf(
  scenario: PrometheusScenario,
  name: string,
  count: number,
  ...labels: string[]
): Promise<string[][]> {
  const samples = await scenario.prometheus.waitFor(`ALERTS{alertname="${name}"}`, (found) => found.length === count);
  return samples
    .map((sample) => [sample.metric["alertstate"] ?? "", ...labels.map((label) => sample.metric[label] ?? "")])
    .sort();
}

/** `rules` with `for: 0s`, in the group FIRING_COPY_GROUP of a rule file written in `directory`: its path. */
async function writeFiringCopies(directory: string, rules: readonly AlertRule[]): Promise<string> {
  const path = join(directory, "alerts-for-0s.yml");
  await writeFile(
    path,
    stringify({ groups: [{ name: FIRING_COPY_GROUP, rules: rules.map((rule) => ({ ...rule, for: "0s" })) }] }),
  );
  return path;
}

/** A panel's one query, as Grafana sends it, against `scenario`'s Prometheus. */
function queryPanel(scenario: PrometheusScenario, title: string): Promise<PrometheusSample[]> {
  const targets = dashboard.panels.find((panel) => panel.title === title)!.targets!;
  expect(targets, title).toHaveLength(1);
  return scenario.prometheus.query(expand(targets[0]!.expr));
}

/** What Grafana substitutes before sending a query: the variables this dashboard uses. */
function expand(expression: string): string {
  return expression.replaceAll("$__rate_interval", "1m").replaceAll("$__range", "5m").replaceAll("$model", ".*");
}

describe("examples/grafana/tokentrace-dashboard.json", () => {
  it("has the panels the issue asks for, each reading the dashboard's Prometheus data source", () => {
    expect(dashboard.uid).toBe("tokentrace-llm-calls");
    expect(dashboard.templating.list.map((variable) => [variable.name, variable.type])).toEqual([
      ["datasource", "datasource"],
      ["model", "query"],
    ]);
    expect(dashboard.panels.map((panel) => panel.title)).toEqual([
      "Calls in range",
      "Spend in range",
      "Error rate",
      "p95 time to first chunk",
      "Request rate by outcome",
      "Errors by type",
      "Duration p50 / p95 by model",
      "Time to first chunk p50 / p95 by model",
      "Time per output chunk p50 / p95 by model",
      "Tokens in / out by model",
      "Cost per hour by model",
      "Cache-read share of input tokens by model",
      "Stage duration p95 by kind",
      "Cost per hour by workflow",
      "Negative feedback rate by model",
      "Mean evaluation score by name",
      "Evaluation results by name and label",
      "Feedback rejected by reason",
      "Evaluator failures by evaluator and reason",
      "Finish reasons by model",
      "Model changes",
      "Rate-limit headroom",
      "Anomalies in range by model and signal",
      "Output drift (PSI) by model and feature",
    ]);
    expect(new Set(dashboard.panels.map((panel) => panel.id)).size).toBe(dashboard.panels.length);
    for (const panel of dashboard.panels) {
      expect(panel.datasource, panel.title).toEqual({ type: "prometheus", uid: "${datasource}" });
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      for (const target of panel.targets ?? []) expect(target.datasource, panel.title).toEqual(panel.datasource);
    }
  });

  it("lays the panels out in order on Grafana's 24-column grid, none overlapping", () => {
    expect(dashboard.panels.map((panel) => panel.id)).toEqual(dashboard.panels.map((_, index) => index + 1));
    const feedbackPanels = dashboard.panels.slice(-10).map((panel) => [panel.title, panel.gridPos]);
    expect(feedbackPanels).toEqual([
      ["Negative feedback rate by model", { h: 8, w: 12, x: 0, y: 44 }],
      ["Mean evaluation score by name", { h: 8, w: 12, x: 12, y: 44 }],
      ["Evaluation results by name and label", { h: 8, w: 12, x: 0, y: 52 }],
      ["Feedback rejected by reason", { h: 8, w: 12, x: 12, y: 52 }],
      ["Evaluator failures by evaluator and reason", { h: 8, w: 12, x: 0, y: 60 }],
      ["Finish reasons by model", { h: 8, w: 12, x: 12, y: 60 }],
      ["Model changes", { h: 8, w: 12, x: 0, y: 68 }],
      ["Rate-limit headroom", { h: 8, w: 12, x: 12, y: 68 }],
      ["Anomalies in range by model and signal", { h: 8, w: 12, x: 0, y: 76 }],
      ["Output drift (PSI) by model and feature", { h: 8, w: 12, x: 12, y: 76 }],
    ]);
    for (const [index, { title, gridPos: a }] of dashboard.panels.entries()) {
      expect(a.x + a.w, title).toBeLessThanOrEqual(24);
      for (const { title: other, gridPos: b } of dashboard.panels.slice(index + 1)) {
        const overlap = a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
        expect(overlap, `${title} / ${other}`).toBe(false);
      }
    }
  });
});

/** A value to 12 significant digits: rates are ratios of floats, exact up to rounding. */
function exact(value: number): number {
  return Number(value.toPrecision(12));
}

/** `{ "label values joined by |": value }` of a query's samples, for comparisons independent of order. */
function byLabels(samples: PrometheusSample[], ...labels: string[]): Record<string, number> {
  const result: Record<string, number> = {};
  for (const sample of samples) result[labels.map((label) => sample.metric[label] ?? "").join("|")] = sample.value;
  return result;
}

describe("the example dashboard and alert rules against a real Prometheus", () => {
  let scenario: PrometheusScenario;
  let copyDirectory: string | undefined;
  beforeAll(async () => {
    // The negative-feedback rule's `for: 15m` keeps it pending for the test's life; a copy with `for: 0s`, in a
    // group of its own in the same Prometheus, shows that the expression makes it fire.
    copyDirectory = await mkdtemp(join(tmpdir(), "tokentrace-alerts-"));
    const copyPath = await writeFiringCopies(copyDirectory, [negativeFeedbackRule, evaluatorFailingRule, headroomRule]);
    scenario = await startPrometheusScenario({
      ruleFiles: [alertsPath, copyPath, recordingRulesPath],
      stages: true,
      feedback: true,
    });
  }, 60_000);
  afterAll(async () => {
    await scenario?.close();
    if (copyDirectory !== undefined) await rm(copyDirectory, { recursive: true, force: true });
  });

  /** A panel's one query, as Grafana sends it. */
  const panelQuery = (title: string): Promise<PrometheusSample[]> => queryPanel(scenario, title);

  const queries = dashboard.panels
    .filter((panel) => !SIGNALS_PANELS.has(panel.title))
    .flatMap((panel) => (panel.targets ?? []).map((target) => ({ panel: panel.title, target })));
  for (const { panel, target } of queries) {
    const awaiting = panelsAwaitingMetric[panel];
    if (awaiting === undefined) {
      it(`"${panel}" ${target.refId} returns data: ${target.expr}`, async () => {
        const samples = await scenario.prometheus.query(expand(target.expr));
        expect(samples.length, `no series for ${target.expr}`).toBeGreaterThan(0);
        for (const sample of samples) expect(Number.isFinite(sample.value), JSON.stringify(sample)).toBe(true);
        expect(samples.some((sample) => sample.value > 0)).toBe(true);
      });
    } else {
      it(`"${panel}" ${target.refId} waits for ${awaiting}, which is not emitted yet`, async () => {
        const names = (await scenario.prometheus.api("/api/v1/label/__name__/values")) as string[];
        expect(names).not.toContain(awaiting);
        expect(target.expr).toContain(awaiting);
        expect(await scenario.prometheus.query(expand(target.expr))).toEqual([]);
      });
    }
  }

  it("charts each stage kind under its own legend, and the per-model duration panel leaves retrievals out", async () => {
    const stagePanel = dashboard.panels.find((panel) => panel.title === "Stage duration p95 by kind")!;
    const legends: string[] = [];
    for (const target of stagePanel.targets ?? []) {
      const samples = await scenario.prometheus.query(expand(target.expr));
      expect(samples, target.expr).toHaveLength(1);
      legends.push(target.legendFormat ?? "");
    }
    expect(legends).toEqual(["workflow", "agent", "tool", "retrieval", "step"]);
    const durationPanel = dashboard.panels.find((panel) => panel.title === "Duration p50 / p95 by model")!;
    for (const target of durationPanel.targets ?? []) {
      const models = (await scenario.prometheus.query(expand(target.expr))).map(
        (sample) => sample.metric["gen_ai_request_model"],
      );
      expect(models.sort()).toEqual(["gpt-4o", "gpt-4o-mini"]);
    }
  });

  it("sums the cost per workflow exactly: each workflow's model calls", async () => {
    const costs = await scenario.prometheus.query("sum by (gen_ai_workflow_name) (tokentrace_workflow_cost_total)");
    const byWorkflow = Object.fromEntries(
      costs.map((sample) => [sample.metric["gen_ai_workflow_name"], Number(sample.value.toPrecision(12))]),
    );
    // 2 batches × gpt-4o-mini (30 in × $0.15/M + 6 out × $0.60/M) and × gpt-4o (50 in × $2.50/M + 10 out × $10/M).
    expect(byWorkflow).toEqual({ answer: 2 * (30 * 0.15e-6 + 6 * 0.6e-6), summarize: 2 * (50 * 2.5e-6 + 10 * 10e-6) });
  });

  it("charts feedback exactly: negative share by model, mean score by name, results and rejections", async () => {
    // Each batch: thumbs on gpt-4o-mini 7 up / 3 down, on gpt-4o 1 up / 1 down; ratings 4 and 5 on gpt-4o.
    const negative = await panelQuery("Negative feedback rate by model");
    expect(negative.map((sample) => [sample.metric["gen_ai_request_model"], exact(sample.value)]).sort()).toEqual([
      ["gpt-4o", 0.5],
      ["gpt-4o-mini", 0.3],
    ]);
    const mean = await panelQuery("Mean evaluation score by name");
    // thumbs: 8 of 12 up (1) → 2/3; rating: (4 + 5) / 2.
    expect(mean.map((sample) => [sample.metric["gen_ai_evaluation_name"], exact(sample.value)]).sort()).toEqual([
      ["rating", 4.5],
      ["thumbs", exact(2 / 3)],
    ]);
    // Rates: every series grew by the same count each batch, so their ratios are the per-batch counts' ratios.
    const results = byLabels(
      await panelQuery("Evaluation results by name and label"),
      "gen_ai_evaluation_name",
      "gen_ai_evaluation_score_label",
    );
    expect(Object.keys(results).sort()).toEqual(["rating|", "thumbs|down", "thumbs|up"]);
    expect(results["rating|"]).toBeGreaterThan(0);
    const perRating = Object.fromEntries(
      Object.entries(results).map(([labels, value]) => [labels, exact(value / results["rating|"]!)]),
    );
    expect(perRating).toEqual({ "thumbs|up": 4, "thumbs|down": 2, "rating|": 1 });
    const rejected = byLabels(await panelQuery("Feedback rejected by reason"), "tokentrace_feedback_rejection_reason");
    expect(Object.keys(rejected).sort()).toEqual(["out_of_range", "unknown_name"]);
    expect(rejected["out_of_range"]).toBeGreaterThan(0);
    expect(exact(rejected["unknown_name"]! / rejected["out_of_range"]!)).toBe(2);
    // The judge threw on every call: 7 a batch.
    const failures = byLabels(
      await panelQuery("Evaluator failures by evaluator and reason"),
      "tokentrace_evaluation_evaluator",
      "error_type",
    );
    expect(Object.keys(failures)).toEqual(["judge|exception"]);
    expect(failures["judge|exception"]).toBeGreaterThan(0);
    const total = await scenario.prometheus.query(
      "sum by (tokentrace_evaluation_evaluator, error_type) (tokentrace_evaluation_failures_total)",
    );
    expect(total.map((sample) => [sample.metric["tokentrace_evaluation_evaluator"], sample.value])).toEqual([
      ["judge", 14],
    ]);
  });

  it("charts the signals exactly: finish reasons, the one model change, the headroom left", async () => {
    // Per batch: every successful call stopped (`stop`); the 429 has no finish reason.
    const reasons = byLabels(
      await scenario.prometheus.query(
        "sum by (gen_ai_request_model, tokentrace_finish_reason) (tokentrace_client_finish_reasons_total)",
      ),
      "gen_ai_request_model",
      "tokentrace_finish_reason",
    );
    // 2 plain + 1 stream + the agent's call on gpt-4o-mini, the plain and the workflow's call on gpt-4o: × 2 batches.
    expect(reasons).toEqual({ "gpt-4o-mini|stop": 8, "gpt-4o|stop": 4 });
    expect(
      Object.keys(
        byLabels(await panelQuery("Finish reasons by model"), "gen_ai_request_model", "tokentrace_finish_reason"),
      ).sort(),
    ).toEqual(["gpt-4o-mini|stop", "gpt-4o|stop"]);
    const changes = await scenario.prometheus.query(
      "sum by (gen_ai_request_model, tokentrace_model_change_kind) (tokentrace_client_model_changes_total)",
    );
    expect(
      Object.fromEntries(
        changes.map((sample) => [
          `${sample.metric["gen_ai_request_model"]}|${sample.metric["tokentrace_model_change_kind"]}`,
          sample.value,
        ]),
      ),
    ).toEqual({
      "gpt-4o-mini|response_model": 0,
      "gpt-4o-mini|system_fingerprint": 0,
      "gpt-4o|response_model": 0,
      "gpt-4o|system_fingerprint": 1,
    });
    const headroom = byLabels(
      await panelQuery("Rate-limit headroom"),
      "gen_ai_request_model",
      "tokentrace_ratelimit_kind",
    );
    expect(headroom).toEqual({ "gpt-4o-mini|requests": 0.05, "gpt-4o-mini|tokens": 0.9 });
  });

  it("records the fleet-wide signals: every recording rule healthy, the shares and ratios exact", async () => {
    await scenario.prometheus.waitFor("tokentrace:finish_reason_share:rate30m", (samples) => samples.length === 2);
    const data = (await scenario.prometheus.api("/api/v1/rules")) as {
      groups: Array<{ name: string; rules: Array<{ name: string; health: string; lastError?: string }> }>;
    };
    const recording = data.groups.find((group) => group.name === "tokentrace-signals")!;
    expect(recording.rules.map((rule) => [rule.name, rule.health, rule.lastError ?? ""])).toEqual(
      [
        "tokentrace:finish_reason_share:rate30m",
        "tokentrace:finish_reason_psi:30m_vs_1w",
        "tokentrace:error_ratio:rate5m",
        "tokentrace:duration_seconds:p95_5m",
        "tokentrace:duration_seconds:p95_5m:zscore_1d",
        "tokentrace:output_tokens:mean_5m",
        "tokentrace:output_tokens:mean_5m:zscore_1d",
      ].map((name) => [name, "ok", ""]),
    );
    // Every choice stopped: a share of 1 per model.
    const shares = byLabels(
      await scenario.prometheus.query("tokentrace:finish_reason_share:rate30m"),
      "gen_ai_request_model",
      "tokentrace_finish_reason",
    );
    expect(shares).toEqual({ "gpt-4o-mini|stop": 1, "gpt-4o|stop": 1 });
    // The error ratio per model, as the rule's own expression gives it now: gpt-4o-mini has its 429s, gpt-4o none.
    const ratio = byLabels(await scenario.prometheus.query("tokentrace:error_ratio:rate5m"), "gen_ai_request_model");
    expect(Object.keys(ratio).sort()).toEqual(["gpt-4o", "gpt-4o-mini"]);
    expect(ratio["gpt-4o"]).toBe(0);
    // 1 of the 5 gpt-4o-mini calls a batch failed (2 plain, the stream, the 429, the agent's).
    expect(exact(ratio["gpt-4o-mini"]!)).toBe(0.2);
  });

  it("gives the same shares with the README's PromQL for the thumbs-down rate by model", async () => {
    const blocks = [...readFileSync(readmePath, "utf8").matchAll(/```promql\n([\s\S]*?)```/g)]
      .map((match) => match[1]!)
      .filter((block) => block.includes('gen_ai_evaluation_score_label="down"'));
    expect(blocks.length).toBeGreaterThan(0);
    for (const block of blocks) {
      const shares = await scenario.prometheus.query(block);
      expect(
        shares.map((sample) => [sample.metric["gen_ai_request_model"], exact(sample.value)]).sort(),
        block,
      ).toEqual([
        ["gpt-4o", 0.5],
        ["gpt-4o-mini", 0.3],
      ]);
    }
  });

  it("loads the alert rules, evaluates them without errors, and fires the error-rate alert on 20% errors", async () => {
    // 2 of 10 calls failed: above the 5% threshold, so the alert is pending (it fires after `for: 10m`).
    const alerts = await scenario.prometheus.waitFor(
      'ALERTS{alertname="TokentraceHighErrorRate"}',
      (samples) => samples.length > 0,
    );
    expect(alerts.map((sample) => [sample.metric["alertstate"], sample.metric["gen_ai_request_model"]])).toEqual([
      ["pending", "gpt-4o-mini"],
    ]);
    // The negative-feedback alert (and its copy) evaluated on the same data: see the next test.
    await scenario.prometheus.waitFor(
      'ALERTS{alertname="TokentraceNegativeFeedbackRising"}',
      (samples) => samples.length === 2,
    );
    expect(
      await alertsOf(scenario, "TokentraceModelChanged", 1, "gen_ai_request_model", "tokentrace_model_change_kind"),
    ).toEqual([["firing", "gpt-4o", "system_fingerprint"]]);
    // The requests kind only (5%); the tokens kind has 90% left. The rule pending, its `for: 0s` copy firing.
    expect(
      await alertsOf(
        scenario,
        "TokentraceRateLimitHeadroomLow",
        2,
        "gen_ai_request_model",
        "tokentrace_ratelimit_kind",
      ),
    ).toEqual([
      ["firing", "gpt-4o-mini", "requests"],
      ["pending", "gpt-4o-mini", "requests"],
    ]);
    // The failing judge: the rule pending (`for: 15m`), its copy firing, each naming the evaluator and reason.
    expect(
      await alertsOf(scenario, "TokentraceEvaluatorFailing", 2, "tokentrace_evaluation_evaluator", "error_type"),
    ).toEqual([
      ["firing", "judge", "exception"],
      ["pending", "judge", "exception"],
    ]);
    const data = (await scenario.prometheus.api("/api/v1/rules")) as {
      groups: Array<{
        name: string;
        rules: Array<{ name: string; health: string; lastError?: string; state: string }>;
      }>;
    };
    const rules = (name: string) =>
      data.groups
        .find((group) => group.name === name)!
        .rules.map((rule) => [rule.name, rule.health, rule.lastError ?? "", rule.state]);
    expect(data.groups.map((group) => group.name).sort()).toEqual([
      "tokentrace",
      FIRING_COPY_GROUP,
      "tokentrace-signals",
    ]);
    expect(rules("tokentrace")).toEqual([
      ["TokentraceHighErrorRate", "ok", "", "pending"],
      ["TokentraceSlowTimeToFirstChunk", "ok", "", "inactive"],
      ["TokentraceCostBurnRate", "ok", "", "inactive"],
      ["TokentraceNegativeFeedbackRising", "ok", "", "pending"],
      // 14 failures in 30 minutes: over its 5.
      ["TokentraceEvaluatorFailing", "ok", "", "pending"],
      // gpt-4o's new system fingerprint in the second batch; no `for`.
      ["TokentraceModelChanged", "ok", "", "firing"],
      // 5 of 100 requests left: under its 10%.
      ["TokentraceRateLimitHeadroomLow", "ok", "", "pending"],
      // anomalies and drift are off here: see the signals scenario.
      ["TokentraceAnomalyBurst", "ok", "", "inactive"],
      ["TokentraceOutputDrift", "ok", "", "inactive"],
    ]);
    expect(rules(FIRING_COPY_GROUP)).toEqual([
      ["TokentraceNegativeFeedbackRising", "ok", "", "firing"],
      ["TokentraceEvaluatorFailing", "ok", "", "firing"],
      ["TokentraceRateLimitHeadroomLow", "ok", "", "firing"],
    ]);
    // The alert expressions' left-hand sides have data: the rules watch metrics that exist.
    expect(
      await scenario.prometheus.query(
        "histogram_quantile(0.95, sum by (le, gen_ai_request_model) (rate(gen_ai_client_operation_time_to_first_chunk_bucket[5m])))",
      ),
    ).toHaveLength(1);
    expect(await scenario.prometheus.query("sum(rate(tokentrace_client_cost_total[30m])) * 3600")).toHaveLength(1);
    expect(await scenario.prometheus.query(evaluatorFailingRule.expr.replace(/ >= 5$/, ""))).toHaveLength(1);
  });

  it("fires the negative-feedback alert on gpt-4o-mini's 3 down of 10, not on gpt-4o's 1 of 2", async () => {
    expect(negativeFeedbackRule.for).toBe("15m");
    const alerts = await scenario.prometheus.waitFor(
      'ALERTS{alertname="TokentraceNegativeFeedbackRising"}',
      (samples) => samples.length === 2,
    );
    // The rule itself is pending (`for: 15m`); its copy with `for: 0s` fires. Neither for gpt-4o.
    expect(alerts.map((sample) => [sample.metric["alertstate"], sample.metric["gen_ai_request_model"]]).sort()).toEqual(
      [
        ["firing", "gpt-4o-mini"],
        ["pending", "gpt-4o-mini"],
      ],
    );
    // The expression: gpt-4o's share is above 20% too, but its 2 results are under the minimum of 10.
    const fired = await scenario.prometheus.query(negativeFeedbackRule.expr);
    expect(fired.map((sample) => [sample.metric, exact(sample.value)])).toEqual([
      [{ gen_ai_request_model: "gpt-4o-mini" }, 0.3],
    ]);
    const thumbs = 'tokentrace_evaluation_results_total{gen_ai_evaluation_name="thumbs"}';
    const down =
      'tokentrace_evaluation_results_total{gen_ai_evaluation_name="thumbs", gen_ai_evaluation_score_label="down"}';
    const shares = await scenario.prometheus.query(
      `sum by (gen_ai_request_model) (increase(${down}[30m])) / sum by (gen_ai_request_model) (increase(${thumbs}[30m]))`,
    );
    expect(shares.map((sample) => [sample.metric["gen_ai_request_model"], exact(sample.value)]).sort()).toEqual([
      ["gpt-4o", 0.5],
      ["gpt-4o-mini", 0.3],
    ]);
    const enough = await scenario.prometheus.query(`sum by (gen_ai_request_model) (increase(${thumbs}[30m])) >= 10`);
    expect(enough.map((sample) => sample.metric["gen_ai_request_model"])).toEqual(["gpt-4o-mini"]);
    // What Alertmanager receives from the firing copy: the rule's labels and rendered annotations.
    const { alerts: active } = (await scenario.prometheus.api("/api/v1/alerts")) as {
      alerts: Array<{ labels: Record<string, string>; annotations: Record<string, string>; state: string }>;
    };
    const firing = active.filter(
      (alert) => alert.labels["alertname"] === "TokentraceNegativeFeedbackRising" && alert.state === "firing",
    );
    expect(firing.map((alert) => alert.labels)).toEqual([
      { alertname: "TokentraceNegativeFeedbackRising", gen_ai_request_model: "gpt-4o-mini", severity: "warning" },
    ]);
    expect(firing[0]!.annotations["summary"]).toBe("gpt-4o-mini: 30% of thumbs feedback is down");
    expect(firing[0]!.annotations["description"]).toMatch(
      /^More than 20% of the thumbs feedback on gpt-4o-mini's answers was down over the last 30 minutes/,
    );
  });
});

describe("the signals' panels and alerts against a real Prometheus (anomalies and drift on)", () => {
  let scenario: PrometheusScenario;
  let copyDirectory: string | undefined;
  beforeAll(async () => {
    copyDirectory = await mkdtemp(join(tmpdir(), "tokentrace-alerts-"));
    const copyPath = await writeFiringCopies(copyDirectory, [driftRule]);
    scenario = await startSignalsScenario({ ruleFiles: [alertsPath, copyPath] });
  }, 60_000);
  afterAll(async () => {
    await scenario?.close();
    if (copyDirectory !== undefined) await rm(copyDirectory, { recursive: true, force: true });
  });

  const panelQuery = (title: string): Promise<PrometheusSample[]> => queryPanel(scenario, title);

  it("counts exactly the flags the detector raises on the same calls", async () => {
    // The same sequence through a detector of the same settings: the error-rate flags it raises.
    const detector = new AnomalyDetector(
      checkAnomalies({ ...SIGNALS_ANOMALIES, signals: [...SIGNALS_ANOMALIES.signals] })!,
    );
    const call = (failed: boolean) => scoredCall({ failed });
    let expected = 0;
    const { stops, errors, lengthStops } = SIGNALS_SEQUENCE;
    for (let index = 0; index < stops + errors + lengthStops; index++) {
      expected += detector.score(call(index >= stops && index < stops + errors), index)?.length ?? 0;
    }
    expect(expected).toBeGreaterThan(0);
    const anomalies = await panelQuery("Anomalies in range by model and signal");
    expect(
      anomalies.map((sample) => [
        sample.metric["gen_ai_request_model"],
        sample.metric["tokentrace_anomaly_signal"],
        sample.metric["tokentrace_anomaly_direction"],
        sample.value,
      ]),
    ).toEqual([["gpt-4o-mini", "error_rate", "high", expected]]);
  });

  it("charts PSI exactly: the finish reasons drifted, output tokens and tool calls did not", async () => {
    const drift = byLabels(await panelQuery("Output drift (PSI) by model and feature"), "tokentrace_drift_feature");
    // Reference: the first 50 completed calls, all `stop`; window: the last 50, 10 `stop` and 40 `length`.
    const reference = [SIGNALS_DRIFT.windowSize, 0, 0, 0, 0, 0, 0, 0];
    const window = [10, 40, 0, 0, 0, 0, 0, 0];
    expect(drift["finish_reason"]).toBeCloseTo(psi(reference, 50, window, 50), 9);
    expect(drift).toMatchObject({ output_tokens: 0, tool_calls: 0 });
  });

  it("fires the anomaly-burst alert, and the drift alert (its for: 0s copy) for finish reasons only", async () => {
    expect(await alertsOf(scenario, "TokentraceAnomalyBurst", 1, "tokentrace_anomaly_signal")).toEqual([
      ["firing", "error_rate"],
    ]);
    expect(await alertsOf(scenario, "TokentraceOutputDrift", 2, "tokentrace_drift_feature")).toEqual([
      ["firing", "finish_reason"],
      ["pending", "finish_reason"],
    ]);
  });
});

describe("examples/prometheus", () => {
  it("passes promtool check rules", async () => {
    const { code, output } = await runPromtool(["check", "rules", alertsPath]);
    expect({ code, output }).toEqual({ code: 0, output: expect.stringContaining("SUCCESS: 9 rules found") as unknown });
    const recording = await runPromtool(["check", "rules", recordingRulesPath]);
    expect(recording).toEqual({ code: 0, output: expect.stringContaining("SUCCESS: 7 rules found") as unknown });
  });

  it("has a scrape configuration that passes promtool check config", async () => {
    const { code, output } = await runPromtool(["check", "config", prometheusConfigPath]);
    expect({ code, output }).toEqual({ code: 0, output: expect.stringContaining("SUCCESS") as unknown });
  });
});
