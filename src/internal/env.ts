/*
 * The one module that reads environment variables, built on `@opentelemetry/core`'s readers so tokentrace
 * parses them as the OpenTelemetry SDK does (configuration spec, "Environment Variable Specification"):
 * unset, empty and blank are all "not set"; a boolean is `true` or `false` in any case, nothing else; an
 * enum value is matched without regard to case.
 *
 * Every reader returns `undefined` for "not set" and for a value it rejects, and hands a rejected value to
 * `onInvalid` (the raw text, as set), so the caller words the warning and names its default. The readers
 * do not warn themselves: `internal/report.ts` reads its own variable through here.
 */
import { getStringFromEnv } from "@opentelemetry/core";

/** Told the raw value of a variable a reader rejected. */
type OnInvalidEnv = (raw: string) => void;

/** A string, as set (not trimmed); `undefined` when unset, empty or blank. */
export function envString(name: string): string | undefined {
  return getStringFromEnv(name);
}

/**
 * `true` or `false`, in any case and with surrounding spaces ignored; `undefined` when not set. Anything
 * else (`1`, `yes`, `on`) is rejected, as the OpenTelemetry spec rejects it, and the caller's default holds.
 */
export function envBoolean(name: string, onInvalid: OnInvalidEnv): boolean | undefined {
  const raw = getStringFromEnv(name);
  if (raw === undefined) return undefined;
  const value = raw.trim().toLowerCase();
  // Checked first: core maps a rejected value to `false`, and tokentrace's defaults are not all `false`.
  if (value !== "true" && value !== "false") {
    onInvalid(raw);
    return undefined;
  }
  return value === "true";
}

/** An integer from `minimum` to `maximum` (inclusive); `undefined` when not set or out of range. */
export function envInteger(
  name: string,
  minimum: number,
  maximum: number,
  onInvalid: OnInvalidEnv,
): number | undefined {
  const raw = getStringFromEnv(name);
  if (raw === undefined) return undefined;
  const value = Number(raw.trim());
  if (Number.isSafeInteger(value) && value >= minimum && value <= maximum) return value;
  onInvalid(raw);
  return undefined;
}

/**
 * One of `choices`, matched without regard to case or surrounding spaces, returned as spelt in `choices`;
 * `undefined` when not set or not one of them.
 */
export function envChoice<T extends string>(
  name: string,
  choices: readonly T[],
  onInvalid: OnInvalidEnv,
): T | undefined {
  const raw = getStringFromEnv(name);
  if (raw === undefined) return undefined;
  const value = raw.trim().toLowerCase();
  const match = choices.find((choice) => choice.toLowerCase() === value);
  if (match === undefined) onInvalid(raw);
  return match;
}
