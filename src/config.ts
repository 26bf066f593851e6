import { performance } from "node:perf_hooks";
import type { MeterProvider, TracerProvider } from "@opentelemetry/api";
import { InvalidOptionError } from "./errors.js";
import { activeSetup, setupGeneration } from "./internal/active-providers.js";
import { envBoolean, envInteger, envString } from "./internal/env.js";
import { warnOnce } from "./internal/report.js";
import type { ContentLimits } from "./content.js";
import { validatePricingOptions } from "./metrics/cost.js";
import type { PricingOptions } from "./metrics/cost.js";
import { PRESET_NAMES, isValidCustomKind, kindsOf } from "./redaction/detectors.js";
import type { CustomPattern, PresetName } from "./redaction/detectors.js";
import { DEFAULT_POLICY, KIND_CLIENT_SECRET, KIND_DROPPED, KIND_FAILED, resolvePolicy } from "./redaction/pipeline.js";
import type { RedactFunction, RedactionPolicy } from "./redaction/pipeline.js";
import { CONTENT_SAMPLING_OUTCOMES } from "./redaction/sampling.js";
import type { ContentSampling } from "./redaction/sampling.js";
import { checkEvaluators } from "./feedback/evaluators.js";
import { anomalySettingsOf, checkAnomalies } from "./signals/anomalies.js";
import type { AnomalyOptions, AnomalySettings } from "./signals/anomalies.js";
import { checkDrift } from "./signals/drift.js";
import type { DriftOptions, DriftSettings } from "./signals/drift.js";
import type { Evaluator } from "./feedback/evaluators.js";

/** Options accepted by `observe(client, options)`; each also has a `setup()` default. */
export interface ObserveOptions {
  /**
   * Record prompts and responses (`gen_ai.input.messages`, `gen_ai.output.messages`,
   * `gen_ai.system_instructions`, `gen_ai.tool.definitions`), error messages, and the inputs and outputs of stages
   * that ask for it.
   *
   * Default: `false`, as the GenAI conventions require, or the environment variable
   * `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT` (`true`/`false`) when set. Turn it on where the
   * telemetry backend may hold your users' prompts; `withContext({ captureContent: false }, fn)` turns it off
   * again for the calls inside. With capture off, content costs nothing on the hot path.
   *
   * @example observe(openai, { captureContent: true })
   */
  captureContent?: boolean;
  /**
   * Longest value, in characters, of one content attribute. Longer content stays valid JSON: a message list
   * keeps its system/developer messages and the newest messages that fit, behind a leading
   * `{ "truncated_items": N }` item; when even the newest message does not fit, its long strings are cut
   * (ending in `…[truncated]`). The attribute's name is listed in `tokentrace.content.truncated`. The work is
   * linear in the content's size.
   *
   * Default: `16384`, or `TOKENTRACE_MAX_CONTENT_LENGTH`. Raise it if your backend accepts large
   * attributes and you need whole prompts; lower it to cut export volume.
   *
   * @example observe(openai, { maxContentLength: 4096 })
   */
  maxContentLength?: number;
  /**
   * Largest value, in UTF-8 bytes, of one content attribute (what backends limit), cut the same way as
   * `maxContentLength`; both limits apply. Text outside ASCII takes 2 to 4 bytes a character.
   *
   * Default: `16384`.
   *
   * @example observe(openai, { maxContentBytes: 8192 })
   */
  maxContentBytes?: number;
  /**
   * Largest total, in UTF-8 bytes, of all the content attributes of one span. Output messages are written
   * first, then input messages, system instructions and tool definitions, each within what is left; one that
   * no longer fits is left out, and listed in `tokentrace.content.truncated` like a cut one.
   *
   * Default: `65536`.
   */
  maxSpanContentBytes?: number;
  /**
   * Most messages kept in one message list: the system/developer messages and the newest others, behind a
   * leading `{ "truncated_items": N }` item. Applied before redaction, so a long history costs only what is
   * kept.
   *
   * Default: `200`.
   */
  maxContentMessages?: number;
  /**
   * For streamed OpenAI chat completions without `stream_options`, ask the API for a usage chunk
   * (`stream_options.include_usage`) so token counts are exact rather than estimated. tokentrace consumes
   * that extra chunk itself: the app sees exactly the chunks it would have seen. Only done for endpoints
   * known to accept the option.
   *
   * Default: `true`, or `TOKENTRACE_INJECT_STREAM_USAGE`. Turn it off if a proxy in front of the API
   * rejects unknown request fields.
   *
   * @example observe(openai, { injectStreamUsage: false })
   */
  injectStreamUsage?: boolean;
  /**
   * Record `gen_ai.client.operation.time_per_output_chunk`: one histogram point per stream chunk after the
   * first. Off by default because it is the one metric whose price grows with the stream: the OpenTelemetry
   * SDK spends about 2 µs hashing the attributes of every point, close to a tenth of what the SDK client
   * itself spends on a chunk. Gaps are still summarised on every stream's span
   * (`tokentrace.stream.mean_chunk_gap`, `tokentrace.stream.max_chunk_gap`).
   *
   * Default: `false`, or `TOKENTRACE_CHUNK_TIMING_METRIC`. Turn it on for a dashboard of chunk pacing.
   *
   * @example observe(openai, { chunkTimingMetric: true })
   */
  chunkTimingMetric?: boolean;
  /**
   * Also emit the older conventions' `gen_ai.usage.cache_creation.input_tokens` beside
   * `gen_ai.usage.cache_write.input_tokens` (same value), for dashboards built on the old name.
   *
   * Default: `false`, or `TOKENTRACE_EMIT_LEGACY_CACHE_CREATION`.
   *
   * @example observe(anthropic, { legacyCacheCreationAttribute: true })
   */
  legacyCacheCreationAttribute?: boolean;
  /**
   * Tracer provider for this client's spans. Default: the one `setup()` built, else the global provider
   * registered with `@opentelemetry/api` (your own NodeSDK, for example).
   */
  tracerProvider?: TracerProvider;
  /** Meter provider for this client's metrics. Default: as for `tracerProvider`. */
  meterProvider?: MeterProvider;
  /**
   * For tests only: not part of the supported API, and it may change in any release. A clock in
   * milliseconds used for durations and time to first chunk, so that a test can assert exact timing
   * attributes. Default: `performance.now`. Never set it in production code.
   *
   * @internal
   * @example observe(openai, { now: () => fakeClock.ms }) // in a test
   */
  now?: () => number;
  /**
   * How calls are priced (`gen_ai.usage.cost`). Default: the bundled, dated price snapshot, offline.
   * Give prices for fine-tuned or private models, aliases for deployment names, a discount, a newer
   * genai-prices data file, or a `resolvePrice(call)` callback. Options given to `observe()` replace those
   * given to `setup()`. The object is checked and compiled once, when first given, and shared by every
   * client given it: to change prices, pass a new object.
   *
   * @example observe(openai, { pricing: { aliases: { "prod-gpt": "gpt-4o" }, discount: 0.8 } })
   */
  pricing?: PricingOptions;
  /**
   * The `gen_ai.provider.name` of this client's spans and metrics, in place of the one tokentrace detects
   * from the client and its `baseURL` (see the README's provider table). When it names a provider of that
   * table, that provider's rules apply too (whether streamed usage may be asked for with
   * `stream_options`). `server.address` and `server.port` still come from the real `baseURL`.
   *
   * Default: detected. Set it when the client talks to a gateway or proxy tokentrace cannot recognise, so
   * dashboards and price lookups see the provider behind it. An `observe()` option only: it describes one
   * client, so `setup()` does not take it.
   *
   * @example observe(new OpenAI({ baseURL: "https://llm-gateway.internal/v1" }), { providerName: "openai" })
   */
  providerName?: string;
  /**
   * Write `user.hash` (HMAC-SHA256 of the user id under `key`, hex) instead of `user.id`, for the user ids of
   * `withContext()` and of the request's own fields, when ids must not leave the process. The same id gives
   * the same hash, so one user's calls can still be grouped. `key`: a secret of at least 16 characters.
   *
   * Default: off (`user.id` is written as given).
   *
   * @example setup({ sinks: [otlpSink()], hashUserId: { key: process.env.USER_HASH_KEY! } })
   */
  hashUserId?: { key: string };
  /**
   * Put one `withContext()` metadata key on the call metrics as `tokentrace.metadata.<key>` (a tenant, a
   * feature, a plan): nothing else from the context ever reaches a metric. At most `maxValues` distinct values
   * per client (default 20, at most 200); values past the cap are counted under `_other`, and calls without the
   * key carry no such attribute.
   *
   * Default: off.
   *
   * @example setup({ sinks: [prometheusSink()], metricContextKey: { key: "tenant", maxValues: 50 } })
   */
  metricContextKey?: { key: string; maxValues?: number };
  /**
   * Personal data to replace wherever content is recorded (messages, tool data, stage inputs and outputs, error
   * text, `withContext()` metadata and tags): any of `email`, `phone`, `credit_card` (Luhn-checked), `iban`
   * (mod-97-checked), `ip_address`, `us_ssn`. Each match becomes `[EMAIL]` (or a keyed hash, see
   * `redactReplacement`); JSON stays valid and keeps its shape. The `secrets` preset (API keys of the common
   * providers and clouds, bearer tokens, JWTs, private keys, passwords in URLs) and the client's own credentials
   * are always replaced, whatever this says.
   *
   * Default: `[]` (secrets only).
   *
   * @example setup({ captureContent: true, pii: ["email", "phone", "credit_card"] })
   */
  pii?: readonly PresetName[];
  /**
   * Your own patterns, replaced like the presets: `{ kind, pattern }`, where `kind` (lower-case letters, digits
   * and `_`, starting with a letter, at most 32) names the replacement (`[TICKET]`) and `pattern` is any RegExp
   * (run on a global copy; your object is never touched). At most 32 patterns.
   *
   * @example setup({ redactPatterns: [{ kind: "ticket", pattern: /TCK-\d{6}/ }] })
   */
  redactPatterns?: readonly CustomPattern[];
  /**
   * Your own redaction, run on each text after the presets and patterns: return the text to keep (changed or
   * not), or `null` to drop it (`[REDACTED:dropped]` is written instead). It is told the attribute, and for
   * messages the role and the part's type. It must be synchronous (an async function is rejected at set-up);
   * if it throws or returns anything but a string or null, that text becomes `[REDACTED:redaction_failed]` and
   * the failure is counted: the raw text is never exported.
   *
   * @example setup({ redact: (text, field) => (field.role === "system" ? null : text) })
   */
  redact?: RedactFunction;
  /**
   * What a match becomes: `"kind"` (`[EMAIL]`) or `"hash"` (`[EMAIL:3f2a1c9d]`, an HMAC-SHA256 of the value,
   * so one value can be followed across calls without being revealed). The hash key is `redactHashKey`, or one
   * generated per process (hashes then match only within the process).
   *
   * Default: `"kind"`.
   */
  redactReplacement?: "kind" | "hash";
  /** The key of `redactReplacement: "hash"`: a secret of at least 16 characters, the same across your services. */
  redactHashKey?: string;
  /**
   * With content capture on, record content for a share of traces only: `rate` (0 to 1) of them, chosen from
   * the trace id (its last 8 hex digits below rate × 2^32), so all spans of a trace, in every service with the
   * same rate, agree; and always for the outcomes in `always` (`error`, `cancelled`, and the finish reasons
   * `length` and `content_filter`), decided when the call or stage ends. Spans, usage, cost and metrics are
   * all still recorded; spans say `tokentrace.content.sampled` (true or false) and
   * `tokentrace.content.sampling_reason` (`rate`, the outcome, or `not_sampled`).
   *
   * Default: off (every call's content, when capture is on).
   *
   * @example setup({ captureContent: true, contentSampling: { rate: 0.1, always: ["error"] } })
   */
  contentSampling?: ContentSampling;
  /**
   * Checks run on every finished call (or a share of them), off the call's path, each reporting feedback with
   * `source: "code"`: `builtInEvaluators()` (truncation, refusal, empty answer, length ratio), `jsonEvaluator()`, or
   * the app's own `{ name, evaluate(call), sample?, timeoutMs?, source? }` (an LLM judge is `source: "llm"`).
   *
   * @example setup({ evaluators: [...builtInEvaluators(), jsonEvaluator()] })
   */
  evaluators?: readonly Evaluator[];
  /**
   * In-process anomaly flags (off by default): per operation × provider × request model, an exponentially
   * weighted baseline of each call's duration, time to first chunk, tokens, cost and largest chunk gap (in log),
   * and of its error and `length`-stop rates; a call past the threshold gets a `tokentrace.anomaly` span event,
   * `tokentrace.anomaly.flagged = true`, a `tokentrace.anomalies` count and `onAnomaly(anomaly)` after its span ended.
   * `true` for the defaults, or `{ threshold?, minSamples?, halfLife?, cooldownMs?, maxSeries?, signals?, onAnomaly? }`.
   *
   * @example setup({ anomalies: { threshold: 5, onAnomaly: (a) => log.warn(a) } })
   */
  anomalies?: boolean | AnomalyOptions;
  /**
   * Output drift (off by default): per operation × provider × request model, the distributions of output tokens,
   * finish reasons and tool calls in a sliding window of the last calls against the first ones, by the
   * population stability index: the `tokentrace.drift.psi` gauge, and a `tokentrace.drift` span event on the call
   * that takes a feature over `threshold`; and each embedding model's centroid distance from its first vectors.
   * `true` for the defaults, or `{ windowSize?, threshold?, maxSeries?, embeddingReference?, embeddingHalfLife? }`.
   *
   * @example setup({ drift: { windowSize: 500 } })
   */
  drift?: boolean | DriftOptions;
}

/** Options after validation and defaults, decided once per observed client. */
export interface ResolvedOptions {
  captureContent: boolean;
  maxContentLength: number;
  /** The four content limits together: per attribute in characters and bytes, per span, messages per list. */
  contentLimits: ContentLimits;
  injectStreamUsage: boolean;
  legacyCacheCreationAttribute: boolean;
  chunkTimingMetric: boolean;
  tracerProvider: TracerProvider | undefined;
  meterProvider: MeterProvider | undefined;
  now: () => number;
  pricing: PricingOptions | undefined;
  providerName: string | undefined;
  hashUserId: { key: string } | undefined;
  metricContextKey: { key: string; maxValues: number } | undefined;
  /** The redaction pipeline's rules (secrets always, plus `pii`, `redactPatterns`, `redact`). */
  redaction: RedactionPolicy;
  contentSampling: ContentSampling | undefined;
  /** Checked evaluators; empty for none. */
  evaluators: readonly Evaluator[];
  /** Anomaly settings, undefined when off; clients with the same settings share their baselines. */
  anomalies: AnomalySettings | undefined;
  /** Drift settings, undefined when off; clients with the same settings share their windows. */
  drift: DriftSettings | undefined;
}

export const DEFAULT_MAX_CONTENT_LENGTH = 16_384;
export const DEFAULT_MAX_CONTENT_BYTES = 16_384;
export const DEFAULT_MAX_SPAN_CONTENT_BYTES = 65_536;
export const DEFAULT_MAX_CONTENT_MESSAGES = 200;
const MAX_CONTENT_MESSAGES = 10_000;
const MIN_MAX_CONTENT_LENGTH = 64;
const MIN_USER_HASH_KEY_LENGTH = 16;
export const DEFAULT_METRIC_CONTEXT_VALUES = 20;
/** A metadata key tokentrace writes as an attribute suffix (context metadata, a request's `metadata`). */
export const METADATA_KEY = /^[A-Za-z0-9_.-]{1,64}$/;
const MAX_METRIC_CONTEXT_VALUES = 200;
const ENV_CAPTURE_CONTENT = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT";
const ENV_MAX_CONTENT_LENGTH = "TOKENTRACE_MAX_CONTENT_LENGTH";
const ENV_INJECT_STREAM_USAGE = "TOKENTRACE_INJECT_STREAM_USAGE";
const ENV_LEGACY_CACHE_CREATION = "TOKENTRACE_EMIT_LEGACY_CACHE_CREATION";
const ENV_CHUNK_TIMING_METRIC = "TOKENTRACE_CHUNK_TIMING_METRIC";

const knownOptions: ReadonlySet<string> = new Set([
  "captureContent",
  "maxContentLength",
  "maxContentBytes",
  "maxSpanContentBytes",
  "maxContentMessages",
  "injectStreamUsage",
  "legacyCacheCreationAttribute",
  "chunkTimingMetric",
  "tracerProvider",
  "meterProvider",
  "now",
  "pricing",
  "providerName",
  "hashUserId",
  "metricContextKey",
  "pii",
  "redactPatterns",
  "redact",
  "redactReplacement",
  "redactHashKey",
  "contentSampling",
  "evaluators",
  "anomalies",
  "drift",
]);

/** The options that shape the redaction pipeline: any of them given makes a policy of its own. */
const REDACTION_OPTIONS = ["pii", "redactPatterns", "redact", "redactReplacement", "redactHashKey"] as const;
const MAX_REDACT_PATTERNS = 32;
/** Kinds a custom pattern may not take: the built-in ones and the pipeline's own, which must stay unambiguous. */
const RESERVED_KINDS: ReadonlySet<string> = new Set([
  ...PRESET_NAMES.flatMap((preset) => kindsOf(preset)),
  KIND_CLIENT_SECRET,
  KIND_DROPPED,
  KIND_FAILED,
]);

const NO_EVALUATORS: readonly Evaluator[] = Object.freeze([]);

// Imported, not the global: Node's global `performance` is a lazy accessor, a getter call on every read.
const defaultNow = (): number => performance.now();

/**
 * Resolve options once: explicit option, then the `setup()` default, then the environment (read through
 * internal/env.ts), then the built-in default. Invalid options throw; invalid environment values warn and fall
 * back.
 */
export function resolveOptions(options: unknown, defaults: ObserveOptions = {}): ResolvedOptions {
  const given = validateObserveOptions(options, "options");
  const maxContentLength =
    given.maxContentLength ??
    defaults.maxContentLength ??
    envInteger(
      ENV_MAX_CONTENT_LENGTH,
      MIN_MAX_CONTENT_LENGTH,
      Number.MAX_SAFE_INTEGER,
      ignoring(ENV_MAX_CONTENT_LENGTH, `an integer of at least ${MIN_MAX_CONTENT_LENGTH}`),
    ) ??
    DEFAULT_MAX_CONTENT_LENGTH;
  return {
    captureContent: given.captureContent ?? defaults.captureContent ?? envCaptureContent() ?? false,
    maxContentLength,
    contentLimits: {
      maxChars: maxContentLength,
      maxBytes: given.maxContentBytes ?? defaults.maxContentBytes ?? DEFAULT_MAX_CONTENT_BYTES,
      maxSpanBytes: given.maxSpanContentBytes ?? defaults.maxSpanContentBytes ?? DEFAULT_MAX_SPAN_CONTENT_BYTES,
      maxMessages: given.maxContentMessages ?? defaults.maxContentMessages ?? DEFAULT_MAX_CONTENT_MESSAGES,
    },
    injectStreamUsage:
      given.injectStreamUsage ?? defaults.injectStreamUsage ?? envFlag(ENV_INJECT_STREAM_USAGE) ?? true,
    legacyCacheCreationAttribute:
      given.legacyCacheCreationAttribute ??
      defaults.legacyCacheCreationAttribute ??
      envFlag(ENV_LEGACY_CACHE_CREATION) ??
      false,
    chunkTimingMetric:
      given.chunkTimingMetric ?? defaults.chunkTimingMetric ?? envFlag(ENV_CHUNK_TIMING_METRIC) ?? false,
    tracerProvider: given.tracerProvider ?? defaults.tracerProvider,
    meterProvider: given.meterProvider ?? defaults.meterProvider,
    now: given.now ?? defaults.now ?? defaultNow,
    pricing: given.pricing ?? defaults.pricing,
    providerName: given.providerName,
    hashUserId: given.hashUserId ?? defaults.hashUserId,
    metricContextKey: resolveMetricContextKey(given.metricContextKey ?? defaults.metricContextKey),
    redaction: resolveRedaction(given, defaults),
    contentSampling: given.contentSampling ?? defaults.contentSampling,
    evaluators: given.evaluators ?? defaults.evaluators ?? NO_EVALUATORS,
    // `anomalies: false` on a client turns setup()'s off for it.
    anomalies: anomalySettingsOf(given.anomalies ?? defaults.anomalies),
    drift: checkDrift(given.drift ?? defaults.drift),
  };
}

/** Each redaction option from observe(), else setup(); no option anywhere: the shared secrets-only policy. */
function resolveRedaction(given: ObserveOptions, defaults: ObserveOptions): RedactionPolicy {
  if (REDACTION_OPTIONS.every((key) => given[key] === undefined && defaults[key] === undefined)) return DEFAULT_POLICY;
  const pick = <K extends (typeof REDACTION_OPTIONS)[number]>(key: K): ObserveOptions[K] => given[key] ?? defaults[key];
  const options: Parameters<typeof resolvePolicy>[0] = {};
  const pii = pick("pii");
  if (pii !== undefined) options.pii = pii;
  const patterns = pick("redactPatterns");
  if (patterns !== undefined) options.redactPatterns = patterns;
  const redact = pick("redact");
  if (redact !== undefined) options.redact = redact;
  const replacement = pick("redactReplacement");
  if (replacement !== undefined) options.redactReplacement = replacement;
  const hashKey = pick("redactHashKey");
  if (hashKey !== undefined) options.redactHashKey = hashKey;
  return resolvePolicy(options);
}

let setupOptionsCache: { generation: number; options: ResolvedOptions } | undefined;

/**
 * setup()'s options, resolved once per set-up (a number compare per read): the rules of what belongs to no
 * client (stages, `withContext()` scopes).
 */
export function setupOptions(): ResolvedOptions {
  const generation = setupGeneration();
  if (setupOptionsCache?.generation !== generation) {
    setupOptionsCache = { generation, options: resolveOptions(undefined, activeSetup()?.defaults) };
  }
  return setupOptionsCache.options;
}

function resolveMetricContextKey(option: ObserveOptions["metricContextKey"]): ResolvedOptions["metricContextKey"] {
  if (option === undefined) return undefined;
  return { key: option.key, maxValues: option.maxValues ?? DEFAULT_METRIC_CONTEXT_VALUES };
}

/** Check the shape of an options object; `where` prefixes option names in messages (e.g. `setup`). */
export function validateObserveOptions(
  options: unknown,
  where: string,
  extraKeys: ReadonlySet<string> = new Set(),
): ObserveOptions {
  if (options === undefined) return {};
  if (options === null || typeof options !== "object" || Array.isArray(options)) {
    throw new InvalidOptionError(where, `expected an object, received ${describe(options)}.`);
  }
  // Checked and used as one snapshot: the app changing its options object (or a getter answering otherwise
  // on a second read) later cannot put an unchecked value into a resolved client.
  const record = snapshotOf(options as Record<string, unknown>);
  for (const key of Object.keys(record)) {
    if (!knownOptions.has(key) && !extraKeys.has(key)) {
      const accepted = [...knownOptions, ...extraKeys].join(", ");
      throw new InvalidOptionError(key, `unknown option. Accepted options: ${accepted}.`);
    }
  }
  optionalBoolean(record, "captureContent");
  optionalBoolean(record, "injectStreamUsage");
  optionalBoolean(record, "legacyCacheCreationAttribute");
  optionalBoolean(record, "chunkTimingMetric");
  const max = record["maxContentLength"];
  if (max !== undefined && !(typeof max === "number" && Number.isInteger(max) && max >= MIN_MAX_CONTENT_LENGTH)) {
    throw new InvalidOptionError(
      "maxContentLength",
      `expected an integer of at least ${MIN_MAX_CONTENT_LENGTH} (characters), received ${describe(max)}.`,
    );
  }
  for (const key of ["maxContentBytes", "maxSpanContentBytes"]) {
    const bytes = record[key];
    if (
      bytes !== undefined &&
      !(typeof bytes === "number" && Number.isInteger(bytes) && bytes >= MIN_MAX_CONTENT_LENGTH)
    ) {
      throw new InvalidOptionError(
        key,
        `expected an integer of at least ${MIN_MAX_CONTENT_LENGTH} (UTF-8 bytes), received ${describe(bytes)}.`,
      );
    }
  }
  const messages = record["maxContentMessages"];
  if (
    messages !== undefined &&
    !(typeof messages === "number" && Number.isInteger(messages) && messages >= 1 && messages <= MAX_CONTENT_MESSAGES)
  ) {
    throw new InvalidOptionError(
      "maxContentMessages",
      `expected an integer from 1 to ${MAX_CONTENT_MESSAGES} (messages), received ${describe(messages)}.`,
    );
  }
  validateMetricContextKey(record["metricContextKey"]);
  const hash = record["hashUserId"];
  if (hash !== undefined) {
    if (hash === null || typeof hash !== "object" || Array.isArray(hash)) {
      throw new InvalidOptionError("hashUserId", `expected an object { key }, received ${describe(hash)}.`);
    }
    for (const key of Object.keys(hash)) {
      if (key !== "key") throw new InvalidOptionError(`hashUserId.${key}`, "unknown option. Accepted options: key.");
    }
    const key: unknown = (hash as { key?: unknown }).key;
    if (typeof key !== "string" || key.length < MIN_USER_HASH_KEY_LENGTH) {
      throw new InvalidOptionError(
        "hashUserId.key",
        `expected a secret string of at least ${MIN_USER_HASH_KEY_LENGTH} characters, received ${typeof key === "string" ? `a string of ${key.length}` : describe(key)}.`,
      );
    }
  }
  validateRedactionOptions(record);
  validateContentSampling(record["contentSampling"]);
  if (record["evaluators"] !== undefined) record["evaluators"] = checkEvaluators(record["evaluators"]);
  const anomalies = record["anomalies"];
  if (anomalies !== undefined && anomalies !== false) record["anomalies"] = checkAnomalies(anomalies);
  const drift = record["drift"];
  if (drift !== undefined && drift !== false) record["drift"] = checkDrift(drift);
  optionalProvider(record, "tracerProvider", "getTracer");
  optionalProvider(record, "meterProvider", "getMeter");
  const providerName = record["providerName"];
  if (providerName !== undefined) {
    // setup() validates its defaults through here too (where = "setup"); a provider name belongs to one client.
    if (where === "setup") {
      throw new InvalidOptionError(
        "providerName",
        "is an observe() option: it names the provider of one client. Pass it to observe(client, { providerName }).",
      );
    }
    if (typeof providerName !== "string" || providerName.trim() === "" || providerName !== providerName.trim()) {
      throw new InvalidOptionError(
        "providerName",
        `expected a non-empty gen_ai.provider.name value without surrounding spaces (e.g. "openai", "azure.ai.openai"), received ${describe(providerName)}.`,
      );
    }
  }
  const now = record["now"];
  if (now !== undefined && typeof now !== "function") {
    throw new InvalidOptionError("now", `expected a function returning milliseconds, received ${describe(now)}.`);
  }
  if (record["pricing"] !== undefined) {
    return { ...(record as ObserveOptions), pricing: validatePricingOptions(record["pricing"], "pricing") };
  }
  return record;
}

/** Options whose value is a list or a small record of plain values: copied one level deep and frozen. */
const NESTED_OPTIONS = ["pii", "redactPatterns", "contentSampling", "metricContextKey", "hashUserId"] as const;

/** `options`' own keys, each read once; the NESTED_OPTIONS copied and frozen (what they hold is checked after). */
function snapshotOf(options: Record<string, unknown>): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...options };
  for (const key of NESTED_OPTIONS) {
    const value = copy[key];
    if (value === null || typeof value !== "object") continue;
    copy[key] = Array.isArray(value)
      ? Object.freeze(value.map((item: unknown) => (isPlainRecord(item) ? Object.freeze({ ...item }) : item)))
      : Object.freeze(frozenLists({ ...(value as Record<string, unknown>) }));
  }
  return copy;
}

function isPlainRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value) && !(value instanceof RegExp);
}

/** `record` with each of its array values copied and frozen (`contentSampling.always`). */
function frozenLists(record: Record<string, unknown>): Record<string, unknown> {
  for (const [key, value] of Object.entries(record)) {
    if (Array.isArray(value)) record[key] = Object.freeze([...(value as unknown[])]);
  }
  return record;
}

function optionalBoolean(record: Record<string, unknown>, key: string): void {
  const value = record[key];
  if (value !== undefined && typeof value !== "boolean") {
    throw new InvalidOptionError(key, `expected true or false, received ${describe(value)}.`);
  }
}

function optionalProvider(record: Record<string, unknown>, key: string, method: string): void {
  const value = record[key];
  if (value === undefined) return;
  if (value === null || typeof value !== "object" || typeof (value as Record<string, unknown>)[method] !== "function") {
    throw new InvalidOptionError(
      key,
      `expected an OpenTelemetry provider with a ${method}() method, received ${describe(value)}.`,
    );
  }
}

/** Warns that `name`'s value is ignored and the default holds; `expected` says what would be accepted. */
function ignoring(name: string, expected: string): (raw: string) => void {
  return (raw) => {
    warnOnce(`ignoring ${name}=${JSON.stringify(raw)}: expected ${expected}; using the default.`);
  };
}

/** A boolean variable (`true`/`false`, any case; see internal/env.ts); anything else warns and is ignored. */
function envFlag(name: string): boolean | undefined {
  return envBoolean(name, ignoring(name, "true or false"));
}

/**
 * `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`, as the OpenTelemetry GenAI instrumentations read it:
 * `true`/`false` (any case; also `1`/`0`), or the GenAI utils' modes. tokentrace records content on spans
 * only (it emits no GenAI events), so `SPAN_ONLY` and `SPAN_AND_EVENT` turn capture on, and `NO_CONTENT` and
 * `EVENT_ONLY` turn it off (`EVENT_ONLY` asks for content outside spans, which tokentrace does not write).
 * Any other value turns capture off and warns: a privacy setting fails closed.
 */
function envCaptureContent(): boolean | undefined {
  const raw = envString(ENV_CAPTURE_CONTENT);
  if (raw === undefined) return undefined;
  switch (raw.trim().toLowerCase()) {
    case "true":
    case "1":
    case "span_only":
    case "span_and_event":
      return true;
    case "false":
    case "0":
    case "no_content":
      return false;
    case "event_only":
      warnOnce(
        `${ENV_CAPTURE_CONTENT}=${JSON.stringify(raw)} asks for content in events only; tokentrace records content on spans only, so it records none.`,
      );
      return false;
    default:
      warnOnce(
        `${ENV_CAPTURE_CONTENT}=${JSON.stringify(raw)} is not one of true, false, NO_CONTENT, SPAN_ONLY, EVENT_ONLY, SPAN_AND_EVENT; content capture is off.`,
      );
      return false;
  }
}

/** A short description of a value for error messages (never its full content). */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  switch (typeof value) {
    case "string":
      return `the string ${JSON.stringify(value.length > 40 ? value.slice(0, 40) + "…" : value)}`;
    case "number":
    case "boolean":
    case "bigint":
      return `${typeof value} ${String(value)}`;
    case "object": {
      // Object.create(null) has no constructor, and a payload's `constructor` may be anything.
      const constructor: unknown = (value as { constructor?: unknown }).constructor;
      const name = typeof constructor === "function" ? constructor.name : undefined;
      return name && name !== "Object" ? `an instance of ${name}` : "an object";
    }
    default:
      return typeof value;
  }
}

/** `metricContextKey`: `{ key, maxValues? }`, the key a metadata key `withContext()` accepts. */
function validateMetricContextKey(option: unknown): void {
  if (option === undefined) return;
  if (option === null || typeof option !== "object" || Array.isArray(option)) {
    throw new InvalidOptionError(
      "metricContextKey",
      `expected an object { key, maxValues? }, received ${describe(option)}.`,
    );
  }
  for (const key of Object.keys(option)) {
    if (key !== "key" && key !== "maxValues") {
      throw new InvalidOptionError(`metricContextKey.${key}`, "unknown option. Accepted options: key, maxValues.");
    }
  }
  const { key, maxValues } = option as { key?: unknown; maxValues?: unknown };
  if (typeof key !== "string" || !METADATA_KEY.test(key)) {
    throw new InvalidOptionError(
      "metricContextKey.key",
      `expected a metadata key (1 to 64 of A-Z, a-z, 0-9, "_", ".", "-"), received ${describe(key)}.`,
    );
  }
  if (
    maxValues !== undefined &&
    !(
      typeof maxValues === "number" &&
      Number.isInteger(maxValues) &&
      maxValues >= 1 &&
      maxValues <= MAX_METRIC_CONTEXT_VALUES
    )
  ) {
    throw new InvalidOptionError(
      "metricContextKey.maxValues",
      `expected an integer from 1 to ${MAX_METRIC_CONTEXT_VALUES}, received ${describe(maxValues)}.`,
    );
  }
}

/** `pii`, `redactPatterns`, `redact`, `redactReplacement`, `redactHashKey`: wrong shapes fail here, at set-up. */
function validateRedactionOptions(record: Record<string, unknown>): void {
  const pii = record["pii"];
  if (pii !== undefined) {
    const accepted = PRESET_NAMES.filter((name) => name !== "secrets").join(", ");
    if (!Array.isArray(pii)) {
      throw new InvalidOptionError("pii", `expected an array of presets (${accepted}), received ${describe(pii)}.`);
    }
    for (const [index, name] of (pii as unknown[]).entries()) {
      if (typeof name !== "string" || name === "secrets" || !(PRESET_NAMES as readonly string[]).includes(name)) {
        throw new InvalidOptionError(
          `pii[${index}]`,
          `unknown preset ${describe(name)}. Accepted presets: ${accepted} (secrets are always redacted).`,
        );
      }
    }
  }
  const patterns = record["redactPatterns"];
  if (patterns !== undefined) {
    if (!Array.isArray(patterns) || patterns.length > MAX_REDACT_PATTERNS) {
      throw new InvalidOptionError(
        "redactPatterns",
        `expected an array of at most ${MAX_REDACT_PATTERNS} { kind, pattern } entries, received ${Array.isArray(patterns) ? `${patterns.length} entries` : describe(patterns)}.`,
      );
    }
    for (const [index, entry] of (patterns as unknown[]).entries()) {
      const where = `redactPatterns[${index}]`;
      if (entry === null || typeof entry !== "object" || Array.isArray(entry)) {
        throw new InvalidOptionError(where, `expected an object { kind, pattern }, received ${describe(entry)}.`);
      }
      for (const key of Object.keys(entry)) {
        if (key !== "kind" && key !== "pattern") {
          throw new InvalidOptionError(`${where}.${key}`, "unknown option. Accepted options: kind, pattern.");
        }
      }
      const { kind, pattern } = entry as { kind?: unknown; pattern?: unknown };
      if (typeof kind === "string" && RESERVED_KINDS.has(kind)) {
        throw new InvalidOptionError(
          `${where}.kind`,
          `${describe(kind)} names a built-in kind or one of the pipeline's own (${[...RESERVED_KINDS].join(", ")}); choose another name.`,
        );
      }
      if (typeof kind !== "string" || !isValidCustomKind(kind)) {
        throw new InvalidOptionError(
          `${where}.kind`,
          `expected a lower-case name (a letter, then up to 31 of a-z, 0-9, "_"), received ${describe(kind)}.`,
        );
      }
      if (!(pattern instanceof RegExp)) {
        throw new InvalidOptionError(`${where}.pattern`, `expected a RegExp, received ${describe(pattern)}.`);
      }
    }
  }
  const redact = record["redact"];
  if (redact !== undefined) {
    if (typeof redact !== "function") {
      throw new InvalidOptionError(
        "redact",
        `expected a function (text, field) => string | null, received ${describe(redact)}.`,
      );
    }
    // An async function's promise would arrive after the span was written: the text could only be dropped.
    const tag = Object.prototype.toString.call(redact);
    if (tag === "[object AsyncFunction]" || tag === "[object AsyncGeneratorFunction]") {
      throw new InvalidOptionError(
        "redact",
        "expected a synchronous function (text, field) => string | null; an async function is not accepted, since content is written when the span ends.",
      );
    }
  }
  const replacement = record["redactReplacement"];
  if (replacement !== undefined && replacement !== "kind" && replacement !== "hash") {
    throw new InvalidOptionError("redactReplacement", `expected "kind" or "hash", received ${describe(replacement)}.`);
  }
  const hashKey = record["redactHashKey"];
  if (hashKey !== undefined && (typeof hashKey !== "string" || hashKey.length < MIN_USER_HASH_KEY_LENGTH)) {
    throw new InvalidOptionError(
      "redactHashKey",
      `expected a secret string of at least ${MIN_USER_HASH_KEY_LENGTH} characters, received ${typeof hashKey === "string" ? `a string of ${hashKey.length}` : describe(hashKey)}.`,
    );
  }
}

/** `contentSampling`: `{ rate, always? }`. */
function validateContentSampling(option: unknown): void {
  if (option === undefined) return;
  if (option === null || typeof option !== "object" || Array.isArray(option)) {
    throw new InvalidOptionError(
      "contentSampling",
      `expected an object { rate, always? }, received ${describe(option)}.`,
    );
  }
  for (const key of Object.keys(option)) {
    if (key !== "rate" && key !== "always") {
      throw new InvalidOptionError(`contentSampling.${key}`, "unknown option. Accepted options: rate, always.");
    }
  }
  const { rate, always } = option as { rate?: unknown; always?: unknown };
  if (typeof rate !== "number" || !(rate >= 0 && rate <= 1)) {
    throw new InvalidOptionError("contentSampling.rate", `expected a number from 0 to 1, received ${describe(rate)}.`);
  }
  if (always === undefined) return;
  const accepted = CONTENT_SAMPLING_OUTCOMES.join(", ");
  if (!Array.isArray(always)) {
    throw new InvalidOptionError(
      "contentSampling.always",
      `expected an array of ${accepted}, received ${describe(always)}.`,
    );
  }
  for (const [index, outcome] of (always as unknown[]).entries()) {
    if (typeof outcome !== "string" || !(CONTENT_SAMPLING_OUTCOMES as readonly string[]).includes(outcome)) {
      throw new InvalidOptionError(
        `contentSampling.always[${index}]`,
        `unknown outcome ${describe(outcome)}. Accepted outcomes: ${accepted}.`,
      );
    }
  }
}
