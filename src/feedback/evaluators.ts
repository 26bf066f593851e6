/*
 * Evaluators (issue 14): checks run on finished calls, off the call's path, whose results are recorded as
 * feedback with `source: "code"` (or `"llm"` for a judge the app plugs in). Each gets the finished call as a
 * plain record (never the SDK's objects) after its span ended, in a later turn of the event loop, on a
 * deterministic share of calls (by trace id). A throwing evaluator, one returning what is not a result, or an
 * async one slower than its time limit is counted in `tokentrace.evaluation.failures` and never affects the app.
 */
import { stoppedAtLimit } from "../call-record.js";
import type { Message, MessagePart } from "../call-record.js";
import { describeValue as describe } from "../internal/describe-value.js";
import { InvalidOptionError } from "../errors.js";
import { reportInternalError } from "../internal/report.js";
import { inSampledShare } from "../redaction/sampling.js";
import type { Usage } from "../usage.js";
import type { CallFacts } from "./call-info.js";
import { isValidName } from "./definitions.js";
import { schemaViolation } from "./json-schema.js";
import type { FeedbackSource } from "./record.js";

/** A finished call, as an evaluator sees it. Content fields are present only when content capture was on. */
export interface EvaluatedCall {
  readonly traceId: string;
  readonly spanId: string;
  /** `gen_ai.operation.name`: `chat`, `text_completion`, `embeddings`, ... */
  readonly operation: string;
  readonly provider: string;
  readonly requestModel: string | undefined;
  readonly responseModel: string | undefined;
  readonly responseId: string | undefined;
  /** How the call ended. */
  readonly outcome: "completed" | "error" | "cancelled" | "aborted" | "abandoned";
  /** One per choice, as the provider wrote them (`stop`, `length`, `max_tokens`, `tool_calls`, `refusal`, ...). */
  readonly finishReasons: readonly (string | undefined)[];
  /** Validated token usage. */
  readonly usage: Readonly<Usage>;
  /** The request's output token limit (`max_tokens`, `max_completion_tokens`, `max_output_tokens`). */
  readonly maxTokens: number | undefined;
  /** `json` when the request asked for JSON output (`response_format`, `text.format`, `output_config.format`). */
  readonly outputType: string | undefined;
  /** The JSON schema the request declared for its output, if any. */
  readonly outputSchema: unknown;
  /** The provider refused in a field of its own (OpenAI's `refusal`), or by its finish reason. */
  readonly refused: boolean;
  /** The answer's messages (the conventions' parts); undefined when content capture was off. */
  readonly output: readonly Message[] | undefined;
  /** The tools the request declared (the conventions' `gen_ai.tool.definitions` shape), with capture on. */
  readonly toolDefinitions: readonly unknown[] | undefined;
}

/** What an evaluator reports: one result or several; `name` defaults to the evaluator's. */
export interface EvaluationResult {
  readonly name?: string;
  readonly value?: number | boolean;
  readonly label?: string;
  /** Recorded as `gen_ai.evaluation.explanation` with capture on, redacted. */
  readonly comment?: string;
}

export type EvaluatorOutput = EvaluationResult | readonly EvaluationResult[] | undefined;

export interface Evaluator {
  /** `tokentrace.evaluation.evaluator`, and the result's name unless it gives its own. */
  readonly name: string;
  /** Share of calls evaluated, 0 to 1, decided by trace id (so one trace is evaluated or not as a whole). Default 1. */
  readonly sample?: number;
  /** An async evaluator's result arriving later than this (ms) is dropped and counted. Default 5,000; at most 60,000. */
  readonly timeoutMs?: number;
  /** `code` (default) or `llm` for a judge model. */
  readonly source?: Extract<FeedbackSource, "code" | "llm">;
  evaluate(call: EvaluatedCall): EvaluatorOutput | Promise<EvaluatorOutput>;
}

export const DEFAULT_EVALUATOR_TIMEOUT_MS = 5_000;
const MAX_EVALUATOR_TIMEOUT_MS = 60_000;
const MAX_EVALUATORS = 32;
/** Results one evaluation may report; more are left out and counted as invalid. */
const MAX_RESULTS = 16;

/** How an evaluation failed: counted by `error.type`. */
export type EvaluationFailure = "exception" | "timeout" | "invalid_result";

/** Where the runner reports: recording results and counting failures (record.ts). */
export interface EvaluationSink {
  record(facts: CallFacts, evaluator: Evaluator, result: EvaluationResult): void;
  fail(evaluator: Evaluator, failure: EvaluationFailure): void;
}

/** Check `evaluators` at set-up: a list of `{ name, evaluate, sample?, timeoutMs?, source? }`; frozen copies. */
export function checkEvaluators(option: unknown, where = "evaluators"): readonly Evaluator[] {
  if (!Array.isArray(option) || option.length > MAX_EVALUATORS) {
    throw new InvalidOptionError(
      where,
      `expected an array of at most ${MAX_EVALUATORS} evaluators, received ${describe(option)}.`,
    );
  }
  const checked: Evaluator[] = [];
  const seen = new Set<string>();
  for (const [index, item] of (option as unknown[]).entries()) {
    const at = `${where}[${index}]`;
    if (item === null || typeof item !== "object") {
      throw new InvalidOptionError(
        at,
        `expected an evaluator { name, evaluate, sample?, timeoutMs?, source? }, received ${describe(item)}.`,
      );
    }
    const { name, evaluate, sample, timeoutMs, source } = item as Record<string, unknown>;
    if (!isValidName(name)) {
      throw new InvalidOptionError(`${at}.name`, "expected a non-blank string of at most 128 characters.");
    }
    if (seen.has(name)) throw new InvalidOptionError(`${at}.name`, `"${name}" is listed twice.`);
    seen.add(name);
    if (typeof evaluate !== "function") {
      throw new InvalidOptionError(
        `${at}.evaluate`,
        `expected a function (call) => result, received ${describe(evaluate)}.`,
      );
    }
    if (sample !== undefined && !(typeof sample === "number" && sample >= 0 && sample <= 1)) {
      throw new InvalidOptionError(`${at}.sample`, `expected a number from 0 to 1, received ${describe(sample)}.`);
    }
    if (
      timeoutMs !== undefined &&
      !(
        typeof timeoutMs === "number" &&
        Number.isInteger(timeoutMs) &&
        timeoutMs >= 1 &&
        timeoutMs <= MAX_EVALUATOR_TIMEOUT_MS
      )
    ) {
      throw new InvalidOptionError(
        `${at}.timeoutMs`,
        `expected an integer from 1 to ${MAX_EVALUATOR_TIMEOUT_MS} (milliseconds), received ${describe(timeoutMs)}.`,
      );
    }
    if (source !== undefined && source !== "code" && source !== "llm") {
      throw new InvalidOptionError(`${at}.source`, `expected "code" or "llm", received ${describe(source)}.`);
    }
    const copy: { -readonly [K in keyof Evaluator]: Evaluator[K] } = {
      name,
      evaluate: (evaluate as Evaluator["evaluate"]).bind(item),
    };
    if (sample !== undefined) copy.sample = sample;
    if (timeoutMs !== undefined) copy.timeoutMs = timeoutMs;
    if (source !== undefined) copy.source = source;
    checked.push(Object.freeze(copy));
  }
  return Object.freeze(checked);
}

/** The evaluators whose `sample` takes in the call of this trace. */
export function sampledEvaluators(evaluators: readonly Evaluator[], traceId: string): readonly Evaluator[] {
  return evaluators.filter((evaluator) => inSampledShare(traceId, evaluator.sample ?? 1));
}

/**
 * Run `chosen` (sampledEvaluators) on a finished call, in a later turn of the event loop: never on the call's
 * path, never throwing. `build` makes the call's record there, once.
 */
export function scheduleEvaluations(
  chosen: readonly Evaluator[],
  facts: CallFacts,
  build: () => EvaluatedCall,
  sink: EvaluationSink,
): void {
  if (chosen.length === 0) return;
  setImmediate(() => {
    let call: EvaluatedCall;
    try {
      call = Object.freeze(build());
    } catch (error) {
      reportInternalError("evaluation", error);
      return;
    }
    for (const evaluator of chosen) runOne(evaluator, call, facts, sink);
  });
}

function runOne(evaluator: Evaluator, call: EvaluatedCall, facts: CallFacts, sink: EvaluationSink): void {
  let output: EvaluatorOutput | Promise<EvaluatorOutput>;
  try {
    output = evaluator.evaluate(call);
  } catch {
    sink.fail(evaluator, "exception");
    return;
  }
  if (!isThenable(output)) {
    deliver(evaluator, output, facts, sink);
    return;
  }
  let settled = false;
  const timer = setTimeout(() => {
    if (settled) return;
    settled = true;
    sink.fail(evaluator, "timeout");
  }, evaluator.timeoutMs ?? DEFAULT_EVALUATOR_TIMEOUT_MS);
  // The time limit never keeps the process alive.
  timer.unref();
  Promise.resolve(output).then(
    (value) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      deliver(evaluator, value, facts, sink);
    },
    () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sink.fail(evaluator, "exception");
    },
  );
}

function isThenable(value: unknown): value is PromiseLike<EvaluatorOutput> {
  return value !== null && typeof value === "object" && typeof (value as { then?: unknown }).then === "function";
}

function deliver(evaluator: Evaluator, output: unknown, facts: CallFacts, sink: EvaluationSink): void {
  if (output === undefined) return;
  const results = Array.isArray(output) ? (output as unknown[]) : [output];
  if (results.length > MAX_RESULTS) sink.fail(evaluator, "invalid_result");
  for (const result of results.slice(0, MAX_RESULTS)) {
    if (result === null || typeof result !== "object") {
      sink.fail(evaluator, "invalid_result");
      continue;
    }
    sink.record(facts, evaluator, result);
  }
}

// --- the built-in evaluators ---------------------------------------------------------------------------------

/** The text of the first answer's text parts, joined; undefined without content. */
function answerText(call: EvaluatedCall): string | undefined {
  const first = call.output?.[0];
  if (first === undefined) return undefined;
  let text = "";
  for (const part of first.parts)
    if (part.type === "text" && typeof part["content"] === "string") text += part["content"];
  return text;
}

/** The first answer's tool calls. */
function toolCalls(call: EvaluatedCall): MessagePart[] {
  return call.output?.[0]?.parts.filter((part) => part.type === "tool_call") ?? [];
}

/**
 * `truncated`: 1 when the answer stopped at the token limit (finish reason `length`, `max_tokens`,
 * `max_output_tokens`), else 0. Chat-like calls that completed only; no content needed.
 */
export function truncationEvaluator(): Evaluator {
  return {
    name: "truncated",
    evaluate(call) {
      if (call.outcome !== "completed" || call.finishReasons.length === 0) return undefined;
      const truncated = stoppedAtLimit(call.finishReasons);
      return { value: truncated ? 1 : 0, label: truncated ? "truncated" : "complete" };
    },
  };
}

/**
 * `refusal`: 1 when the provider said it refused or filtered the answer (OpenAI's `refusal` field, finish
 * reason `content_filter`, Anthropic's `refusal`), else 0. No content needed.
 */
export function refusalEvaluator(): Evaluator {
  return {
    name: "refusal",
    evaluate(call) {
      if (call.outcome !== "completed" || (call.finishReasons.length === 0 && !call.refused)) return undefined;
      const refused = call.refused;
      return { value: refused ? 1 : 0, label: refused ? "refused" : "answered" };
    },
  };
}

/**
 * `empty_answer`: 1 when a completed chat call produced no output tokens, or (with content) no text and no
 * tool call, else 0.
 */
export function emptyAnswerEvaluator(): Evaluator {
  return {
    name: "empty_answer",
    evaluate(call) {
      if (call.outcome !== "completed" || call.operation === "embeddings") return undefined;
      const text = answerText(call);
      const empty =
        call.usage.outputTokens === 0 || (text !== undefined && text.trim() === "" && toolCalls(call).length === 0);
      return { value: empty ? 1 : 0, label: empty ? "empty" : "not_empty" };
    },
  };
}

/**
 * `length_ratio`: the answer's output tokens over the request's token limit (0 to 1; near 1, answers are
 * being cut). Calls with a limit and a provider token count only.
 */
export function lengthRatioEvaluator(): Evaluator {
  return {
    name: "length_ratio",
    evaluate(call) {
      const { maxTokens } = call;
      const output = call.usage.outputTokens;
      if (call.outcome !== "completed" || maxTokens === undefined || maxTokens <= 0 || output === undefined)
        return undefined;
      return { value: Math.min(1, output / maxTokens) };
    },
  };
}

/**
 * `json_valid` and `tool_arguments_valid` (content capture on): for a call that asked for JSON output, whether
 * the answer parses and conforms to the request's schema; for an answer with tool calls, whether each call's
 * arguments parse and conform to the declared tool's `parameters`. 1 `valid`, else 0 with label `invalid_json`
 * or `schema_violation` and, as the comment, where and which rule (never the answer's text).
 */
export function jsonEvaluator(): Evaluator {
  return {
    name: "json_valid",
    evaluate(call) {
      if (call.outcome !== "completed" || call.output === undefined) return undefined;
      const results: EvaluationResult[] = [];
      const text = answerText(call);
      if ((call.outputType === "json" || call.outputSchema !== undefined) && text !== undefined && text !== "") {
        results.push({ name: "json_valid", ...checkJson(parseJson(text), call.outputSchema) });
      }
      const calls = toolCalls(call);
      if (calls.length > 0) {
        let verdict: Omit<EvaluationResult, "name"> = VALID;
        for (const part of calls) {
          const declared = parametersOf(call.toolDefinitions, part["name"]);
          // parseArguments kept text that is not JSON as a string; arguments of a tool without parameters pass.
          const args = part["arguments"];
          const parsed = typeof args === "string" ? parseJson(args) : { ok: true as const, value: args };
          verdict = checkJson(parsed, declared);
          if (verdict.value !== 1) break;
        }
        results.push({ name: "tool_arguments_valid", ...verdict });
      }
      return results.length > 0 ? results : undefined;
    },
  };
}

const VALID = Object.freeze({ value: 1, label: "valid" });

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

function checkJson(
  parsed: { ok: true; value: unknown } | { ok: false },
  schema: unknown,
): Omit<EvaluationResult, "name"> {
  if (!parsed.ok) return { value: 0, label: "invalid_json" };
  if (schema === undefined) return VALID;
  const violation = schemaViolation(parsed.value, schema);
  if (violation === undefined) return VALID;
  return {
    value: 0,
    label: "schema_violation",
    comment: `${violation.rule} at "${violation.path}": ${violation.message}`,
  };
}

/** The `parameters` of the declared tool `name` (the conventions' `{ type, name, parameters }` or an Anthropic `input_schema`). */
function parametersOf(definitions: readonly unknown[] | undefined, name: unknown): unknown {
  if (definitions === undefined || typeof name !== "string") return undefined;
  for (const definition of definitions) {
    if (definition === null || typeof definition !== "object") continue;
    const record = definition as Record<string, unknown>;
    if (record["name"] === name) return record["parameters"] ?? record["input_schema"];
  }
  return undefined;
}

/** Every built-in evaluator that needs no content: truncation, refusal, empty answer, length ratio. */
export function builtInEvaluators(): Evaluator[] {
  return [truncationEvaluator(), refusalEvaluator(), emptyAnswerEvaluator(), lengthRatioEvaluator()];
}
