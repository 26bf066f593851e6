import { diag } from "@opentelemetry/api";
import { envChoice } from "./env.js";

/*
 * The one place tokentrace's own failures and warnings go. Telemetry must never throw into application
 * code, so every internal failure is caught and handed here: counted per kind, and told to a person once per
 * kind so a bad payload repeated a million times does not flood the app's logs.
 *
 * Where a warning goes (`warnings` option of `setup()`, else `TOKENTRACE_WARNINGS`, else `auto`):
 * - `auto`: OpenTelemetry's `diag`, and one line on stderr while no diag logger is registered (an app
 *   without OpenTelemetry set-up of its own would otherwise never see it);
 * - `stderr`: `diag` and stderr; `diag`: `diag` only; `off`: nowhere.
 */
/** Where tokentrace's own warnings go: see `SetupOptions.warnings`. */
export type WarningMode = "auto" | "stderr" | "diag" | "off";
export const WARNING_MODES: readonly WarningMode[] = ["auto", "stderr", "diag", "off"];
export const ENV_WARNINGS = "TOKENTRACE_WARNINGS";
const ignoreInvalid = (): void => undefined;

let modeFromSetup: WarningMode | undefined;

/** `setup({ warnings })`; `undefined` goes back to the environment variable. */
export function setWarningMode(mode: WarningMode | undefined): void {
  modeFromSetup = mode;
}

function warningMode(): WarningMode {
  if (modeFromSetup !== undefined) return modeFromSetup;
  // An invalid value goes unreported: the variable decides where warnings go, so there is nowhere to say it.
  return envChoice(ENV_WARNINGS, WARNING_MODES, ignoreInvalid) ?? "auto";
}

/**
 * Whether the app registered a diag logger. `@opentelemetry/api` has no getter for it; it keeps its globals
 * under `Symbol.for("opentelemetry.js.api.<major>")`, with `diag` set once a logger is registered. Best
 * effort: if that layout ever changes this reports false, and the warning also goes to stderr.
 */
function diagLoggerRegistered(): boolean {
  const globals = (globalThis as Record<symbol, unknown>)[Symbol.for("opentelemetry.js.api.1")];
  return globals !== null && typeof globals === "object" && (globals as { diag?: unknown }).diag !== undefined;
}

/**
 * Tell a person: `message` is one line, without the `tokentrace:` prefix. Through `diag`, and on stderr while
 * no diag logger is registered (per the warning mode). Never throws. Callers dedupe.
 */
export function emit(message: string): void {
  try {
    const mode = warningMode();
    if (mode === "off") return;
    diag.warn(`tokentrace: ${message}`);
    if (mode === "stderr" || (mode === "auto" && !diagLoggerRegistered())) {
      process.stderr.write(`tokentrace: ${message.replace(/\s*\n\s*/g, " ")}\n`);
    }
  } catch {
    // Reporting must not fail either.
  }
}

const counts = new Map<string, number>();

export function reportInternalError(kind: string, error: unknown): void {
  try {
    const seen = counts.get(kind) ?? 0;
    counts.set(kind, seen + 1);
    if (seen === 0) {
      const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      emit(`internal error (${kind}), telemetry for this call may be incomplete: ${detail}`);
    }
  } catch {
    // Reporting must not fail either.
  }
}

/** Internal failures counted so far, by kind. */
export function internalErrorCounts(): ReadonlyMap<string, number> {
  return counts;
}

const MAX_WARNINGS = 1_000;

/** Warn once per distinct message (invalid environment variables, misuse worth a word). */
const warned = new Set<string>();
export function warnOnce(message: string): void {
  if (warned.has(message)) return;
  // Bounded: past 1,000 distinct messages, new ones are dropped rather than repeated on every call.
  if (warned.size >= MAX_WARNINGS) return;
  warned.add(message);
  emit(message);
}

/** Warn once per `kind`, whatever the message says (e.g. a sink that keeps failing with new details). */
const warnedKinds = new Set<string>();
export function warnOncePerKind(kind: string, message: string): void {
  if (warnedKinds.has(kind) || warnedKinds.size >= MAX_WARNINGS) return;
  warnedKinds.add(kind);
  emit(message);
}

/** Test-only: forget which warnings were given, so a test can observe the first one again. */
export function resetWarningsForTests(): void {
  warned.clear();
  warnedKinds.clear();
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
    if (seen === 0) emit(`impossible ${kind} left out of telemetry: ${detail}`);
  } catch {
    // Reporting must not fail either.
  }
}

/** Anomalies counted so far, by kind. */
export function anomalyCounts(): ReadonlyMap<string, number> {
  return anomalies;
}
