/*
 * `tokentrace/otlp`: the OTLP sink. A subpath of its own so that apps that do not use it never load
 * OpenTelemetry's OTLP exporters.
 */
export { otlpSink } from "./sinks/otlp.js";
export type { OtlpDroppedCounts, OtlpProtocol, OtlpSink, OtlpSinkOptions } from "./sinks/otlp.js";
// The sink type OtlpSink extends, so this entry names every type its signatures use.
export type { Sink } from "./sinks/types.js";
