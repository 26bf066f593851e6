/*
 * Application context (issue 12): who and where a call runs for. `withContext()` puts a user, session,
 * conversation, tags and metadata in the OpenTelemetry context for the duration of a function; every span
 * tokentrace starts inside carries them, stamped at span start. The resolved scope is built once per
 * `withContext()` call, with its span attributes, so a call pays one context lookup and one object spread.
 */
import { ROOT_CONTEXT, context, createContextKey, propagation } from "@opentelemetry/api";
import type { Attributes, Context, Meter } from "@opentelemetry/api";
import { METADATA_KEY, describe, setupOptions } from "./config.js";
import { InvalidOptionError } from "./errors.js";
import { currentMeterProvider } from "./internal/active-providers.js";
import { reportInternalError, warnOnce } from "./internal/report.js";
import { hashUserId } from "./internal/user-hash.js";
import { DEFAULT_POLICY, Redactor } from "./redaction/pipeline.js";
import * as names from "./semconv.js";
import { VERSION } from "./version.js";

/** What `withContext()` accepts. Every field is optional; nested scopes merge with the enclosing one. */
export interface AppContext {
  /** The end user (`user.id`). */
  userId?: string;
  /** The user's session (`session.id`). */
  sessionId?: string;
  /** The conversation or thread (`gen_ai.conversation.id`). */
  conversationId?: string;
  /**
   * The app's own id of the answer being produced (`tokentrace.message.id`), by which `recordFeedback({ messageId })`
   * later names the call, in this process, for a while (see the README's feedback section).
   */
  messageId?: string;
  /** Labels (`tokentrace.tags`); nested scopes add to the enclosing scope's tags. */
  tags?: readonly string[];
  /** Key-value facts (`tokentrace.metadata.<key>`); nested scopes override by key. */
  metadata?: Readonly<Record<string, string | number | boolean>>;
  /**
   * `false`: record no content (messages, tool data, error messages, stage inputs and outputs) for the calls and
   * stages inside, whatever the client's `captureContent` says. `true` never turns capture on where the client, or
   * an enclosing scope, turned it off.
   */
  captureContent?: boolean;
}

/** What `currentContext()` returns: the merged scope, with nothing that was dropped. */
export interface ResolvedAppContext {
  readonly userId?: string;
  readonly sessionId?: string;
  readonly conversationId?: string;
  readonly messageId?: string;
  readonly tags: readonly string[];
  readonly metadata: Readonly<Record<string, string | number | boolean>>;
  /** `false` when this scope or an enclosing one turned content capture off. */
  readonly captureContent?: false;
}

/**
 * A context value that may travel to other services in W3C baggage: an id, or one metadata key (`metadata.tenant`).
 * On the wire they are named as on spans: `user.id`, `session.id`, `gen_ai.conversation.id`, `tokentrace.metadata.<key>`.
 */
export type ContextBaggageKey = "userId" | "sessionId" | "conversationId" | `metadata.${string}`;

/** The third argument of `withContext()`. */
export interface WithContextOptions {
  /**
   * Also put these context values in the W3C baggage of the scope (default: none), so that the app's HTTP
   * instrumentation sends them to the services it calls, which read them with `contextFromBaggage()`. Nested scopes
   * inherit the list and send their own values for it. Baggage goes out with every outgoing request that propagates
   * context, to any host: list only values you may send there.
   *
   * @example withContext({ userId, sessionId }, handle, { baggage: ["userId", "sessionId"] })
   */
  baggage?: readonly ContextBaggageKey[];
}

/** One scope: the merged values, what was dropped on the way, and the span attributes they make. */
export interface AppScope {
  /** The keys this scope and the enclosing ones send in baggage (`WithContextOptions.baggage`). */
  readonly baggageKeys: readonly ContextBaggageKey[];
  readonly values: ResolvedAppContext;
  /** The span attributes of `values` (and `tokentrace.context.dropped`), built once. */
  readonly attributes: Attributes;
  /** What this scope and the enclosing ones dropped (at most MAX_DROPPED_KEPT entries). */
  readonly dropped: readonly string[];
  /** The kinds the redaction pipeline replaced in this scope's tags and metadata and the enclosing ones'. */
  readonly redactedKinds: readonly string[] | undefined;
}

/** Bounds: an id or metadata string longer than this is dropped, never cut. */
export const MAX_CONTEXT_VALUE_LENGTH = 256;
export const MAX_METADATA_VALUE_LENGTH = 1_024;
export const MAX_TAGS = 64;
export const MAX_METADATA_KEYS = 64;
/** Entries of `tags` and keys of `metadata` read from one `withContext()` call. */
const MAX_INPUT_ENTRIES = 256;

/** An id (user, session, conversation): a non-blank string of at most MAX_CONTEXT_VALUE_LENGTH characters. */
export const isValidId = (value: unknown): value is string =>
  typeof value === "string" && value.trim() !== "" && value.length <= MAX_CONTEXT_VALUE_LENGTH;
/** At most this many entries in `tokentrace.context.dropped` (the rest are counted in the last entry). */
const MAX_DROPPED_LISTED = 32;
/** Dropped entries a scope keeps for the scopes nested in it. */
const MAX_DROPPED_KEPT = 1_024;

/** At most this many keys in one `baggage` list. */
export const MAX_BAGGAGE_KEYS = 16;

const ACCEPTED_KEYS = [
  "userId",
  "sessionId",
  "conversationId",
  "messageId",
  "tags",
  "metadata",
  "captureContent",
] as const;
const acceptedKeys: ReadonlySet<string> = new Set(ACCEPTED_KEYS);

/**
 * The key of tokentrace's scope in an OpenTelemetry `Context`. `createContextKey` is `Symbol.for`, so the ESM
 * and CommonJS builds of tokentrace in one process share it.
 */
const SCOPE_KEY = createContextKey("tokentrace.app-context");

const NO_BAGGAGE_KEYS: readonly ContextBaggageKey[] = Object.freeze([]);
const EMPTY_VALUES: ResolvedAppContext = Object.freeze({ tags: Object.freeze([]), metadata: Object.freeze({}) });

/** The scope a context holds, if any: one lookup, on every call's start. */
export function scopeOf(ctx: Context): AppScope | undefined {
  return ctx.getValue(SCOPE_KEY) as AppScope | undefined;
}

/** `withContext({ messageId })` in `ctx`, if any. */
export function messageIdOf(ctx: Context): string | undefined {
  return scopeOf(ctx)?.values.messageId;
}

/**
 * Stamp a starting span's attributes (calls and stages alike) with the application context of `parent`, over
 * what the request said; with `hashKey` (`hashUserId`), the user id, from either, becomes `user.hash`.
 */
export function stampContext(attributes: Attributes, parent: Context, hashKey: string | undefined): void {
  const scope = scopeOf(parent);
  if (scope !== undefined) Object.assign(attributes, scope.attributes);
  if (hashKey === undefined) return;
  const userId = attributes[names.ATTR_USER_ID];
  if (typeof userId !== "string") return;
  // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- a constant name: the id must not be exported
  delete attributes[names.ATTR_USER_ID];
  attributes[names.ATTR_USER_HASH] = hashUserId(hashKey, userId);
}

/** Whether the global context manager carries a context into the function it runs (the no-op one does not). */
export function contextManagerWorks(): boolean {
  return context.with(ROOT_CONTEXT.setValue(PROBE_KEY, true), () => context.active().getValue(PROBE_KEY) === true);
}
const PROBE_KEY = createContextKey("tokentrace.context-probe");

/**
 * Run `fn` with `values` merged into the current application context, and return exactly what `fn` returns.
 * A generator or async generator `fn` returns is the same object, its steps run inside the scope too.
 *
 * @example
 * await withContext({ userId: user.id, sessionId: req.sessionId, tags: ["beta"] }, () => answer(question));
 */
export function withContext<T>(values: AppContext, fn: () => T, options?: WithContextOptions): T {
  const given: unknown = values;
  if (given === null || typeof given !== "object" || Array.isArray(given)) {
    throw new InvalidOptionError("withContext", `expected an object of context values, received ${describe(given)}.`);
  }
  for (const key of Object.keys(given)) {
    if (!acceptedKeys.has(key)) {
      throw new InvalidOptionError(`withContext.${key}`, `unknown key. Accepted keys: ${ACCEPTED_KEYS.join(", ")}.`);
    }
  }
  // Checked for JavaScript callers: the type says it is a function.
  const run: unknown = fn;
  if (typeof run !== "function") {
    throw new InvalidOptionError(
      "withContext",
      `expected a function to run as the second argument, received ${describe(fn)}.`,
    );
  }
  // A privacy switch is not data to drop: anything but a boolean is a programming error.
  const capture = (given as { captureContent?: unknown }).captureContent;
  if (capture !== undefined && typeof capture !== "boolean") {
    throw new InvalidOptionError(
      "withContext.captureContent",
      `expected true or false, received ${describe(capture)}.`,
    );
  }
  const baggageKeys = options === undefined ? undefined : validateWithContextOptions(options);
  checkPropagationOnce();
  const active = context.active();
  const scope = mergeScope(scopeOf(active), values, baggageKeys);
  let scoped = active.setValue(SCOPE_KEY, scope);
  if (scope.baggageKeys.length > 0) scoped = withBaggage(scoped, scope);
  const result = context.with(scoped, fn);
  try {
    // Its body runs on `next()`, after `fn` returned: every step runs inside the scope.
    if (isGenerator(result)) patchGeneratorSteps(result, (run) => context.with(scoped, run));
  } catch (error) {
    // A generator tokentrace cannot patch (frozen, a revoked proxy) is returned as it is.
    reportInternalError("context-generator", error);
  }
  return result;
}

/** `withContext`'s third argument: `{ baggage? }`, each key an id name or `metadata.<key>`. */
function validateWithContextOptions(options: unknown): readonly ContextBaggageKey[] | undefined {
  if (options === null || typeof options !== "object" || Array.isArray(options)) {
    throw new InvalidOptionError(
      "withContext",
      `expected an options object as the third argument, received ${describe(options)}.`,
    );
  }
  for (const key of Object.keys(options)) {
    if (key !== "baggage")
      throw new InvalidOptionError(`withContext.${key}`, "unknown option. Accepted options: baggage.");
  }
  const keys = (options as { baggage?: unknown }).baggage;
  return keys === undefined ? undefined : validateBaggageKeys(keys, "withContext.baggage");
}

const BAGGAGE_IDS: Record<string, string> = {
  userId: names.ATTR_USER_ID,
  sessionId: names.ATTR_SESSION_ID,
  conversationId: names.ATTR_GEN_AI_CONVERSATION_ID,
};
const BAGGAGE_KEY_HELP = `Accepted keys: userId, sessionId, conversationId, or metadata.<key> with <key> matching ${String(METADATA_KEY)}.`;

/** An array of at most MAX_BAGGAGE_KEYS context keys; anything else throws, naming `where`. */
function validateBaggageKeys(keys: unknown, where: string): readonly ContextBaggageKey[] {
  if (!Array.isArray(keys))
    throw new InvalidOptionError(where, `expected an array of context keys, received ${describe(keys)}.`);
  if (keys.length > MAX_BAGGAGE_KEYS) {
    throw new InvalidOptionError(where, `at most ${MAX_BAGGAGE_KEYS} keys, received ${keys.length}.`);
  }
  for (let index = 0; index < keys.length; index++) {
    const key: unknown = keys[index];
    const valid =
      typeof key === "string" &&
      (Object.hasOwn(BAGGAGE_IDS, key) ||
        (key.startsWith("metadata.") && METADATA_KEY.test(key.slice("metadata.".length))));
    if (!valid)
      throw new InvalidOptionError(`${where}[${index}]`, `${describe(key)} is not a context key. ${BAGGAGE_KEY_HELP}`);
  }
  return Object.freeze([...new Set(keys as ContextBaggageKey[])]);
}

/** The name a context key has in baggage: its span attribute's. */
function baggageName(key: ContextBaggageKey): string {
  return BAGGAGE_IDS[key] ?? `${names.ATTR_TOKENTRACE_METADATA_PREFIX}${key.slice("metadata.".length)}`;
}

/** The scope's values for its baggage keys, over the baggage already in `ctx` (from upstream or the app). */
function withBaggage(ctx: Context, scope: AppScope): Context {
  let baggage = propagation.getBaggage(ctx) ?? propagation.createBaggage();
  const values = scope.values;
  for (const key of scope.baggageKeys) {
    const value = key.startsWith("metadata.")
      ? values.metadata[key.slice("metadata.".length)]
      : values[key as "userId"];
    if (value !== undefined) baggage = baggage.setEntry(baggageName(key), { value: String(value) });
  }
  return propagation.setBaggage(ctx, baggage);
}

/**
 * The context values an upstream service sent in W3C baggage (`withContext`'s `baggage` option), for the keys
 * listed, from the active context (which the app's HTTP instrumentation or `propagation.extract` fills): pass the
 * result to `withContext()`, which checks the values as it checks any (bad ones are dropped and listed). Nothing is
 * read from baggage unless listed here.
 *
 * @example
 * app.post("/answer", (req, res) => withContext(contextFromBaggage(["userId", "sessionId"]), () => answer(req, res)));
 */
export function contextFromBaggage(keys: readonly ContextBaggageKey[], from: Context = context.active()): AppContext {
  const listed = validateBaggageKeys(keys, "contextFromBaggage");
  const baggage = propagation.getBaggage(from);
  const result: { -readonly [K in keyof AppContext]: AppContext[K] } = {};
  if (baggage === undefined) return result;
  let metadata: Record<string, string> | undefined;
  for (const key of listed) {
    const value = baggage.getEntry(baggageName(key))?.value;
    if (value === undefined) continue;
    if (key.startsWith("metadata.")) (metadata ??= {})[key.slice("metadata.".length)] = value;
    else result[key as "userId"] = value;
  }
  if (metadata !== undefined) result.metadata = metadata;
  return result;
}

/** One metadata value of the application context in `ctx`, as a metric attribute value (`metricContextKey`). */
export function metadataValueOf(ctx: Context, key: string): string | undefined {
  const metadata = scopeOf(ctx)?.values.metadata;
  return metadata === undefined || !Object.hasOwn(metadata, key) ? undefined : String(metadata[key]);
}

/** Whether the scopes of `ctx` let calls and stages record content (none turned it off). */
export function contentAllowedIn(ctx: Context): boolean {
  return scopeOf(ctx)?.values.captureContent !== false;
}

/** The application context active here: merged values of every enclosing `withContext()`. */
/** The kinds redacted in the tags and metadata of the scope in `ctx`: its spans list them beside their own. */
export function redactedKindsOf(ctx: Context): readonly string[] | undefined {
  return scopeOf(ctx)?.redactedKinds;
}

export function currentContext(): ResolvedAppContext {
  return scopeOf(context.active())?.values ?? EMPTY_VALUES;
}

/** The pipeline for a scope's tags and metadata: setup()'s rules, or the secrets alone if they cannot be read. */
function scopeRedactor(): Redactor {
  try {
    return new Redactor(setupOptions().redaction);
  } catch (error) {
    reportInternalError("redaction", error);
    return new Redactor(DEFAULT_POLICY);
  }
}

/** The meter scope redactions are counted with; none (not counted) if the provider fails. */
function scopeMeter(): Meter | undefined {
  try {
    return currentMeterProvider().getMeter(names.INSTRUMENTATION_SCOPE, VERSION);
  } catch (error) {
    reportInternalError("redaction", error);
    return undefined;
  }
}

/** A scope from the enclosing one and new values: ids override, tags union, metadata by key. */
function mergeScope(
  outer: AppScope | undefined,
  input: AppContext,
  baggageKeys: readonly ContextBaggageKey[] | undefined,
): AppScope {
  const base = outer?.values ?? EMPTY_VALUES;
  // The enclosing scopes' drops stay listed: a nested scope does not make them valid.
  const dropped: string[] = outer === undefined ? [] : [...outer.dropped];
  const next: { -readonly [K in keyof ResolvedAppContext]: ResolvedAppContext[K] } = {
    tags: base.tags,
    metadata: base.metadata,
  };
  const own = (key: keyof AppContext): unknown =>
    Object.prototype.hasOwnProperty.call(input, key) ? input[key] : undefined;
  for (const key of ["userId", "sessionId", "conversationId", "messageId"] as const) {
    const value = readId(own(key), key, dropped);
    const kept = value ?? base[key];
    if (kept !== undefined) next[key] = kept;
  }
  // Off is sticky: a nested scope cannot turn content back on.
  const capture = own("captureContent");
  if (base.captureContent === false || capture === false) next.captureContent = false;
  const tags = own("tags");
  const metadata = own("metadata");
  // Tags and metadata are free text from the app, recorded on every span whatever the content switch says:
  // each new value passes the redaction pipeline (setup()'s rules) once, here, and is kept redacted (spans,
  // metric labels and baggage all read the kept value).
  const redactor = tags !== undefined || metadata !== undefined ? scopeRedactor() : undefined;
  if (tags !== undefined) next.tags = mergeTags(base.tags, tags, dropped, redactor);
  if (metadata !== undefined) next.metadata = mergeMetadata(base.metadata, metadata, dropped, redactor);
  const values: ResolvedAppContext = Object.freeze(next);
  const sent = mergeBaggageKeys(outer?.baggageKeys ?? NO_BAGGAGE_KEYS, baggageKeys, dropped);
  const kept = dropped.length <= MAX_DROPPED_KEPT ? dropped : dropped.slice(0, MAX_DROPPED_KEPT);
  let redactedKinds = outer?.redactedKinds;
  if (redactor !== undefined) {
    redactor.inherit(redactedKinds);
    const kinds = redactor.kinds();
    if (kinds.length > 0) {
      redactedKinds = Object.freeze(kinds);
      redactor.report(undefined, scopeMeter());
    }
  }
  const attributes = attributesOf(values, kept, redactedKinds);
  return { values, attributes, dropped: kept, baggageKeys: sent, redactedKinds };
}

/** The enclosing scopes' baggage keys and this scope's, at most MAX_BAGGAGE_KEYS; past that, listed as dropped. */
function mergeBaggageKeys(
  inherited: readonly ContextBaggageKey[],
  own: readonly ContextBaggageKey[] | undefined,
  dropped: string[],
): readonly ContextBaggageKey[] {
  if (own === undefined || own.length === 0) return inherited;
  const merged = new Set(inherited);
  for (const key of own) {
    if (merged.has(key)) continue;
    if (merged.size >= MAX_BAGGAGE_KEYS) dropped.push(`baggage.${key}`);
    else merged.add(key);
  }
  return merged.size === inherited.length ? inherited : Object.freeze([...merged]);
}

/** An id: a non-empty string of at most MAX_CONTEXT_VALUE_LENGTH characters; anything else is dropped. */
function readId(value: unknown, key: string, dropped: string[]): string | undefined {
  if (value === undefined) return undefined;
  if (isValidId(value)) return value;
  dropped.push(key);
  return undefined;
}

function mergeTags(
  outer: readonly string[],
  tags: unknown,
  dropped: string[],
  redactor: Redactor | undefined,
): readonly string[] {
  if (!Array.isArray(tags)) {
    dropped.push("tags");
    return outer;
  }
  const merged = new Set(outer);
  // Bounded: at most MAX_INPUT_ENTRIES entries are read, whatever `length` says (a sparse array's may be 2^32 - 1).
  const read = Math.min(tags.length, MAX_INPUT_ENTRIES);
  if (tags.length > read) dropped.push(`tags[${read}..${tags.length - 1}]`);
  for (let index = 0; index < read; index++) {
    const tag: unknown = tags[index];
    if (typeof tag !== "string" || tag.trim() === "" || tag.length > MAX_CONTEXT_VALUE_LENGTH) {
      dropped.push(`tags[${index}]`);
    } else {
      const clean = redactor === undefined ? tag : redactor.text(tag, names.ATTR_TOKENTRACE_TAGS);
      if (merged.has(clean)) continue;
      if (merged.size >= MAX_TAGS) dropped.push(`tags[${index}]`);
      else merged.add(clean);
    }
  }
  return merged.size === outer.length ? outer : Object.freeze([...merged]);
}

function mergeMetadata(
  outer: ResolvedAppContext["metadata"],
  metadata: unknown,
  dropped: string[],
  redactor: Redactor | undefined,
): ResolvedAppContext["metadata"] {
  if (metadata === null || typeof metadata !== "object" || Array.isArray(metadata)) {
    dropped.push("metadata");
    return outer;
  }
  const merged: Record<string, string | number | boolean> = { ...outer };
  let count = Object.keys(merged).length;
  let read = 0;
  for (const key in metadata) {
    if (!Object.prototype.hasOwnProperty.call(metadata, key)) continue;
    // Bounded: at most MAX_INPUT_ENTRIES keys are read; the rest are dropped as one entry.
    if (read++ >= MAX_INPUT_ENTRIES) {
      dropped.push(`metadata (keys past ${MAX_INPUT_ENTRIES})`);
      break;
    }
    const value: unknown = (metadata as Record<string, unknown>)[key];
    // `__proto__` would set the merged object's prototype instead of a key.
    const valid =
      METADATA_KEY.test(key) &&
      key !== "__proto__" &&
      ((typeof value === "string" && value !== "" && value.length <= MAX_METADATA_VALUE_LENGTH) ||
        (typeof value === "number" && Number.isFinite(value)) ||
        typeof value === "boolean");
    const isNew = !Object.prototype.hasOwnProperty.call(merged, key);
    if (!valid || (isNew && count >= MAX_METADATA_KEYS)) {
      dropped.push(METADATA_KEY.test(key) ? `metadata.${key}` : "metadata (an invalid key)");
      continue;
    }
    if (isNew) count++;
    merged[key] =
      typeof value === "string" && redactor !== undefined
        ? redactor.text(value, `${names.ATTR_TOKENTRACE_METADATA_PREFIX}${key}`)
        : value;
  }
  return Object.freeze(merged);
}

function attributesOf(
  values: ResolvedAppContext,
  dropped: readonly string[],
  redactedKinds: readonly string[] | undefined,
): Attributes {
  const attributes: Attributes = {};
  if (values.userId !== undefined) attributes[names.ATTR_USER_ID] = values.userId;
  if (values.sessionId !== undefined) attributes[names.ATTR_SESSION_ID] = values.sessionId;
  if (values.conversationId !== undefined) attributes[names.ATTR_GEN_AI_CONVERSATION_ID] = values.conversationId;
  if (values.messageId !== undefined) attributes[names.ATTR_TOKENTRACE_MESSAGE_ID] = values.messageId;
  if (values.tags.length > 0) attributes[names.ATTR_TOKENTRACE_TAGS] = [...values.tags];
  for (const [key, value] of Object.entries(values.metadata)) {
    attributes[`${names.ATTR_TOKENTRACE_METADATA_PREFIX}${key}`] = value;
  }
  if (redactedKinds !== undefined) attributes[names.ATTR_TOKENTRACE_REDACTION_KINDS] = [...redactedKinds];
  if (dropped.length > 0) {
    const listed = [...new Set(dropped)];
    attributes[names.ATTR_TOKENTRACE_CONTEXT_DROPPED] =
      listed.length <= MAX_DROPPED_LISTED
        ? listed
        : [...listed.slice(0, MAX_DROPPED_LISTED - 1), `and ${listed.length - MAX_DROPPED_LISTED + 1} more`];
  }
  return Object.freeze(attributes);
}

export type AnyGenerator = Generator<unknown, unknown, unknown> | AsyncGenerator<unknown, unknown, unknown>;

/** A generator or async generator object (by its tag, as generators made by `function*` have it). */
export function isGenerator(value: unknown): value is AnyGenerator {
  if (value === null || typeof value !== "object") return false;
  const tag = (value as { [Symbol.toStringTag]?: unknown })[Symbol.toStringTag];
  return (tag === "Generator" || tag === "AsyncGenerator") && typeof (value as { next?: unknown }).next === "function";
}

/**
 * Patch a generator in place (the app keeps the same object): each of its steps (`next`, `return`, `throw`)
 * runs through `step`, which calls `run` and returns what it returns. Throws when the generator cannot be
 * patched (frozen, a revoked proxy); callers catch that.
 */
export function patchGeneratorSteps(generator: AnyGenerator, step: (run: () => unknown) => unknown): void {
  for (const method of ["next", "return", "throw"] as const) {
    const original = Reflect.get(generator, method) as (...args: unknown[]) => unknown;
    Object.defineProperty(generator, method, {
      value: (...args: unknown[]) => step(() => original.apply(generator, args)),
      configurable: true,
      writable: true,
    });
  }
}

let propagationChecked = false;

/**
 * Without a working context manager, `withContext()` would do nothing, silently: the first call checks that
 * a value survives an async hop and warns once, naming the fix.
 */
function checkPropagationOnce(): void {
  if (propagationChecked) return;
  propagationChecked = true;
  const warn = (): void =>
    warnOnce(
      "withContext(): no OpenTelemetry context manager carries context across await here, so calls will not see " +
        "their context. Call setup() from tokentrace/setup (it registers one), or register " +
        "AsyncLocalStorageContextManager from @opentelemetry/context-async-hooks (an OpenTelemetry NodeSDK does).",
    );
  if (!contextManagerWorks()) {
    warn();
    return;
  }
  context.with(ROOT_CONTEXT.setValue(PROBE_KEY, true), () => {
    void Promise.resolve().then(() => {
      if (context.active().getValue(PROBE_KEY) !== true) warn();
    });
  });
}

/** For tests: check propagation again on the next `withContext()`. */
export function resetPropagationCheck(): void {
  propagationChecked = false;
}
