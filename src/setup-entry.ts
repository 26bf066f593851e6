// `tokentrace/setup`: what builds tracer and meter providers (`setup()`) and the sinks that need no
// optional package (console, memory). A subpath of its own because it loads the OpenTelemetry SDK
// (sdk-trace-base, sdk-metrics, resources), which `observe()` never needs (issue 11).
export { setup } from "./setup.js";
export type { FlushReport, SetupOptions, TokentraceHandle } from "./setup.js";
export type { WarningMode } from "./internal/report.js";
// Types that appear in this entry's signatures (SetupOptions extends ObserveOptions).
export type { ObserveOptions } from "./config.js";
export { consoleSink } from "./sinks/console.js";
export type { ConsoleSinkOptions } from "./sinks/console.js";
export { memorySink } from "./sinks/memory.js";
export type { MemorySink, MemorySinkOptions } from "./sinks/memory.js";
export type { Sink, SinkLike } from "./sinks/types.js";
