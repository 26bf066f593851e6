/**
 * `redactingSpanProcessor()`: the redaction pipeline (pipeline.ts) for spans tokentrace did not write. Other
 * instrumentations (OpenInference, OpenLLMetry, the Vercel AI SDK, the OpenTelemetry GenAI ones) record prompts
 * and responses as they are; this processor stands in front of the app's exporting processor and hands it, at
 * span end, a copy of each span whose content attributes, event attributes and status message went through the
 * same pipeline as tokentrace's own content. tokentrace's own content went through it already, with its client's
 * options, and is passed on untouched; what others wrote onto tokentrace's spans is redacted.
 *
 * Runs once per span, when it ends, off the call's path. A span with nothing to redact is passed on itself, not
 * copied; content is matched by an exact-name set, a few prefixes and one anchored regex, compiled once.
 */
import type { Attributes, AttributeValue, Context, Meter, MeterProvider, SpanStatus } from "@opentelemetry/api";
import type { ReadableSpan, Span, SpanProcessor, TimedEvent } from "@opentelemetry/sdk-trace-base";
import { describe, resolveOptions, validateObserveOptions } from "../config.js";
import type { ObserveOptions } from "../config.js";
import { InvalidOptionError } from "../errors.js";
import { activeSetup, currentMeterProvider, setupGeneration } from "../internal/active-providers.js";
import { reportInternalError, warnOnce } from "../internal/report.js";
import * as names from "../semconv.js";
import { VERSION } from "../version.js";
import type { CustomPattern, PresetName } from "./detectors.js";
import { Redactor } from "./pipeline.js";
import type { RedactFunction, RedactionPolicy } from "./pipeline.js";

/** Options of {@link redactingSpanProcessor}. */
export interface RedactingSpanProcessorOptions {
  /**
   * The processor that receives the redacted spans, usually the one that exports them. Required. An exporter is
   * not accepted: wrap it in the processor you want (`BatchSpanProcessor` in production). `next` also receives
   * `onStart`, `forceFlush` and `shutdown`; at `onStart` it sees the live span, as every processor does.
   *
   * @example redactingSpanProcessor({ next: new BatchSpanProcessor(new OTLPTraceExporter()) })
   */
  next: SpanProcessor;
  /**
   * More attributes to redact, beyond the ones the processor knows (tokentrace's, `gen_ai.*`, OpenInference,
   * OpenLLMetry, the Vercel AI SDK's): exact names, or prefixes ending in `.` or `*` (`"myapp.llm."` matches
   * `myapp.llm.prompt`; `"myapp.prompt*"` matches `myapp.prompt_text`). At most 64. The processor warns, once
   * per name, about an attribute of a GenAI span that looks like content but is not known: list it here.
   *
   * Default: none.
   *
   * @example redactingSpanProcessor({ next, attributes: ["langfuse.observation.input", "myapp.llm."] })
   */
  attributes?: readonly string[];
  /**
   * Personal data to replace, as `setup()`'s `pii`: any of `email`, `phone`, `credit_card`, `iban`, `ip_address`,
   * `us_ssn`. Secrets are always replaced.
   *
   * Default: `setup()`'s `pii` when `setup()` ran, else `[]` (secrets only). Each of the five redaction options
   * falls back to `setup()`'s on its own, as `observe()`'s options do.
   *
   * @example redactingSpanProcessor({ next, pii: ["email", "phone"] })
   */
  pii?: readonly PresetName[];
  /**
   * Your own patterns, as `setup()`'s `redactPatterns`: up to 32 `{ kind, pattern }`. Default: `setup()`'s.
   *
   * @example redactingSpanProcessor({ next, redactPatterns: [{ kind: "ticket", pattern: /TCK-\d{6}/ }] })
   */
  redactPatterns?: readonly CustomPattern[];
  /**
   * Your own redaction, as `setup()`'s `redact`: synchronous, told `field.attribute` (the attribute's own name,
   * e.g. `llm.input_messages.0.message.content`) and, in `gen_ai.input.messages` and `gen_ai.output.messages`,
   * `field.role` and `field.part`.
   * Default: `setup()`'s.
   *
   * @example redactingSpanProcessor({ next, redact: (text, field) => (field.role === "system" ? null : text) })
   */
  redact?: RedactFunction;
  /** What a match becomes, as `setup()`'s `redactReplacement`: `"kind"` or `"hash"`. Default: `setup()`'s, else `"kind"`. */
  redactReplacement?: "kind" | "hash";
  /** The key of `redactReplacement: "hash"`, as `setup()`'s `redactHashKey`. Default: `setup()`'s, else one per process. */
  redactHashKey?: string;
}

/**
 * A `SpanProcessor` that redacts other libraries' LLM spans before `next` exports them: the content attributes
 * of OpenInference, OpenLLMetry and the Vercel AI SDK, the `gen_ai.*` ones, the attributes you list, the
 * attributes of span events (exception messages and stack traces included) and the status message, with the
 * pipeline tokentrace applies to its own content (secrets always, then `pii`, `redactPatterns`, `redact`). JSON
 * values stay valid JSON of the same shape. `next` receives a redacted copy; the span itself, which other
 * processors also see, is never changed. It fails closed: a span whose redaction fails is dropped, not passed on
 * raw. Invalid options throw `InvalidOptionError`.
 *
 * @example
 * new NodeSDK({
 *   spanProcessors: [redactingSpanProcessor({ next: new BatchSpanProcessor(new OTLPTraceExporter()), pii: ["email"] })],
 * });
 */
export function redactingSpanProcessor(options: RedactingSpanProcessorOptions): SpanProcessor {
  const { next, attributes, redaction } = validateOptions(options);
  return new RedactingSpanProcessor(next, redaction, new ContentMatcher(attributes));
}

/** The five redaction options, as `observe()` takes them. */
type RedactionOptions = Pick<
  ObserveOptions,
  "pii" | "redactPatterns" | "redact" | "redactReplacement" | "redactHashKey"
>;

const PROCESSOR_OPTIONS: ReadonlySet<string> = new Set(["next", "attributes"]);
const REDACTION_OPTIONS: ReadonlySet<string> = new Set([
  "pii",
  "redactPatterns",
  "redact",
  "redactReplacement",
  "redactHashKey",
]);
const MAX_EXTRA_ATTRIBUTES = 64;
/** A name or a prefix (ending in `.` or `*`): no spaces, `*` only last, not starting with `.`. */
const ATTRIBUTE_NAME = /^[^\s.*][^\s*]{0,255}\*?$/;

function validateOptions(options: unknown): {
  next: SpanProcessor;
  attributes: readonly string[];
  redaction: RedactionOptions;
} {
  if (options !== undefined && (options === null || typeof options !== "object" || Array.isArray(options))) {
    throw new InvalidOptionError(
      "redactingSpanProcessor",
      `expected an object { next, attributes?, pii?, redactPatterns?, redact?, redactReplacement?, redactHashKey? }, received ${describe(options)}.`,
    );
  }
  const record = (options ?? {}) as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!PROCESSOR_OPTIONS.has(key) && !REDACTION_OPTIONS.has(key)) {
      const accepted = [...PROCESSOR_OPTIONS, ...REDACTION_OPTIONS].join(", ");
      throw new InvalidOptionError(key, `unknown option. Accepted options: ${accepted}.`);
    }
  }
  const next = record["next"];
  if (next === undefined) {
    throw new InvalidOptionError(
      "next",
      "is required: the SpanProcessor that receives the redacted spans, e.g. redactingSpanProcessor({ next: new BatchSpanProcessor(exporter) }).",
    );
  }
  if (!hasMethods(next, ["onStart", "onEnd", "forceFlush", "shutdown"])) {
    const hint = hasMethods(next, ["export", "shutdown"])
      ? " That is a SpanExporter: wrap it, next: new BatchSpanProcessor(exporter)."
      : "";
    throw new InvalidOptionError(
      "next",
      `expected a SpanProcessor (onStart, onEnd, forceFlush, shutdown), received ${describe(next)}.${hint}`,
    );
  }
  // The five redaction options, checked exactly as setup() and observe() check them.
  validateObserveOptions(record, "redactingSpanProcessor", PROCESSOR_OPTIONS);
  const redaction: Record<string, unknown> = {};
  for (const key of REDACTION_OPTIONS) if (record[key] !== undefined) redaction[key] = record[key];
  return { next: next as SpanProcessor, attributes: validateAttributes(record["attributes"]), redaction };
}

function validateAttributes(option: unknown): readonly string[] {
  if (option === undefined) return [];
  if (!Array.isArray(option) || option.length > MAX_EXTRA_ATTRIBUTES) {
    throw new InvalidOptionError(
      "attributes",
      `expected an array of at most ${MAX_EXTRA_ATTRIBUTES} attribute names, received ${Array.isArray(option) ? `${option.length} entries` : describe(option)}.`,
    );
  }
  for (const [index, name] of (option as unknown[]).entries()) {
    if (typeof name !== "string" || !ATTRIBUTE_NAME.test(name)) {
      throw new InvalidOptionError(
        `attributes[${index}]`,
        `expected an attribute name ("myapp.prompt") or a prefix ending in "." or "*" ("myapp.llm.", "myapp.prompt*"), without spaces, received ${describe(name)}.`,
      );
    }
  }
  return option as string[];
}

function hasMethods(value: unknown, methods: readonly string[]): boolean {
  if (value === null || typeof value !== "object") return false;
  return methods.every((method) => typeof (value as Record<string, unknown>)[method] === "function");
}

// --- Which attributes are content -------------------------------------------------------------------------

/**
 * Attributes other instrumentations write content into, besides tokentrace's own (semconv.ts). Names checked
 * against each library's conventions: OpenTelemetry GenAI semconv 1.45 (and the span-event `gen_ai.prompt` /
 * `gen_ai.completion` of earlier versions), @traceloop/ai-semantic-conventions, OpenInference's
 * SemanticConventions, the Vercel AI SDK's telemetry docs ("Collected data"). Vectors are numbers: left alone.
 */
const KNOWN_CONTENT_NAMES: readonly string[] = [
  ...names.CONTENT_ATTRIBUTES,
  // GenAI conventions beside tokentrace's: span-event content (before 1.28), retrieval, guardrails; OpenLLMetry.
  "gen_ai.prompt",
  "gen_ai.completion",
  "gen_ai.retrieval.documents",
  "gen_ai.retrieval.query.text",
  "gen_ai.guardrail.input",
  "gen_ai.guardrail.output",
  "gen_ai.guardrail.error.message",
  "traceloop.entity.input",
  "traceloop.entity.output",
  "mcp.response.value",
  // OpenInference.
  "input.value",
  "output.value",
  "llm.prompts",
  "llm.prompt_template.template",
  "llm.prompt_template.variables",
  "tool.parameters",
  "tool.json_schema",
  "tool_call.function.arguments",
  "reranker.query",
  "metadata",
  "tag.tags",
  // The Vercel AI SDK (`ai.result.*`: its names before 3.4).
  "ai.prompt",
  "ai.prompt.messages",
  "ai.prompt.tools",
  "ai.response.text",
  "ai.response.reasoning",
  "ai.response.toolCalls",
  "ai.response.object",
  "ai.result.text",
  "ai.result.toolCalls",
  "ai.result.object",
  "ai.toolCall.args",
  "ai.toolCall.result",
  "ai.value",
  "ai.values",
];

/** Families of free text from the app: tokentrace's metadata, the AI SDK's telemetry metadata, OpenLLMetry's. */
const KNOWN_CONTENT_PREFIXES: readonly string[] = [
  ...names.CONTENT_ATTRIBUTE_PREFIXES,
  "ai.telemetry.metadata.",
  "traceloop.association.properties.",
];

/**
 * Indexed content (flattened lists): OpenInference's messages, message parts, tool calls, prompts, tools, documents
 * and embedded texts; OpenLLMetry's `gen_ai.prompt.N.content` / `gen_ai.completion.N.content` and tool calls.
 * Anchored, each branch starts with its own literal, and `\d+` is always followed by a literal `.`: linear.
 */
const INDEXED_CONTENT = new RegExp(
  "^(?:" +
    [
      String.raw`llm\.(?:input|output)_messages\.\d+\.message\.(?:content|contents\.\d+\.message_content\.text|function_call_arguments_json|tool_calls\.\d+\.tool_call\.function\.arguments)`,
      String.raw`llm\.prompts\.\d+\.prompt\.text`,
      String.raw`llm\.tools\.\d+\.tool\.json_schema`,
      String.raw`llm\.request\.functions\.\d+\.parameters`,
      String.raw`(?:retrieval\.documents|reranker\.(?:input|output)_documents)\.\d+\.document\.(?:content|metadata)`,
      String.raw`embedding\.embeddings\.\d+\.embedding\.text`,
      String.raw`gen_ai\.(?:prompt|completion)\.\d+\.(?:content|tool_calls\.\d+\.arguments|function_call\.arguments)`,
    ].join("|") +
    ")$",
);

/** Known content names, prefixes and indexed families, plus the app's `attributes`; built once per processor. */
class ContentMatcher {
  private readonly names: ReadonlySet<string>;
  private readonly prefixes: readonly string[];

  constructor(extra: readonly string[]) {
    const exact = new Set(KNOWN_CONTENT_NAMES);
    const prefixes = [...KNOWN_CONTENT_PREFIXES];
    for (const name of extra) {
      if (name.endsWith("*")) prefixes.push(name.slice(0, -1));
      else if (name.endsWith(".")) prefixes.push(name);
      else exact.add(name);
    }
    this.names = exact;
    this.prefixes = prefixes;
  }

  isContent(key: string): boolean {
    if (this.names.has(key) || INDEXED_CONTENT.test(key)) return true;
    for (const prefix of this.prefixes) if (key.startsWith(prefix)) return true;
    return false;
  }
}

const OWN_CONTENT: ReadonlySet<string> = new Set(names.CONTENT_ATTRIBUTES);

/** A content attribute tokentrace writes on its own spans, always through the pipeline. */
function isTokentraceContent(key: string): boolean {
  if (OWN_CONTENT.has(key)) return true;
  for (const prefix of names.CONTENT_ATTRIBUTE_PREFIXES) if (key.startsWith(prefix)) return true;
  return false;
}

// --- The warning about content it does not know -----------------------------------------------------------

/** Distinct attribute names (indexes left out) looked at for the warning; past this, no more are. */
const MAX_LOOKED_AT_NAMES = 256;
/** A span of a GenAI instrumentation: only on these is an unknown content-looking attribute worth a word. */
const GEN_AI_KEY =
  /^(?:gen_ai|llm|ai|openinference|traceloop|embedding|retrieval|reranker|tool|tool_call|mcp)\.|^(?:input|output)\.value$/;
/** `.3` list indexes, left out of names (one warning for a whole list, not one per item). */
const INDEX_SEGMENTS = /\.\d+(?=\.|$)/g;
/** A last name segment that reads as content: `prompt`, `user_prompt`, `input`, `rawResponse`, `text`, ... */
const CONTENT_WORD =
  /(?:^|_)(?:prompts?|completions?|contents?|messages?|input|output|text|query|arguments|args|result|response|instructions|transcript|reasoning|documents?)(?:_|$)|[a-z](?:Prompt|Completion|Content|Messages?|Input|Output|Text|Query|Arguments|Args|Result|Response|Instructions|Reasoning)(?:[A-Z_]|$)/;
/** ... unless it counts or names something: `input_tokens`, `prompt_count`, `content_type`, `message_id`. */
const COUNT_OR_LABEL = /(?:tokens?|Tokens?|count|Count|_ids?|Ids?|_type|Type|_ms|Ms|_length|Length)$/;
/** Families of numbers and settings, whatever their last segment says (`llm.token_count.prompt`). */
const NUMBERS_AND_SETTINGS =
  /^(?:gen_ai\.(?:usage|request|token)\.|llm\.(?:token_count|cost|usage)\.|ai\.(?:usage|settings)\.|tokentrace\.)/;

/** Whether `name` (indexes left out) reads as content. */
function looksLikeContent(name: string): boolean {
  if (NUMBERS_AND_SETTINGS.test(name)) return false;
  const last = name.slice(name.lastIndexOf(".") + 1);
  return CONTENT_WORD.test(last) && !COUNT_OR_LABEL.test(last);
}

/** The warning for `key`; an indexed key is named by its list's prefix, which `attributes` accepts. */
function unknownContentWarning(key: string): string {
  const index = key.search(/\.\d+(?:\.|$)/);
  const suggestion = index === -1 ? key : key.slice(0, index + 1);
  return (
    `redactingSpanProcessor() passed on the attribute "${key}" unredacted: it looks like content, but is not one ` +
    `the processor knows. If it carries prompts, responses or other user text, list it: ` +
    `redactingSpanProcessor({ next, attributes: [${JSON.stringify(suggestion)}] }).`
  );
}

// --- The processor ------------------------------------------------------------------------------------------

/** What replaces the status message, as CONTENT_ATTRIBUTES names it. */
const STATUS_FIELD = "otel.status_description";
const FAILURE_KIND = "redacting-span-processor";
/** Starts like a JSON object or array: parsed and redacted as a value, so it stays JSON. */
const JSON_START = /^\s*[[{]/;

/**
 * The fields of a ReadableSpan, copied as they are onto the redacted copy (plain data, so an exporter that
 * spreads or walks the span sees them all). The last two are SDK 1.x's: a provider of that major may hold this
 * processor, and its exporters read them.
 */
const SPAN_FIELDS = [
  "name",
  "kind",
  "parentSpanContext",
  "startTime",
  "endTime",
  "links",
  "duration",
  "ended",
  "resource",
  "instrumentationScope",
  "droppedAttributesCount",
  "droppedEventsCount",
  "droppedLinksCount",
  "parentSpanId",
  "instrumentationLibrary",
] as const;

class RedactingSpanProcessor implements SpanProcessor {
  /** Names already looked at for the unknown-content warning (bounded). */
  private readonly lookedAt = new Set<string>();
  private policyCache: { generation: number; policy: RedactionPolicy } | undefined;
  private meterCache: { provider: MeterProvider; meter: Meter } | undefined;

  constructor(
    private readonly next: SpanProcessor,
    private readonly options: RedactionOptions,
    private readonly matcher: ContentMatcher,
  ) {}

  onStart(span: Span, parentContext: Context): void {
    try {
      this.next.onStart(span, parentContext);
    } catch (error) {
      reportInternalError(FAILURE_KIND, error);
    }
  }

  onEnding(span: Span): void {
    try {
      this.next.onEnding?.(span);
    } catch (error) {
      reportInternalError(FAILURE_KIND, error);
    }
  }

  onEnd(span: ReadableSpan): void {
    let redacted: ReadableSpan;
    try {
      redacted = this.redacted(span);
    } catch (error) {
      // Fail closed: a span that could not be redacted is dropped, never passed on raw.
      reportInternalError(FAILURE_KIND, error);
      return;
    }
    try {
      this.next.onEnd(redacted);
    } catch (error) {
      reportInternalError(FAILURE_KIND, error);
    }
  }

  // Async: a `next` that throws rejects instead. Rejections are passed on, not swallowed: setup()'s FlushReport
  // and the SDK's own flush report what `next` failed to deliver.
  async forceFlush(): Promise<void> {
    await this.next.forceFlush();
  }

  async shutdown(): Promise<void> {
    await this.next.shutdown();
  }

  /** `span`, or a copy of it with its content redacted. */
  private redacted(span: ReadableSpan): ReadableSpan {
    // tokentrace's own spans: their content went through the pipeline already, with their client's options (and
    // once is what the audit counts). What others wrote onto them (an app or library setting attributes on the
    // active stage's span through the OpenTelemetry API) did not: those attributes are redacted here.
    const own = scopeName(span) === names.INSTRUMENTATION_SCOPE;
    const pass = new SpanPass(this.policy(), this.matcher, own);
    let attributes = pass.attributes(span.attributes);
    const events = own ? span.events : pass.events(span.events);
    const status = own ? span.status : pass.status(span.status);
    if (pass.genAi && this.lookedAt.size < MAX_LOOKED_AT_NAMES) {
      this.lookForUnknownContent(span.attributes);
      for (const event of span.events) if (event.attributes !== undefined) this.lookForUnknownContent(event.attributes);
    }
    const redactor = pass.redactor;
    if (redactor !== undefined) {
      const kinds = redactor.kinds();
      if (kinds.length > 0) {
        // A span redacted before (a second processor in a chain) keeps the kinds it listed.
        const listed = span.attributes[names.ATTR_TOKENTRACE_REDACTION_KINDS];
        const all = Array.isArray(listed) ? [...new Set([...listed.map(String), ...kinds])] : kinds;
        attributes = { ...attributes, [names.ATTR_TOKENTRACE_REDACTION_KINDS]: all };
      }
      redactor.report(undefined, this.meter());
    }
    if (attributes === span.attributes && events === span.events && status === span.status) return span;
    return copyOf(span, attributes, events, status);
  }

  private lookForUnknownContent(attributes: Attributes): void {
    for (const key of Object.keys(attributes)) {
      if (this.lookedAt.size >= MAX_LOOKED_AT_NAMES) return;
      if (this.matcher.isContent(key)) continue;
      const name = key.replace(INDEX_SEGMENTS, "");
      if (this.lookedAt.has(name)) continue;
      this.lookedAt.add(name);
      if (looksLikeContent(name)) warnOnce(unknownContentWarning(key));
    }
  }

  /** This processor's options, each falling back to setup()'s; resolved again only when a set-up changed. */
  private policy(): RedactionPolicy {
    const generation = setupGeneration();
    if (this.policyCache?.generation !== generation) {
      this.policyCache = { generation, policy: resolveOptions(this.options, activeSetup()?.defaults).redaction };
    }
    return this.policyCache.policy;
  }

  private meter(): Meter {
    const provider = currentMeterProvider();
    if (this.meterCache?.provider !== provider) {
      this.meterCache = { provider, meter: provider.getMeter(names.INSTRUMENTATION_SCOPE, VERSION) };
    }
    return this.meterCache.meter;
  }
}

/** The name of the span's instrumentation scope (SDK 2.x), or library (1.x). */
function scopeName(span: ReadableSpan): unknown {
  const { instrumentationScope, instrumentationLibrary } = span as {
    instrumentationScope?: { name?: unknown };
    instrumentationLibrary?: { name?: unknown };
  };
  return (instrumentationScope ?? instrumentationLibrary)?.name;
}

/** One span's redaction. Each method returns its argument itself when nothing in it changed. */
class SpanPass {
  /** Made at the first content value: a span without content costs no pipeline. */
  redactor: Redactor | undefined;
  /** Whether a GenAI instrumentation wrote the span (its attributes say so). */
  genAi = false;

  constructor(
    private readonly policy: RedactionPolicy,
    private readonly matcher: ContentMatcher,
    /** A span of tokentrace's: the attributes it writes itself (redacted when written) are left alone. */
    private readonly own = false,
  ) {}

  attributes(attributes: Attributes): Attributes {
    let copy: Attributes | undefined;
    for (const key of Object.keys(attributes)) {
      if (!this.genAi && GEN_AI_KEY.test(key)) this.genAi = true;
      if (!this.matcher.isContent(key) || (this.own && isTokentraceContent(key))) continue;
      const value = attributes[key];
      const redacted = this.value(value, key);
      if (redacted !== value) {
        copy ??= { ...attributes };
        copy[key] = redacted;
      }
    }
    return copy ?? attributes;
  }

  events(events: TimedEvent[]): TimedEvent[] {
    let copy: TimedEvent[] | undefined;
    for (let index = 0; index < events.length; index++) {
      const event = events[index];
      if (event?.attributes === undefined) continue;
      const attributes = this.attributes(event.attributes);
      if (attributes === event.attributes) continue;
      copy ??= [...events];
      copy[index] = { ...event, attributes };
    }
    return copy ?? events;
  }

  status(status: SpanStatus): SpanStatus {
    const message = status.message;
    if (typeof message !== "string" || message === "") return status;
    const redacted = this.pipeline().text(message, STATUS_FIELD);
    return redacted === message ? status : { ...status, message: redacted };
  }

  /** A string, or each string of an array; numbers and booleans are not content. */
  private value(value: AttributeValue | undefined, key: string): AttributeValue | undefined {
    if (typeof value === "string") return this.text(value, key);
    if (!Array.isArray(value)) return value;
    const items = value as readonly unknown[];
    let copy: unknown[] | undefined;
    for (let index = 0; index < items.length; index++) {
      const item = items[index];
      if (typeof item !== "string") continue;
      const redacted = this.text(item, key);
      if (redacted === item) continue;
      copy ??= [...items];
      copy[index] = redacted;
    }
    return copy === undefined ? value : (copy as AttributeValue);
  }

  /** JSON (messages, tool arguments, a request body) stays JSON: its strings are redacted, its keys kept. */
  private text(text: string, key: string): string {
    const redactor = this.pipeline();
    if (JSON_START.test(text)) {
      const parsed = parseJson(text);
      if (parsed !== null && typeof parsed === "object") {
        const redacted = redactor.value(parsed, key);
        // Unchanged JSON keeps its own text (spacing, number spelling), not a re-serialisation.
        return sameStrings(parsed, redacted) ? text : JSON.stringify(redacted);
      }
    }
    return redactor.text(text, key);
  }

  private pipeline(): Redactor {
    return (this.redactor ??= new Redactor(this.policy));
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * Whether `after` (the pipeline's copy of `before`) has the same strings. Only strings change in the copy, and a
 * value nested past the pipeline's depth limit became a string marker, so this walks at most that deep.
 */
function sameStrings(before: unknown, after: unknown): boolean {
  if (before === null || typeof before !== "object" || after === null || typeof after !== "object") {
    return before === after;
  }
  if (Array.isArray(before)) {
    if (!Array.isArray(after) || after.length !== before.length) return false;
    return before.every((item, index) => sameStrings(item, after[index]));
  }
  const source = before as Record<string, unknown>;
  const copy = after as Record<string, unknown>;
  return Object.keys(source).every((key) => sameStrings(source[key], copy[key]));
}

/** A plain ReadableSpan with `span`'s fields and the redacted attributes, events and status. */
function copyOf(span: ReadableSpan, attributes: Attributes, events: TimedEvent[], status: SpanStatus): ReadableSpan {
  const source = span as unknown as Record<string, unknown>;
  const copy: Record<string, unknown> = {};
  for (const field of SPAN_FIELDS) if (field in source) copy[field] = source[field];
  const spanContext = span.spanContext();
  copy["spanContext"] = () => spanContext;
  copy["attributes"] = attributes;
  copy["events"] = events;
  copy["status"] = status;
  return copy as unknown as ReadableSpan;
}
