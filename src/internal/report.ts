import { diag } from "@opentelemetry/api";

/**
 * The one place tokentrace's own failures go. Telemetry must never throw into application code, so every
 * internal failure is caught and handed here: counted per kind, and logged through OpenTelemetry's `diag`
 * once per kind so a bad payload repeated a million times does not flood the app's logs.
 */
const counts = new Map<string, number>();

export function reportInternalError(kind: string, error: unknown): void {
  try {
    const seen = counts.get(kind) ?? 0;
    counts.set(kind, seen + 1);
    if (seen === 0) {
      const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      diag.warn(`tokentrace: internal error (${kind}), telemetry for this call may be incomplete: ${detail}`);
    }
  } catch {
    // Reporting must not fail either.
  }
}

/** Internal failures counted so far, by kind. */
export function internalErrorCounts(): ReadonlyMap<string, number> {
  return counts;
}

/** Warn once per distinct message (used for invalid environment variables). */
const warned = new Set<string>();
export function warnOnce(message: string): void {
  if (warned.has(message)) return;
  warned.add(message);
  diag.warn(`tokentrace: ${message}`);
}

/**
 * Data tokentrace refused to report because it cannot be true (a negative token count, cache reads above the
 * input): counted per kind and logged once per kind, like internal errors, but not a failure of tokentrace.
 */
const anomalies = new Map<string, number>();

export function reportAnomaly(kind: string, detail: string): void {
  try {
    const seen = anomalies.get(kind) ?? 0;
    anomalies.set(kind, seen + 1);
    if (seen === 0) diag.warn(`tokentrace: impossible ${kind} left out of telemetry: ${detail}`);
  } catch {
    // Reporting must not fail either.
  }
}

/** Anomalies counted so far, by kind. */
export function anomalyCounts(): ReadonlyMap<string, number> {
  return anomalies;
}
