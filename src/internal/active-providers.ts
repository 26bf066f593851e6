import { metrics, trace } from "@opentelemetry/api";
import type { MeterProvider, TracerProvider } from "@opentelemetry/api";
import type { LoggerProvider } from "@opentelemetry/api-logs";
import type { ObserveOptions } from "../config.js";

/**
 * The providers and defaults `setup()` installed. Kept apart from `setup.ts` so the call path does not
 * load the SDK pieces `setup()` needs. Clients look providers up per call (a field read), so a client
 * observed before `setup()` still reports through it; they compare `setupGeneration()` per call (a number
 * compare) and resolve their options again when a `setup()` or `shutdown()` changed the defaults.
 */
/** `setup({ feedback })`, checked. */
export interface FeedbackSettings {
  readonly secret?: string;
  readonly spans?: boolean | "auto";
}

interface ActiveSetup {
  tracerProvider: TracerProvider;
  meterProvider: MeterProvider;
  /** For feedback's log records, when a sink takes them. */
  loggerProvider?: LoggerProvider | undefined;
  defaults: ObserveOptions;
  /** `setup({ feedback })`: the secret refs are signed with, and whether results are also spans (issue 14). */
  feedback?: FeedbackSettings;
}

let active: ActiveSetup | undefined;
let generation = 0;

export function setActiveSetup(value: ActiveSetup | undefined): void {
  active = value;
  generation++;
}

export function activeSetup(): ActiveSetup | undefined {
  return active;
}

/** Changes whenever the active set-up does. */
export function setupGeneration(): number {
  return generation;
}

export function currentTracerProvider(): TracerProvider {
  return active?.tracerProvider ?? trace.getTracerProvider();
}

export function currentMeterProvider(): MeterProvider {
  return active?.meterProvider ?? metrics.getMeterProvider();
}
