import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";

/** Span attributes without the cost ones (cost has its own tests), for exact comparisons. */
export function withoutCost(attributes: Readonly<Record<string, unknown>>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(attributes).filter(([name]) => name !== "gen_ai.usage.cost" && !name.startsWith("tokentrace.cost.")),
  );
}

/** A JSON content attribute (`gen_ai.input.messages`, ...) parsed back, or undefined when absent. */
export function jsonAttribute(span: ReadableSpan, name: string): unknown {
  const value = span.attributes[name];
  return typeof value === "string" ? (JSON.parse(value) as unknown) : undefined;
}

/** Attributes that vary from run to run (timings), dropped for exact comparisons of stream spans. */
export function withoutTimings(attributes: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const timing = new Set([
    "gen_ai.response.time_to_first_chunk",
    "tokentrace.stream.mean_chunk_gap",
    "tokentrace.stream.max_chunk_gap",
    "tokentrace.stream.output_tokens_per_second",
    "tokentrace.response.time_to_first_content",
  ]);
  return Object.fromEntries(Object.entries(attributes).filter(([name]) => !timing.has(name)));
}
