/**
 * The content pipeline (issue 13): the one function every attribute that can carry user or model text goes through
 * before it is written. It replaces, in every string of a value (never in keys, so the JSON keeps its structure),
 * the client's own credentials, the `secrets` preset's kinds (always), the PII presets and patterns the app chose,
 * and then hands each text to the app's `redact` function. It fails closed: a detector or `redact` that throws
 * replaces the whole text with a marker, never lets the raw text through.
 *
 * Runs at span end (never per stream chunk), once per content attribute; the work is linear in the text.
 */
import { createHmac, randomBytes } from "node:crypto";
import type { Counter, Meter, Span } from "@opentelemetry/api";
import { TRUNCATION_MARKER } from "../content.js";
import { reportInternalError } from "../internal/report.js";
import * as names from "../semconv.js";
import { PRESET_NAMES, kindsOf, redactText } from "./detectors.js";
import type { CustomPattern, DetectorKind, PresetName } from "./detectors.js";

/** What `redact` is told about the text it looks at. */
export interface RedactField {
  /** The attribute the text goes into (`gen_ai.input.messages`, `exception.message`, ...). */
  attribute: string;
  /** The role of the message the text belongs to, when it belongs to one (`user`, `assistant`, `system`, `tool`). */
  role?: string;
  /** The kind of part (`text`, `tool_call`, `tool_call_response`, `reasoning`, ...), when it is in one. */
  part?: string;
}

/** The app's own redaction: the text to keep (changed or not), or `null` to drop it (a marker is written instead). */
export type RedactFunction = (text: string, field: RedactField) => string | null;

/** The resolved redaction rules of one client, or of setup() for what belongs to no client. */
export interface RedactionPolicy {
  readonly kinds: ReadonlySet<DetectorKind>;
  readonly patterns: readonly CustomPattern[];
  readonly redact: RedactFunction | undefined;
  /** `kind`: `[EMAIL]`; `hash`: `[EMAIL:3f2a1c9d]`, a keyed hash of the value, the same for the same value. */
  readonly replacement: "kind" | "hash";
  readonly hashKey: string;
}

/** What a span learns from the pipeline: the kinds that matched (never values), and how often. */
export class RedactionAudit {
  readonly counts = new Map<string, number>();

  add(kind: string): void {
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1);
  }

  get kinds(): string[] {
    return [...this.counts.keys()];
  }
}

/** The marker of the client's own credential (the API key a server echoed in an error). */
export const CLIENT_SECRET_MARKER = names.REDACTED_MARKER;
/** What replaces a text `redact` dropped (returned `null`). */
export const DROPPED_MARKER = "[REDACTED:dropped]";
/** What replaces a text whose redaction failed: fail closed. */
export const FAILED_MARKER = "[REDACTED:redaction_failed]";
/** The kind counted for a client credential, a dropped text and a failed redaction. */
export const KIND_CLIENT_SECRET = "client_secret";
export const KIND_DROPPED = "dropped";
export const KIND_FAILED = "redaction_failed";

/** Below this length a "credential" would redact common words; no real key or token is this short. */
const MINIMUM_SECRET_LENGTH = 8;
/** Nesting read in a value; deeper values are replaced by a marker (no payload drives recursion unbounded). */
const MAX_DEPTH = 32;
const TOO_DEEP_MARKER = "[REDACTED:too_deep]";

const SECRET_KINDS: readonly DetectorKind[] = kindsOf("secrets");

/** Generated once per process: `hash` replacements correlate within the process unless the app sets a key. */
let processHashKey: string | undefined;

/** The policy from options already validated: the secrets preset always, plus what the app chose. */
export function resolvePolicy(options: {
  pii?: readonly PresetName[];
  redactPatterns?: readonly CustomPattern[];
  redact?: RedactFunction;
  redactReplacement?: "kind" | "hash";
  redactHashKey?: string;
}): RedactionPolicy {
  const kinds = new Set<DetectorKind>(SECRET_KINDS);
  for (const preset of options.pii ?? []) for (const kind of kindsOf(preset)) kinds.add(kind);
  return {
    kinds,
    // Copies: the app's RegExp objects are never used (their lastIndex is theirs).
    patterns: (options.redactPatterns ?? []).map(({ kind, pattern }) => ({ kind, pattern: new RegExp(pattern) })),
    redact: options.redact,
    replacement: options.redactReplacement ?? "kind",
    hashKey: options.redactHashKey ?? (processHashKey ??= randomBytes(32).toString("hex")),
  };
}

/** The policy of a client with no redaction options: the secrets preset alone. */
export const DEFAULT_POLICY: RedactionPolicy = resolvePolicy({});

export { PRESET_NAMES };

/**
 * Redact one text: the client's credentials, the detectors, the patterns, then `redact`. Never throws; on any
 * failure the whole text becomes FAILED_MARKER.
 */
export function redactString(
  text: string,
  field: RedactField,
  policy: RedactionPolicy,
  secrets: readonly string[],
  audit: RedactionAudit,
  /** False for the messages' structure (roles, part types, ids): the detectors run, the app's `redact` does not. */
  appRedact = true,
): string {
  try {
    let result = text;
    for (const secret of secrets) {
      if (secret.length >= MINIMUM_SECRET_LENGTH && result.includes(secret)) {
        const pieces = result.split(secret);
        for (let index = 1; index < pieces.length; index++) audit.add(KIND_CLIENT_SECRET);
        result = pieces.join(CLIENT_SECRET_MARKER);
      }
    }
    const replaced = redactText(
      result,
      policy.kinds,
      (kind, value) => {
        audit.add(kind);
        return replacementFor(kind, value, policy);
      },
      policy.patterns,
    );
    result = replaced.text;
    const redact = policy.redact;
    if (redact !== undefined && appRedact) {
      const given: unknown = redact(result, field);
      if (given === null) {
        audit.add(KIND_DROPPED);
        return DROPPED_MARKER;
      }
      if (typeof given !== "string") throw new TypeError(`redact returned ${typeof given}, not a string or null`);
      result = given;
    }
    return result;
  } catch (error) {
    audit.add(KIND_FAILED);
    // The name only: an app's redact that throws often quotes the text it was given in its message.
    reportInternalError("redaction", new Error(`redaction failed (${errorName(error)}); the text was not recorded`));
    return FAILED_MARKER;
  }
}

function errorName(error: unknown): string {
  try {
    const name = (error as { name?: unknown } | null)?.name;
    return typeof name === "string" && /^\w{1,64}$/.test(name) ? name : "a thrown value";
  } catch {
    return "a thrown value";
  }
}

function replacementFor(kind: string, value: string, policy: RedactionPolicy): string {
  const label = kind.toUpperCase();
  if (policy.replacement === "kind") return `[${label}]`;
  const digest = createHmac("sha256", policy.hashKey).update(value).digest("hex").slice(0, 8);
  return `[${label}:${digest}]`;
}

/** Where in the conventions' message shape a value is: a list of messages or parts, one of them, or free content. */
type Level = "messages" | "message" | "parts" | "part" | "free";
/** Attributes holding a list of messages (`{ role, parts, finish_reason? }`). */
const MESSAGE_LISTS: ReadonlySet<string> = new Set([
  names.ATTR_GEN_AI_INPUT_MESSAGES,
  names.ATTR_GEN_AI_OUTPUT_MESSAGES,
]);
/** Attributes holding a list of parts or definitions (`{ type, ... }`). */
const PART_LISTS: ReadonlySet<string> = new Set([
  names.ATTR_GEN_AI_SYSTEM_INSTRUCTIONS,
  names.ATTR_GEN_AI_TOOL_DEFINITIONS,
]);
const MESSAGE_FIELDS: ReadonlySet<string> = new Set(["role", "finish_reason"]);
const PART_FIELDS: ReadonlySet<string> = new Set(["type", "id", "name", "mime_type", "modality"]);

/**
 * `value` with every string in it redacted, as a new value; `value` itself is not changed. Keys pass the
 * detectors too, but for the structure's own (a key that becomes one already present gets `#2`, `#3`, ...),
 * and so do long integers (see redactInteger).
 * In the message attributes, the conventions' structure (a message's role and finish reason, a part's type,
 * id, name, MIME type and modality) is not given to the app's `redact` (the detectors still read it), and each
 * text is told its message's role and part's type. A text whose redaction fails becomes a marker; a value that
 * cannot be JSON (a cycle, a throwing getter or toJSON) throws, as JSON.stringify would, and its caller leaves
 * the attribute out.
 */
export function redactValue(
  value: unknown,
  attribute: string,
  policy: RedactionPolicy,
  secrets: readonly string[],
  audit: RedactionAudit,
  /** Texts longer than this (plus CUT_MARGIN) are cut before they are redacted (see redactCut); `cut` is told. */
  maxTextChars = Infinity,
  cut?: () => void,
): unknown {
  // The objects being walked: one met again inside itself is a cycle.
  const path = new Set<object>();
  const top: Level = MESSAGE_LISTS.has(attribute) ? "messages" : PART_LISTS.has(attribute) ? "parts" : "free";
  const fieldOf = (role: string | undefined, part: string | undefined): RedactField => {
    const given: RedactField = { attribute };
    if (role !== undefined) given.role = role;
    if (part !== undefined) given.part = part;
    return given;
  };
  /**
   * A key through the credentials, detectors and patterns (not the app's `redact`, which is given texts); one
   * that becomes a key the copy already has gets `#2`, `#3`, ...
   */
  const freeKey = (key: string, copy: Record<string, unknown>): string => {
    // The common key (`city`, `max_results`): no built-in detector matches letters and underscores alone, so
    // only the credentials and the app's patterns are looked for.
    if (
      policy.patterns.length === 0 &&
      PLAIN_KEY.test(key) &&
      !secrets.some((secret) => secret.length >= MINIMUM_SECRET_LENGTH && key.includes(secret))
    )
      return key;
    const name = redactString(key, { attribute }, policy, secrets, audit, false);
    if (!Object.hasOwn(copy, name)) return name;
    let suffix = 2;
    while (Object.hasOwn(copy, `${name}#${suffix}`)) suffix++;
    return `${name}#${suffix}`;
  };
  const walk = (item: unknown, depth: number, level: Level, role?: string, part?: string): unknown => {
    if (typeof item === "string") {
      if (item.length <= maxTextChars + CUT_MARGIN)
        return redactString(item, fieldOf(role, part), policy, secrets, audit);
      cut?.();
      return redactCut(item, maxTextChars, (text) => redactString(text, fieldOf(role, part), policy, secrets, audit));
    }
    if (typeof item === "number") return redactInteger(item, attribute, policy, secrets, audit);
    if (item === null || typeof item !== "object") return item;
    if (depth >= MAX_DEPTH) {
      audit.add(KIND_FAILED);
      return TOO_DEEP_MARKER;
    }
    if (path.has(item)) throw new TypeError("Converting circular structure to JSON");
    path.add(item);
    let copy: unknown;
    if (Array.isArray(item)) {
      const itemLevel: Level = level === "messages" ? "message" : level === "parts" ? "part" : "free";
      copy = item.map((entry) => walk(entry, depth + 1, itemLevel, role, part));
    } else {
      const record = item as Record<string, unknown>;
      // What JSON.stringify would write for a value with its own toJSON (a Date), or a boxed primitive (its
      // value): read that, as it would. A toJSON that returns its own object is read as the object.
      const json = typeof record["toJSON"] === "function" ? (record["toJSON"] as () => unknown).call(record) : record;
      if (json !== record) {
        copy = walk(json, depth + 1, "free", role, part);
      } else if (item instanceof String || item instanceof Number || item instanceof Boolean) {
        copy = walk(item.valueOf(), depth + 1, level, role, part);
      } else {
        // The conventions' message structure (a message's role, a part's type, a tool call's id and name) is
        // kept as is: it is not content, and a changed role or type would break the shape readers expect.
        const structural = level === "message" ? MESSAGE_FIELDS : level === "part" ? PART_FIELDS : undefined;
        const ownRole = level === "message" && typeof record["role"] === "string" ? record["role"] : role;
        const ownPart = level === "part" && typeof record["type"] === "string" ? record["type"] : part;
        const object: Record<string, unknown> = {};
        for (const key of Object.keys(record)) {
          const entry = record[key];
          const redacted =
            structural?.has(key) === true && typeof entry === "string"
              ? redactString(entry, { attribute }, policy, secrets, audit, false)
              : walk(entry, depth + 1, level === "message" && key === "parts" ? "parts" : "free", ownRole, ownPart);
          // Keys are content too (tool arguments, a stage's input): `{ "ann@example.com": 1 }`. The structure's
          // own keys (role, parts, type, ...) are kept.
          const name =
            structural?.has(key) === true || (level === "message" && key === "parts") ? key : freeKey(key, object);
          // A payload's own `__proto__` key (JSON.parse makes one) stays a key, not the copy's prototype.
          if (name === "__proto__") {
            Object.defineProperty(object, key, {
              value: redacted,
              enumerable: true,
              writable: true,
              configurable: true,
            });
          } else object[name] = redacted;
        }
        copy = object;
      }
    }
    path.delete(item);
    return copy;
  };
  return walk(value, 0, top);
}

/**
 * Characters read past a cut: a secret the cut splits lies in them, and they are dropped after the redaction.
 * Longer than an API key, a bearer token or a JWT of a few kilobytes; a private key block the cut leaves without
 * its end is redacted to the end of the text by its detector.
 */
export const CUT_MARGIN = 4096;

/**
 * A text that would be cut to `maxChars` anyway, redacted in bounded time: its first `maxChars + CUT_MARGIN`
 * characters are redacted and the last CUT_MARGIN characters of the result dropped, so whatever the cut split
 * (half of a key the detectors no longer see whole) is not kept: at most `maxChars` characters of it, then
 * the truncation marker.
 */
function redactCut(text: string, maxChars: number, redact: (text: string) => string): string {
  const head = redact(text.slice(0, maxChars + CUT_MARGIN));
  return head.slice(0, Math.max(0, Math.min(maxChars, head.length - CUT_MARGIN))) + TRUNCATION_MARKER;
}

/** A key of letters and underscores only: no built-in detector can match it. */
const PLAIN_KEY = /^[A-Za-z_]{1,64}$/;

/** Integers this long can be a phone number, an account or card number, an SSN: the detectors read them. */
const LONG_INTEGER = 1e8;

/**
 * A number, or, when it is an integer of 9 digits or more that the detectors or the client's credentials match,
 * the redacted text of it (`4111111111111111` → `"[CREDIT_CARD]"`): the JSON stays valid, that one value becomes
 * a string. The app's `redact` is given text only, not numbers.
 */
function redactInteger(
  value: number,
  attribute: string,
  policy: RedactionPolicy,
  secrets: readonly string[],
  audit: RedactionAudit,
): number | string {
  if (!Number.isInteger(value) || Math.abs(value) < LONG_INTEGER) return value;
  const text = String(value);
  const redacted = redactString(text, { attribute }, policy, secrets, audit, false);
  return redacted === text ? value : redacted;
}

const counters = new WeakMap<Meter, Counter>();

function matchCounter(meter: Meter): Counter {
  let counter = counters.get(meter);
  if (counter === undefined) {
    counter = meter.createCounter(names.METRIC_TOKENTRACE_REDACTION_MATCHES, {
      description: "Replacements the redaction pipeline made in recorded content, by kind (never values).",
      unit: names.UNIT_MATCH,
    });
    counters.set(meter, counter);
  }
  return counter;
}

/**
 * The pipeline for one span: every content attribute of the span goes through `value()` or `text()`, and
 * `report()` then lists the kinds that matched on the span and counts them. Never throws.
 */
export class Redactor {
  private readonly audit = new RedactionAudit();
  /** Kinds the span already lists (from its context's metadata, redacted when the scope began): listed, not counted again. */
  private inherited: readonly string[] = [];

  constructor(
    private readonly policy: RedactionPolicy,
    /** The client's credentials, replaced wherever they appear (longest first). */
    private readonly secrets: readonly string[] = [],
  ) {}

  /** A JSON value (messages, tool data, a stage's input) with every string in it redacted. */
  value(value: unknown, attribute: string): unknown {
    return redactValue(value, attribute, this.policy, this.secrets, this.audit);
  }

  /**
   * `value()` for content about to be cut to `maxChars`: a text longer than that (plus CUT_MARGIN) is cut before
   * it is redacted, so a 10 MB string costs what a 20 KB one does; `cut` says whether any was.
   */
  valueWithin(value: unknown, attribute: string, maxChars: number): { value: unknown; cut: boolean } {
    let cut = false;
    const redacted = redactValue(value, attribute, this.policy, this.secrets, this.audit, maxChars, () => {
      cut = true;
    });
    return { value: redacted, cut };
  }

  /** One text (an error message, a stack trace, a metadata value). */
  text(text: string, attribute: string): string {
    return redactString(text, { attribute }, this.policy, this.secrets, this.audit);
  }

  /** Kinds to list on the span beside this span's own (its scope's), without counting them. */
  inherit(kinds: readonly string[] | undefined): void {
    if (kinds !== undefined) this.inherited = kinds;
  }

  /** The kinds found so far, in the order first found (the inherited ones first). */
  kinds(): string[] {
    const own = this.audit.kinds;
    if (this.inherited.length === 0) return own;
    return [...new Set([...this.inherited, ...own])];
  }

  /** `tokentrace.redaction.kinds` on `span` (when anything matched) and this span's matches counted by kind. */
  report(span: Span | undefined, meter: Meter | undefined): void {
    if (this.audit.counts.size === 0) return;
    try {
      span?.setAttribute(names.ATTR_TOKENTRACE_REDACTION_KINDS, this.kinds());
      if (meter === undefined) return;
      const counter = matchCounter(meter);
      for (const [kind, count] of this.audit.counts) {
        counter.add(count, { [names.ATTR_TOKENTRACE_REDACTION_KIND]: kind });
      }
    } catch (error) {
      reportInternalError("redaction", error);
    }
  }
}
