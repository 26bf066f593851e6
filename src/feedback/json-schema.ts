/*
 * JSON Schema checks for the built-in evaluators: does a model's JSON output, or a tool call's arguments, fit the
 * schema its request declared (OpenAI `response_format.json_schema.schema` and function `parameters`, Anthropic
 * `output_config.format.schema` and tool `input_schema`)? A dependency-free validator for the subset of JSON Schema
 * those APIs accept, reporting the first place the value breaks the schema (not every one).
 *
 * Checked: `type` (a name or a list; `integer` is a finite number without a fraction), `nullable: true` (OpenAPI
 * 3.0: `null` conforms to the whole schema), `enum`, `const`, `properties`, `required`, `additionalProperties`
 * (`false` or a schema), `prefixItems`, `items` (a schema, `false`, or the older tuple list), `minItems`,
 * `maxItems`, `minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum` (a number, or OpenAPI 3.0's boolean),
 * `multipleOf` (within floating-point rounding), `minLength` and `maxLength` (in code points), `pattern` (with the
 * `u` flag), `allOf`, `anyOf`, `oneOf`, boolean schemas, and `$ref` to a JSON pointer into the same root schema
 * (`#`, `#/$defs/...`, `#/definitions/...`). Unconstrained: every other keyword (`format`, `not`, `if`,
 * `uniqueItems`, `patternProperties`, `minProperties`, ...), a keyword whose value has the wrong type, `$ref` to
 * anything else, and `additionalProperties` beside `patternProperties`.
 *
 * The value comes from a model and the schema from a request, so both may be hostile; the work stays linear in
 * their sizes:
 * - Depth: at most `MAX_DEPTH` nested steps, one per property or item entered, allOf/anyOf/oneOf branch tried and
 *   `$ref` followed. Deeper is the violation `depth`, which also ends `$ref` cycles and cyclic values.
 * - Budget: at most `MAX_STEPS` steps in all: one per value checked against a schema (so every anyOf/oneOf branch
 *   costs), `$ref` followed, key listed, `type`/`enum`/`required`/branch entry, and node compared for `enum` or
 *   `const`. Past it the violation is `budget`: the check gave up, which does not prove the value wrong.
 * - Patterns: V8's backtracking engine can take exponential time (`^(a+)+$`) or a high power of the input's length
 *   (`a*a*a*b` against 1,000 `a`s runs for minutes), so a length limit alone is not enough. `pattern` applies only
 *   to strings of at most `MAX_PATTERN_INPUT` code points, and only when the estimated cost, (choices) × n^k, is
 *   at most `MAX_PATTERN_COST`: n is the string's length, k counts the long repetitions (`*`, `+`, `{m,}`, more
 *   than `SHORT_REPEAT`), plus one unless the pattern starts with `^`, and the choices are those of short
 *   repetitions and alternations. The estimate is charged to the budget (a step per `PATTERN_COST_PER_STEP`), so
 *   one call matches at most about 10^8 of it (a few hundred milliseconds at worst). A pattern that may backtrack
 *   exponentially whatever the length (a long repetition of a group that repeats or alternates, `(a|b)*`,
 *   `(-[a-z]+)*`; a backreference) is never applied, nor one that does not compile. Skipped is unconstrained.
 *
 * Never throws: a getter or Proxy trap that throws gives the violation `unreadable` at its path. Messages name what
 * was expected and what was found by kind or count, never the value's text (it may be user content): names and
 * values from the schema may appear in them; the value's own property names appear only in `path`.
 */

/** The first place a value breaks a schema. */
export interface SchemaViolation {
  /** JSON pointer (RFC 6901) to the offending value: `""` for the root, `/items/2/name` below. */
  readonly path: string;
  /** The keyword broken (`type`, `required`, ...), `false` for a false schema, or `depth`, `budget`, `unreadable`. */
  readonly rule: string;
  /** What was expected and what was found, e.g. `expected integer, got string`. */
  readonly message: string;
}

/** Nested steps (properties, items, branches, `$ref`s): OpenAI's strict mode allows 10 levels of nesting. */
export const MAX_DEPTH = 64;
/** Steps in all, for one call. */
export const MAX_STEPS = 100_000;
/** Code points: a longer string is not matched against `pattern`. */
export const MAX_PATTERN_INPUT = 1_000;
/** The largest estimated cost of one pattern match that is run (about a millisecond). */
export const MAX_PATTERN_COST = 1_000_000;
/** Pattern cost per step of budget: 100 matches at the largest cost use the whole budget. */
export const PATTERN_COST_PER_STEP = 1_000;
/** A repetition allowing more than this many times is long (a power of n in the estimate); fewer are choices. */
export const SHORT_REPEAT = 32;
/** Characters of a schema string quoted in a message. */
const MAX_QUOTED = 64;
/** Members of an enum listed in a message. */
const MAX_LISTED = 5;

const TYPES = new Set(["null", "boolean", "object", "array", "number", "integer", "string"]);
const UNREADABLE = "could not be read";
const TOO_DEEP = `nested deeper than ${MAX_DEPTH} levels of properties, items, branches and $refs`;

interface Step {
  readonly parent: Step | undefined;
  readonly key: string | number;
}

interface Found {
  readonly at: Step | undefined;
  readonly rule: string;
  readonly message: string;
}

/** Ends the whole check (depth, budget, unreadable), so that no anyOf branch takes it for a mismatch. */
class Stop extends Error {
  constructor(readonly found: Found) {
    super(found.rule);
  }
}

interface Pattern {
  readonly regex: RegExp;
  /** The estimate is `choices × n ** exponent`. */
  readonly exponent: number;
  readonly choices: number;
}

interface Context {
  readonly root: unknown;
  steps: number;
  /** Per call, so bounded by the schema: compiled patterns (null: not applied) and resolved refs. */
  readonly patterns: Map<string, Pattern | null>;
  readonly refs: Map<string, unknown>;
  /** The last string measured, as anyOf branches measure the same string again. */
  measured: string | undefined;
  measuredLength: number;
}

/** The first place `value` breaks `schema`, or undefined when it conforms (or the schema uses nothing checkable). */
export function schemaViolation(value: unknown, schema: unknown): SchemaViolation | undefined {
  const context: Context = {
    root: schema,
    steps: 0,
    patterns: new Map(),
    refs: new Map(),
    measured: undefined,
    measuredLength: 0,
  };
  let found: Found | undefined;
  try {
    found = check(context, value, schema, undefined, 0);
  } catch (error) {
    // Anything but a Stop escaped every guarded read (a stack overflow inside a Proxy trap): no place to name.
    found = error instanceof Stop ? error.found : { at: undefined, rule: "unreadable", message: UNREADABLE };
  }
  return found === undefined ? undefined : { path: pointer(found.at), rule: found.rule, message: found.message };
}

function check(
  context: Context,
  value: unknown,
  schema: unknown,
  at: Step | undefined,
  depth: number,
): Found | undefined {
  spend(context, 1, at);
  let node = schema;
  // A $ref is followed in this loop, not by recursion: its siblings first, then its target, one level deeper.
  for (let level = depth; ; level++) {
    if (level > MAX_DEPTH) stop(at, "depth", TOO_DEEP);
    if (node === false) return violation(at, "false", "expected no value here (the schema is false)");
    if (typeof node !== "object" || node === null) return undefined;
    if (value === null && read(node, "nullable", at) === true) return undefined;
    const found = checkKeywords(context, value, node, at, level);
    if (found !== undefined) return found;
    const ref = read(node, "$ref", at);
    if (typeof ref !== "string") return undefined;
    node = resolve(context, ref, at);
    spend(context, 1, at);
  }
}

function checkKeywords(
  context: Context,
  value: unknown,
  node: object,
  at: Step | undefined,
  level: number,
): Found | undefined {
  const kind = kindOf(value, at);
  const found =
    checkType(context, value, kind, read(node, "type", at), at) ??
    checkValues(context, value, node, at, level) ??
    (typeof value === "number" && kind === "number" ? checkNumber(value, node, at) : undefined) ??
    (typeof value === "string" ? checkString(context, value, node, at) : undefined) ??
    (typeof value === "object" && value !== null
      ? kind === "array"
        ? checkArray(context, value, node, at, level)
        : checkObject(context, value, node, at, level)
      : undefined);
  if (found !== undefined) return found;
  const allOf = read(node, "allOf", at);
  for (let index = 0, count = entries(context, allOf, at); index < count; index++) {
    const branch = check(context, value, read(allOf as object, index, at), at, level + 1);
    if (branch !== undefined) return branch;
  }
  return (
    checkBranches(context, value, read(node, "anyOf", at), "anyOf", at, level) ??
    checkBranches(context, value, read(node, "oneOf", at), "oneOf", at, level)
  );
}

function checkType(
  context: Context,
  value: unknown,
  kind: string,
  type: unknown,
  at: Step | undefined,
): Found | undefined {
  if (typeof type === "string") {
    return !TYPES.has(type) || matchesType(type, value, kind) ? undefined : mismatch(at, type, kind);
  }
  let expected = "";
  for (let index = 0, count = entries(context, type, at); index < count; index++) {
    const name = read(type as object, index, at);
    if (typeof name !== "string" || !TYPES.has(name)) continue;
    if (matchesType(name, value, kind)) return undefined;
    expected = expected === "" ? name : `${expected} or ${name}`;
  }
  // No known type name: unconstrained.
  return expected === "" ? undefined : mismatch(at, expected, kind);
}

function matchesType(name: string, value: unknown, kind: string): boolean {
  if (name === "integer") return kind === "number" && Number.isInteger(value);
  return name === kind;
}

function mismatch(at: Step | undefined, expected: string, kind: string): Found {
  return violation(at, "type", `expected ${expected}, got ${kind}`);
}

function checkValues(
  context: Context,
  value: unknown,
  node: object,
  at: Step | undefined,
  level: number,
): Found | undefined {
  if (hasOwn(node, "const", at)) {
    const constant = read(node, "const", at);
    if (!equal(context, value, constant, at, level)) {
      const shown = describe(constant);
      return violation(at, "const", shown === undefined ? "expected the schema's const value" : `expected ${shown}`);
    }
  }
  const members = read(node, "enum", at);
  const count = entries(context, members, at);
  if (count === 0) return undefined;
  const shown: string[] = [];
  for (let index = 0; index < count; index++) {
    const member = read(members as object, index, at);
    if (equal(context, value, member, at, level)) return undefined;
    const described = count <= MAX_LISTED ? describe(member) : undefined;
    if (described !== undefined) shown.push(described);
  }
  return violation(
    at,
    "enum",
    shown.length === count
      ? `expected one of ${shown.join(", ")}`
      : `expected one of the ${plural(count, "enum value")}`,
  );
}

function checkNumber(number: number, node: object, at: Step | undefined): Found | undefined {
  const minimum = read(node, "minimum", at);
  const exclusiveMinimum = read(node, "exclusiveMinimum", at);
  if (isNumber(minimum)) {
    // OpenAPI 3.0 and draft 4: a boolean exclusiveMinimum makes minimum exclusive.
    if (exclusiveMinimum === true) {
      if (number <= minimum) return violation(at, "exclusiveMinimum", `expected more than ${minimum}`);
    } else if (number < minimum) return violation(at, "minimum", `expected at least ${minimum}`);
  }
  if (isNumber(exclusiveMinimum) && number <= exclusiveMinimum) {
    return violation(at, "exclusiveMinimum", `expected more than ${exclusiveMinimum}`);
  }
  const maximum = read(node, "maximum", at);
  const exclusiveMaximum = read(node, "exclusiveMaximum", at);
  if (isNumber(maximum)) {
    if (exclusiveMaximum === true) {
      if (number >= maximum) return violation(at, "exclusiveMaximum", `expected less than ${maximum}`);
    } else if (number > maximum) return violation(at, "maximum", `expected at most ${maximum}`);
  }
  if (isNumber(exclusiveMaximum) && number >= exclusiveMaximum) {
    return violation(at, "exclusiveMaximum", `expected less than ${exclusiveMaximum}`);
  }
  const multipleOf = read(node, "multipleOf", at);
  if (isNumber(multipleOf) && multipleOf > 0) {
    const quotient = number / multipleOf;
    // 0.3 / 0.1 is 2.9999999999999996: a few units in the last place are rounding, not a remainder.
    const off = Math.abs(quotient - Math.round(quotient)) > 4 * Number.EPSILON * Math.max(1, Math.abs(quotient));
    if (Number.isFinite(quotient) && off) return violation(at, "multipleOf", `expected a multiple of ${multipleOf}`);
  }
  return undefined;
}

function checkString(context: Context, text: string, node: object, at: Step | undefined): Found | undefined {
  const minLength = read(node, "minLength", at);
  if (isNumber(minLength)) {
    const length = measure(context, text);
    if (length < minLength) {
      return violation(at, "minLength", `expected at least ${plural(minLength, "character")}, got ${length}`);
    }
  }
  const maxLength = read(node, "maxLength", at);
  if (isNumber(maxLength)) {
    const length = measure(context, text);
    if (length > maxLength) {
      return violation(at, "maxLength", `expected at most ${plural(maxLength, "character")}, got ${length}`);
    }
  }
  const source = read(node, "pattern", at);
  // More code units than twice the limit are more code points than the limit: not measured.
  if (typeof source !== "string" || text.length > 2 * MAX_PATTERN_INPUT) return undefined;
  const pattern = compile(context, source);
  if (pattern === null) return undefined;
  const length = measure(context, text);
  if (length > MAX_PATTERN_INPUT) return undefined;
  const cost = pattern.choices * Math.max(1, length) ** pattern.exponent;
  if (cost > MAX_PATTERN_COST) return undefined;
  spend(context, Math.ceil(cost / PATTERN_COST_PER_STEP), at);
  return pattern.regex.test(text) ? undefined : violation(at, "pattern", `expected a match for ${quote(source)}`);
}

function checkArray(
  context: Context,
  list: object,
  node: object,
  at: Step | undefined,
  level: number,
): Found | undefined {
  const length = lengthOf(list, at);
  const minItems = read(node, "minItems", at);
  if (isNumber(minItems) && length < minItems) {
    return violation(at, "minItems", `expected at least ${plural(minItems, "item")}, got ${length}`);
  }
  const maxItems = read(node, "maxItems", at);
  if (isNumber(maxItems) && length > maxItems) {
    return violation(at, "maxItems", `expected at most ${plural(maxItems, "item")}, got ${length}`);
  }
  const prefixItems = read(node, "prefixItems", at);
  const items = read(node, "items", at);
  // Before 2020-12, a list in `items` was the tuple that `prefixItems` is now.
  const tuple = isArray(prefixItems, at) ? prefixItems : isArray(items, at) ? items : undefined;
  const tupleLength = tuple === undefined ? 0 : lengthOf(tuple, at);
  for (let index = 0; tuple !== undefined && index < Math.min(length, tupleLength); index++) {
    const found = checkItem(context, list, index, read(tuple, index, at), at, level);
    if (found !== undefined) return found;
  }
  if (tuple === items || length <= tupleLength) return undefined;
  if (items === false) {
    return violation(at, "items", `expected at most ${plural(tupleLength, "item")}, got ${length}`);
  }
  if (typeof items !== "object" || items === null) return undefined;
  for (let index = tupleLength; index < length; index++) {
    const found = checkItem(context, list, index, items, at, level);
    if (found !== undefined) return found;
  }
  return undefined;
}

function checkItem(
  context: Context,
  list: object,
  index: number,
  schema: unknown,
  at: Step | undefined,
  level: number,
): Found | undefined {
  const step: Step = { parent: at, key: index };
  return check(context, read(list, index, step), schema, step, level + 1);
}

function checkObject(
  context: Context,
  object: object,
  node: object,
  at: Step | undefined,
  level: number,
): Found | undefined {
  const required = read(node, "required", at);
  for (let index = 0, count = entries(context, required, at); index < count; index++) {
    const name = read(required as object, index, at);
    if (typeof name === "string" && !hasOwn(object, name, at)) {
      return violation(at, "required", `missing required property ${quote(name)}`);
    }
  }
  const properties = read(node, "properties", at);
  const declared = typeof properties === "object" && properties !== null ? properties : undefined;
  // Which keys patternProperties claims is not checked, so neither is what it leaves over.
  const additional = hasOwn(node, "patternProperties", at) ? undefined : read(node, "additionalProperties", at);
  const extra = typeof additional === "object" && additional !== null ? additional : undefined;
  if (declared === undefined && additional !== false && extra === undefined) return undefined;
  const keys = keysOf(object, at);
  spend(context, keys.length, at);
  for (const key of keys) {
    const step: Step = { parent: at, key };
    const schema = declared !== undefined && hasOwn(declared, key, at) ? read(declared, key, at) : extra;
    if (schema === undefined) {
      if (additional !== false) continue;
      // The path names the property; the message cannot (the name is the value's).
      return violation(step, "additionalProperties", "unexpected property (additionalProperties is false)");
    }
    const found = check(context, read(object, key, step), schema, step, level + 1);
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * anyOf (at least one branch) or oneOf (exactly one). When every branch but one rejects the value's type, that
 * branch is the one the value was meant for (an optional object: `[{ $ref }, { type: "null" }]`), and its
 * violation is more use than "matched none".
 */
function checkBranches(
  context: Context,
  value: unknown,
  branches: unknown,
  rule: "anyOf" | "oneOf",
  at: Step | undefined,
  level: number,
): Found | undefined {
  const count = entries(context, branches, at);
  if (count === 0) return undefined;
  let matched = false;
  let meant: Found | undefined;
  let meantCount = 0;
  for (let index = 0; index < count; index++) {
    const found = check(context, value, read(branches as object, index, at), at, level + 1);
    if (found === undefined) {
      if (rule === "anyOf") return undefined;
      if (matched) return violation(at, rule, `expected exactly one of the ${count} oneOf branches, matched more`);
      matched = true;
    } else if ((found.rule !== "type" && found.rule !== "false") || found.at !== at) {
      meant = found;
      meantCount++;
    }
  }
  if (matched) return undefined;
  if (meantCount === 1) return meant;
  return violation(at, rule, `expected a match for one of the ${count} ${rule} branches, matched none`);
}

/** Deep equality of JSON values (object keys in any order), for `enum` and `const`. */
function equal(context: Context, value: unknown, expected: unknown, at: Step | undefined, level: number): boolean {
  spend(context, 1, at);
  if (value === expected) return true;
  if (typeof value !== "object" || typeof expected !== "object" || value === null || expected === null) return false;
  if (level > MAX_DEPTH) stop(at, "depth", TOO_DEEP);
  const list = isArray(value, at);
  if (list !== isArray(expected, at)) return false;
  if (list) {
    const length = lengthOf(value, at);
    if (length !== lengthOf(expected, at)) return false;
    for (let index = 0; index < length; index++) {
      if (!equal(context, read(value, index, at), read(expected, index, at), at, level + 1)) return false;
    }
    return true;
  }
  const keys = keysOf(expected, at);
  const valueKeys = keysOf(value, at);
  spend(context, keys.length + valueKeys.length, at);
  if (keys.length !== valueKeys.length) return false;
  for (const key of keys) {
    if (!hasOwn(value, key, at) || !equal(context, read(value, key, at), read(expected, key, at), at, level + 1)) {
      return false;
    }
  }
  return true;
}

/** The target of a local `$ref` (undefined, unconstrained, when there is none), once per call and ref. */
function resolve(context: Context, ref: string, at: Step | undefined): unknown {
  if (context.refs.has(ref)) return context.refs.get(ref);
  let target: unknown = undefined;
  let fragment: string | undefined;
  try {
    fragment = ref.startsWith("#") ? decodeURIComponent(ref.slice(1)) : undefined;
  } catch {
    fragment = undefined;
  }
  if (fragment === "") target = context.root;
  else if (fragment?.startsWith("/") === true) {
    target = context.root;
    for (const token of fragment.slice(1).split("/")) {
      spend(context, 1, at);
      if (typeof target !== "object" || target === null) {
        target = undefined;
        break;
      }
      // RFC 6901: "~1" before "~0", so that "~01" reads "~1".
      target = read(target, token.replaceAll("~1", "/").replaceAll("~0", "~"), at);
    }
  }
  context.refs.set(ref, target);
  return target;
}

/** The compiled pattern and its cost estimate, or null when it is not applied; once per call and pattern. */
function compile(context: Context, source: string): Pattern | null {
  let pattern = context.patterns.get(source);
  if (pattern === undefined) {
    pattern = null;
    try {
      const regex = new RegExp(source, "u");
      const cost = backtracking(source);
      if (cost !== undefined) pattern = { regex, ...cost };
    } catch {
      // Does not compile: not applied.
    }
    context.patterns.set(source, pattern);
  }
  return pattern;
}

interface Cost {
  exponent: number;
  choices: number;
}

/** An alternation being read: the costliest alternative so far, the current one, and how many there are. */
interface Frame {
  most: Cost;
  current: Cost;
  alternatives: number;
  /** The last atom, not yet part of `current`, as a quantifier may follow it. */
  atom: Cost | undefined;
}

const QUANTIFIER = /\{(\d+)(?:,(\d*))?\}/y;

/**
 * The estimate `choices × n ** exponent` of how many ways V8's backtracking can try to match a pattern that
 * compiles with the `u` flag, or undefined when exponential in n. Upper bounds: alternatives count as many copies
 * of the costliest, lookarounds as groups.
 */
function backtracking(source: string): Cost | undefined {
  const frames: Frame[] = [frame()];
  let index = 0;
  for (let top = frames.at(-1); top !== undefined && index < source.length; top = frames.at(-1)) {
    const char = source.charAt(index);
    if ("*+?{".includes(char)) {
      let min = char === "+" ? 1 : 0;
      let max = char === "?" ? 1 : Infinity;
      index++;
      if (char === "{") {
        QUANTIFIER.lastIndex = index - 1;
        const bounds = QUANTIFIER.exec(source);
        if (bounds === null) return undefined;
        min = Number(bounds[1]);
        max = bounds[2] === undefined ? min : bounds[2] === "" ? Infinity : Number(bounds[2]);
        index = QUANTIFIER.lastIndex;
      }
      if (source.charAt(index) === "?") index++;
      const atom = top.atom ?? { exponent: 0, choices: 1 };
      if (max <= 1) top.atom = { exponent: atom.exponent, choices: atom.choices * (max - min + 1) };
      else if (atom.exponent === 0 && atom.choices === 1) {
        top.atom = max > SHORT_REPEAT ? { exponent: 1, choices: 1 } : { exponent: 0, choices: max - min + 1 };
      } else if (max <= SHORT_REPEAT) {
        top.atom = { exponent: atom.exponent * max, choices: atom.choices ** max * (max - min + 1) };
      } else return undefined;
      continue;
    }
    settle(top);
    if (char === "\\") {
      const next = source.charAt(index + 1);
      if (next === "k" || (next >= "1" && next <= "9")) return undefined;
      index += 2;
      if ((next === "p" || next === "P" || next === "u") && source.charAt(index) === "{")
        index = after(source, "}", index);
      top.atom = { exponent: 0, choices: 1 };
    } else if (char === "[") {
      index++;
      if (source.charAt(index) === "^") index++;
      while (index < source.length && source.charAt(index) !== "]") index += source.charAt(index) === "\\" ? 2 : 1;
      index++;
      top.atom = { exponent: 0, choices: 1 };
    } else if (char === "(") {
      index++;
      if (source.charAt(index) === "?") {
        const kind = source.charAt(index + 1);
        const lookbehind = kind === "<" && (source.charAt(index + 2) === "=" || source.charAt(index + 2) === "!");
        index = kind === "<" && !lookbehind ? after(source, ">", index) : index + (lookbehind ? 3 : 2);
      }
      frames.push(frame());
    } else if (char === ")") {
      index++;
      const group = frames.pop();
      const parent = frames.at(-1);
      if (group === undefined || parent === undefined) return undefined;
      parent.atom = total(group);
    } else if (char === "|") {
      index++;
      top.most = costlier(top.most, top.current);
      top.current = { exponent: 0, choices: 1 };
      top.alternatives++;
    } else {
      index++;
      top.atom = { exponent: 0, choices: 1 };
    }
  }
  const root = frames[0];
  if (root === undefined || frames.length !== 1) return undefined;
  settle(root);
  const cost = total(root);
  // Unanchored, the engine tries again from every position: one more power of n.
  const anchored = source.startsWith("^") && root.alternatives === 1;
  return { exponent: cost.exponent + (anchored ? 0 : 1), choices: cost.choices };
}

function frame(): Frame {
  return { most: { exponent: 0, choices: 1 }, current: { exponent: 0, choices: 1 }, alternatives: 1, atom: undefined };
}

function settle(frame: Frame): void {
  if (frame.atom === undefined) return;
  frame.current = {
    exponent: frame.current.exponent + frame.atom.exponent,
    choices: frame.current.choices * frame.atom.choices,
  };
  frame.atom = undefined;
}

function total(frame: Frame): Cost {
  settle(frame);
  const most = costlier(frame.most, frame.current);
  return { exponent: most.exponent, choices: most.choices * frame.alternatives };
}

function costlier(a: Cost, b: Cost): Cost {
  return { exponent: Math.max(a.exponent, b.exponent), choices: Math.max(a.choices, b.choices) };
}

function after(source: string, char: string, from: number): number {
  const found = source.indexOf(char, from);
  return found === -1 ? source.length : found + 1;
}

/** The value's JSON type, or what else it is (`non-finite number`, `undefined`, `function`, `bigint`, ...). */
function kindOf(value: unknown, at: Step | undefined): string {
  if (value === null) return "null";
  if (typeof value === "number") return Number.isFinite(value) ? "number" : "non-finite number";
  if (typeof value === "object") return isArray(value, at) ? "array" : "object";
  return typeof value;
}

/** How many entries a schema list has (0 when it is not a list), paid for up front. */
function entries(context: Context, list: unknown, at: Step | undefined): number {
  if (!isArray(list, at)) return 0;
  const length = lengthOf(list, at);
  spend(context, length, at);
  return length;
}

function lengthOf(list: object, at: Step | undefined): number {
  const length = read(list, "length", at);
  return typeof length === "number" && Number.isFinite(length) ? length : 0;
}

/** Code points, as JSON Schema counts string lengths. */
function measure(context: Context, text: string): number {
  if (context.measured !== text) {
    let length = 0;
    for (let index = 0; index < text.length; index++) {
      const unit = text.charCodeAt(index);
      if (unit >= 0xd800 && unit <= 0xdbff) {
        const next = text.charCodeAt(index + 1);
        if (next >= 0xdc00 && next <= 0xdfff) index++;
      }
      length++;
    }
    context.measured = text;
    context.measuredLength = length;
  }
  return context.measuredLength;
}

function spend(context: Context, steps: number, at: Step | undefined): void {
  context.steps += steps;
  if (context.steps > MAX_STEPS) stop(at, "budget", `gave up after ${MAX_STEPS} steps`);
}

function stop(at: Step | undefined, rule: string, message: string): never {
  throw new Stop({ at, rule, message });
}

function violation(at: Step | undefined, rule: string, message: string): Found {
  return { at, rule, message };
}

// Own properties only, so that neither the schema nor the value inherits keywords or properties (`constructor`);
// a getter or trap that throws ends the check.

function read(holder: object, key: string | number, at: Step | undefined): unknown {
  try {
    return Object.hasOwn(holder, key) ? (Reflect.get(holder, key) as unknown) : undefined;
  } catch {
    return stop(at, "unreadable", UNREADABLE);
  }
}

function hasOwn(holder: object, key: string, at: Step | undefined): boolean {
  try {
    return Object.hasOwn(holder, key);
  } catch {
    return stop(at, "unreadable", UNREADABLE);
  }
}

function keysOf(holder: object, at: Step | undefined): string[] {
  try {
    return Object.keys(holder);
  } catch {
    return stop(at, "unreadable", UNREADABLE);
  }
}

function isArray(value: unknown, at: Step | undefined): value is unknown[] {
  try {
    return Array.isArray(value);
  } catch {
    // A revoked Proxy.
    return stop(at, "unreadable", UNREADABLE);
  }
}

function isNumber(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value);
}

/** A schema value short enough to show (a string, number, boolean or null), or undefined. */
function describe(value: unknown): string | undefined {
  if (typeof value === "string") return quote(value);
  if (typeof value === "number" || typeof value === "boolean" || value === null) return String(value);
  return undefined;
}

function quote(text: string): string {
  return JSON.stringify(text.length > MAX_QUOTED ? `${text.slice(0, MAX_QUOTED)}…` : text);
}

function plural(amount: number, noun: string): string {
  return `${amount} ${noun}${amount === 1 ? "" : "s"}`;
}

function pointer(at: Step | undefined): string {
  const tokens: string[] = [];
  for (let step = at; step !== undefined; step = step.parent) {
    tokens.push(typeof step.key === "number" ? String(step.key) : step.key.replaceAll("~", "~0").replaceAll("/", "~1"));
  }
  return tokens.length === 0 ? "" : `/${tokens.reverse().join("/")}`;
}
