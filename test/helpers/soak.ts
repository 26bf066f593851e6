import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { MeterProvider, MetricReader } from "@opentelemetry/sdk-metrics";
import { BasicTracerProvider } from "@opentelemetry/sdk-trace-base";
import type { ReadableSpan, SpanProcessor } from "@opentelemetry/sdk-trace-base";
import { expect } from "vitest";
import { observe } from "../../src/index.js";
import { openCallCount } from "../../src/record-call.js";
import { ATTR_TOKENTRACE_CALL_OUTCOME, METRIC_TOKENTRACE_CLIENT_CALLS } from "../../src/semconv.js";
import { startMockLLMServer } from "../../src/testing/index.js";
import { collectGarbageUntil, forceGarbageCollection } from "./gc.js";

/**
 * The soak of the reliability suite (issue #10): many calls and streams of every kind, in a few concurrent
 * workers, through observed clients against the mock server. `npm run test:soak` runs the long one
 * (test/reliability/soak.soak.ts); `npm test` a short one (test/reliability/soak-short.test.ts).
 */
export interface SoakPlan {
  /** Non-streaming calls (chat, Responses, Anthropic in turn); every tenth of them fails with a 429. */
  calls: number;
  /** Streams (chat, Responses, Anthropic in turn): a third read fully, a third left early, a third never read. */
  streams: number;
  /** Concurrent workers. */
  workers: number;
}

export type Outcome = "completed" | "error" | "cancelled" | "abandoned";

export interface SoakFigures {
  /** Calls by how they ended, as the app made them. */
  made: Record<Outcome, number>;
  /** `tokentrace.client.calls` by `tokentrace.call.outcome`, summed over attribute sets. */
  counted: Record<string, number>;
  spansStarted: number;
  spansEnded: number;
  /** Spans ended more than once (never more than zero). */
  spansEndedTwice: number;
  /** `openCallCount()` once the dropped streams were collected. */
  openCalls: number;
  heapAfterWarmUpBytes: number;
  heapAtEndBytes: number;
  durationMs: number;
  /** Time spent in the warm-up, the main phase and the final collection of the dropped streams. */
  phasesMs: { warmUp: number; main: number; collection: number };
}

/** Counts starts and ends without keeping spans (a kept span would be the leak the soak looks for). */
class CountingProcessor implements SpanProcessor {
  started = 0;
  ended = 0;
  endedTwice = 0;
  private readonly seen = new WeakSet();
  onStart(): void {
    this.started++;
  }
  onEnd(span: ReadableSpan): void {
    if (this.seen.has(span)) this.endedTwice++;
    this.seen.add(span);
    this.ended++;
  }
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** A reader the test collects from on demand. */
class CollectingReader extends MetricReader {
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

const messages = [{ role: "user" as const, content: "ping" }];

export async function runSoak(plan: SoakPlan): Promise<SoakFigures> {
  const startedAt = performance.now();
  const server = await startMockLLMServer({ defaultReply: { text: "pong pong pong" } });
  // Every request to this one fails with a 429 (its default reply), so failures need no queue.
  const failing = await startMockLLMServer({ defaultReply: { status: 429 } });
  const processor = new CountingProcessor();
  const reader = new CollectingReader();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [processor] });
  const meterProvider = new MeterProvider({ readers: [reader] });
  const options = { tracerProvider, meterProvider };
  const openai = observe(new OpenAI({ baseURL: server.openaiBaseURL, apiKey: "sk-soak", maxRetries: 0 }), options);
  const anthropic = observe(
    new Anthropic({ baseURL: server.anthropicBaseURL, apiKey: "sk-soak", maxRetries: 0 }),
    options,
  );
  const failingOpenAI = observe(
    new OpenAI({ baseURL: failing.openaiBaseURL, apiKey: "sk-soak", maxRetries: 0 }),
    options,
  );
  const made: Record<Outcome, number> = { completed: 0, error: 0, cancelled: 0, abandoned: 0 };

  // Global counters pick each job's kind, so the split over outcomes is exact whatever the phases.
  let callNumber = 0;
  let streamNumber = 0;
  const plainCall = async (): Promise<void> => {
    const index = callNumber++;
    if (index % 10 === 9) {
      const error = await failingOpenAI.chat.completions
        .create({ model: "gpt-4o-mini", messages })
        .catch((caught: unknown) => caught);
      if (!(error instanceof OpenAI.RateLimitError)) throw new Error("expected a RateLimitError");
      made.error++;
      return;
    }
    if (index % 3 === 0) await openai.chat.completions.create({ model: "gpt-4o-mini", messages });
    else if (index % 3 === 1) await openai.responses.create({ model: "gpt-4o-mini", input: "ping" });
    else await anthropic.messages.create({ model: "claude-sonnet-5", max_tokens: 10, messages });
    made.completed++;
  };

  const openStream = (index: number): Promise<AsyncIterable<unknown>> => {
    if (index % 3 === 0) return openai.chat.completions.create({ model: "gpt-4o-mini", messages, stream: true });
    if (index % 3 === 1) return openai.responses.create({ model: "gpt-4o-mini", input: "ping", stream: true });
    return anthropic.messages.create({ model: "claude-sonnet-5", max_tokens: 10, messages, stream: true });
  };
  const streamCall = async (): Promise<void> => {
    const index = streamNumber++;
    // Cycle of nine so each way of ending meets each kind of stream.
    const way = index % 3;
    const stream = await openStream(Math.floor(index / 3));
    if (way === 0) {
      for await (const _chunk of stream) {
        // read to the end
      }
      made.completed++;
    } else if (way === 1) {
      for await (const _chunk of stream) break; // leave after the first chunk
      made.cancelled++;
    } else {
      // Dropped unread: its span ends when the collector reclaims it.
      made.abandoned++;
    }
  };

  /** `share` of the plan's calls and streams, interleaved, spread over the workers. */
  const phase = async (share: number): Promise<void> => {
    const calls = Math.round(plan.calls * share);
    const streams = Math.round(plan.streams * share);
    const work: Array<() => Promise<void>> = [];
    // Interleaved, so every part of the phase mixes both.
    for (let job = 0, call = 0, stream = 0; job < calls + streams; job++) {
      if (stream * calls <= call * streams && stream < streams) {
        work.push(streamCall);
        stream++;
      } else {
        work.push(plainCall);
        call++;
      }
    }
    let cursor = 0;
    const worker = async (): Promise<void> => {
      while (cursor < work.length) {
        const job = work[cursor++]!;
        await job();
        // The mock server records every request; forget them so its list does not grow.
        if (cursor % 500 === 0) {
          server.requests.length = 0;
          failing.requests.length = 0;
        }
      }
    };
    await Promise.all(Array.from({ length: plan.workers }, worker));
    server.requests.length = 0;
    failing.requests.length = 0;
  };

  const warmUpShare = 0.1;
  let mark = performance.now();
  await phase(warmUpShare);
  const warmUpMs = performance.now() - mark;
  await collectGarbageUntil(() => openCallCount() === 0, 30_000);
  await forceGarbageCollection(5);
  const heapAfterWarmUpBytes = process.memoryUsage().heapUsed;

  mark = performance.now();
  await phase(1 - warmUpShare);
  const mainMs = performance.now() - mark;
  mark = performance.now();
  await collectGarbageUntil(() => openCallCount() === 0, 60_000);
  await forceGarbageCollection(5);
  const heapAtEndBytes = process.memoryUsage().heapUsed;
  const openCalls = openCallCount();
  const collectMs = performance.now() - mark;

  const counted: Record<string, number> = {};
  const { resourceMetrics } = await reader.collect();
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics) {
      if (metric.descriptor.name !== METRIC_TOKENTRACE_CLIENT_CALLS) continue;
      for (const point of metric.dataPoints) {
        const outcome = String(point.attributes[ATTR_TOKENTRACE_CALL_OUTCOME]);
        counted[outcome] = (counted[outcome] ?? 0) + (point.value as number);
      }
    }
  }

  await server.close();
  await failing.close();
  await tracerProvider.shutdown();
  await meterProvider.shutdown();
  return {
    made,
    counted,
    spansStarted: processor.started,
    spansEnded: processor.ended,
    spansEndedTwice: processor.endedTwice,
    openCalls,
    heapAfterWarmUpBytes,
    heapAtEndBytes,
    durationMs: performance.now() - startedAt,
    phasesMs: { warmUp: warmUpMs, main: mainMs, collection: collectMs },
  };
}

/** One line of figures for a report. */
export function describeFigures(plan: SoakPlan, figures: SoakFigures): string {
  const mb = (bytes: number): string => (bytes / 1024 / 1024).toFixed(1);
  const total = Object.values(figures.made).reduce((sum, count) => sum + count, 0);
  return [
    `${plan.calls} calls + ${plan.streams} streams (${total} in all, ${plan.workers} workers) in ${(figures.durationMs / 1000).toFixed(1)} s (warm-up ${(figures.phasesMs.warmUp / 1000).toFixed(1)} s, main ${(figures.phasesMs.main / 1000).toFixed(1)} s, final collection ${(figures.phasesMs.collection / 1000).toFixed(1)} s)`,
    `made ${JSON.stringify(figures.made)}, counted ${JSON.stringify(figures.counted)}`,
    `spans started ${figures.spansStarted}, ended ${figures.spansEnded}, ended twice ${figures.spansEndedTwice}, open calls ${figures.openCalls}`,
    `heap after warm-up ${mb(figures.heapAfterWarmUpBytes)} MB, at the end ${mb(figures.heapAtEndBytes)} MB (${figures.heapAtEndBytes >= figures.heapAfterWarmUpBytes ? "+" : ""}${mb(figures.heapAtEndBytes - figures.heapAfterWarmUpBytes)} MB)`,
  ].join("\n");
}

/** What every soak must show: counters exact, every span ended once, nothing open, a flat heap. */
export function expectSoakHeld(plan: SoakPlan, figures: SoakFigures, maxHeapGrowthBytes: number): void {
  const errors = Math.floor(plan.calls / 10);
  const streamsEach = plan.streams / 3;
  expect(figures.made).toEqual({
    completed: plan.calls - errors + streamsEach,
    error: errors,
    cancelled: streamsEach,
    abandoned: streamsEach,
  });
  expect(figures.counted).toEqual(figures.made);
  const total = plan.calls + plan.streams;
  expect(figures.spansStarted).toBe(total);
  expect(figures.spansEnded).toBe(total);
  expect(figures.spansEndedTwice).toBe(0);
  expect(figures.openCalls).toBe(0);
  expect(figures.heapAtEndBytes - figures.heapAfterWarmUpBytes).toBeLessThan(maxHeapGrowthBytes);
}
