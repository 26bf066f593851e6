import type { Context } from "@opentelemetry/api";
import { AggregationTemporality, DataPointType, MetricReader } from "@opentelemetry/sdk-metrics";
import type { ResourceMetrics } from "@opentelemetry/sdk-metrics";
import type { ReadableSpan, Span, SpanProcessor } from "@opentelemetry/sdk-trace-base";
import * as names from "../semconv.js";
import { defineSink } from "./types.js";
import type { Sink } from "./types.js";

export interface ConsoleSinkOptions {
  /**
   * Also print every attribute of each call, one per line, and tokentrace's metrics (cumulative, one line
   * per series) whenever telemetry is flushed (`flush()`, `shutdown()`). Default: `false`. Turn it on while
   * developing to see exactly what a backend would receive.
   *
   * @example consoleSink({ verbose: true })
   */
  verbose?: boolean;
  /**
   * Where lines go. Default: `console.log`. Pass your logger's function to route lines elsewhere.
   *
   * @example consoleSink({ write: (line) => logger.info(line) })
   */
  write?: (line: string) => void;
}

/**
 * A readable line per traced call, for development and the demo:
 * `chat gpt-4o-mini  412 ms  ttft 88 ms  tokens 24 in / 9 out  finish stop`.
 */
export function consoleSink(options: ConsoleSinkOptions = {}): Sink {
  const write = options.write ?? ((line: string) => console.log(line));
  const verbose = options.verbose ?? false;
  return defineSink("console", {
    spanProcessors: [new ConsoleLineProcessor(write, verbose)],
    metricReaders: verbose ? [new ConsoleMetricsReader(write)] : [],
  });
}

/** Verbose mode: prints tokentrace's metrics when flushed or shut down (not twice in a row unchanged). */
class ConsoleMetricsReader extends MetricReader {
  private lastPrinted: string | undefined;

  constructor(private readonly write: (line: string) => void) {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }

  protected override async onForceFlush(): Promise<void> {
    await this.print();
  }

  protected override async onShutdown(): Promise<void> {
    await this.print();
  }

  private async print(): Promise<void> {
    const { resourceMetrics } = await this.collect();
    const lines = formatMetricLines(resourceMetrics);
    const text = lines.join("\n");
    if (lines.length === 0 || text === this.lastPrinted) return;
    this.lastPrinted = text;
    this.write("[tokentrace] metrics (cumulative)");
    for (const line of lines) this.write(line);
  }
}

/**
 * One line per series of tokentrace's own metrics, sorted by metric name:
 * `    gen_ai.client.token.usage{gen_ai.token.type=input, ...}  count 2  sum 32 {token}`.
 */
function formatMetricLines(resourceMetrics: ResourceMetrics): string[] {
  const lines: string[] = [];
  for (const scope of resourceMetrics.scopeMetrics) {
    if (scope.scope.name !== names.INSTRUMENTATION_SCOPE) continue;
    const byName = [...scope.metrics].sort((a, b) =>
      a.descriptor.name < b.descriptor.name ? -1 : a.descriptor.name > b.descriptor.name ? 1 : 0,
    );
    for (const metric of byName) {
      const { name, unit } = metric.descriptor;
      for (const point of metric.dataPoints) {
        const labels = Object.entries(point.attributes)
          .map(([key, value]) => `${key}=${String(value)}`)
          .join(", ");
        let value: string;
        if (metric.dataPointType === DataPointType.HISTOGRAM) {
          const histogram = point.value as { count: number; sum?: number };
          value = `count ${histogram.count}  sum ${formatNumber(histogram.sum ?? 0)}`;
        } else if (typeof point.value === "number") {
          value = formatNumber(point.value);
        } else {
          continue;
        }
        lines.push(`    ${name}{${labels}}  ${value}${unit === "" ? "" : ` ${unit}`}`);
      }
    }
  }
  return lines;
}

/** Up to 6 significant digits, without trailing zeros: `32`, `0.412731`, `0.0000087`. */
function formatNumber(value: number): string {
  return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(6)));
}

class ConsoleLineProcessor implements SpanProcessor {
  /** Running total of `gen_ai.usage.cost` over the calls this sink printed. */
  private totalCostUsd = 0;

  constructor(
    private readonly write: (line: string) => void,
    private readonly verbose: boolean,
  ) {}

  onStart(_span: Span, _parentContext: Context): void {}

  onEnd(span: ReadableSpan): void {
    if (span.instrumentationScope.name !== names.INSTRUMENTATION_SCOPE) return;
    const cost = span.attributes[names.ATTR_GEN_AI_USAGE_COST];
    if (typeof cost === "number") this.totalCostUsd += cost;
    this.write(formatCallLine(span, this.totalCostUsd));
    if (this.verbose) {
      for (const [key, value] of Object.entries(span.attributes)) this.write(`    ${key} = ${JSON.stringify(value)}`);
    }
  }

  forceFlush(): Promise<void> {
    return Promise.resolve();
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

export function formatCallLine(span: ReadableSpan, totalCostUsd: number): string {
  const attributes = span.attributes;
  const [seconds, nanos] = span.duration;
  const durationMs = seconds * 1000 + nanos / 1e6;
  const pieces = [`[tokentrace] ${span.name}`, `${Math.round(durationMs)} ms`];
  const ttft = attributes[names.ATTR_GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK];
  if (typeof ttft === "number") pieces.push(`ttft ${Math.round(ttft * 1000)} ms`);
  const input = attributes[names.ATTR_GEN_AI_USAGE_INPUT_TOKENS];
  const output = attributes[names.ATTR_GEN_AI_USAGE_OUTPUT_TOKENS];
  // A stage's own tokens (an agent's `gen_ai.usage.*`) are its roll-ups, printed below.
  const isStage = attributes[names.ATTR_TOKENTRACE_ROLLUP_MODEL_CALLS] !== undefined;
  if (!isStage && (input !== undefined || output !== undefined)) {
    const estimated = attributes[names.ATTR_TOKENTRACE_USAGE_ESTIMATED] === true ? " (estimated)" : "";
    // Embeddings have input tokens only.
    const counts = output === undefined ? `${String(input)} in` : `${String(input ?? "?")} in / ${String(output)} out`;
    pieces.push(`tokens ${counts}${estimated}`);
  }
  const reasons = attributes[names.ATTR_GEN_AI_RESPONSE_FINISH_REASONS];
  if (Array.isArray(reasons) && reasons.length > 0) pieces.push(`finish ${reasons.join(",")}`);
  const cost = attributes[names.ATTR_GEN_AI_USAGE_COST];
  if (typeof cost === "number") pieces.push(`cost ${formatUsd(cost)} (total ${formatUsd(totalCostUsd)})`);
  else if (attributes[names.ATTR_TOKENTRACE_COST_UNPRICED_MODEL] !== undefined) pieces.push("cost unknown");
  // A stage (issue 12): what ran under it, from its roll-ups.
  const calls = attributes[names.ATTR_TOKENTRACE_ROLLUP_MODEL_CALLS];
  if (typeof calls === "number") {
    const rollupInput = attributes[names.ATTR_TOKENTRACE_ROLLUP_INPUT_TOKENS];
    const rollupOutput = attributes[names.ATTR_TOKENTRACE_ROLLUP_OUTPUT_TOKENS];
    const rollupCost = attributes[names.ATTR_TOKENTRACE_ROLLUP_COST];
    const tools = attributes[names.ATTR_TOKENTRACE_ROLLUP_TOOL_CALLS];
    const parts = [`${calls} ${calls === 1 ? "call" : "calls"}`];
    if (typeof tools === "number" && tools > 0) parts.push(`${tools} ${tools === 1 ? "tool" : "tools"}`);
    if (typeof rollupInput === "number" || typeof rollupOutput === "number")
      parts.push(`${String(rollupInput ?? 0)} in / ${String(rollupOutput ?? 0)} out`);
    if (typeof rollupCost === "number") parts.push(formatUsd(rollupCost));
    if (calls > 0 || parts.length > 1) pieces.push(`under it: ${parts.join(", ")}`);
  }
  const errorType = attributes[names.ATTR_ERROR_TYPE];
  if (errorType !== undefined) pieces.push(`error ${String(errorType)}`);
  return pieces.join("  ");
}

/** Dollars with enough digits for sub-cent calls: `$1.23`, `$0.000450`, `$6.0e-8` (an embedding). */
function formatUsd(usd: number): string {
  if (usd >= 0.01) return `$${usd.toFixed(2)}`;
  return usd >= 0.000001 || usd === 0 ? `$${usd.toFixed(6)}` : `$${usd.toPrecision(2)}`;
}
