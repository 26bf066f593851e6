import OpenAI from "openai";
import { context } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { createHmac } from "node:crypto";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  InvalidOptionError,
  currentStage,
  observe,
  traced,
  withAgent,
  withContext,
  withRetrieval,
  withStep,
  withTool,
  withWorkflow,
} from "../src/index.js";
import { memorySink, setup } from "../src/setup-entry.js";
import type { MemorySink, TokentraceHandle } from "../src/setup-entry.js";
import { startMockLLMServer } from "../src/testing/mock-server.js";
import type { MockLLMServer } from "../src/testing/mock-server.js";
import { collectGarbageUntil } from "./helpers/gc.js";
import { collect, histogramPoints, sumPoints } from "./helpers/harness.js";

/** Stages (issue 12): spans per the GenAI conventions, model calls nested under them, exact roll-ups. */

const messages = [{ role: "user" as const, content: "What is the capital of France?" }];

let server: MockLLMServer;
let sink: MemorySink;
let telemetry: TokentraceHandle;
let openai: OpenAI;
beforeAll(async () => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  server = await startMockLLMServer();
});
afterAll(async () => {
  await server.close();
  context.disable();
});
beforeEach(() => {
  sink = memorySink();
  telemetry = setup({ serviceName: "stages-test", sinks: [sink], captureContent: false });
  openai = new OpenAI({ baseURL: server.openaiBaseURL, apiKey: "sk-x", maxRetries: 0 });
  // Observed after setup(): its providers are setup's.
  openai = observe(openai);
});
afterEach(async () => {
  await telemetry.shutdown();
});

const byName = (name: string): ReadableSpan => {
  const span = sink.getSpans().find((candidate) => candidate.name === name);
  if (span === undefined)
    throw new Error(
      `no span ${name}: ${sink
        .getSpans()
        .map((s) => s.name)
        .join(", ")}`,
    );
  return span;
};
const rollup = (span: ReadableSpan): Record<string, unknown> =>
  Object.fromEntries(Object.entries(span.attributes).filter(([key]) => key.startsWith("tokentrace.rollup.")));

/** One mock chat call's usage and cost, read from its own span, so roll-up sums are checked against them. */
function callFacts(span: ReadableSpan): { input: number; output: number; cost: number } {
  return {
    input: span.attributes["gen_ai.usage.input_tokens"] as number,
    output: span.attributes["gen_ai.usage.output_tokens"] as number,
    cost: span.attributes["gen_ai.usage.cost"] as number,
  };
}

describe("stage spans", () => {
  it("nests model calls under workflow → agent → tool, with the conventions' names, kinds and attributes", async () => {
    const result = await withWorkflow("support-answer", () =>
      withAgent(
        "planner",
        async () => {
          await openai.chat.completions.create({ model: "gpt-4o-mini", messages });
          const weather = await withTool("get_weather", () => Promise.resolve("sunny"), { callId: "call_1" });
          withRetrieval(
            "kb-articles",
            (stage) => {
              stage.addDocuments([
                { id: "doc-1", score: 0.9 },
                { id: "doc-2", score: 0.5 },
              ]);
              return ["doc-1", "doc-2"];
            },
            { topK: 5 },
          );
          return weather;
        },
        { description: "Plans the answer" },
      ),
    );
    expect(result).toBe("sunny");
    await telemetry.flush();
    const workflow = byName("invoke_workflow support-answer");
    const agent = byName("invoke_agent planner");
    const tool = byName("execute_tool get_weather");
    const retrieval = byName("retrieval kb-articles");
    const call = byName("chat gpt-4o-mini");
    expect(agent.parentSpanContext?.spanId).toBe(workflow.spanContext().spanId);
    expect(call.parentSpanContext?.spanId).toBe(agent.spanContext().spanId);
    expect(tool.parentSpanContext?.spanId).toBe(agent.spanContext().spanId);
    expect(retrieval.parentSpanContext?.spanId).toBe(agent.spanContext().spanId);
    expect(new Set(sink.getSpans().map((span) => span.spanContext().traceId)).size).toBe(1);
    expect(workflow.attributes).toMatchObject({
      "gen_ai.operation.name": "invoke_workflow",
      "gen_ai.workflow.name": "support-answer",
      "tokentrace.stage.kind": "workflow",
    });
    expect(agent.attributes).toMatchObject({
      "gen_ai.operation.name": "invoke_agent",
      "gen_ai.agent.name": "planner",
      "gen_ai.agent.description": "Plans the answer",
    });
    expect(tool.attributes).toMatchObject({
      "gen_ai.operation.name": "execute_tool",
      "gen_ai.tool.name": "get_weather",
      "gen_ai.tool.type": "function",
      "gen_ai.tool.call.id": "call_1",
    });
    expect(retrieval.attributes).toMatchObject({
      "gen_ai.operation.name": "retrieval",
      "gen_ai.data_source.id": "kb-articles",
      "gen_ai.retrieval.top_k": 5,
      "tokentrace.retrieval.document.ids": ["doc-1", "doc-2"],
      "tokentrace.retrieval.document.scores": [0.9, 0.5],
      "tokentrace.retrieval.document.count": 2,
    });
    // SpanKind: INTERNAL = 0, CLIENT = 2.
    expect([workflow.kind, agent.kind, tool.kind, retrieval.kind]).toEqual([0, 0, 0, 2]);
  });

  it("returns exactly what fn returns: a sync value stays sync, a promise is the same object", async () => {
    expect(withStep("sync", () => 7)).toBe(7);
    const promise = openai.chat.completions.create({ model: "gpt-4o-mini", messages });
    const returned = withAgent("a", () => promise);
    expect(returned).toBe(promise);
    const { response } = await returned.withResponse();
    expect(response.status).toBe(200);
  });

  it("rethrows the same error object, sync or async, and marks the span ERROR with error.type", async () => {
    const error = new TypeError("bad tool input");
    expect(() =>
      withTool("parse", () => {
        throw error;
      }),
    ).toThrow(error);
    const rejection = new RangeError("out of range");
    await expect(withTool("async-parse", () => Promise.reject(rejection))).rejects.toBe(rejection);
    await telemetry.flush();
    for (const name of ["execute_tool parse", "execute_tool async-parse"]) {
      const span = byName(name);
      expect(span.status.code).toBe(2);
      expect(span.attributes["error.type"]).toBe(name.endsWith("async-parse") ? "RangeError" : "TypeError");
      // The type only, never the app's message (it may carry its users' data).
      expect(span.events.map((event) => [event.name, event.attributes])).toEqual([
        ["exception", { "exception.type": span.attributes["error.type"] }],
      ]);
    }
  });

  it("marks a returned failure with failWhen or stage.fail()", async () => {
    const result = await withTool("lookup", () => Promise.resolve({ ok: false }), {
      failWhen: (value) => (value.ok ? false : "not_found"),
    });
    expect(result).toEqual({ ok: false });
    withStep("validate", (stage) => stage.fail("invalid_plan"));
    await telemetry.flush();
    expect(byName("execute_tool lookup").attributes["error.type"]).toBe("not_found");
    expect(byName("step validate").attributes["error.type"]).toBe("invalid_plan");
  });

  it("traces a generator in place: its steps run in the stage, which ends on completion or early break", async () => {
    const client = openai;
    async function* answers(): AsyncGenerator<string> {
      const first = await client.chat.completions.create({ model: "gpt-4o-mini", messages });
      yield first.id;
      const second = await client.chat.completions.create({ model: "gpt-4o-mini", messages });
      yield second.id;
    }
    const generator = withAgent("streamer", () => answers());
    expect(await collect(generator)).toHaveLength(2);
    const early = withAgent("breaker", () => answers());
    for await (const _id of early) break;
    await telemetry.flush();
    const streamer = byName("invoke_agent streamer");
    const breaker = byName("invoke_agent breaker");
    expect(rollup(streamer)["tokentrace.rollup.model_calls"]).toBe(2);
    expect(rollup(breaker)["tokentrace.rollup.model_calls"]).toBe(1);
    const calls = sink.getSpans().filter((span) => span.name === "chat gpt-4o-mini");
    expect(calls.map((span) => span.parentSpanContext?.spanId)).toEqual([
      streamer.spanContext().spanId,
      streamer.spanContext().spanId,
      breaker.spanContext().spanId,
    ]);
  });

  it("ends a generator's stage as abandoned when the generator is garbage-collected unfinished", async () => {
    (() => {
      function* endless(): Generator<number> {
        for (let index = 0; ; index++) yield index;
      }
      const generator = withStep("forgotten", () => endless());
      generator.next();
    })();
    await collectGarbageUntil(() => {
      void telemetry.flush();
      return sink.getSpans().some((span) => span.name === "step forgotten");
    });
    const forgotten = byName("step forgotten");
    expect(forgotten.attributes["tokentrace.stage.end"]).toBe("abandoned");
    expect(forgotten.attributes["error.type"]).toBeUndefined();
    expect(forgotten.status.code).toBe(0);
  });

  it("traced() returns a function of the same behaviour whose calls are stages; currentStage() reaches the handle", async () => {
    const search = traced("retrieval", "kb", function searchArticles(query: string) {
      currentStage()?.addDocuments([{ id: `hit-for-${query}` }]);
      return Promise.resolve([query]);
    });
    expect(search.name).toBe("searchArticles");
    expect(await search("paris")).toEqual(["paris"]);
    await telemetry.flush();
    const span = byName("retrieval kb");
    expect(span.attributes["tokentrace.retrieval.document.ids"]).toEqual(["hit-for-paris"]);
    expect(span.attributes["tokentrace.retrieval.document.scores"]).toBeUndefined();
    expect(currentStage()).toBeUndefined();
  });

  it("carries the withContext values on stage spans too", async () => {
    await withContext({ userId: "u-stage" }, () => withWorkflow("w", () => Promise.resolve()));
    await telemetry.flush();
    expect(byName("invoke_workflow w").attributes["user.id"]).toBe("u-stage");
  });

  it("throws InvalidOptionError only for programming errors: a non-string name, a non-function, an unknown option", () => {
    expect(() => withAgent(42 as unknown as string, () => 1)).toThrow(
      new InvalidOptionError("withAgent", "expected a name (a string), received number 42."),
    );
    expect(() => withTool("t", "nope" as unknown as () => number)).toThrow(
      new InvalidOptionError("withTool", 'expected a function to run, received the string "nope".'),
    );
    expect(() => withTool("t", () => 1, { topK: 3 } as never)).toThrow(
      new InvalidOptionError(
        "withTool.topK",
        "unknown option. Accepted options: description, callId, type, failWhen, capture.",
      ),
    );
    expect(() => withTool("t", () => 1, { callId: 7 as unknown as string })).toThrow(
      new InvalidOptionError("withTool.callId", "expected a string, received number 7."),
    );
    expect(() => traced("chain" as never, "x", () => 1)).toThrow(InvalidOptionError);
    expect(sink.getSpans()).toHaveLength(0);
  });

  it("never throws for values that may come from the model: a blank or long name becomes _invalid, bad options are left out", async () => {
    expect(withTool("x".repeat(300), () => 1, { callId: "" })).toBe(1);
    expect(withRetrieval("  ", () => 2, { topK: 0 })).toBe(2);
    await telemetry.flush();
    const [tool, retrieval] = sink.getSpans();
    expect(tool!.name).toBe("execute_tool _invalid");
    expect(tool!.attributes["gen_ai.tool.call.id"]).toBeUndefined();
    expect(retrieval!.name).toBe("retrieval _invalid");
    expect(retrieval!.attributes["gen_ai.retrieval.top_k"]).toBeUndefined();
  });

  it("does not call then() on a thenable that is not a promise (it may run a query): the stage ends on return", () => {
    let thenCalls = 0;
    const query = {
      then: (resolve: (value: number) => void): void => {
        thenCalls++;
        resolve(1);
      },
    };
    expect(withStep("query", () => query)).toBe(query);
    expect(thenCalls).toBe(0);
    expect(sink.getSpans().map((span) => span.name)).toEqual(["step query"]);
  });

  it("keeps the user id out of stage spans when setup() has hashUserId", async () => {
    await telemetry.shutdown();
    sink = memorySink();
    const key = "a-secret-key-of-16+";
    telemetry = setup({ serviceName: "stages-test", sinks: [sink], captureContent: false, hashUserId: { key } });
    withContext({ userId: "alice@example.com" }, () =>
      withStep("s", (stage) => stage.setAttribute("user.id", "alice@example.com")),
    );
    await telemetry.flush();
    const span = byName("step s");
    expect(span.attributes["user.id"]).toBeUndefined();
    expect(span.attributes["user.hash"]).toBe(createHmac("sha256", key).update("alice@example.com").digest("hex"));
  });

  it("keeps free-text failure reasons off metric attributes", async () => {
    withStep("check", (stage) => stage.fail("the plan had 3 steps, not 4"));
    withStep("check", (stage) => stage.fail("invalid_plan"));
    const metrics = await sink.collectMetrics();
    const types = histogramPoints(metrics, "tokentrace.step.duration").map((point) => point.attributes["error.type"]);
    expect(types.sort()).toEqual(["_OTHER", "invalid_plan"]);
    await telemetry.flush();
    expect(sink.getSpans().map((span) => span.attributes["error.type"])).toEqual([
      "the plan had 3 steps, not 4",
      "invalid_plan",
    ]);
  });
});

describe("roll-ups", () => {
  it("sum exact tokens, cost and counts over nested stages with concurrent children and errors", async () => {
    await withWorkflow("request", () =>
      withAgent("agent", async () => {
        await Promise.all([
          openai.chat.completions.create({ model: "gpt-4o-mini", messages }),
          withTool("search", () => openai.chat.completions.create({ model: "gpt-4o-mini", messages })),
          withTool("broken", () => Promise.reject(new Error("tool failed"))).catch(() => undefined),
          collect(await openai.chat.completions.create({ model: "gpt-4o-mini", messages, stream: true })),
        ]);
        server.enqueue({ status: 429 });
        await openai.chat.completions.create({ model: "gpt-4o-mini", messages }).catch(() => undefined);
      }),
    );
    await telemetry.flush();
    const calls = sink.getSpans().filter((span) => span.name.startsWith("chat "));
    expect(calls).toHaveLength(4);
    const succeeded = calls.filter((span) => span.attributes["error.type"] === undefined).map(callFacts);
    const sum = (pick: (facts: { input: number; output: number; cost: number }) => number): number =>
      succeeded.reduce((total, facts) => total + pick(facts), 0);
    const agent = byName("invoke_agent agent");
    const errored = calls.filter((span) => span.attributes["error.type"] !== undefined).length;
    expect(rollup(agent)).toEqual({
      "tokentrace.rollup.model_calls": 4,
      "tokentrace.rollup.tool_calls": 2,
      "tokentrace.rollup.errors": errored + 1,
      "tokentrace.rollup.input_tokens": sum((facts) => facts.input),
      "tokentrace.rollup.output_tokens": sum((facts) => facts.output),
      "tokentrace.rollup.cost": sum((facts) => facts.cost),
    });
    expect(agent.attributes["gen_ai.usage.input_tokens"]).toBe(sum((facts) => facts.input));
    expect(rollup(byName("invoke_workflow request"))).toEqual(rollup(agent));
    expect(rollup(byName("execute_tool search"))).toMatchObject({
      "tokentrace.rollup.model_calls": 1,
      "tokentrace.rollup.tool_calls": 0,
    });
  });

  it("count errors as failed model calls and failed stages below each stage", async () => {
    const failure = new Error("tool failed");
    await withWorkflow("w", () => withAgent("a", () => withTool("t", () => Promise.reject(failure)))).catch(
      () => undefined,
    );
    await telemetry.flush();
    // The tool failed (1 below the agent); the agent failed with it (2 below the workflow).
    expect(rollup(byName("execute_tool t"))["tokentrace.rollup.errors"]).toBe(0);
    expect(rollup(byName("invoke_agent a"))["tokentrace.rollup.errors"]).toBe(1);
    expect(rollup(byName("invoke_workflow w"))["tokentrace.rollup.errors"]).toBe(2);
    expect(byName("invoke_workflow w").attributes["error.type"]).toBe("Error");
  });

  it("counts a child that ends after its stage as late, in the nearest stage still open", async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let pending: Promise<unknown> | undefined;
    await withWorkflow("outer", async () => {
      withStep("inner", () => {
        // Started inside the step, ends after it: the step has ended by then.
        pending = gate.then(() => openai.chat.completions.create({ model: "gpt-4o-mini", messages }));
      });
      release();
      await pending;
    });
    await telemetry.flush();
    const call = byName("chat gpt-4o-mini");
    expect(call.attributes["tokentrace.rollup.late"]).toBe(true);
    expect(rollup(byName("step inner"))).toEqual({
      "tokentrace.rollup.model_calls": 0,
      "tokentrace.rollup.tool_calls": 0,
      "tokentrace.rollup.errors": 0,
    });
    const outer = rollup(byName("invoke_workflow outer"));
    expect(outer["tokentrace.rollup.model_calls"]).toBe(1);
    expect(outer["tokentrace.rollup.late_children"]).toBe(1);
    expect(outer["tokentrace.rollup.input_tokens"]).toBe(callFacts(call).input);
  });

  it("keeps a stage that returns an observed stream open until the stream's call ends, read to the end or not", async () => {
    server.enqueue({ usage: { prompt_tokens: 30, completion_tokens: 7 }, chunks: 3 });
    const stream = await withWorkflow("streamed", () =>
      openai.chat.completions.create({ model: "gpt-4o-mini", messages, stream: true }),
    );
    await telemetry.flush();
    expect(sink.getSpans().map((span) => span.name)).toEqual([]); // nothing ended yet: the stream is unread
    const chunks = await collect(stream);
    expect(chunks.length).toBeGreaterThan(0);
    await telemetry.flush();
    const call = byName("chat gpt-4o-mini");
    const workflow = byName("invoke_workflow streamed");
    expect(call.attributes["tokentrace.rollup.late"]).toBeUndefined();
    expect(rollup(workflow)).toEqual({
      "tokentrace.rollup.model_calls": 1,
      "tokentrace.rollup.tool_calls": 0,
      "tokentrace.rollup.errors": 0,
      "tokentrace.rollup.input_tokens": 30,
      "tokentrace.rollup.output_tokens": 7,
      "tokentrace.rollup.cost": callFacts(call).cost,
    });
    expect(sink.getSpans().map((span) => span.name)).toEqual(["chat gpt-4o-mini", "invoke_workflow streamed"]);

    // An early break ends the call (cancelled), and the stage with it.
    server.enqueue({ usage: { prompt_tokens: 5, completion_tokens: 9 }, chunks: 4 });
    const second = await withAgent("broken-off", () =>
      openai.chat.completions.create({ model: "gpt-4o-mini", messages, stream: true }),
    );
    for await (const _chunk of second) break;
    await telemetry.flush();
    expect(rollup(byName("invoke_agent broken-off"))["tokentrace.rollup.model_calls"]).toBe(1);
    expect(byName("invoke_agent broken-off").attributes["tokentrace.rollup.late_children"]).toBeUndefined();
  });

  it("adds usage a stage reports itself", async () => {
    withAgent("self-hosted", (stage) => {
      stage.recordUsage({ inputTokens: 120, outputTokens: 30, costUsd: 0.0015 });
      stage.recordUsage({ inputTokens: -1, outputTokens: 1.5, costUsd: Number.NaN });
    });
    await telemetry.flush();
    expect(rollup(byName("invoke_agent self-hosted"))).toEqual({
      "tokentrace.rollup.model_calls": 0,
      "tokentrace.rollup.tool_calls": 0,
      "tokentrace.rollup.errors": 0,
      "tokentrace.rollup.input_tokens": 120,
      "tokentrace.rollup.output_tokens": 30,
      "tokentrace.rollup.cost": 0.0015,
    });
  });
});

describe("stage content (capture)", () => {
  const contentOf = (span: ReadableSpan): Record<string, unknown> =>
    Object.fromEntries(
      Object.entries(span.attributes).filter(
        ([key]) =>
          key.startsWith("gen_ai.tool.call.arguments") ||
          key.startsWith("gen_ai.tool.call.result") ||
          key.startsWith("tokentrace.stage.input") ||
          key.startsWith("tokentrace.stage.output") ||
          key === "tokentrace.content.truncated",
      ),
    );
  async function withCapture(options: { captureContent: boolean; maxContentLength?: number }): Promise<void> {
    await telemetry.shutdown();
    sink = memorySink();
    telemetry = setup({ sinks: [sink], ...options });
  }

  it("records a tool's arguments and result, and a traced function's arguments and return value, as JSON", async () => {
    await withCapture({ captureContent: true });
    const weather = await withTool(
      "get_weather",
      (stage) => {
        stage.recordInput({ city: "Paris" });
        return Promise.resolve({ celsius: 21, sky: "clear" });
      },
      { capture: true },
    );
    expect(weather).toEqual({ celsius: 21, sky: "clear" });
    const render = traced("step", "render", (template: string, count: number) => `${template} x${count}`, {
      capture: true,
    });
    expect(render("hello", 2)).toBe("hello x2");
    await telemetry.flush();
    expect(contentOf(byName("execute_tool get_weather"))).toEqual({
      "gen_ai.tool.call.arguments": '{"city":"Paris"}',
      "gen_ai.tool.call.result": '{"celsius":21,"sky":"clear"}',
    });
    expect(contentOf(byName("step render"))).toEqual({
      "tokentrace.stage.input": '["hello",2]',
      "tokentrace.stage.output": '"hello x2"',
    });
  });

  it("records nothing without the stage's capture option, nor with content capture off", async () => {
    await withCapture({ captureContent: true });
    withTool("plain", (stage) => {
      stage.recordInput({ secret: "s" });
      stage.setAttribute("gen_ai.tool.call.result", "forged"); // content only through the capture rules
      return "result";
    });
    // A scope that turned content off wins over the stage's capture option.
    withContext({ captureContent: false }, () =>
      withTool("scoped-off", (stage) => (stage.recordInput({ secret: "s" }), "result"), { capture: true }),
    );
    await telemetry.flush();
    expect(contentOf(byName("execute_tool plain"))).toEqual({});
    expect(contentOf(byName("execute_tool scoped-off"))).toEqual({});
    await withCapture({ captureContent: false });
    withTool("switched-off", (stage) => (stage.recordInput({ secret: "s" }), "result"), { capture: true });
    await telemetry.flush();
    expect(contentOf(byName("execute_tool switched-off"))).toEqual({});
  });

  it("cuts long content to maxContentLength and lists it, and leaves out what is not JSON, the app's value untouched", async () => {
    await withCapture({ captureContent: true, maxContentLength: 64 });
    const cyclic: Record<string, unknown> = { name: "loop" };
    cyclic["self"] = cyclic;
    expect(withStep("cyclic", () => cyclic, { capture: true })).toBe(cyclic);
    withAgent("long", (stage) => (stage.recordInput("short"), "y".repeat(500)), { capture: true });
    await telemetry.flush();
    expect(contentOf(byName("step cyclic"))).toEqual({});
    const long = contentOf(byName("invoke_agent long"));
    expect(long["tokentrace.stage.input"]).toBe('"short"');
    const output = long["tokentrace.stage.output"] as string;
    expect(output.length).toBeLessThanOrEqual(64);
    expect(JSON.parse(output)).toBe(`${"y".repeat(output.length - 2 - "…[truncated]".length)}…[truncated]`);
    expect(long["tokentrace.content.truncated"]).toEqual(["tokentrace.stage.output"]);
  });

  it("rejects a capture option that is not a boolean", () => {
    expect(() => withTool("t", () => 1, { capture: "yes" as never })).toThrow(
      new InvalidOptionError("withTool.capture", 'expected true or false, received the string "yes".'),
    );
  });
});

describe("stage metrics", () => {
  it("record durations per kind under the conventions' names, stage names capped, no context values", async () => {
    await withContext({ userId: "never-on-metrics" }, async () => {
      await withWorkflow("w", () => Promise.resolve());
      withAgent("a", () => undefined);
      withTool("t", () => undefined);
      withRetrieval("r", () => undefined);
      withStep("s", () => undefined);
    });
    for (let index = 0; index < 101; index++) withStep(`many-${index}`, () => undefined);
    const metrics = await sink.collectMetrics();
    const attributesOf = (name: string): Record<string, unknown>[] =>
      histogramPoints(metrics, name).map((point) => point.attributes);
    expect(attributesOf("gen_ai.workflow.duration")).toEqual([
      { "gen_ai.workflow.name": "w", "gen_ai.operation.name": "invoke_workflow" },
    ]);
    expect(attributesOf("gen_ai.invoke_agent.duration")).toEqual([
      { "gen_ai.agent.name": "a", "gen_ai.operation.name": "invoke_agent" },
    ]);
    expect(attributesOf("gen_ai.execute_tool.duration")).toEqual([
      { "gen_ai.tool.name": "t", "gen_ai.operation.name": "execute_tool" },
    ]);
    expect(attributesOf("gen_ai.client.operation.duration")).toEqual([
      { "gen_ai.data_source.id": "r", "gen_ai.operation.name": "retrieval" },
    ]);
    const steps = attributesOf("tokentrace.step.duration").map((point) => point["tokentrace.stage.name"]);
    // "s" and 99 of the "many-" names fill the cap of 100; the last two share "_other".
    expect(steps).toHaveLength(101);
    expect(steps.filter((name) => name === "_other")).toHaveLength(1);
    const other = histogramPoints(metrics, "tokentrace.step.duration").find(
      (point) => point.attributes["tokentrace.stage.name"] === "_other",
    )!;
    expect(other.value.count).toBe(2);
    expect(JSON.stringify(metrics.scopeMetrics)).not.toContain("never-on-metrics");
  });

  it("count each workflow's roll-up cost under its name (failed ones with error.type), none for a workflow without cost", async () => {
    server.enqueue({ usage: { prompt_tokens: 100, completion_tokens: 20 } });
    server.enqueue({ usage: { prompt_tokens: 40, completion_tokens: 10 } });
    await withWorkflow("answer", async () => {
      await openai.chat.completions.create({ model: "gpt-4o-mini", messages });
      await withAgent("inner", () => openai.chat.completions.create({ model: "gpt-4o-mini", messages }));
    });
    await expect(
      withWorkflow("answer", (stage) => {
        stage.recordUsage({ costUsd: 0.25 });
        return Promise.reject(new TypeError("boom"));
      }),
    ).rejects.toThrow("boom");
    withWorkflow("free", () => undefined);
    withAgent("not-a-workflow", (stage) => stage.recordUsage({ costUsd: 1 }));
    await telemetry.flush();
    const calls = sink.getSpans().filter((span) => span.name === "chat gpt-4o-mini");
    expect(calls).toHaveLength(2);
    const callsCost = callFacts(calls[0]!).cost + callFacts(calls[1]!).cost;
    expect(byName("invoke_workflow answer").attributes["tokentrace.rollup.cost"]).toBe(callsCost);
    const points = sumPoints(await sink.collectMetrics(), "tokentrace.workflow.cost");
    expect(points).toEqual([
      {
        attributes: { "gen_ai.workflow.name": "answer", "gen_ai.operation.name": "invoke_workflow" },
        value: callsCost,
      },
      {
        attributes: {
          "gen_ai.workflow.name": "answer",
          "gen_ai.operation.name": "invoke_workflow",
          "error.type": "TypeError",
        },
        value: 0.25,
      },
    ]);
  });

  it("carry setup()'s metricContextKey on stage durations and workflow cost, values capped, nothing else from the context", async () => {
    await telemetry.shutdown();
    sink = memorySink();
    telemetry = setup({ sinks: [sink], captureContent: false, metricContextKey: { key: "tenant", maxValues: 1 } });
    for (const tenant of ["acme", "globex", "acme", "initech"])
      withContext({ userId: "never-on-metrics", metadata: { tenant, plan: "pro" } }, () =>
        withWorkflow("w", (stage) => {
          stage.recordUsage({ costUsd: 0.5 });
          withTool("t", () => undefined);
        }),
      );
    withWorkflow("w", () => undefined); // outside any context: no tenant attribute
    const metrics = await sink.collectMetrics();
    const byTenant = (points: Array<{ attributes: Record<string, unknown> }>, value: (point: never) => number) =>
      points
        .map((point): [string, number] => [
          (point.attributes["tokentrace.metadata.tenant"] as string | undefined) ?? "-",
          value(point as never),
        ])
        .sort((a, b) => (a[0] < b[0] ? -1 : 1));
    const count = (point: { value: { count: number } }): number => point.value.count;
    expect(byTenant(histogramPoints(metrics, "gen_ai.workflow.duration"), count)).toEqual([
      ["-", 1],
      ["_other", 2],
      ["acme", 2],
    ]);
    expect(byTenant(histogramPoints(metrics, "gen_ai.execute_tool.duration"), count)).toEqual([
      ["_other", 2],
      ["acme", 2],
    ]);
    expect(byTenant(sumPoints(metrics, "tokentrace.workflow.cost"), (point: { value: number }) => point.value)).toEqual(
      [
        ["_other", 1],
        ["acme", 1],
      ],
    );
    const serialized = JSON.stringify(metrics.scopeMetrics);
    expect(serialized).not.toContain("never-on-metrics");
    expect(serialized).not.toContain("tokentrace.metadata.plan");
  });

  it("passes through when tracing is off (no setup, no global provider): the stage runs, its ids are all zeros", async () => {
    await telemetry.shutdown();
    expect(await withAgent("quiet", (stage) => Promise.resolve([stage.traceId, stage.spanId]))).toEqual([
      "00000000000000000000000000000000",
      "0000000000000000",
    ]);
  });
});
