import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import type { ReadableSpan, SpanProcessor } from "@opentelemetry/sdk-trace-base";
import type { MockLLMServer } from "../../src/testing/index.js";

/**
 * Shared pieces of the reliability suite (test/reliability/): a span processor that counts starts and ends
 * per span id, and a workload that runs the same calls on a raw and an observed client and describes what the
 * app received from each, so a test can assert the two are the same.
 */

/** Counts onStart and onEnd per span id; keeps no span unless asked to. */
export class SpanCounter implements SpanProcessor {
  readonly started = new Set<string>();
  readonly ends = new Map<string, number>();
  readonly kept: ReadableSpan[] = [];

  constructor(private readonly keep = false) {}

  onStart(span: { spanContext(): { spanId: string } }): void {
    this.started.add(span.spanContext().spanId);
  }
  onEnd(span: ReadableSpan): void {
    const id = span.spanContext().spanId;
    this.ends.set(id, (this.ends.get(id) ?? 0) + 1);
    if (this.keep) this.kept.push(span);
  }
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }

  /** Span ids that did not end exactly once, or ended without having started (empty when all is well). */
  problems(): string[] {
    const problems: string[] = [];
    for (const id of this.started) {
      const count = this.ends.get(id) ?? 0;
      if (count !== 1) problems.push(`${id} ended ${count} times`);
    }
    for (const id of this.ends.keys()) if (!this.started.has(id)) problems.push(`${id} ended without a start`);
    return problems;
  }
}

/** What the app received from one call, in a form two calls can be compared by. */
export interface AppView {
  /** The result's or error's prototype: the same class, not only the same name. */
  prototype: object | null;
  /** The result (chunks, for a stream) as JSON, with per-request ids made equal. */
  json: string;
}

/** Per-request ids and counters of the mock server (`chatcmpl-mock-7`, `req_mock_7`, `msg_mock_7_0`). */
export function normaliseIds(json: string): string {
  return json.replace(/mock([-_])\d+/g, "mock$1N");
}

function viewOf(value: unknown): AppView {
  const prototype =
    value === null || typeof value !== "object" ? null : (Object.getPrototypeOf(value) as object | null);
  // JSON.stringify(undefined) is undefined, whatever its declared type says.

  return { prototype, json: normaliseIds(JSON.stringify(value) ?? "undefined") };
}

function errorView(error: unknown): AppView {
  const { name, message, status } = error as { name?: unknown; message?: unknown; status?: unknown };
  return {
    prototype: error === null || typeof error !== "object" ? null : (Object.getPrototypeOf(error) as object | null),
    json: normaliseIds(JSON.stringify({ name, message, status, fields: error })),
  };
}

/** One step of a workload: what the app does and what it ends up holding. */
export type Step = {
  name: string;
  /** Queue the mock replies this step needs (called once before the raw run, once before the observed run). */
  enqueue?: (server: MockLLMServer) => void;
  run: (clients: Clients) => Promise<AppView[]>;
};

export interface Clients {
  openai: OpenAI;
  anthropic: Anthropic;
}

const chatMessages = [{ role: "user" as const, content: "What is the capital of France?" }];
const anthropicRequest = { model: "claude-sonnet-5", max_tokens: 100, messages: chatMessages };

/** Read a stream, keeping the first `limit` chunks, then leave it (`break`); an error is part of the view. */
async function readStream(promise: PromiseLike<AsyncIterable<unknown>>, limit = Infinity): Promise<AppView[]> {
  let stream: AsyncIterable<unknown>;
  try {
    stream = await promise;
  } catch (error) {
    return [errorView(error)];
  }
  const views: AppView[] = [{ prototype: Object.getPrototypeOf(stream) as object | null, json: "stream" }];
  try {
    for await (const chunk of stream) {
      if (views.length > limit) break;
      views.push(viewOf(chunk));
    }
  } catch (error) {
    views.push(errorView(error));
  }
  return views;
}

async function settle(promise: Promise<unknown>): Promise<AppView[]> {
  try {
    return [viewOf(await promise)];
  } catch (error) {
    // The app sees one error object, however often it looks.
    const again = await promise.catch((caught: unknown) => caught);
    return [
      errorView(error),
      { prototype: null, json: again === error ? "the same error object again" : "another error object" },
    ];
  }
}

/**
 * The mixed workload every fault scenario runs: OpenAI chat and Responses, Anthropic messages; plain calls,
 * streams read fully, streams broken early, streams that fail midway, and calls that fail with a 429 (the
 * clients have `maxRetries: 0`).
 */
export const workload: readonly Step[] = [
  {
    name: "chat",
    run: ({ openai }) => settle(openai.chat.completions.create({ model: "gpt-4o-mini", messages: chatMessages })),
  },
  {
    name: "chat stream",
    run: ({ openai }) =>
      readStream(openai.chat.completions.create({ model: "gpt-4o-mini", messages: chatMessages, stream: true })),
  },
  {
    name: "chat stream broken early",
    run: ({ openai }) =>
      readStream(openai.chat.completions.create({ model: "gpt-4o-mini", messages: chatMessages, stream: true }), 2),
  },
  {
    name: "chat stream cut by the network",
    enqueue: (server) => server.enqueue({ errorAfterChunks: 2 }),
    run: ({ openai }) =>
      readStream(openai.chat.completions.create({ model: "gpt-4o-mini", messages: chatMessages, stream: true })),
  },
  {
    name: "chat 429",
    enqueue: (server) => server.enqueue({ status: 429 }),
    run: ({ openai }) => settle(openai.chat.completions.create({ model: "gpt-4o-mini", messages: chatMessages })),
  },
  {
    name: "chat stream 429",
    enqueue: (server) => server.enqueue({ status: 429 }),
    run: ({ openai }) =>
      readStream(openai.chat.completions.create({ model: "gpt-4o-mini", messages: chatMessages, stream: true })),
  },
  {
    name: "responses",
    run: ({ openai }) => settle(openai.responses.create({ model: "gpt-4o-mini", input: "Capital of France?" })),
  },
  {
    name: "responses stream",
    run: ({ openai }) =>
      readStream(openai.responses.create({ model: "gpt-4o-mini", input: "Capital of France?", stream: true })),
  },
  {
    name: "responses stream broken early",
    run: ({ openai }) =>
      readStream(openai.responses.create({ model: "gpt-4o-mini", input: "Capital of France?", stream: true }), 3),
  },
  { name: "anthropic", run: ({ anthropic }) => settle(anthropic.messages.create(anthropicRequest)) },
  {
    name: "anthropic stream",
    run: ({ anthropic }) => readStream(anthropic.messages.create({ ...anthropicRequest, stream: true })),
  },
  {
    name: "anthropic stream broken early",
    run: ({ anthropic }) => readStream(anthropic.messages.create({ ...anthropicRequest, stream: true }), 3),
  },
  {
    name: "anthropic stream with an error event",
    enqueue: (server) => server.enqueueAnthropic({ errorEventAfterDeltas: 2 }),
    run: ({ anthropic }) => readStream(anthropic.messages.create({ ...anthropicRequest, stream: true })),
  },
  {
    name: "anthropic 429",
    enqueue: (server) => server.enqueueAnthropic({ status: 429 }),
    run: ({ anthropic }) => settle(anthropic.messages.create(anthropicRequest)),
  },
];

/** New raw clients on the mock server, without retries. */
export function rawClients(server: MockLLMServer, apiKey = "sk-reliability-test"): Clients {
  return {
    openai: new OpenAI({ baseURL: server.openaiBaseURL, apiKey, maxRetries: 0 }),
    anthropic: new Anthropic({ baseURL: server.anthropicBaseURL, apiKey, maxRetries: 0 }),
  };
}

export interface StepComparison {
  name: string;
  raw: AppView[];
  observed: AppView[];
}

/**
 * Run every step on the raw clients, then on the observed ones, against the same replies. `afterEach` runs
 * right after each observed step returned, before anything else can happen (a probe of pending exports).
 */
export async function compareWorkload(
  server: MockLLMServer,
  raw: Clients,
  observed: Clients,
  afterEach: (step: string) => void = () => undefined,
): Promise<StepComparison[]> {
  const comparisons: StepComparison[] = [];
  for (const step of workload) {
    step.enqueue?.(server);
    const rawViews = await step.run(raw);
    step.enqueue?.(server);
    const observedViews = await step.run(observed);
    afterEach(step.name);
    comparisons.push({ name: step.name, raw: rawViews, observed: observedViews });
  }
  return comparisons;
}

/** Differences between what the raw and the observed clients gave the app (empty when none). */
export function differences(comparisons: readonly StepComparison[]): string[] {
  const found: string[] = [];
  for (const { name, raw, observed } of comparisons) {
    if (raw.length !== observed.length) {
      found.push(`${name}: ${raw.length} results raw, ${observed.length} observed`);
      continue;
    }
    raw.forEach((view, index) => {
      const other = observed[index]!;
      if (view.prototype !== other.prototype) found.push(`${name}[${index}]: a different class`);
      if (view.json !== other.json) found.push(`${name}[${index}]: ${view.json} !== ${other.json}`);
    });
  }
  return found;
}
