import { metrics, trace } from "@opentelemetry/api";
import type { MeterProvider, TracerProvider } from "@opentelemetry/api";
import type { ObserveOptions } from "../config.js";

/**
 * The providers and defaults `setup()` installed. Kept apart from `setup.ts` so the call path does not
 * load the SDK pieces `setup()` needs. Clients look providers up per call (a field read), so a client
 * observed before `setup()` still reports through it.
 */
interface ActiveSetup {
  tracerProvider: TracerProvider;
  meterProvider: MeterProvider;
  defaults: ObserveOptions;
}

let active: ActiveSetup | undefined;

export function setActiveSetup(value: ActiveSetup | undefined): void {
  active = value;
}

export function activeSetup(): ActiveSetup | undefined {
  return active;
}

export function currentTracerProvider(): TracerProvider {
  return active?.tracerProvider ?? trace.getTracerProvider();
}

export function currentMeterProvider(): MeterProvider {
  return active?.meterProvider ?? metrics.getMeterProvider();
}
