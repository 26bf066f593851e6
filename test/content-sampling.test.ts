import OpenAI from "openai";
import { ROOT_CONTEXT, TraceFlags, context, trace } from "@opentelemetry/api";
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { describe, expect, it } from "vitest";
import { InvalidOptionError, observe, withTool } from "../src/index.js";
import { alwaysReason, inSampledShare } from "../src/redaction/sampling.js";
import { memorySink, setup } from "../src/setup-entry.js";
import type { MemorySink } from "../src/setup-entry.js";
import { chatCompletion } from "./helpers/provider-bodies.js";
import { startScriptedServer } from "./helpers/scripted-server.js";
import type { ScriptedAnswer, ScriptedRequest } from "./helpers/scripted-server.js";
import { setupSuite } from "./helpers/telemetry.js";

/**
 * Content sampling (issue 13): content for a share of traces, decided from the trace id, and always for the
 * listed outcomes; spans, usage and cost for every call.
 */

// Trace ids whose last 8 hex digits sit on either side of rate 0.5 (2^31).
const IN_SHARE = "0123456789abcdef012345677fffffff";
const OUT_OF_SHARE = "0123456789abcdef0123456780000000";

/** Answers every chat call: a 400 for FAIL, cut short for LONG, else a plain answer. */
function answer(request: ScriptedRequest): ScriptedAnswer {
  const said = JSON.stringify(request.body);
  if (said.includes("FAIL"))
    return { status: 400, json: { error: { message: "bad: FAIL", type: "invalid_request_error" } } };
  const stop = said.includes("LONG") ? "length" : "stop";
  return { json: chatCompletion({ content: "the answer", finishReason: stop }) };
}

let sink: MemorySink;
const suite = setupSuite(() => startScriptedServer(answer));

/** Run `fn` in a trace with this id (the app's own parent span, as an upstream service would send it). */
function inTrace<T>(traceId: string, fn: () => T): T {
  const parent = trace.setSpanContext(ROOT_CONTEXT, {
    traceId,
    spanId: "0123456789abcdef",
    traceFlags: TraceFlags.SAMPLED,
  });
  return context.with(parent, fn);
}

function start(always?: ("error" | "length")[]): OpenAI {
  sink = memorySink();
  const contentSampling = always === undefined ? { rate: 0.5 } : { rate: 0.5, always };
  suite.telemetry = setup({ serviceName: "sampling", sinks: [sink], captureContent: true, contentSampling });
  return observe(new OpenAI({ apiKey: "sk-test", baseURL: `${suite.server.url}/v1`, maxRetries: 0 }));
}

const ask = (openai: OpenAI, content: string) =>
  openai.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content }] });

/** The sampling facts and content presence of a span. */
function facts(span: ReadableSpan | undefined): Record<string, unknown> {
  const attributes = span?.attributes ?? {};
  return {
    sampled: attributes["tokentrace.content.sampled"],
    reason: attributes["tokentrace.content.sampling_reason"],
    input: attributes["gen_ai.input.messages"] !== undefined,
    output: attributes["gen_ai.output.messages"] !== undefined,
    present: attributes["tokentrace.content.present"],
    outputTokens: attributes["gen_ai.usage.output_tokens"],
    cost: typeof attributes["gen_ai.usage.cost"],
  };
}

describe("contentSampling", () => {
  it("decides from the trace id's last 8 hex digits, on either side of rate × 2^32", () => {
    expect(inSampledShare(IN_SHARE, 0.5)).toBe(true);
    expect(inSampledShare(OUT_OF_SHARE, 0.5)).toBe(false);
    expect(inSampledShare("0123456789abcdef0123456700000000", 0.000001)).toBe(true);
    expect(inSampledShare("0123456789abcdef01234567ffffffff", 0.999999)).toBe(false);
    expect(inSampledShare("0123456789abcdef01234567ffffffff", 1)).toBe(true);
    expect(inSampledShare("0123456789abcdef0123456700000000", 0)).toBe(false);
    expect(inSampledShare("not a trace id", 0.5)).toBe(false);
  });

  it("maps the listed outcomes and finish reasons, the first listed winning", () => {
    expect(alwaysReason(["error"], "error", undefined)).toBe("error");
    expect(alwaysReason(["error"], "completed", ["stop"])).toBeUndefined();
    expect(alwaysReason(["length", "content_filter"], "completed", ["max_tokens"])).toBe("length");
    expect(alwaysReason(["content_filter"], "completed", ["stop", "refusal"])).toBe("content_filter");
    expect(alwaysReason(["cancelled", "error"], "error", undefined)).toBe("error");
    expect(alwaysReason(undefined, "error", undefined)).toBeUndefined();
    // `cancelled` stands for every way the app stopped a call: a stream it stopped reading, an abort, a drop.
    for (const outcome of ["cancelled", "aborted", "abandoned"]) {
      expect(alwaysReason(["cancelled"], outcome, undefined)).toBe("cancelled");
    }
    expect(alwaysReason(["error"], "aborted", undefined)).toBeUndefined();
  });

  it("records content in the sampled share and leaves it out past it, with usage and cost either way", async () => {
    const openai = start();
    await inTrace(IN_SHARE, () => ask(openai, "hello"));
    await inTrace(OUT_OF_SHARE, () => ask(openai, "hello"));
    const [kept, left] = sink.getSpans();
    expect(facts(kept)).toEqual({
      sampled: true,
      reason: "rate",
      input: true,
      output: true,
      present: true,
      outputTokens: 5,
      cost: "number",
    });
    expect(facts(left)).toEqual({
      sampled: false,
      reason: "not_sampled",
      input: false,
      output: false,
      present: undefined,
      outputTokens: 5,
      cost: "number",
    });
  });

  it("records an error's content and text past the share when `always` lists errors, and not otherwise", async () => {
    let openai = start(["error"]);
    await inTrace(OUT_OF_SHARE, () => ask(openai, "FAIL").catch(() => undefined));
    let [span] = sink.getSpans();
    expect(facts(span)).toMatchObject({ sampled: true, reason: "error", input: true, present: true });
    expect(span?.status.message).toBe("400 bad: FAIL");
    await suite.telemetry?.shutdown();

    openai = start();
    await inTrace(OUT_OF_SHARE, () => ask(openai, "FAIL").catch(() => undefined));
    [span] = sink.getSpans();
    expect(facts(span)).toMatchObject({ sampled: false, reason: "not_sampled", input: false, present: undefined });
    // Capture off for this call: the neutral text of the error, never the server's.
    expect(span?.status.message).toBe("BadRequestError: HTTP 400, type invalid_request_error");
  });

  it("records a truncated answer past the share when `always` lists length", async () => {
    const openai = start(["length"]);
    await inTrace(OUT_OF_SHARE, () => ask(openai, "LONG"));
    await inTrace(OUT_OF_SHARE, () => ask(openai, "short"));
    const [long, short] = sink.getSpans();
    expect(facts(long)).toMatchObject({ sampled: true, reason: "length", output: true });
    expect(facts(short)).toMatchObject({ sampled: false, reason: "not_sampled", output: false });
  });

  it("holds a stage's content until it ends, and records it only when sampled", () => {
    start(["error"]);
    const run = (traceId: string, fail: boolean): void =>
      inTrace(traceId, () => {
        try {
          withTool(
            "lookup",
            (tool) => {
              tool.recordInput({ id: 7 });
              if (fail) throw new Error("no record 7");
              return "found";
            },
            { capture: true },
          );
        } catch {
          // The app's error, rethrown to it as it was.
        }
      });
    run(IN_SHARE, false);
    run(OUT_OF_SHARE, false);
    run(OUT_OF_SHARE, true);
    const [inShare, outOfShare, failed] = sink.getSpans().map((span) => ({
      sampled: span.attributes["tokentrace.content.sampled"],
      reason: span.attributes["tokentrace.content.sampling_reason"],
      arguments: span.attributes["gen_ai.tool.call.arguments"],
      result: span.attributes["gen_ai.tool.call.result"],
      message: span.events[0]?.attributes?.["exception.message"],
    }));
    expect(inShare).toEqual({
      sampled: true,
      reason: "rate",
      arguments: '{"id":7}',
      result: '"found"',
      message: undefined,
    });
    expect(outOfShare).toEqual({
      sampled: false,
      reason: "not_sampled",
      arguments: undefined,
      result: undefined,
      message: undefined,
    });
    expect(failed).toEqual({
      sampled: true,
      reason: "error",
      arguments: '{"id":7}',
      result: undefined,
      message: "no record 7",
    });
  });

  it("does not redact a stage's content that can never be recorded", () => {
    const seen: string[] = [];
    sink = memorySink();
    suite.telemetry = setup({
      serviceName: "sampling",
      sinks: [sink],
      captureContent: true,
      // `length` ends calls, never stages: a stage out of the share is never recorded.
      contentSampling: { rate: 0.5, always: ["length"] },
      redact: (text) => {
        seen.push(text);
        return text;
      },
    });
    const run = (traceId: string): void =>
      inTrace(traceId, () => withTool("lookup", (tool) => tool.recordInput({ id: "seven" }), { capture: true }));
    run(OUT_OF_SHARE);
    expect(seen).toEqual([]);
    run(IN_SHARE);
    expect(seen).toEqual(["seven"]);
    expect(sink.getSpans().map((span) => span.attributes["gen_ai.tool.call.arguments"])).toEqual([
      undefined,
      '{"id":"seven"}',
    ]);
  });

  it("rejects invalid settings at set-up, naming the option and what it accepts", () => {
    const cases: [unknown, string, string][] = [
      [0.5, "contentSampling", "expected an object { rate, always? }, received number 0.5"],
      [{ rate: 2 }, "contentSampling.rate", "expected a number from 0 to 1, received number 2"],
      [{ rate: Number.NaN }, "contentSampling.rate", "expected a number from 0 to 1, received number NaN"],
      [
        { rate: 0.1, always: "error" },
        "contentSampling.always",
        "expected an array of error, cancelled, length, content_filter",
      ],
      [
        { rate: 0.1, always: ["errors"] },
        "contentSampling.always[0]",
        'unknown outcome the string "errors". Accepted outcomes: error, cancelled, length, content_filter.',
      ],
      [{ rate: 0.1, sample: 1 }, "contentSampling.sample", "unknown option. Accepted options: rate, always."],
    ];
    for (const [contentSampling, option, fragment] of cases) {
      let thrown: unknown;
      try {
        observe(new OpenAI({ apiKey: "sk-test" }), { contentSampling } as never);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(InvalidOptionError);
      expect((thrown as InvalidOptionError).option).toBe(option);
      expect((thrown as Error).message).toContain(fragment);
    }
  });
});
