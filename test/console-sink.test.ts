import OpenAI from "openai";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { observe, withAgent, withTool } from "../src/index.js";
import { consoleSink, setup } from "../src/setup-entry.js";
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
    expect(lines).toEqual([
      "[tokentrace] metrics (cumulative)",
      `    gen_ai.client.operation.duration{${labels}}  count 1  sum 0.25 s`,
      `    gen_ai.client.token.usage{${labels}, gen_ai.token.type=input}  count 1  sum 12 {token}`,
      `    gen_ai.client.token.usage{${labels}, gen_ai.token.type=output}  count 1  sum 5 {token}`,
      `    tokentrace.client.calls{${labels}, tokentrace.call.outcome=completed}  1 {call}`,
      `    tokentrace.client.cost{${labels}}  0.0000048 {USD}`,
      `    tokentrace.client.token.cache_read{${labels}}  0 {token}`,
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

describe("consoleSink() stage lines (issue 12)", () => {
  it("prints what ran under a stage from its roll-ups, and nothing extra for an empty leaf", async () => {
    const lines: string[] = [];
    const telemetry = setup({ sinks: [consoleSink({ write: (line) => lines.push(line) })], captureContent: false });
    try {
      const openai = observe(new OpenAI({ baseURL: server.openaiBaseURL, apiKey: "sk-test", maxRetries: 0 }));
      server.enqueue({ usage: { prompt_tokens: 12, completion_tokens: 5 } });
      await withAgent("helper", async () => {
        await withTool("lookup", () => Promise.resolve("x"));
        await openai.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }] });
      });
      await telemetry.flush();
      const stageLines = lines
        .filter((line) => /invoke_agent|execute_tool/.test(line))
        .map((line) => line.replace(/\d+ ms/, "N ms"));
      expect(stageLines).toEqual([
        "[tokentrace] execute_tool lookup  N ms",
        "[tokentrace] invoke_agent helper  N ms  under it: 1 call, 1 tool, 12 in / 5 out, $0.000005",
      ]);
    } finally {
      await telemetry.shutdown();
    }
  });
});
