/*
 * Rate-limit headroom (issue 15): the providers' rate-limit response headers, read once per call from the
 * response the SDK received (or the error it threw, which carries the same headers: a 429 is where headroom
 * matters most), written on the call's span and kept, per provider, server, model and kind, for the gauges.
 *
 * OpenAI: `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`, the reset as a duration (`6m0s`, `20ms`).
 * Anthropic: `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,reset}`, the reset
 * as an RFC 3339 instant. A value that is not a plain non-negative number (or a remaining count over its limit)
 * is left out; a header longer than a few dozen characters is not parsed at all.
 */

/** Which headers a provider answers with: per kind, the names of its limit, remaining and reset headers. */
export interface RateLimitHeaders {
  readonly kinds: readonly RateLimitKindHeaders[];
  /** How the reset header reads: a duration from now (OpenAI) or an instant (Anthropic). */
  readonly reset: "duration" | "instant";
}

interface RateLimitKindHeaders {
  readonly kind: string;
  readonly limit: string;
  readonly remaining: string;
  readonly reset: string;
}

export const OPENAI_RATE_LIMIT_HEADERS: RateLimitHeaders = {
  kinds: ["requests", "tokens"].map((kind) => ({
    kind,
    limit: `x-ratelimit-limit-${kind}`,
    remaining: `x-ratelimit-remaining-${kind}`,
    reset: `x-ratelimit-reset-${kind}`,
  })),
  reset: "duration",
};

export const ANTHROPIC_RATE_LIMIT_HEADERS: RateLimitHeaders = {
  kinds: ["requests", "tokens", "input_tokens", "output_tokens"].map((kind) => {
    const name = `anthropic-ratelimit-${kind.replace("_", "-")}`;
    return { kind, limit: `${name}-limit`, remaining: `${name}-remaining`, reset: `${name}-reset` };
  }),
  reset: "instant",
};

/** One kind's reading: any of the three may be missing. `resetSeconds`: from when the response was received. */
export interface RateLimitReading {
  readonly kind: string;
  readonly limit: number | undefined;
  readonly remaining: number | undefined;
  readonly resetSeconds: number | undefined;
}

/** Longer than any value the providers send: not parsed. */
const MAX_VALUE_LENGTH = 40;

/**
 * The readings of `headers` (a fetch `Headers`, or the plain object of lower-cased names an SDK error of an
 * older version carries); undefined when it has none. The providers send all their kinds or none: a response
 * without the first kind's remaining header costs that one lookup, and no clock reading (`now`, read once
 * readings are found).
 */
export function readRateLimits(
  headers: unknown,
  spec: RateLimitHeaders,
  now: () => number,
): { readings: RateLimitReading[]; receivedAtEpochMs: number } | undefined {
  const first = spec.kinds[0];
  if (first === undefined || headerValue(headers, first.remaining) === undefined) return undefined;
  const receivedAtEpochMs = now();
  let readings: RateLimitReading[] | undefined;
  for (const names of spec.kinds) {
    const remainingText = headerValue(headers, names.remaining);
    if (remainingText === undefined) continue;
    const limit = count(headerValue(headers, names.limit));
    let remaining = count(remainingText);
    // More left than the limit allows cannot be true: left out.
    if (remaining !== undefined && limit !== undefined && remaining > limit) remaining = undefined;
    const resetText = headerValue(headers, names.reset);
    const resetSeconds =
      spec.reset === "duration" ? durationSeconds(resetText) : secondsUntil(resetText, receivedAtEpochMs);
    if (limit === undefined && remaining === undefined && resetSeconds === undefined) continue;
    (readings ??= []).push({ kind: names.kind, limit, remaining, resetSeconds });
  }
  return readings === undefined ? undefined : { readings, receivedAtEpochMs };
}

/** A header of a fetch `Headers` (or anything with its `get`), or of a plain object of lower-cased names. */
function headerValue(headers: unknown, name: string): string | undefined {
  if (headers === null || typeof headers !== "object") return undefined;
  const value: unknown =
    headers instanceof Headers
      ? headers.get(name)
      : typeof (headers as { get?: unknown }).get === "function"
        ? (headers as { get: (name: string) => unknown }).get(name)
        : Object.hasOwn(headers, name)
          ? (headers as Record<string, unknown>)[name]
          : undefined;
  return typeof value === "string" ? value : undefined;
}

/** A non-negative integer, as the providers write counts. */
function count(text: string | undefined): number | undefined {
  if (text === undefined || text.length > MAX_VALUE_LENGTH) return undefined;
  const trimmed = text.trim();
  if (!/^\d{1,15}$/.test(trimmed)) return undefined;
  return Number(trimmed);
}

const DURATION_PART = /(\d{1,9}(?:\.\d{1,9})?)(ms|h|m|s)/y;
const UNIT_SECONDS = new Map([
  ["h", 3600],
  ["m", 60],
  ["s", 1],
  ["ms", 0.001],
]);

/** A Go-style duration (`1s`, `6m0s`, `1h2m3.5s`, `20ms`), in seconds. */
function durationSeconds(text: string | undefined): number | undefined {
  if (text === undefined || text.length > MAX_VALUE_LENGTH) return undefined;
  const trimmed = text.trim();
  if (trimmed === "") return undefined;
  let seconds = 0;
  DURATION_PART.lastIndex = 0;
  while (DURATION_PART.lastIndex < trimmed.length) {
    const at = DURATION_PART.lastIndex;
    const part = DURATION_PART.exec(trimmed);
    const unit = part === null || part.index !== at ? undefined : UNIT_SECONDS.get(part[2] ?? "");
    if (part === null || unit === undefined) return undefined;
    seconds += Number(part[1]) * unit;
  }
  // Rounded to the millisecond: the sum of decimal parts is not exact in binary.
  return Math.round(seconds * 1000) / 1000;
}

/** An RFC 3339 instant, as seconds after `fromEpochMs` (0 when it has passed). */
function secondsUntil(text: string | undefined, fromEpochMs: number): number | undefined {
  if (text === undefined || text.length > MAX_VALUE_LENGTH) return undefined;
  const trimmed = text.trim();
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/i.test(trimmed)) return undefined;
  const at = Date.parse(trimmed);
  if (!Number.isFinite(at)) return undefined;
  return Math.max(0, Math.round(at - fromEpochMs) / 1000);
}
