import OpenAI from "openai";
import type { Histogram, ResourceMetrics } from "@opentelemetry/sdk-metrics";
import { observe, preloadTokenizer } from "../../src/index.js";
import type { ObserveOptions } from "../../src/index.js";
import { startMockLLMServer } from "../../src/testing/index.js";
import type { MockLLMServer } from "../../src/testing/index.js";
import { createTestTelemetry } from "./telemetry.js";
import type { TestTelemetry } from "./telemetry.js";

/** The API key tests use; a test checks it never appears in any attribute. */
export const API_KEY = "sk-test-SECRET-do-not-export";

export interface Harness extends Omit<TestTelemetry, "shutdown"> {
  server: MockLLMServer;
  /** A raw client on the same server, to compare behaviour with. */
  raw: OpenAI;
  /** The observed client. */
  openai: OpenAI;
  observeClient(client: OpenAI, options?: ObserveOptions): OpenAI;
  close(): Promise<void>;
}

export async function createHarness(options: ObserveOptions = {}): Promise<Harness> {
  // Estimates use OpenAI's encodings once their worker is ready; the suites assert those exact counts.
  await Promise.all([preloadTokenizer("gpt-4o"), preloadTokenizer("gpt-4")]);
  const server = await startMockLLMServer();
  const { shutdown, ...telemetry } = createTestTelemetry();
  const { tracerProvider, meterProvider } = telemetry;
  const newClient = (): OpenAI => new OpenAI({ baseURL: server.openaiBaseURL, apiKey: API_KEY, maxRetries: 0 });
  const observeClient = (client: OpenAI, extra: ObserveOptions = {}): OpenAI =>
    // Content capture is off by default (issue 13); the suites assert content, so they opt in unless told not to.
    observe(client, { tracerProvider, meterProvider, captureContent: true, ...options, ...extra });
  return {
    ...telemetry,
    server,
    raw: newClient(),
    openai: observeClient(newClient()),
    observeClient,
    async close() {
      await server.close();
      await shutdown();
    },
  };
}

/**
 * A clock that returns the given times in order (milliseconds), then keeps adding the last step. Each
 * traced call reads it once when issued, once per visible stream chunk (and once per hidden one), and once
 * when it ends, so timing attributes are exact.
 */
export function sequenceClock(times: readonly number[]): () => number {
  let index = 0;
  return () => {
    const value = index < times.length ? times[index]! : times[times.length - 1]! + (index - times.length + 1) * 1000;
    index++;
    return value;
  };
}

/** Find a histogram's data points by metric name. */
export function histogramPoints(
  metrics: ResourceMetrics,
  name: string,
): Array<{ attributes: Record<string, unknown>; value: Histogram }> {
  const points: Array<{ attributes: Record<string, unknown>; value: Histogram }> = [];
  for (const scope of metrics.scopeMetrics) {
    for (const metric of scope.metrics) {
      if (metric.descriptor.name !== name) continue;
      for (const point of metric.dataPoints)
        points.push({ attributes: point.attributes, value: point.value as Histogram });
    }
  }
  return points;
}

/** Find a counter's data points by metric name: attributes and value. */
export function sumPoints(
  metrics: ResourceMetrics,
  name: string,
): Array<{ attributes: Record<string, unknown>; value: number }> {
  return histogramPoints(metrics, name).map((point) => ({
    attributes: point.attributes,
    value: point.value as unknown as number,
  }));
}

/** Read a whole stream with for-await and return its chunks. */
export async function collect<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const chunks: T[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}
