import type { Context } from "@opentelemetry/api";
import type { LogRecordProcessor, ReadWriteLogRecord } from "@opentelemetry/sdk-logs";
import { AggregationTemporality, DataPointType, MetricReader } from "@opentelemetry/sdk-metrics";
import type { ResourceMetrics } from "@opentelemetry/sdk-metrics";
import type { ReadableSpan, Span, SpanProcessor } from "@opentelemetry/sdk-trace-base";
import { reportInternalError } from "../internal/report.js";
import * as names from "../semconv.js";
import { defineSink } from "./types.js";
import type { Sink } from "./types.js";

export interface ConsoleSinkOptions {
  /**
   * Also print every attribute of each call and feedback result, one per line, and tokentrace's metrics (cumulative, one line
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
 * Calls inside stages print when the request's outermost stage ends, as a tree: the stage first with what ran
 * under it, then its calls and stages indented in the order they started. Feedback results (the
 * `gen_ai.evaluation.result` log records of `recordFeedback()` and evaluators) print a line each as they are
 * recorded: `evaluation thumbs  score 0  label down  source human  trace 4bf9…  span 00f0…`.
 */
export function consoleSink(options: ConsoleSinkOptions = {}): Sink {
  const write = options.write ?? ((line: string) => console.log(line));
  const verbose = options.verbose ?? false;
  return defineSink("console", {
    spanProcessors: [new ConsoleLineProcessor(write, verbose)],
    metricReaders: verbose ? [new ConsoleMetricsReader(write)] : [],
    logRecordProcessors: [new ConsoleLogLineProcessor(write, verbose)],
  });
}

/** A line per tokentrace log record (feedback's `gen_ai.evaluation.result` events), as it is emitted. */
class ConsoleLogLineProcessor implements LogRecordProcessor {
  constructor(
    private readonly write: (line: string) => void,
    private readonly verbose: boolean,
  ) {}

  onEmit(record: ReadWriteLogRecord): void {
    // tokentrace's own records only: feedback results, whose attributes passed the content pipeline.
    if (record.instrumentationScope.name !== names.INSTRUMENTATION_SCOPE) return;
    if (record.eventName !== names.EVENT_GEN_AI_EVALUATION_RESULT) return;
    // A `write` that throws loses its line, not the record for the sinks after this one.
    try {
      this.write(formatLogLine(record));
      if (this.verbose) {
        for (const [key, value] of Object.entries(record.attributes))
          this.write(`    ${key} = ${JSON.stringify(value)}`);
      }
    } catch (error) {
      reportInternalError("console-sink", error);
    }
  }

  forceFlush(): Promise<void> {
    return Promise.resolve();
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * `[tokentrace] evaluation thumbs  score 0  label down  source human  trace … span …`: a feedback result, with
 * the ids of the span it rates (to find it in a backend). Any other record: its event name (or `log`) and body.
 */
function formatLogLine(record: ReadWriteLogRecord): string {
  const attributes = record.attributes;
  const pieces: string[] = [];
  pieces.push(`[tokentrace] evaluation ${logValue(attributes[names.ATTR_GEN_AI_EVALUATION_NAME])}`);
  const score = attributes[names.ATTR_GEN_AI_EVALUATION_SCORE_VALUE];
  if (typeof score === "number") pieces.push(`score ${formatNumber(score)}`);
  const label = attributes[names.ATTR_GEN_AI_EVALUATION_SCORE_LABEL];
  if (label !== undefined) pieces.push(`label ${logValue(label)}`);
  const source = attributes[names.ATTR_TOKENTRACE_EVALUATION_SOURCE];
  if (source !== undefined) pieces.push(`source ${logValue(source)}`);
  const evaluator = attributes[names.ATTR_TOKENTRACE_EVALUATION_EVALUATOR];
  if (evaluator !== undefined) pieces.push(`evaluator ${logValue(evaluator)}`);
  const span = record.spanContext;
  if (span !== undefined) pieces.push(`trace ${span.traceId}`, `span ${span.spanId}`);
  return pieces.join("  ");
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

/**
 * At most this many tokentrace spans wait in the console sink for the request they belong to to end. Past it,
 * spans print as flat lines as they end (a request that never ends, or thousands running at once, cannot grow
 * the buffer), and the sink says so once.
 */
export const CONSOLE_MAX_BUFFERED_SPANS = 1000;

/** A tokentrace span the sink is holding: open, or ended and waiting for its request's root to end. */
interface TreeNode {
  span: ReadableSpan | undefined;
  readonly children: TreeNode[];
  /** The enclosing tokentrace span still open when this one started, or `undefined` for a request's root. */
  parent: TreeNode | undefined;
  /** Still running when the root it belonged to printed. */
  late: boolean;
}

/**
 * Prints a finished request as a tree (issue 12): when a tokentrace span with no open tokentrace parent ends,
 * it prints its line and, indented under it in start order, every tokentrace span that ran inside it. A span
 * that ends after the root it belonged to printed prints on its own, marked `(ended after its parent)`.
 */
class ConsoleLineProcessor implements SpanProcessor {
  /** Running total of `gen_ai.usage.cost` over the calls this sink printed. */
  private totalCostUsd = 0;
  /** Spans started and not yet printed, by span id. */
  private readonly open = new Map<string, TreeNode>();
  /** Nodes held (open, or ended under an open root), bounded by CONSOLE_MAX_BUFFERED_SPANS. */
  private held = 0;
  private warnedFull = false;

  constructor(
    private readonly write: (line: string) => void,
    private readonly verbose: boolean,
  ) {}

  onStart(span: Span, _parentContext: Context): void {
    if (span.instrumentationScope.name !== names.INSTRUMENTATION_SCOPE) return;
    if (this.held >= CONSOLE_MAX_BUFFERED_SPANS) {
      if (!this.warnedFull) {
        this.warnedFull = true;
        this.write(
          `[tokentrace] console: over ${CONSOLE_MAX_BUFFERED_SPANS} spans waiting for their request to end; printing further spans as they end, not as a tree`,
        );
      }
      return;
    }
    const parentId = span.parentSpanContext?.spanId;
    const parent = parentId === undefined ? undefined : this.open.get(parentId);
    const node: TreeNode = { span: undefined, children: [], parent, late: false };
    parent?.children.push(node);
    this.open.set(span.spanContext().spanId, node);
    this.held += 1;
  }

  onEnd(span: ReadableSpan): void {
    if (span.instrumentationScope.name !== names.INSTRUMENTATION_SCOPE) return;
    const node = this.open.get(span.spanContext().spanId);
    if (node === undefined) {
      // Not held (the buffer was full when it started, or its root already printed): a line of its own.
      this.printLine(span, 0, "");
      return;
    }
    node.span = span;
    if (node.parent !== undefined) return; // printed with its root
    this.printTree(node, 0);
  }

  /** Prints `node` and its subtree, releasing them; children still running are detached and print alone. */
  private printTree(node: TreeNode, depth: number): void {
    const span = node.span;
    if (span === undefined) {
      // Still running: prints on its own when it ends.
      node.parent = undefined;
      node.late = true;
      return;
    }
    this.open.delete(span.spanContext().spanId);
    this.held -= 1;
    this.printLine(span, depth, node.late ? "  (ended after its parent)" : "");
    for (const child of node.children) this.printTree(child, depth + 1);
  }

  private printLine(span: ReadableSpan, depth: number, suffix: string): void {
    const cost = span.attributes[names.ATTR_GEN_AI_USAGE_COST];
    if (typeof cost === "number") this.totalCostUsd += cost;
    const indent = "  ".repeat(depth);
    this.write(formatCallLine(span, this.totalCostUsd, indent) + suffix);
    if (this.verbose) {
      for (const [key, value] of Object.entries(span.attributes))
        this.write(`    ${indent}${key} = ${JSON.stringify(value)}`);
    }
  }

  forceFlush(): Promise<void> {
    return Promise.resolve();
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

export function formatCallLine(span: ReadableSpan, totalCostUsd: number, indent = ""): string {
  const attributes = span.attributes;
  const [seconds, nanos] = span.duration;
  const durationMs = seconds * 1000 + nanos / 1e6;
  const pieces = [`[tokentrace] ${indent}${span.name}`, `${Math.round(durationMs)} ms`];
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
    const errors = attributes[names.ATTR_TOKENTRACE_ROLLUP_ERRORS];
    if (typeof errors === "number" && errors > 0) parts.push(`${errors} ${errors === 1 ? "error" : "errors"}`);
    if (calls > 0 || parts.length > 1) pieces.push(`under it: ${parts.join(", ")}`);
  }
  const errorType = attributes[names.ATTR_ERROR_TYPE];
  if (errorType !== undefined) pieces.push(`error ${String(errorType)}`);
  return pieces.join("  ");
}

/** A log attribute or body as text: strings as they are, anything else as JSON (`?` when absent). */
function logValue(value: unknown): string {
  if (typeof value === "string") return value;
  return value === undefined ? "?" : JSON.stringify(value);
}

/** Dollars with enough digits for sub-cent calls: `$1.23`, `$0.000450`, `$6.0e-8` (an embedding). */
function formatUsd(usd: number): string {
  if (usd >= 0.01) return `$${usd.toFixed(2)}`;
  return usd >= 0.000001 || usd === 0 ? `$${usd.toFixed(6)}` : `$${usd.toPrecision(2)}`;
}
