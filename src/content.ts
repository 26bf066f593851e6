/**
 * Content attributes: JSON values cut to a maximum length while staying valid JSON.
 *
 * Long content is cut inside its strings (each string longer than a common cap keeps its first `cap`
 * characters and gains a marker), with the cap chosen by binary search as the largest that fits. Only
 * when even empty strings do not fit are whole leading array items (the oldest messages) dropped.
 * Runs at span end, and only when content capture is on.
 */
export const TRUNCATION_MARKER = "…[truncated]";

export interface SerializedContent {
  json: string;
  truncated: boolean;
}

export function serializeContent(value: unknown, maxLength: number): SerializedContent {
  const whole = JSON.stringify(value) ?? "null";
  if (whole.length <= maxLength) return { json: whole, truncated: false };

  const fitting = largestFittingCap(value, maxLength);
  if (fitting !== undefined) return { json: fitting, truncated: true };

  if (Array.isArray(value)) {
    // Drop the oldest items until the rest fits with strings cut.
    for (let drop = 1; drop < value.length; drop++) {
      const rest = [{ truncated_items: drop }, ...value.slice(drop)];
      const json = largestFittingCap(rest, maxLength);
      if (json !== undefined) return { json, truncated: true };
    }
  }
  return { json: JSON.stringify({ truncated: true, length: whole.length }), truncated: true };
}

function largestFittingCap(value: unknown, maxLength: number): string | undefined {
  let low = 0;
  let high = longestString(value);
  let best: string | undefined;
  while (low <= high) {
    const cap = Math.floor((low + high) / 2);
    const json = stringifyWithCap(value, cap);
    if (json.length <= maxLength) {
      best = json;
      low = cap + 1;
    } else {
      high = cap - 1;
    }
  }
  return best;
}

function stringifyWithCap(value: unknown, cap: number): string {
  return (
    JSON.stringify(value, (_key, item: unknown) =>
      typeof item === "string" && item.length > cap ? item.slice(0, cap) + TRUNCATION_MARKER : item,
    ) ?? "null"
  );
}

function longestString(value: unknown): number {
  if (typeof value === "string") return value.length;
  if (value === null || typeof value !== "object") return 0;
  let longest = 0;
  for (const item of Array.isArray(value) ? value : Object.values(value)) {
    const length = longestString(item);
    if (length > longest) longest = length;
  }
  return longest;
}
