/**
 * Defensive readers for provider payloads, shared by every adapter: a field of the wrong type is skipped,
 * never trusted.
 */
export type Json = Record<string, unknown>;

export const isObject = (value: unknown): value is Json => value !== null && typeof value === "object";
export const stringOr = (value: unknown): string | undefined => (typeof value === "string" ? value : undefined);
export const numberOr = (value: unknown): number | undefined =>
  typeof value === "number" && Number.isFinite(value) ? value : undefined;
