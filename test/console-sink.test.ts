import OpenAI from "openai";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  callInfo,
  observe,
  recordFeedback,
  withAgent,
  withRetrieval,
  withStep,
  withTool,
  withWorkflow,
} from "../src/index.js";
import { CONSOLE_MAX_BUFFERED_SPANS } from "../src/sinks/console.js";
import { consoleSink, memorySink, setup } from "../src/setup-entry.js";
import { startMockLLMServer } from "../src/testing/index.js";
import type { MockLLMServer } from "../src/testing/index.js";
import { sequenceClock } from "./helpers/harness.js";

let server: MockLLMServer;
beforeEach(async () => {
  server = await startMockLLMServer();
});
afterEach(async () => {
  await server.close();
});

async function oneCall(
  verbose: boolean,
): Promise<{ lines: string[]; flush: () => Promise<unknown>; shutdown: () => Promise<unknown> }> {
  const lines: string[] = [];
  const telemetry = setup({
    sinks: [consoleSink({ verbose, write: (line) => lines.push(line) })],
    now: sequenceClock([0, 250]),
  });
  const openai = observe(new OpenAI({ baseURL: server.openaiBaseURL, apiKey: "sk-test", maxRetries: 0 }));
  server.enqueue({ usage: { prompt_tokens: 12, completion_tokens: 5 } });
  await openai.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }] });
  lines.length = 0; // keep only what flushing prints
  return { lines, flush: () => telemetry.flush(), shutdown: () => telemetry.shutdown() };
}

describe("consoleSink({ verbose: true })", () => {
  it("prints tokentrace's metrics when flushed, one line per series, and not again while unchanged", async () => {
    const { lines, flush, shutdown } = await oneCall(true);
    await flush();
    const labels = `gen_ai.operation.name=chat, gen_ai.provider.name=openai, gen_ai.request.model=gpt-4o-mini, gen_ai.response.model=gpt-4o-mini-2024-07-18, server.address=127.0.0.1, server.port=${server.port}`;
    const watched = "gen_ai.provider.name=openai, gen_ai.request.model=gpt-4o-mini";
    expect(lines).toEqual([
      "[tokentrace] metrics (cumulative)",
      `    gen_ai.client.operation.duration{${labels}}  count 1  sum 0.25 s`,
      `    gen_ai.client.token.usage{${labels}, gen_ai.token.type=input}  count 1  sum 12 {token}`,
      `    gen_ai.client.token.usage{${labels}, gen_ai.token.type=output}  count 1  sum 5 {token}`,
      `    tokentrace.client.calls{${labels}, tokentrace.call.outcome=completed}  1 {call}`,
      `    tokentrace.client.cost{${labels}}  0.0000048 {USD}`,
      `    tokentrace.client.finish_reasons{${labels}, tokentrace.finish_reason=stop}  1 {choice}`,
      // Opened at 0 with the first answer, so a first change shows as an increase.
      `    tokentrace.client.model_changes{${watched}, tokentrace.model_change.kind=response_model}  0 {change}`,
      `    tokentrace.client.model_changes{${watched}, tokentrace.model_change.kind=system_fingerprint}  0 {change}`,
      `    tokentrace.client.token.cache_read{${labels}}  0 {token}`,
      // The signals' stores: one request model watched, no rate-limit headers seen.
      "    tokentrace.signals.series{tokentrace.signals.store=model_watch}  1 {series}",
      "    tokentrace.signals.series{tokentrace.signals.store=rate_limits}  0 {series}",
    ]);
    lines.length = 0;
    await flush();
    await shutdown();
    expect(lines).toEqual([]);
  });

  it("prints no metrics without verbose", async () => {
    const { lines, flush, shutdown } = await oneCall(false);
    await flush();
    await shutdown();
    expect(lines).toEqual([]);
  });
});

describe("consoleSink() request trees (issue 12)", () => {
  function stageSetup(): { lines: string[]; telemetry: ReturnType<typeof setup>; openai: OpenAI } {
    const lines: string[] = [];
    const telemetry = setup({ sinks: [consoleSink({ write: (line) => lines.push(line) })], captureContent: false });
    const openai = observe(new OpenAI({ baseURL: server.openaiBaseURL, apiKey: "sk-test", maxRetries: 0 }));
    return { lines, telemetry, openai };
  }
  const withoutDurations = (lines: string[]): string[] => lines.map((line) => line.replace(/\d+ ms/g, "N ms"));
  const ask = (openai: OpenAI) =>
    openai.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }] });

  it("prints a request once its outermost stage ends: the stage, then its calls and stages indented in start order", async () => {
    const { lines, telemetry, openai } = stageSetup();
    try {
      server.enqueue({ usage: { prompt_tokens: 12, completion_tokens: 5 } });
      server.enqueue({ usage: { prompt_tokens: 20, completion_tokens: 3 } });
      await withWorkflow("answer", async () => {
        await withRetrieval("kb", () => Promise.resolve([]));
        expect(lines).toEqual([]); // nothing prints before the request ends
        await withAgent("helper", async () => {
          await withTool("lookup", () => Promise.resolve("x"));
          await ask(openai);
        });
        await ask(openai);
      });
      expect(withoutDurations(lines)).toEqual([
        "[tokentrace] invoke_workflow answer  N ms  under it: 2 calls, 1 tool, 32 in / 8 out, $0.000010",
        "[tokentrace]   retrieval kb  N ms",
        "[tokentrace]   invoke_agent helper  N ms  under it: 1 call, 1 tool, 12 in / 5 out, $0.000005",
        "[tokentrace]     execute_tool lookup  N ms",
        "[tokentrace]     chat gpt-4o-mini  N ms  tokens 12 in / 5 out  finish stop  cost $0.000005 (total $0.000005)",
        "[tokentrace]   chat gpt-4o-mini  N ms  tokens 20 in / 3 out  finish stop  cost $0.000005 (total $0.000010)",
      ]);
      // A call outside any stage still prints on its own line as it ends.
      lines.length = 0;
      server.enqueue({ usage: { prompt_tokens: 1, completion_tokens: 1 } });
      await ask(openai);
      expect(withoutDurations(lines)).toEqual([
        "[tokentrace] chat gpt-4o-mini  N ms  tokens 1 in / 1 out  finish stop  cost $7.5e-7 (total $0.000010)",
      ]);
    } finally {
      await telemetry.shutdown();
    }
  });

  it("keeps concurrent requests apart, and prints a child that ends after its root on its own, marked", async () => {
    // The late tool is in neither workflow's roll-up (it had not ended): tokentrace.rollup.late marks it.
    const { lines, telemetry } = stageSetup();
    try {
      let releaseLate!: () => void;
      const lateGate = new Promise<void>((resolve) => (releaseLate = resolve));
      let late: Promise<void> | undefined;
      await Promise.all([
        withWorkflow("first", async () => {
          late = withTool("slow", () => lateGate); // not awaited: outlives the workflow
          await withStep("a", () => Promise.resolve());
        }),
        withWorkflow("second", () => withStep("b", () => Promise.resolve())),
      ]);
      expect(withoutDurations(lines).sort()).toEqual(
        [
          "[tokentrace] invoke_workflow first  N ms",
          "[tokentrace]   step a  N ms",
          "[tokentrace] invoke_workflow second  N ms",
          "[tokentrace]   step b  N ms",
        ].sort(),
      );
      // Each tree is contiguous: its root line is directly followed by its own step.
      const first = lines.findIndex((line) => line.includes("invoke_workflow first"));
      const second = lines.findIndex((line) => line.includes("invoke_workflow second"));
      expect(lines[first + 1]).toContain("step a");
      expect(lines[second + 1]).toContain("step b");
      lines.length = 0;
      releaseLate();
      await late;
      expect(withoutDurations(lines)).toEqual(["[tokentrace] execute_tool slow  N ms  (ended after its parent)"]);
    } finally {
      await telemetry.shutdown();
    }
  });

  it(`holds at most ${CONSOLE_MAX_BUFFERED_SPANS} spans: past that it says so once and prints spans flat as they end`, async () => {
    const { lines, telemetry } = stageSetup();
    try {
      withWorkflow("big", () => {
        for (let index = 0; index < CONSOLE_MAX_BUFFERED_SPANS + 1; index += 1) withStep("s", () => 0);
      });
      // The workflow and 999 steps were held; the last two steps printed as they ended, the notice once.
      expect(lines.length).toBe(CONSOLE_MAX_BUFFERED_SPANS + 2 + 1);
      expect(lines[0]).toBe(
        `[tokentrace] console: over ${CONSOLE_MAX_BUFFERED_SPANS} spans waiting for their request to end; printing further spans as they end, not as a tree`,
      );
      expect(withoutDurations(lines.slice(1, 3))).toEqual(["[tokentrace] step s  N ms", "[tokentrace] step s  N ms"]);
      expect(lines[3]).toMatch(/^\[tokentrace\] invoke_workflow big {2}\d+ ms$/);
      expect(lines.slice(4).every((line) => /^\[tokentrace\] {3}step s {2}\d+ ms$/.test(line))).toBe(true);
      // Once the tree printed, the buffer is empty again: the next request prints as a tree.
      lines.length = 0;
      withWorkflow("after", () => withStep("t", () => 0));
      expect(withoutDurations(lines)).toEqual([
        "[tokentrace] invoke_workflow after  N ms",
        "[tokentrace]   step t  N ms",
      ]);
    } finally {
      await telemetry.shutdown();
    }
  });
});

describe("consoleSink() and feedback", () => {
  async function callThenFeedback(verbose: boolean): Promise<{ lines: string[]; traceId: string; spanId: string }> {
    const lines: string[] = [];
    const memory = memorySink();
    const telemetry = setup({
      sinks: [consoleSink({ verbose, write: (line) => lines.push(line) }), memory],
      captureContent: false,
    });
    try {
      const openai = observe(new OpenAI({ baseURL: server.openaiBaseURL, apiKey: "sk-test", maxRetries: 0 }));
      server.enqueue({ id: "chatcmpl-console-feedback", usage: { prompt_tokens: 12, completion_tokens: 5 } });
      const completion = await openai.chat.completions.create({
        model: "gpt-4o-mini",
        messages: [{ role: "user", content: "Hi" }],
      });
      lines.length = 0; // keep only what feedback prints
      const [span] = memory.getSpans();
      const { traceId, spanId } = span!.spanContext();
      expect(recordFeedback(callInfo(completion)!.ref!, { name: "thumbs", value: 0, label: "down" })).toEqual({
        ok: true,
        traceId,
        spanId,
      });
      expect(
        recordFeedback(completion, { name: "helpfulness", value: 0.8, source: "llm", evaluator: "judge-1" }),
      ).toMatchObject({ ok: true });
      return { lines: [...lines], traceId, spanId };
    } finally {
      await telemetry.shutdown();
    }
  }

  it("prints one line per feedback result as it is recorded, with the ids of the span it rates", async () => {
    const { lines, traceId, spanId } = await callThenFeedback(false);
    // No `evaluation` span line besides: the sink takes the log records, so feedback.spans "auto" records none.
    expect(lines).toEqual([
      `[tokentrace] evaluation thumbs  score 0  label down  source human  trace ${traceId}  span ${spanId}`,
      `[tokentrace] evaluation helpfulness  score 0.8  source llm  evaluator judge-1  trace ${traceId}  span ${spanId}`,
    ]);
  });

  it("with verbose, adds every attribute of the log record, one per line", async () => {
    const { lines, traceId, spanId } = await callThenFeedback(true);
    expect(lines).toEqual([
      `[tokentrace] evaluation thumbs  score 0  label down  source human  trace ${traceId}  span ${spanId}`,
      '    gen_ai.evaluation.name = "thumbs"',
      "    gen_ai.evaluation.score.value = 0",
      '    gen_ai.evaluation.score.label = "down"',
      '    tokentrace.evaluation.source = "human"',
      '    gen_ai.response.id = "chatcmpl-console-feedback"',
      `[tokentrace] evaluation helpfulness  score 0.8  source llm  evaluator judge-1  trace ${traceId}  span ${spanId}`,
      '    gen_ai.evaluation.name = "helpfulness"',
      "    gen_ai.evaluation.score.value = 0.8",
      '    tokentrace.evaluation.source = "llm"',
      '    tokentrace.evaluation.evaluator = "judge-1"',
      '    gen_ai.response.id = "chatcmpl-console-feedback"',
    ]);
  });
});
