/**
 * `defineFeedback()` (issue 14): the feedback and evaluation names the app accepts, each with its type, so that
 * `recordFeedback()` can refuse what does not fit (a rating of 11 on a 1–5 scale, a label nobody declared) before
 * it becomes a metric series. Until a name is declared, any valid name is accepted; once one is, only declared
 * names are. Declarations are checked when made and throw `InvalidOptionError` there.
 */
import { InvalidOptionError } from "../errors.js";
import { describeValue as describe } from "../internal/describe-value.js";

export type FeedbackType = "boolean" | "numeric" | "categorical";

/** A declared kind of feedback or evaluation. */
export interface FeedbackDefinition {
  /** `gen_ai.evaluation.name`, e.g. `user_rating`, `helpfulness`. */
  readonly name: string;
  /**
   * `boolean`: a value of 0 or 1 (or `true` / `false`), e.g. thumbs up or down. `numeric`: a finite value, within
   * `range` when given. `categorical`: a label, one of `labels` when given.
   */
  readonly type: FeedbackType;
  /** Numeric only: the inclusive `[min, max]` a value must lie in. */
  readonly range?: readonly [number, number];
  /** The labels accepted (a categorical result's label is required; the others' optional). */
  readonly labels?: readonly string[];
}

/** Declared names at most: past this, defineFeedback() throws (a metric label per name must stay bounded). */
export const MAX_DEFINITIONS = 256;
/** Characters of a name, and of a label. */
export const MAX_NAME_LENGTH = 128;
export const MAX_LABEL_LENGTH = 64;
/** Labels of one declaration at most. */
export const MAX_LABELS = 64;

const TYPES: readonly FeedbackType[] = ["boolean", "numeric", "categorical"];
/** A name or a label: printable, no control characters, not blank. */
const PRINTABLE = /^[^\p{Cc}\p{Cs}]+$/u;

const definitions = new Map<string, FeedbackDefinition>();

/** Whether `name` is usable as `gen_ai.evaluation.name`: a non-blank printable string of at most 128 characters. */
export function isValidName(name: unknown): name is string {
  return typeof name === "string" && name.length <= MAX_NAME_LENGTH && name.trim() !== "" && PRINTABLE.test(name);
}

/** Whether `label` is printable and not blank (its length is checked apart: `label_too_long`). */
export function isPrintableLabel(label: string): boolean {
  return label.trim() !== "" && PRINTABLE.test(label);
}

/**
 * Declare a kind of feedback: from then on `recordFeedback()` accepts only declared names, and checks each
 * result against its declaration. Declaring a name again with the same type, range and labels is allowed;
 * with others it throws. Returns the declaration, frozen.
 *
 * @example defineFeedback({ name: "thumbs", type: "boolean", labels: ["up", "down"] });
 * @example defineFeedback({ name: "rating", type: "numeric", range: [1, 5] });
 */
export function defineFeedback(definition: FeedbackDefinition): FeedbackDefinition {
  const checked = checkDefinition(definition);
  const existing = definitions.get(checked.name);
  if (existing !== undefined) {
    if (JSON.stringify(existing) !== JSON.stringify(checked)) {
      throw new InvalidOptionError(
        "defineFeedback.name",
        `"${checked.name}" is already declared as ${JSON.stringify(existing)}; declare it once, or use another name.`,
      );
    }
    return existing;
  }
  if (definitions.size >= MAX_DEFINITIONS) {
    throw new InvalidOptionError("defineFeedback", `at most ${MAX_DEFINITIONS} names may be declared.`);
  }
  definitions.set(checked.name, checked);
  return checked;
}

/** The declaration of `name`; `null` when names are declared but not this one; undefined when none are. */
export function definitionOf(name: string): FeedbackDefinition | null | undefined {
  if (definitions.size === 0) return undefined;
  return definitions.get(name) ?? null;
}

/** For tests: forget every declaration. */
export function clearFeedbackDefinitions(): void {
  definitions.clear();
}

function checkDefinition(given: unknown): FeedbackDefinition {
  if (given === null || typeof given !== "object" || Array.isArray(given)) {
    throw new InvalidOptionError(
      "defineFeedback",
      `expected an object { name, type, range?, labels? }, received ${describe(given)}.`,
    );
  }
  const record = { ...(given as Record<string, unknown>) };
  for (const key of Object.keys(record)) {
    if (!["name", "type", "range", "labels"].includes(key)) {
      throw new InvalidOptionError(
        `defineFeedback.${key}`,
        "unknown option. Accepted options: name, type, range, labels.",
      );
    }
  }
  const { name, type, range, labels } = record;
  if (!isValidName(name)) {
    throw new InvalidOptionError(
      "defineFeedback.name",
      `expected a printable, non-blank string of at most ${MAX_NAME_LENGTH} characters, received ${describe(name)}.`,
    );
  }
  if (typeof type !== "string" || !(TYPES as readonly string[]).includes(type)) {
    throw new InvalidOptionError(
      "defineFeedback.type",
      `expected one of ${TYPES.join(", ")}, received ${describe(type)}.`,
    );
  }
  const definition: {
    name: string;
    type: FeedbackType;
    range?: readonly [number, number];
    labels?: readonly string[];
  } = { name, type: type as FeedbackType };
  if (range !== undefined) {
    if (type !== "numeric") {
      throw new InvalidOptionError("defineFeedback.range", `applies to numeric feedback only; "${name}" is ${type}.`);
    }
    const pair = Array.isArray(range) ? (range as unknown[]) : undefined;
    const [min, max] = pair ?? [];
    if (
      pair?.length !== 2 ||
      typeof min !== "number" ||
      typeof max !== "number" ||
      !Number.isFinite(min) ||
      !Number.isFinite(max) ||
      min > max
    ) {
      throw new InvalidOptionError(
        "defineFeedback.range",
        `expected [min, max]: two finite numbers, min not above max, received ${describe(range)}.`,
      );
    }
    definition.range = Object.freeze([min, max] as const);
  }
  if (labels !== undefined) {
    const list = Array.isArray(labels) ? [...(labels as unknown[])] : undefined;
    if (list === undefined || list.length === 0 || list.length > MAX_LABELS) {
      throw new InvalidOptionError(
        "defineFeedback.labels",
        `expected an array of 1 to ${MAX_LABELS} labels, received ${describe(labels)}.`,
      );
    }
    for (const [index, label] of list.entries()) {
      if (typeof label !== "string" || label.length > MAX_LABEL_LENGTH || !isPrintableLabel(label)) {
        throw new InvalidOptionError(
          `defineFeedback.labels[${index}]`,
          `expected a printable, non-blank string of at most ${MAX_LABEL_LENGTH} characters, received ${describe(label)}.`,
        );
      }
    }
    if (new Set(list).size !== list.length) {
      throw new InvalidOptionError("defineFeedback.labels", "lists a label twice.");
    }
    if (type === "boolean" && list.length !== 2) {
      throw new InvalidOptionError(
        "defineFeedback.labels",
        `a boolean's labels are two: the one for true (1), then the one for false (0); received ${list.length}.`,
      );
    }
    definition.labels = Object.freeze(list as string[]);
  }
  return Object.freeze(definition);
}
