import OpenAI from "openai";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { callInfo, observe, recordFeedback } from "../src/index.js";
import { memorySink, setup } from "../src/setup-entry.js";
import type { TokentraceHandle } from "../src/setup-entry.js";
import { otlpSink } from "../src/otlp.js";
import type { OtlpSinkOptions } from "../src/otlp.js";
import type { MockLLMServer } from "../src/testing/index.js";
import { startOtlpReceiver } from "./helpers/otlp-receiver.js";
import { startOtlpFixture } from "./helpers/otlp-fixture.js";
import type { OtlpFixture } from "./helpers/otlp-fixture.js";
import type { OtlpReceiver } from "./helpers/otlp-receiver.js";

/**
 * otlpSink() with a collector that is down, slow or failing: seconds per test (export timeouts), so in the
 * `slow` vitest project, apart from test/otlp.test.ts. Moved from there unchanged (issue #11).
 */
const messages = [{ role: "user" as const, content: "What is the capital of France?" }];

let server: MockLLMServer;
let receiver: OtlpReceiver;
let telemetry: TokentraceHandle | undefined;
let warnings: string[];

let fixture: OtlpFixture;

beforeEach(async () => {
  fixture = await startOtlpFixture();
  ({ server, receiver, warnings } = fixture);
});

afterEach(async () => {
  // Shut down while the receiver still answers (tests that slow it down also set a short timeoutMs).
  await telemetry?.shutdown();
  telemetry = undefined;
  await fixture.close();
});

function newClient(): OpenAI {
  return new OpenAI({ baseURL: server.openaiBaseURL, apiKey: "sk-test", maxRetries: 0 });
}

describe("otlpSink() never hurts the app", () => {
  /** Calls the mock server `count` times; returns each call's wall time and the replies' choices. */
  async function timedCalls(openai: OpenAI, count: number): Promise<{ latenciesMs: number[]; choices: unknown[] }> {
    const latenciesMs: number[] = [];
    const choices: unknown[] = [];
    for (let index = 0; index < count; index++) {
      const started = performance.now();
      const reply = await openai.chat.completions.create({ model: "gpt-4o-mini", messages });
      latenciesMs.push(performance.now() - started);
      choices.push(reply.choices);
    }
    return { latenciesMs, choices };
  }

  function median(values: number[]): number {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)]!;
  }

  /**
   * The app's view with a broken collector: same replies as an unobserved client, every call fast, and
   * the median within a few milliseconds of the unobserved one. Bounds are generous (a loaded CI machine),
   * yet far below what waiting on the collector would cost (seconds).
   */
  async function expectAppUnaffected(sinkOptions: OtlpSinkOptions): Promise<ReturnType<typeof otlpSink>> {
    const sink = otlpSink({ url: receiver.url, timeoutMs: 1_500, ...sinkOptions });
    telemetry = setup({ sinks: [sink] });
    const baseline = await timedCalls(newClient(), 20);
    const openai = observe(newClient());
    await timedCalls(openai, 3); // warm up the observed path
    // Put exports in flight while the app works.
    const exporting = telemetry.flush();
    const observed = await timedCalls(openai, 20);
    expect(observed.choices).toEqual(baseline.choices);
    expect(Math.max(...observed.latenciesMs)).toBeLessThan(500);
    expect(median(observed.latenciesMs)).toBeLessThan(median(baseline.latenciesMs) + 25);
    const label = "sinks[0] (otlp)";
    // The sink delivers or drops (and counts) within its own timeout (1.5 s here), inside flushTimeoutMs (5 s).
    expect(await exporting).toEqual({ ok: true, timedOut: false, flushed: [label], failed: [], pending: [] });
    expect(await telemetry.flush()).toEqual({ ok: true, timedOut: false, flushed: [label], failed: [], pending: [] });
    return sink;
  }

  function dropWarnings(): string[] {
    return warnings.filter((warning) => warning.includes("otlpSink dropped"));
  }

  it("leaves results and latency unchanged while the collector is down, counting what it drops and saying so once", async () => {
    const deadUrl = receiver.url;
    await receiver.close();
    receiver = await startOtlpReceiver(); // a live one for afterEach; the sink points at the closed port
    const sink = await expectAppUnaffected({ url: deadUrl });
    expect(sink.dropped().spans).toBe(23);
    expect(sink.dropped().metricDataPoints).toBeGreaterThan(0);
    expect(dropWarnings()).toHaveLength(2);
    expect(dropWarnings()[0]).toMatch(
      new RegExp(
        `^tokentrace: otlpSink dropped \\d+ (spans|metric data points) for ${deadUrl}/v1/(traces|metrics): .*ECONNREFUSED`,
      ),
    );
    expect(warnings.filter((warning) => warning.startsWith("error:"))).toEqual([]);
  });

  it("leaves results and latency unchanged while the collector takes 10 s to answer", async () => {
    receiver.setBehaviour({ delayMs: 10_000 });
    const sink = await expectAppUnaffected({});
    expect(sink.dropped().spans).toBe(23);
    expect(dropWarnings()).toHaveLength(2);
    expect(dropWarnings().join("\n")).toContain("Request timed out");
    expect(warnings.filter((warning) => warning.startsWith("error:"))).toEqual([]);
  });

  it("leaves results and latency unchanged while the collector answers 500", async () => {
    receiver.setBehaviour({ status: 500 });
    const sink = await expectAppUnaffected({});
    expect(sink.dropped().spans).toBe(23);
    expect(dropWarnings()).toHaveLength(2);
    expect(dropWarnings()[0]).toContain("HTTP 500 Internal Server Error");
    // The collector did receive (and decode) them: it is the answer that failed.
    expect(receiver.spans).toHaveLength(23);
  });

  it("drops spans beyond maxQueueSize instead of buffering without bound, and counts them", async () => {
    receiver.setBehaviour({ delayMs: 10_000 });
    const sink = otlpSink({ url: receiver.url, maxQueueSize: 5, metrics: false, timeoutMs: 1_000 });
    telemetry = setup({ sinks: [sink] });
    const openai = observe(newClient());
    // 5 spans fill the queue and leave as one batch (hanging on the slow collector), 5 more wait, 2 drop.
    for (let index = 0; index < 12; index++) await openai.chat.completions.create({ model: "gpt-4o-mini", messages });
    expect(sink.dropped()).toEqual({ spans: 2, metricDataPoints: 0, logRecords: 0 });
    expect(dropWarnings()).toEqual([
      `tokentrace: otlpSink dropped 1 span for ${receiver.url}/v1/traces: the queue of 5 spans waiting for export is full. The app is not affected; further drops are only counted (see the sink's dropped()).`,
    ]);
  });

  it("drops feedback's log records beyond maxQueueSize instead of buffering without bound, and counts them", async () => {
    receiver.setBehaviour({ delayMs: 10_000 });
    const sink = otlpSink({ url: receiver.url, maxQueueSize: 2, traces: false, metrics: false, timeoutMs: 1_000 });
    telemetry = setup({ sinks: [sink, memorySink()] });
    const openai = observe(newClient());
    const completion = await openai.chat.completions.create({ model: "gpt-4o-mini", messages });
    const ref = callInfo(completion)!.ref!;
    // 2 records fill the queue and leave as one batch (hanging on the slow collector), 2 more wait, 2 drop.
    const results: unknown[] = [];
    for (let index = 0; index < 6; index++) {
      const started = performance.now();
      results.push(recordFeedback(ref, { name: "rating", value: index }));
      expect(performance.now() - started).toBeLessThan(50);
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(results).toEqual(new Array(6).fill(expect.objectContaining({ ok: true })));
    expect(sink.dropped()).toEqual({ spans: 0, metricDataPoints: 0, logRecords: 2 });
    expect(dropWarnings()).toEqual([
      `tokentrace: otlpSink dropped 1 log record for ${receiver.url}/v1/logs: the queue of 2 log records waiting for export is full. The app is not affected; further drops are only counted (see the sink's dropped()).`,
    ]);
    // The first batch did reach the collector (its answer is what hangs).
    await receiver.waitFor(() => receiver.logs.length === 2, 5_000, "the first batch of log records");
    expect(receiver.logs.map((record) => record.attributes["gen_ai.evaluation.score.value"])).toEqual([0, 1]);
  });
});
