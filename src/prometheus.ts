/*
 * `tokentrace/prometheus`: the Prometheus sink. A subpath of its own so that apps that do not use it never
 * load OpenTelemetry's Prometheus exporter.
 */
export { prometheusHandler, prometheusSink } from "./sinks/prometheus.js";
export type { PrometheusRequestHandler, PrometheusSink, PrometheusSinkOptions } from "./sinks/prometheus.js";
// The sink type PrometheusSink extends, so this entry names every type its signatures use.
export type { Sink } from "./sinks/types.js";
