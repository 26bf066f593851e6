import type { Attributes, Meter } from "@opentelemetry/api";
import { isRefusal } from "../call-record.js";
import type { RequestFacts, ResponseFacts } from "../call-record.js";
import type { CostBreakdown } from "../metrics/cost.js";
import { instrumentsFor } from "../metrics/instruments.js";
import type { Instruments, MetricAttributeSet, Total } from "../metrics/instruments.js";
import type { StreamTiming } from "../metrics/timing.js";
import * as names from "../semconv.js";
import type { Usage } from "../usage.js";
import type { CallOutcome } from "./error-class.js";

/** Metric points: a finished call counted and measured, on bounded attribute sets. */

/** The identity fields of the metric attribute set a client used last: most calls of a client use the same one. */
interface LastMetricAttributeSet {
  readonly instruments: Instruments;
  readonly operationName: string;
  readonly providerName: string;
  readonly requestModel: string | undefined;
  readonly responseModel: string | undefined;
  readonly serverAddress: string | undefined;
  readonly serverPort: number | undefined;
  readonly errorType: string | undefined;
  readonly contextValue: string | undefined;
  readonly set: MetricAttributeSet;
}

/** What a finished call gives its metric points. */
export interface MetricFacts {
  readonly request: RequestFacts;
  readonly response: ResponseFacts;
  readonly outcome: CallOutcome;
  readonly errorType: string | undefined;
  /** Undefined when the clock failed; the call is then counted without a duration. */
  readonly durationMs: number | undefined;
  readonly usage: Usage;
  readonly cost: CostBreakdown | undefined;
  readonly timing: StreamTiming | undefined;
  /** The `metricContextKey` value of the call's context (already capped), when the option is on. */
  readonly metricContextValue: string | undefined;
}

/** One client's metric points (it remembers the attribute set its last call used). */
export class MetricPoints {
  private last: LastMetricAttributeSet | undefined;
  /** `metricContextKey`'s attribute name, when on. */
  private readonly contextAttribute: string | undefined;

  constructor(contextKey?: string) {
    this.contextAttribute =
      contextKey === undefined ? undefined : `${names.ATTR_TOKENTRACE_METADATA_PREFIX}${contextKey}`;
  }

  /** A call abandoned to the garbage collector is counted by outcome only: the time until collection is no latency. */
  write(meter: Meter, facts: MetricFacts): void {
    const { outcome, durationMs, usage, cost, timing } = facts;
    const instruments = instrumentsFor(meter);
    const set = this.attributeSet(
      instruments,
      facts.request,
      facts.response.responseModel,
      facts.errorType,
      facts.metricContextValue,
    );

    // Built only the first time a set sees an outcome.
    const callTotal = (set.calls[outcome.kind] ??= set.overflow
      ? instruments.calls.totalFor(set.key, set.base)
      : instruments.calls.totalFor(`${set.key}\u0000${outcome.kind}`, {
          ...set.base,
          [names.ATTR_TOKENTRACE_CALL_OUTCOME]: outcome.kind,
        }));
    callTotal.add(1);
    if (outcome.kind !== "abandoned") {
      if (durationMs !== undefined) instruments.operationDuration.record(durationMs / 1000, set.base);
      const firstMs = timing?.timeToFirstChunkMs;
      if (firstMs !== undefined) instruments.timeToFirstChunk.record(firstMs / 1000, set.base);
    }
    timing?.forEachGapPoint((gapMs) => instruments.timePerOutputChunk.record(gapMs / 1000, set.base));

    const { inputTokens, outputTokens, cacheReadInputTokens } = usage;
    if (inputTokens !== undefined) instruments.tokenUsage.record(inputTokens, set.input);
    if (outputTokens !== undefined) instruments.tokenUsage.record(outputTokens, set.output);
    if (cacheReadInputTokens !== undefined) {
      (set.cacheRead ??= instruments.cacheRead.totalFor(set.key, set.base)).add(cacheReadInputTokens);
    }
    if (cost !== undefined) (set.cost ??= instruments.cost.totalFor(set.key, set.base)).add(cost.totalUsd);

    // What the provider ended each choice with, and whether it refused (issue 15): output drift in stop
    // behaviour shows without reading any content.
    const reasons = facts.response.finishReasons;
    if (reasons !== undefined) {
      for (const reason of reasons) if (reason !== undefined) finishReasonTotal(instruments, set, reason).add(1);
    }
    if (isRefusal(facts.response)) (set.refusals ??= instruments.refusals.totalFor(set.key, set.base)).add(1);
  }

  /**
   * Metric attribute sets, built once per meter and distinct (operation, models, server, error) and reused:
   * low-cardinality attributes only, never ids, users or content. Capped per meter; past the cap, the
   * overflow set (`otel.metric.overflow: true`).
   */
  private attributeSet(
    instruments: Instruments,
    request: RequestFacts,
    responseModel: string | undefined,
    errorTypeValue: string | undefined,
    contextValue: string | undefined,
  ): MetricAttributeSet {
    const last = this.last;
    if (
      last !== undefined &&
      last.instruments === instruments &&
      last.operationName === request.operationName &&
      last.providerName === request.providerName &&
      last.requestModel === request.requestModel &&
      last.responseModel === responseModel &&
      last.serverAddress === request.serverAddress &&
      last.serverPort === request.serverPort &&
      last.errorType === errorTypeValue &&
      last.contextValue === contextValue
    ) {
      return last.set;
    }
    const key = [
      request.operationName,
      request.providerName,
      request.requestModel ?? "",
      responseModel ?? "",
      request.serverAddress ?? "",
      request.serverPort ?? "",
      errorTypeValue ?? "",
      // The attribute's name too: clients with different keys share a meter's sets.
      contextValue === undefined ? "" : `${this.contextAttribute}=${contextValue}`,
    ].join("\u0000");
    const set = instruments.attributeSets.get(key, () => {
      const base: Attributes = {
        [names.ATTR_GEN_AI_OPERATION_NAME]: request.operationName,
        [names.ATTR_GEN_AI_PROVIDER_NAME]: request.providerName,
      };
      if (request.requestModel !== undefined) base[names.ATTR_GEN_AI_REQUEST_MODEL] = request.requestModel;
      if (responseModel !== undefined) base[names.ATTR_GEN_AI_RESPONSE_MODEL] = responseModel;
      if (request.serverAddress !== undefined) base[names.ATTR_SERVER_ADDRESS] = request.serverAddress;
      if (request.serverPort !== undefined) base[names.ATTR_SERVER_PORT] = request.serverPort;
      if (errorTypeValue !== undefined) base[names.ATTR_ERROR_TYPE] = errorTypeValue;
      if (contextValue !== undefined && this.contextAttribute !== undefined) base[this.contextAttribute] = contextValue;
      return base;
    });
    this.last = {
      instruments,
      operationName: request.operationName,
      providerName: request.providerName,
      requestModel: request.requestModel,
      responseModel,
      serverAddress: request.serverAddress,
      serverPort: request.serverPort,
      errorType: errorTypeValue,
      contextValue,
      set,
    };
    return set;
  }
}

/** The running total of `reason` in `set`, opened on first use (past the set's cap, its overflow total). */
function finishReasonTotal(instruments: Instruments, set: MetricAttributeSet, reason: string): Total {
  let total = set.finishReasons.get(reason);
  if (total === undefined) {
    const capped = instruments.finishReasonCap.of(reason);
    total = set.overflow
      ? instruments.finishReasons.totalFor(set.key, set.base)
      : instruments.finishReasons.totalFor(`${set.key}\u0000${capped}`, {
          ...set.base,
          [names.ATTR_TOKENTRACE_FINISH_REASON]: capped,
        });
    // Keyed by the reason as given: a reason past the cap finds its `_other` total at once next time. The
    // reasons a set keeps are at most what the meter's cap lets through plus those it turned into `_other`,
    // which a hostile payload could make many: only the first 64 per set are kept.
    if (set.finishReasons.size < 64) set.finishReasons.set(reason, total);
  }
  return total;
}

const OTHER_VALUE = "_other";

/** `metricContextKey`'s cap: the first `maxValues` distinct values as they are, the rest `_other`. */
export class ContextValueCap {
  private readonly seen = new Set<string>();

  constructor(private readonly maxValues: number) {}

  of(value: string | undefined): string | undefined {
    if (value === undefined || this.seen.has(value)) return value;
    if (this.seen.size >= this.maxValues) return OTHER_VALUE;
    this.seen.add(value);
    return value;
  }
}
