import OpenAI from "openai";
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { capMessages, serializeContent, serializeWithin, TRUNCATION_MARKER } from "../src/content.js";
import { withTool } from "../src/index.js";
import { memorySink, setup } from "../src/setup-entry.js";
import type { TokentraceHandle } from "../src/setup-entry.js";
import { createHarness } from "./helpers/harness.js";
import type { Harness } from "./helpers/harness.js";

/** A message in the shape the adapters record (`gen_ai.input.messages`). */
const message = (role: string, content: string) => ({ role, parts: [{ type: "text", content }] });

/** A chat history: a system message, then `count` user/assistant turns of about 300 characters each. */
function history(count: number): Array<ReturnType<typeof message>> {
  const turns = Array.from({ length: count }, (_, index) =>
    message(index % 2 === 0 ? "user" : "assistant", `turn ${index}: ${"lorem ipsum ".repeat(25)}`),
  );
  return [message("system", "You are a concise assistant."), ...turns];
}

/**
 * Runs `serializeContent` with `JSON.stringify` spied on: the characters every call of it produced (the
 * serialisation work), and how many calls there were.
 */
function measureWork(value: unknown, maxLength: number): { json: string; characters: number; calls: number } {
  const original = JSON.stringify;
  let characters = 0;
  let calls = 0;
  const spy = vi.spyOn(JSON, "stringify").mockImplementation(((...args: Parameters<typeof original>) => {
    const json = original(...args);
    calls++;
    characters += json?.length ?? 0;
    return json;
  }) as typeof original);
  try {
    return { json: serializeContent(value, maxLength).json, characters, calls };
  } finally {
    spy.mockRestore();
  }
}

describe("serializeContent()", () => {
  it("returns content that fits as its plain JSON", () => {
    const value = [message("system", "Be brief."), message("user", "Hi")];
    expect(serializeContent(value, 200)).toEqual({ json: JSON.stringify(value), truncated: false });
    expect(serializeContent("short", 64)).toEqual({ json: '"short"', truncated: false });
    expect(serializeContent([], 64)).toEqual({ json: "[]", truncated: false });
    expect(serializeContent(undefined, 64)).toEqual({ json: "null", truncated: false });
  });

  it("cuts a long string to exactly the limit, ending with the marker", () => {
    const { json, truncated } = serializeContent("x".repeat(100), 64);
    expect(json).toBe(`"${"x".repeat(50)}${TRUNCATION_MARKER}"`);
    expect(json.length).toBe(64);
    expect(truncated).toBe(true);
  });

  it("drops the oldest messages, keeps the system message and the newest ones, and says how many were dropped", () => {
    const value = [
      message("system", "Be brief."),
      message("user", "a".repeat(40)),
      message("assistant", "b".repeat(40)),
      message("user", "c".repeat(40)),
      message("assistant", "d".repeat(40)),
    ];
    // Items of 65, 94, 99, 94 and 99 characters: the marker (21), the system message and the newest two
    // make 284 characters with brackets and commas; the next newest would make 384.
    const { json, truncated } = serializeContent(value, 290);
    expect(truncated).toBe(true);
    expect(JSON.parse(json)).toEqual([{ truncated_items: 2 }, value[0], value[3], value[4]]);
    expect(json.length).toBe(284);
  });

  it("keeps every system and developer message, in their places among the kept ones", () => {
    const value = [
      message("system", "Rule one."),
      message("user", "old question"),
      message("developer", "Rule two."),
      message("user", "u".repeat(100)),
      message("assistant", "a".repeat(100)),
      message("user", "newest"),
    ];
    const { json } = serializeContent(value, 400);
    expect(JSON.parse(json)).toEqual([{ truncated_items: 2 }, value[0], value[2], value[4], value[5]]);
    expect(json.length).toBe(379);
  });

  it("cuts the strings of the newest message when it alone does not fit, with no marker item when nothing was dropped", () => {
    const { json } = serializeContent([message("user", "x".repeat(5_000))], 200);
    expect(json).toBe(`[{"role":"user","parts":[{"type":"text","content":"${"x".repeat(132)}${TRUNCATION_MARKER}"}]}]`);
    expect(json.length).toBe(200);
  });

  it("cuts the system message and the newest message to one length when they do not fit together", () => {
    const value = [
      message("system", "s".repeat(500)),
      message("user", "u".repeat(500)),
      message("user", "v".repeat(500)),
    ];
    const { json } = serializeContent(value, 300);
    const cut = (letter: string) => `${letter.repeat(70)}${TRUNCATION_MARKER}`;
    expect(JSON.parse(json)).toEqual([{ truncated_items: 1 }, message("system", cut("s")), message("user", cut("v"))]);
    // 299: the one character left over cannot be shared by the two cut strings.
    expect(json.length).toBe(299);
  });

  it("leaves short strings whole and cuts only the long ones", () => {
    const { json } = serializeContent({ id: "call_1", text: "t".repeat(1_000), kind: "tool" }, 100);
    expect(JSON.parse(json)).toEqual({ id: "call_1", text: `${"t".repeat(49)}${TRUNCATION_MARKER}`, kind: "tool" });
    expect(json.length).toBe(100);
  });

  it("keeps as much of an escape-heavy string as fits", () => {
    const { json } = serializeContent({ code: '"\n'.repeat(500) }, 100);
    expect(json).toBe(`{"code":"${'\\"\\n'.repeat(19)}${TRUNCATION_MARKER}"}`);
    // One more character would be an escaped quote (two characters): 101.
    expect(json.length).toBe(99);
  });

  it("never splits a surrogate pair", () => {
    const { json } = serializeContent("😀".repeat(100), 64);
    expect(json).toBe(`"${"😀".repeat(25)}${TRUNCATION_MARKER}"`);
  });

  it("says only how long the content was when no cut of it fits", () => {
    const value = Object.fromEntries(Array.from({ length: 100 }, (_, index) => [`key${index}`, index]));
    const whole = JSON.stringify(value);
    expect(serializeContent(value, 64)).toEqual({
      json: `{"truncated":true,"length":${whole.length}}`,
      truncated: true,
    });
  });

  it("always returns valid JSON within the limit, and the content itself when it fits (property)", () => {
    const roles = fc.constantFrom("system", "developer", "user", "assistant", "tool");
    const messages = fc.array(
      fc.record({
        role: roles,
        parts: fc.array(
          fc.record({ type: fc.constant("text"), content: fc.string({ maxLength: 400, unit: "grapheme" }) }),
          { maxLength: 3 },
        ),
      }),
      { maxLength: 40 },
    );
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), messages), fc.integer({ min: 64, max: 3_000 }), (value, maxLength) => {
        const { json, truncated } = serializeContent(value, maxLength);
        expect(json.length).toBeLessThanOrEqual(maxLength);
        expect(() => JSON.parse(json) as unknown).not.toThrow();
        const whole = JSON.stringify(value) ?? "null";
        expect(truncated).toBe(whole.length > maxLength);
        if (!truncated) expect(json).toBe(whole);
      }),
      { seed: 10, numRuns: 400 },
    );
  });

  it("keeps the newest message and every system message of a cut history (property)", () => {
    const turn = fc.record({
      role: fc.constantFrom("user", "assistant"),
      parts: fc.constant([{ type: "text", content: "x".repeat(30) }]),
    });
    fc.assert(
      fc.property(
        fc.array(turn, { minLength: 1, maxLength: 60 }),
        fc.integer({ min: 0, max: 3 }),
        (turns, systemCount) => {
          const system = Array.from({ length: systemCount }, (_, index) => message("system", `rule ${index}`));
          const value = [...system, ...turns];
          const parsed = JSON.parse(serializeContent(value, 400).json) as unknown[];
          expect(parsed.filter((item) => (item as { role?: string }).role === "system")).toEqual(system);
          expect(parsed[parsed.length - 1]).toEqual(turns[turns.length - 1]);
        },
      ),
      { seed: 11, numRuns: 200 },
    );
  });

  it("does serialisation work linear in the size of a long history", () => {
    const work = [100, 1_000, 10_000].map((count) => {
      const value = history(count);
      const size = JSON.stringify(value).length;
      return { size, ...measureWork(value, 16_384) };
    });
    for (const { size, characters, calls, json } of work) {
      expect(json.length).toBeLessThanOrEqual(16_384);
      // Each item once, then the result: about the size of the content, never a multiple per dropped item.
      expect(characters).toBeLessThanOrEqual(2 * size);
      expect(calls).toBeLessThanOrEqual(size / 300);
    }
    expect(work[2]!.characters / work[1]!.characters).toBeLessThanOrEqual(11);
  });

  it("does serialisation work linear in the size of one huge message", () => {
    const huge = (parts: number) => [
      {
        role: "user",
        parts: Array.from({ length: parts }, (_, index) => ({
          type: "text",
          content: `${index}: ${"word ".repeat(60)}`,
        })),
      },
    ];
    const work = [100, 1_000, 10_000].map((parts) => {
      const value = huge(parts);
      return { size: JSON.stringify(value).length, ...measureWork(value, 16_384) };
    });
    for (const { size, characters, json } of work) {
      expect(json.length).toBeLessThanOrEqual(16_384);
      // One pass to find the strings, one for their lengths, a few cut passes no longer than the content.
      expect(characters).toBeLessThanOrEqual(4 * size);
    }
    expect(work[2]!.characters / work[1]!.characters).toBeLessThanOrEqual(11);
  });
});

describe("serializeWithin(): UTF-8 bytes and message counts", () => {
  const bytes = (text: string): number => Buffer.byteLength(text, "utf8");

  it("is serializeContent for text whose bytes are its characters", () => {
    const value = history(60);
    expect(serializeWithin(value, 4_096, 4_096)).toEqual(serializeContent(value, 4_096));
  });

  it("cuts text outside ASCII to the byte limit, still valid JSON and marked", () => {
    // 2,000 characters of 3-byte text: 6,002 bytes of JSON, 2,002 characters.
    const text = "日本語".repeat(666) + "日本";
    expect(serializeContent(text, 4_096)).toEqual({ json: JSON.stringify(text), truncated: false });
    const { json, truncated } = serializeWithin(text, 4_096, 1_024);
    expect(truncated).toBe(true);
    expect(bytes(json)).toBeLessThanOrEqual(1_024);
    // Close to the limit: the second pass aims just under it.
    expect(bytes(json)).toBeGreaterThan(1_024 * 0.95);
    const kept = JSON.parse(json) as string;
    expect(kept.endsWith(TRUNCATION_MARKER)).toBe(true);
    expect(text.startsWith(kept.slice(0, -TRUNCATION_MARKER.length))).toBe(true);
  });

  it("applies the character limit too, whichever is lower", () => {
    const text = "a".repeat(5_000);
    expect(serializeWithin(text, 1_000, 4_096).json.length).toBeLessThanOrEqual(1_000);
    expect(serializeWithin(text, 4_096, 1_000).json.length).toBeLessThanOrEqual(1_000);
  });

  it("keeps the system messages and the newest others up to the count, and counts the rest in the marker", () => {
    const items = history(9);
    const capped = capMessages(items, 4);
    expect(capped.dropped).toBe(6);
    expect(capped.items).toEqual([items[0], items[7], items[8], items[9]]);
    expect(capMessages(items, 10)).toEqual({ items, dropped: 0 });
    const { json, truncated } = serializeWithin(capped.items, 16_384, 16_384, capped.dropped);
    expect(truncated).toBe(true);
    expect(JSON.parse(json)).toEqual([{ truncated_items: 6 }, items[0], items[7], items[8], items[9]]);
  });

  it("adds what the count dropped to what the length drops, in one marker", () => {
    const items = history(9);
    const capped = capMessages(items, 4);
    const { json } = serializeWithin(capped.items, 700, 700, capped.dropped);
    // The system message and the newest turn fit in 700 characters; two more turns are dropped for length.
    expect(JSON.parse(json)).toEqual([{ truncated_items: 8 }, items[0], items[9]]);
  });
});

describe("content truncation on a span", () => {
  let h: Harness;
  beforeEach(async () => {
    h = await createHarness();
  });
  afterEach(async () => {
    await h.close();
  });

  it("keeps the system message and the newest messages of a 1,000-message history at the default limit", async () => {
    const turns = Array.from({ length: 1_000 }, (_, index) => ({
      role: index % 2 === 0 ? ("user" as const) : ("assistant" as const),
      content: `turn ${String(index).padStart(4, "0")}: ${"lorem ipsum ".repeat(25)}`,
    }));
    const client = h.observeClient(new OpenAI({ baseURL: h.server.openaiBaseURL, apiKey: "sk-x", maxRetries: 0 }));
    await client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "system", content: "You are a concise assistant." }, ...turns],
    });
    const attributes = h.onlySpan().attributes;
    const input = attributes["gen_ai.input.messages"] as string;
    expect(input.length).toBeLessThanOrEqual(16_384);
    const parsed = JSON.parse(input) as Array<{
      truncated_items?: number;
      role?: string;
      parts?: Array<{ content: string }>;
    }>;
    // Turns of 365 and 370 characters: the marker, the system message and the newest 44 turns make 16,324
    // characters, one more turn would pass 16,384.
    expect(input.length).toBe(16_324);
    expect(parsed[0]).toEqual({ truncated_items: 956 });
    expect(parsed[1]).toEqual(message("system", "You are a concise assistant."));
    expect(parsed.slice(2)).toEqual(turns.slice(956).map((turn) => message(turn.role, turn.content)));
    expect(attributes["tokentrace.content.truncated"]).toEqual(["gen_ai.input.messages"]);
  });

  it("writes the answer first within the span's byte budget, then the question, then what is left", async () => {
    const client = h.observeClient(new OpenAI({ baseURL: h.server.openaiBaseURL, apiKey: "sk-x", maxRetries: 0 }), {
      maxSpanContentBytes: 700,
      maxContentMessages: 3,
    });
    const tools = [
      { type: "function" as const, function: { name: "lookup", description: "d".repeat(300), parameters: {} } },
    ];
    const turns = Array.from({ length: 6 }, (_, index) => ({
      role: index % 2 === 0 ? ("user" as const) : ("assistant" as const),
      content: `turn ${index}: ${"lorem ipsum ".repeat(10)}`,
    }));
    await client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "system", content: "You are a concise assistant." }, ...turns],
      tools,
    });
    const attributes = h.onlySpan().attributes;
    const output = attributes["gen_ai.output.messages"] as string;
    const input = attributes["gen_ai.input.messages"] as string;
    expect(output.length + input.length).toBeLessThanOrEqual(700);
    // Three messages kept by count: the system message and the newest two turns.
    expect(JSON.parse(input)).toEqual([
      { truncated_items: 4 },
      message("system", "You are a concise assistant."),
      message(turns[4]!.role, turns[4]!.content),
      message(turns[5]!.role, turns[5]!.content),
    ]);
    // The tool definitions get what is left of the 700 bytes: cut, still valid JSON.
    const toolDefinitions = attributes["gen_ai.tool.definitions"] as string;
    expect(toolDefinitions.length).toBeLessThanOrEqual(700 - output.length - input.length);
    expect(JSON.parse(toolDefinitions)).toEqual([
      { type: "function", name: "lookup", description: expect.stringMatching(/^d+…\[truncated\]$/), parameters: {} },
    ]);
    expect(attributes["tokentrace.content.truncated"]).toEqual(["gen_ai.input.messages", "gen_ai.tool.definitions"]);
  });

  it("leaves out, and lists, the attributes past a spent span budget", async () => {
    const client = h.observeClient(new OpenAI({ baseURL: h.server.openaiBaseURL, apiKey: "sk-x", maxRetries: 0 }), {
      maxSpanContentBytes: 64,
    });
    await client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] });
    const attributes = h.onlySpan().attributes;
    expect((attributes["gen_ai.output.messages"] as string).length).toBeLessThanOrEqual(64);
    expect(attributes["gen_ai.input.messages"]).toBeUndefined();
    expect(attributes["tokentrace.content.truncated"]).toEqual(["gen_ai.output.messages", "gen_ai.input.messages"]);
  });
});

describe("long content, bounded work", () => {
  let h: Harness;
  beforeEach(async () => {
    h = await createHarness();
  });
  afterEach(async () => {
    await h.close();
  });

  it("records a 10 MB message as its first characters within the limit, redacting only what can be kept", async () => {
    const seen: number[] = [];
    const client = h.observeClient(new OpenAI({ baseURL: h.server.openaiBaseURL, apiKey: "sk-x", maxRetries: 0 }), {
      maxContentLength: 1_000,
      redact: (text) => {
        seen.push(text.length);
        return text;
      },
    });
    const huge = `start ${"0123456789".repeat(1_000_000)}`;
    await client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: huge }] });
    const attributes = h.onlySpan().attributes;
    // The app's redact was given at most the limit and the 4 KB margin of the message, never its 10 MB.
    expect(Math.max(...seen)).toBe(1_000 + 4_096);
    const input = attributes["gen_ai.input.messages"] as string;
    expect(input.length).toBeLessThanOrEqual(1_000);
    const [parsed] = JSON.parse(input) as [{ role: string; parts: [{ content: string }] }];
    expect(parsed.role).toBe("user");
    expect(parsed.parts[0].content).toMatch(/^start (0123456789)+\d*…\[truncated\]$/);
    expect(attributes["tokentrace.content.truncated"]).toEqual(["gen_ai.input.messages"]);
  });
});

describe("a stage's content within the limits", () => {
  let telemetry: TokentraceHandle | undefined;
  afterEach(async () => {
    await telemetry?.shutdown();
  });

  it("keeps the newest maxContentMessages items of a list, and marks the rest as dropped", () => {
    const sink = memorySink();
    telemetry = setup({ serviceName: "limits", sinks: [sink], captureContent: true, maxContentMessages: 3 });
    withTool("search", (tool) => tool.recordInput(["a", "b", "c", "d", "e"]), { capture: true });
    const [span] = sink.getSpans();
    expect(span?.attributes["gen_ai.tool.call.arguments"]).toBe('[{"truncated_items":2},"c","d","e"]');
    expect(span?.attributes["tokentrace.content.truncated"]).toEqual(["gen_ai.tool.call.arguments"]);
  });
});
