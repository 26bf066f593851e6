import { createHmac } from "node:crypto";
import fc from "fast-check";
import { MeterProvider, MetricReader } from "@opentelemetry/sdk-metrics";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { internalErrorCounts, setWarningMode } from "../src/internal/report.js";
import {
  CLIENT_SECRET_MARKER,
  DEFAULT_POLICY,
  DROPPED_MARKER,
  FAILED_MARKER,
  KIND_CLIENT_SECRET,
  KIND_DROPPED,
  CUT_MARGIN,
  KIND_FAILED,
  RedactionAudit,
  Redactor,
  redactString,
  redactValue,
  resolvePolicy,
} from "../src/redaction/pipeline.js";
import type { RedactField, RedactFunction, RedactionPolicy } from "../src/redaction/pipeline.js";
import type { PresetName } from "../src/redaction/detectors.js";
import {
  ATTR_GEN_AI_INPUT_MESSAGES,
  ATTR_GEN_AI_SYSTEM_INSTRUCTIONS,
  ATTR_TOKENTRACE_REDACTION_KIND,
  ATTR_TOKENTRACE_REDACTION_KINDS,
  ATTR_TOKENTRACE_STAGE_INPUT,
  METRIC_TOKENTRACE_REDACTION_MATCHES,
} from "../src/semconv.js";

// Fake secrets, built by concatenation so secret scanners do not flag the repository.
const OPENAI_KEY = "sk-" + "proj-" + "Ab3dE".repeat(8);
const EMAIL = "jane.doe@example.com";
const CLIENT_KEY = "hunter2" + "hunter2";
const HASH_KEY = "k".repeat(16);

const SECRET_KINDS = ["api_key", "bearer_token", "jwt", "private_key", "url_password"];
const ALL_PII: readonly PresetName[] = ["email", "phone", "credit_card", "iban", "ip_address", "us_ssn"];
const EMAIL_POLICY = resolvePolicy({ pii: ["email"] });
const FIELD: RedactField = { attribute: ATTR_GEN_AI_INPUT_MESSAGES };
/** An attribute of free content (no message structure): a stage's input. */
const FREE_ATTRIBUTE = ATTR_TOKENTRACE_STAGE_INPUT;

/** The first 8 hex digits of HMAC-SHA256, as a `hash` replacement shows a value. */
const hmac8 = (key: string, value: string): string => createHmac("sha256", key).update(value).digest("hex").slice(0, 8);

/** One text through the pipeline, with the audit it filled, as plain counts. */
function redact(
  text: string,
  policy: RedactionPolicy,
  secrets: readonly string[] = [],
  field: RedactField = FIELD,
): { text: string; counts: Record<string, number> } {
  const audit = new RedactionAudit();
  const result = redactString(text, field, policy, secrets, audit);
  return { text: result, counts: Object.fromEntries(audit.counts) };
}

/** A value through the pipeline, with the audit it filled. */
function redactJson(
  value: unknown,
  policy: RedactionPolicy = EMAIL_POLICY,
  attribute = FREE_ATTRIBUTE,
  secrets: readonly string[] = [],
): { value: unknown; audit: RedactionAudit } {
  const audit = new RedactionAudit();
  return { value: redactValue(value, attribute, policy, secrets, audit), audit };
}

/** A `redact` that records what it is given and returns `answer`'s result (the text itself by default). */
function recordingRedact(answer: (text: string) => unknown = (text) => text): {
  redact: RedactFunction;
  calls: Array<[string, RedactField]>;
} {
  const calls: Array<[string, RedactField]> = [];
  const redact = ((text: string, field: RedactField) => {
    calls.push([text, { ...field }]);
    return answer(text);
  }) as RedactFunction;
  return { redact, calls };
}

// Failures go to reportInternalError, which would print a warning; the tests read its counts instead.
beforeAll(() => setWarningMode("off"));
afterAll(() => setWarningMode(undefined));

describe("resolvePolicy", () => {
  it("always includes the secrets preset's kinds, even with no personal-data presets", () => {
    expect([...resolvePolicy({ pii: [] }).kinds]).toEqual(SECRET_KINDS);
    expect([...resolvePolicy({}).kinds]).toEqual(SECRET_KINDS);
    expect([...DEFAULT_POLICY.kinds]).toEqual(SECRET_KINDS);
  });

  it("adds the kinds of each personal-data preset chosen, once each", () => {
    expect([...resolvePolicy({ pii: ["email", "iban", "email", "secrets"] }).kinds]).toEqual([
      ...SECRET_KINDS,
      "email",
      "iban",
    ]);
  });

  it("defaults to kind replacements, no patterns and no redact function", () => {
    expect(DEFAULT_POLICY.replacement).toBe("kind");
    expect(DEFAULT_POLICY.patterns).toEqual([]);
    expect(DEFAULT_POLICY.redact).toBeUndefined();
    expect(resolvePolicy({ redactReplacement: "hash" }).replacement).toBe("hash");
  });

  it("uses the app's hash key, else one random key per process", () => {
    expect(resolvePolicy({ redactHashKey: HASH_KEY }).hashKey).toBe(HASH_KEY);
    const processKey = resolvePolicy({}).hashKey;
    expect(processKey).toMatch(/^[0-9a-f]{64}$/);
    // One key per process, so hashes of the same value correlate across clients.
    expect(resolvePolicy({ pii: ["email"] }).hashKey).toBe(processKey);
  });

  it("copies custom patterns and never touches the app's RegExp, lastIndex included", () => {
    const pattern = /TCK-\d{6}/g;
    pattern.lastIndex = 3;
    const policy = resolvePolicy({ redactPatterns: [{ kind: "ticket", pattern }] });
    expect(policy.patterns).toHaveLength(1);
    expect(policy.patterns[0]!.kind).toBe("ticket");
    expect(policy.patterns[0]!.pattern).not.toBe(pattern);
    expect(policy.patterns[0]!.pattern.source).toBe(pattern.source);
    expect(redact("see TCK-123456 and TCK-654321", policy)).toEqual({
      text: "see [TICKET] and [TICKET]",
      counts: { ticket: 2 },
    });
    expect(pattern.lastIndex).toBe(3);
  });

  it("matches a sticky custom pattern anywhere in the text", () => {
    const policy = resolvePolicy({ redactPatterns: [{ kind: "ticket", pattern: /TCK-\d{6}/y }] });
    expect(redact("see TCK-123456", policy).text).toBe("see [TICKET]");
  });
});

describe("redactString", () => {
  it("replaces each occurrence of a client secret and counts each one", () => {
    expect(redact(`a ${CLIENT_KEY} b ${CLIENT_KEY}`, DEFAULT_POLICY, [CLIENT_KEY])).toEqual({
      text: `a ${CLIENT_SECRET_MARKER} b ${CLIENT_SECRET_MARKER}`,
      counts: { [KIND_CLIENT_SECRET]: 2 },
    });
    expect(CLIENT_SECRET_MARKER).toBe("[REDACTED]");
  });

  it("replaces client secrets of 8 characters and ignores shorter ones", () => {
    expect(redact("pin abcd1234 and abc1234", DEFAULT_POLICY, ["abcd1234", "abc1234", ""])).toEqual({
      text: "pin [REDACTED] and abc1234",
      counts: { client_secret: 1 },
    });
  });

  it("replaces every client secret given, the longest first as callers pass them", () => {
    const longer = CLIENT_KEY + "-extended";
    expect(redact(`${longer} / ${CLIENT_KEY}`, DEFAULT_POLICY, [longer, CLIENT_KEY])).toEqual({
      text: "[REDACTED] / [REDACTED]",
      counts: { client_secret: 2 },
    });
  });

  it("counts a client secret that also looks like an API key as the client's own", () => {
    expect(redact(`key=${OPENAI_KEY}`, DEFAULT_POLICY, [OPENAI_KEY])).toEqual({
      text: "key=[REDACTED]",
      counts: { client_secret: 1 },
    });
  });

  it("redacts an email only when the email preset is on", () => {
    expect(redact(`mail ${EMAIL}`, EMAIL_POLICY)).toEqual({ text: "mail [EMAIL]", counts: { email: 1 } });
    expect(redact(`mail ${EMAIL}`, DEFAULT_POLICY)).toEqual({ text: `mail ${EMAIL}`, counts: {} });
    expect(redact(`mail ${EMAIL}`, resolvePolicy({ pii: [] }))).toEqual({ text: `mail ${EMAIL}`, counts: {} });
  });

  it("redacts an OpenAI key with the default policy", () => {
    expect(redact(`key ${OPENAI_KEY} here`, DEFAULT_POLICY)).toEqual({
      text: "key [API_KEY] here",
      counts: { api_key: 1 },
    });
  });

  it("redacts a custom pattern's matches with its kind", () => {
    const policy = resolvePolicy({ redactPatterns: [{ kind: "ticket", pattern: /TCK-\d{6}/ }] });
    expect(redact("see TCK-123456", policy)).toEqual({ text: "see [TICKET]", counts: { ticket: 1 } });
  });

  it("returns text with nothing to redact unchanged and counts nothing", () => {
    expect(redact("nothing to see here", resolvePolicy({ pii: ALL_PII }))).toEqual({
      text: "nothing to see here",
      counts: {},
    });
  });

  it("counts every kind found in one text", () => {
    const text = `${EMAIL} ${OPENAI_KEY} ${CLIENT_KEY} ${EMAIL}`;
    expect(redact(text, EMAIL_POLICY, [CLIENT_KEY])).toEqual({
      text: "[EMAIL] [API_KEY] [REDACTED] [EMAIL]",
      counts: { client_secret: 1, email: 2, api_key: 1 },
    });
  });
});

describe("hash replacement", () => {
  const hashed = resolvePolicy({
    pii: ["email"],
    redactPatterns: [{ kind: "ticket", pattern: /TCK-\d{6}/ }],
    redactReplacement: "hash",
    redactHashKey: HASH_KEY,
  });

  it("writes the kind and the first 8 hex digits of the value's HMAC-SHA256", () => {
    expect(redact(`mail ${EMAIL}`, hashed)).toEqual({
      text: `mail [EMAIL:${hmac8(HASH_KEY, EMAIL)}]`,
      counts: { email: 1 },
    });
    expect(redact("see TCK-123456", hashed).text).toBe(`see [TICKET:${hmac8(HASH_KEY, "TCK-123456")}]`);
  });

  it("gives the same value the same hash across calls, and another value another hash", () => {
    const first = redact(`mail ${EMAIL}`, hashed).text;
    expect(redact(`mail ${EMAIL}`, hashed).text).toBe(first);
    const other = redact("mail john.roe@example.com", hashed).text;
    expect(other).toBe(`mail [EMAIL:${hmac8(HASH_KEY, "john.roe@example.com")}]`);
    expect(other).not.toBe(first);
  });

  it("gives another hash under another key", () => {
    const otherKey = "q".repeat(16);
    const policy = resolvePolicy({ pii: ["email"], redactReplacement: "hash", redactHashKey: otherKey });
    const text = redact(`mail ${EMAIL}`, policy).text;
    expect(text).toBe(`mail [EMAIL:${hmac8(otherKey, EMAIL)}]`);
    expect(text).not.toBe(redact(`mail ${EMAIL}`, hashed).text);
  });

  it("keeps the plain marker for the client's own credential", () => {
    expect(redact(`key ${CLIENT_KEY}`, hashed, [CLIENT_KEY]).text).toBe("key [REDACTED]");
  });
});

describe("the redact function", () => {
  const withRedact = (redactFunction: RedactFunction): RedactionPolicy =>
    resolvePolicy({ pii: ["email"], redact: redactFunction });

  it("sees the text after the client secrets and presets are replaced, and the field", () => {
    const { redact: redactFunction, calls } = recordingRedact(() => "changed by the app");
    const field = { attribute: ATTR_GEN_AI_INPUT_MESSAGES, role: "user", part: "text" };
    expect(redact(`mail ${EMAIL} with ${CLIENT_KEY}`, withRedact(redactFunction), [CLIENT_KEY], field)).toEqual({
      text: "changed by the app",
      counts: { client_secret: 1, email: 1 },
    });
    expect(calls).toEqual([["mail [EMAIL] with [REDACTED]", field]]);
  });

  it("drops a text it returns null for, writing the dropped marker and counting it", () => {
    const dropping = withRedact(() => null);
    expect(redact(`mail ${EMAIL}`, dropping)).toEqual({
      text: DROPPED_MARKER,
      counts: { email: 1, [KIND_DROPPED]: 1 },
    });
    expect(DROPPED_MARKER).toBe("[REDACTED:dropped]");
    expect(KIND_DROPPED).toBe("dropped");
  });

  it("fails closed when it throws: the failed marker, counted, reported and never thrown", () => {
    const before = internalErrorCounts().get("redaction") ?? 0;
    const throwing = withRedact(() => {
      throw new Error("app bug");
    });
    expect(redact(`mail ${EMAIL}`, throwing)).toEqual({
      text: FAILED_MARKER,
      counts: { email: 1, [KIND_FAILED]: 1 },
    });
    expect(FAILED_MARKER).toBe("[REDACTED:redaction_failed]");
    expect(KIND_FAILED).toBe("redaction_failed");
    expect(internalErrorCounts().get("redaction")).toBe(before + 1);
  });

  it.each([
    ["a Promise", () => Promise.resolve("later")],
    ["a number", () => 42],
    ["undefined", () => undefined],
    ["an object", () => ({ text: "x" })],
  ])("fails closed when it returns %s", (_name, answer) => {
    const policy = withRedact(answer as unknown as RedactFunction);
    expect(redact("plain text", policy)).toEqual({ text: FAILED_MARKER, counts: { redaction_failed: 1 } });
  });

  it("may return the empty string, which is kept", () => {
    const emptying = withRedact(() => "");
    expect(redact("plain text", emptying)).toEqual({ text: "", counts: {} });
  });
});

describe("redactValue", () => {
  const messages = [
    { role: "user", parts: [{ type: "text", content: "mail a@b.io" }] },
    { role: "assistant", parts: [{ type: "tool_call", id: "x", name: "f", arguments: { to: "a@b.io" } }] },
  ];

  it("redacts every text of GenAI messages and keeps their shape", () => {
    const { value, audit } = redactJson(messages, EMAIL_POLICY, ATTR_GEN_AI_INPUT_MESSAGES);
    expect(value).toEqual([
      { role: "user", parts: [{ type: "text", content: "mail [EMAIL]" }] },
      { role: "assistant", parts: [{ type: "tool_call", id: "x", name: "f", arguments: { to: "[EMAIL]" } }] },
    ]);
    expect(Object.fromEntries(audit.counts)).toEqual({ email: 2 });
  });

  it("tells redact each text's role and part, down to a tool call's nested arguments", () => {
    const { redact: redactFunction, calls } = recordingRedact();
    redactJson(messages, resolvePolicy({ pii: ["email"], redact: redactFunction }), ATTR_GEN_AI_INPUT_MESSAGES);
    expect(calls).toEqual([
      ["mail [EMAIL]", { attribute: ATTR_GEN_AI_INPUT_MESSAGES, role: "user", part: "text" }],
      ["[EMAIL]", { attribute: ATTR_GEN_AI_INPUT_MESSAGES, role: "assistant", part: "tool_call" }],
    ]);
  });

  it("keeps the messages' structure when redact drops every text", () => {
    const structured = [
      ...messages,
      { role: "assistant", parts: [{ type: "text", content: "done" }], finish_reason: "stop" },
    ];
    const { value, audit } = redactJson(structured, resolvePolicy({ redact: () => null }), ATTR_GEN_AI_INPUT_MESSAGES);
    expect(value).toEqual([
      { role: "user", parts: [{ type: "text", content: DROPPED_MARKER }] },
      { role: "assistant", parts: [{ type: "tool_call", id: "x", name: "f", arguments: { to: DROPPED_MARKER } }] },
      { role: "assistant", parts: [{ type: "text", content: DROPPED_MARKER }], finish_reason: "stop" },
    ]);
    expect(Object.fromEntries(audit.counts)).toEqual({ dropped: 3 });
  });

  it("does not let a tool call's own role or type argument change the field", () => {
    const { redact: redactFunction, calls } = recordingRedact();
    const call = [
      { role: "assistant", parts: [{ type: "tool_call", arguments: { role: "admin", type: "email", to: "x" } }] },
    ];
    const { value } = redactJson(call, resolvePolicy({ redact: redactFunction }), ATTR_GEN_AI_INPUT_MESSAGES);
    expect(value).toEqual(call);
    const toolCall = { attribute: ATTR_GEN_AI_INPUT_MESSAGES, role: "assistant", part: "tool_call" };
    expect(calls).toEqual([
      ["admin", toolCall],
      ["email", toolCall],
      ["x", toolCall],
    ]);
  });

  it("tells redact the part type, and no role, in a list of parts", () => {
    const { redact: redactFunction, calls } = recordingRedact();
    const instructions = [{ type: "text", content: `mail ${EMAIL}` }];
    const policy = resolvePolicy({ pii: ["email"], redact: redactFunction });
    expect(redactJson(instructions, policy, ATTR_GEN_AI_SYSTEM_INSTRUCTIONS).value).toEqual([
      { type: "text", content: "mail [EMAIL]" },
    ]);
    expect(calls).toEqual([["mail [EMAIL]", { attribute: ATTR_GEN_AI_SYSTEM_INSTRUCTIONS, part: "text" }]]);
  });

  it("redacts every string, and tells only the attribute, outside the message attributes", () => {
    const { redact: redactFunction, calls } = recordingRedact((text) => (text === "user" ? null : text));
    const { value } = redactJson(messages.slice(0, 1), resolvePolicy({ pii: ["email"], redact: redactFunction }));
    expect(value).toEqual([{ role: DROPPED_MARKER, parts: [{ type: "text", content: "mail [EMAIL]" }] }]);
    const field = { attribute: FREE_ATTRIBUTE };
    expect(calls).toEqual([
      ["user", field],
      ["text", field],
      ["mail [EMAIL]", field],
    ]);
  });

  it("redacts keys as the detectors see them, never giving them to redact", () => {
    const { redact: redactFunction, calls } = recordingRedact();
    const policy = resolvePolicy({ pii: ["email"], redact: redactFunction });
    const { value, audit } = redactJson({ [EMAIL]: 1, nested: { [`to ${EMAIL}`]: [true] } }, policy);
    expect(JSON.stringify(value)).toBe('{"[EMAIL]":1,"nested":{"to [EMAIL]":[true]}}');
    expect(audit.kinds).toEqual(["email"]);
    expect(calls).toEqual([]);
  });

  it("gives a redacted key that meets one already written #2, #3, ... and loses no entry", () => {
    const other = "bo@example.org";
    const input = { [EMAIL]: 1, "[EMAIL]": 2, [other]: 3, plain: 4 };
    expect(JSON.stringify(redactJson(input).value)).toBe('{"[EMAIL]":1,"[EMAIL]#2":2,"[EMAIL]#3":3,"plain":4}');
  });

  it("finds the client's credentials and the app's patterns in keys of letters alone", () => {
    const policy = resolvePolicy({ redactPatterns: [{ kind: "ticket", pattern: /TICKET[A-Z]+/ }] });
    const { value } = redactJson({ TICKETABC: 1, supersecretword: 2, city: 3 }, policy, FREE_ATTRIBUTE, [
      "supersecretword",
    ]);
    expect(JSON.stringify(value)).toBe('{"[TICKET]":1,"[REDACTED]":2,"city":3}');
  });

  it("keeps the structure's own keys in the message attributes and redacts the others", () => {
    const input = [{ role: "user", parts: [{ type: "tool_call", name: "send", arguments: { [EMAIL]: "x" } }] }];
    expect(redactJson(input, EMAIL_POLICY, ATTR_GEN_AI_INPUT_MESSAGES).value).toEqual([
      { role: "user", parts: [{ type: "tool_call", name: "send", arguments: { "[EMAIL]": "x" } }] },
    ]);
  });

  it("redacts long integers the detectors match, as text, and keeps every other number", () => {
    const policy = resolvePolicy({ pii: ["credit_card", "phone", "us_ssn"] });
    const input = { card: 4111111111111111, other: 4111111111111112, small: 12345678, ratio: 0.5, big: 1e300 };
    const { value, audit } = redactJson(input, policy);
    expect(value).toEqual({
      card: "[CREDIT_CARD]",
      other: 4111111111111112,
      small: 12345678,
      ratio: 0.5,
      big: 1e300,
    });
    expect(audit.kinds).toEqual(["credit_card"]);
  });

  it("keeps numbers, booleans and null", () => {
    const input = { n: 1.5, i: -3, t: true, f: false, z: null, list: [0, null, false, 7] };
    expect(redactJson(input).value).toEqual(input);
  });

  it("redacts a top-level string", () => {
    expect(redactJson(`mail ${EMAIL}`).value).toBe("mail [EMAIL]");
  });

  it("does not change its input and returns new objects", () => {
    const input = structuredClone(messages);
    const before = structuredClone(input);
    const { value } = redactJson(input, EMAIL_POLICY, ATTR_GEN_AI_INPUT_MESSAGES);
    expect(input).toEqual(before);
    expect(value).not.toBe(input);
    expect((value as unknown[])[0]).not.toBe(input[0]);
  });

  it("reads a value with toJSON as JSON.stringify would: a Date becomes its ISO string", () => {
    const at = new Date("2024-01-02T03:04:05.000Z");
    expect(redactJson({ at }).value).toEqual({ at: "2024-01-02T03:04:05.000Z" });
    expect(redactJson({ note: { toJSON: () => `mail ${EMAIL}` } }).value).toEqual({ note: "mail [EMAIL]" });
  });

  it("keeps a payload's own __proto__ key as an own key, without changing the prototype", () => {
    const input: unknown = JSON.parse(`{"__proto__":{"polluted":"${EMAIL}"},"x":1}`);
    const value = redactJson(input).value as Record<string, unknown>;
    expect(Object.keys(value)).toEqual(["__proto__", "x"]);
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(JSON.stringify(value)).toBe('{"__proto__":{"polluted":"[EMAIL]"},"x":1}');
    expect(value["polluted"]).toBeUndefined();
    expect(({} as Record<string, unknown>)["polluted"]).toBeUndefined();
  });

  it("throws a TypeError on a cycle, as JSON.stringify would", () => {
    const cyclic: Record<string, unknown> = { text: "a" };
    cyclic["self"] = cyclic;
    expect(() => redactJson(cyclic)).toThrow(TypeError);
    const list: unknown[] = ["a"];
    list.push({ back: list });
    expect(() => redactJson(list)).toThrow(TypeError);
  });

  it("accepts the same object twice when it is not inside itself", () => {
    const shared = { to: EMAIL };
    expect(redactJson({ a: shared, b: [shared] }).value).toEqual({ a: { to: "[EMAIL]" }, b: [{ to: "[EMAIL]" }] });
  });

  it("keeps 32 levels of nesting and replaces a 33rd by a marker, counted as a failure", () => {
    const nest = (levels: number): unknown => {
      let value: unknown = "leaf";
      for (let level = 0; level < levels; level++) value = [value];
      return value;
    };
    const kept = redactJson(nest(32));
    expect(JSON.stringify(kept.value)).toBe(`${"[".repeat(32)}"leaf"${"]".repeat(32)}`);
    expect(kept.audit.counts.size).toBe(0);
    const cut = redactJson(nest(33));
    expect(JSON.stringify(cut.value)).toBe(`${"[".repeat(32)}"[REDACTED:too_deep]"${"]".repeat(32)}`);
    expect(Object.fromEntries(cut.audit.counts)).toEqual({ redaction_failed: 1 });
  });

  it("cuts deep objects at the same depth", () => {
    let value: unknown = { leaf: true };
    for (let level = 0; level < 32; level++) value = { child: value };
    expect(JSON.stringify(redactJson(value).value)).toBe(
      `${'{"child":'.repeat(32)}"[REDACTED:too_deep]"${"}".repeat(32)}`,
    );
  });

  it("still replaces secrets in the messages' structure, which it does not give to redact", () => {
    const { redact: redactFunction, calls } = recordingRedact();
    const secret = "client-credential-0123456789";
    const leaky = [{ role: "user", parts: [{ type: "text", name: `${secret} ${EMAIL}`, content: "hi" }] }];
    const audit = new RedactionAudit();
    const value = redactValue(
      leaky,
      ATTR_GEN_AI_INPUT_MESSAGES,
      resolvePolicy({ pii: ["email"], redact: redactFunction }),
      [secret],
      audit,
    );
    expect(value).toEqual([{ role: "user", parts: [{ type: "text", name: "[REDACTED] [EMAIL]", content: "hi" }] }]);
    expect(Object.fromEntries(audit.counts)).toEqual({ client_secret: 1, email: 1 });
    expect(calls).toEqual([["hi", { attribute: ATTR_GEN_AI_INPUT_MESSAGES, role: "user", part: "text" }]]);
  });

  it("reads boxed primitives as their values, as JSON.stringify does", () => {
    const boxed = { s: new String(`mail ${EMAIL}`), n: new Number(5), b: new Boolean(true) };
    expect(JSON.stringify(redactJson(boxed).value)).toBe('{"s":"mail [EMAIL]","n":5,"b":true}');
  });

  it("reads an object whose toJSON returns itself as the object", () => {
    const self = {
      a: EMAIL,
      toJSON() {
        return this;
      },
    };
    expect(JSON.stringify(redactJson(self).value)).toBe('{"a":"[EMAIL]"}');
  });

  it("passes a BigInt through unchanged, for the serializer to reject", () => {
    expect(redactJson(10n).value).toBe(10n);
    expect(redactJson({ n: 10n, s: EMAIL }).value).toEqual({ n: 10n, s: "[EMAIL]" });
  });
});

/** A reader the test collects from on demand. */
class CollectingReader extends MetricReader {
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

describe("Redactor.valueWithin", () => {
  it("redacts only the first maxChars + CUT_MARGIN characters of a longer text, and keeps at most maxChars", () => {
    const { redact: redactFunction, calls } = recordingRedact();
    const redactor = new Redactor(resolvePolicy({ pii: ["email"], redact: redactFunction }));
    const huge = `${EMAIL} ${"x".repeat(10_000_000)}`;
    const { value, cut } = redactor.valueWithin({ text: huge, short: EMAIL }, FREE_ATTRIBUTE, 1000);
    expect(cut).toBe(true);
    // The app's redact read the head only: maxChars + CUT_MARGIN characters, redacted first by the detectors.
    expect(calls.map(([text]) => text.length)).toEqual([1000 + CUT_MARGIN - EMAIL.length + "[EMAIL]".length, 7]);
    // The head shrank by 13 characters ("[EMAIL]" for the 20 of the address): 1,000 - 13 are kept.
    expect(value).toEqual({ text: `[EMAIL] ${"x".repeat(987 - 8)}…[truncated]`, short: "[EMAIL]" });
    expect(redactor.kinds()).toEqual(["email"]);
  });

  it("never keeps part of a secret the cut split: what lies in the margin is dropped after the redaction", () => {
    const redactor = new Redactor(EMAIL_POLICY);
    // 250 addresses (5,250 characters, 2,000 once redacted), then the key; the cut falls 14 characters into it.
    const prefix = `${EMAIL} `.repeat(250);
    const text = `${prefix}${OPENAI_KEY}${" b".repeat(5000)}`;
    const maxChars = prefix.length + 14 - CUT_MARGIN;
    const { value, cut } = redactor.valueWithin([text], FREE_ATTRIBUTE, maxChars);
    expect(cut).toBe(true);
    // The redacted head is 2,014 characters, all within the margin: nothing is kept, not "sk-proj-Ab3dEA".
    expect(value).toEqual(["…[truncated]"]);
  });

  it("keeps a text of maxChars + CUT_MARGIN characters whole, and says nothing was cut", () => {
    const redactor = new Redactor(EMAIL_POLICY);
    const text = `${EMAIL} ${"y".repeat(100 + CUT_MARGIN - EMAIL.length - 1)}`;
    const { value, cut } = redactor.valueWithin([text], FREE_ATTRIBUTE, 100);
    expect(cut).toBe(false);
    expect(value).toEqual([`[EMAIL] ${"y".repeat(100 + CUT_MARGIN - EMAIL.length - 1)}`]);
  });
});

describe("Redactor", () => {
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const reader = new CollectingReader();
  const meterProvider = new MeterProvider({ readers: [reader] });

  afterAll(async () => {
    await tracerProvider.shutdown();
    await meterProvider.shutdown();
  });

  /** The counter's points by kind, summed over every report so far (cumulative). */
  async function matchesByKind(): Promise<Record<string, number>> {
    const { resourceMetrics } = await reader.collect();
    const points: Record<string, number> = {};
    for (const scope of resourceMetrics.scopeMetrics) {
      for (const metric of scope.metrics) {
        if (metric.descriptor.name !== METRIC_TOKENTRACE_REDACTION_MATCHES) continue;
        for (const point of metric.dataPoints) {
          points[String(point.attributes[ATTR_TOKENTRACE_REDACTION_KIND])] = point.value as number;
        }
      }
    }
    return points;
  }

  /** Report `redactor` on a new span, ended, and return the span's attributes. */
  function reportOnSpan(redactor: Redactor, meterName: string): Record<string, unknown> {
    exporter.reset();
    const span = tracerProvider.getTracer("test").startSpan("call");
    redactor.report(span, meterProvider.getMeter(meterName));
    span.end();
    const spans = exporter.getFinishedSpans();
    expect(spans).toHaveLength(1);
    return spans[0]!.attributes;
  }

  it("names the attribute and the metric as documented", () => {
    expect(ATTR_TOKENTRACE_REDACTION_KINDS).toBe("tokentrace.redaction.kinds");
    expect(METRIC_TOKENTRACE_REDACTION_MATCHES).toBe("tokentrace.redaction.matches");
    expect(ATTR_TOKENTRACE_REDACTION_KIND).toBe("tokentrace.redaction.kind");
  });

  it("redacts texts and values with its policy and the client's secrets", () => {
    const redactor = new Redactor(EMAIL_POLICY, [CLIENT_KEY]);
    expect(redactor.text(`${CLIENT_KEY} ${EMAIL}`, "exception.message")).toBe("[REDACTED] [EMAIL]");
    expect(redactor.value({ to: [EMAIL, CLIENT_KEY] }, "gen_ai.tool.call.arguments")).toEqual({
      to: ["[EMAIL]", "[REDACTED]"],
    });
  });

  it("lists the kinds in the order first found, the inherited ones first, without duplicates", () => {
    const redactor = new Redactor(EMAIL_POLICY);
    expect(redactor.kinds()).toEqual([]);
    redactor.text(`key ${OPENAI_KEY}`, "exception.message");
    redactor.value([EMAIL, OPENAI_KEY, EMAIL], ATTR_GEN_AI_INPUT_MESSAGES);
    expect(redactor.kinds()).toEqual(["api_key", "email"]);
    redactor.inherit(["phone", "email"]);
    expect(redactor.kinds()).toEqual(["phone", "email", "api_key"]);
    // undefined (no scope kinds) keeps what was inherited.
    redactor.inherit(undefined);
    expect(redactor.kinds()).toEqual(["phone", "email", "api_key"]);
  });

  it("writes the kinds on the span and counts this span's matches by kind, not the inherited ones", async () => {
    const redactor = new Redactor(EMAIL_POLICY);
    redactor.inherit(["phone"]);
    redactor.text(`mail ${EMAIL}`, "exception.message");
    redactor.value({ to: EMAIL, key: OPENAI_KEY }, ATTR_GEN_AI_INPUT_MESSAGES);
    const attributes = reportOnSpan(redactor, "report-counts");
    expect(attributes[ATTR_TOKENTRACE_REDACTION_KINDS]).toEqual(["phone", "email", "api_key"]);
    expect(await matchesByKind()).toEqual({ email: 2, api_key: 1 });
  });

  it("adds to the same counter when another span reports on the same meter", async () => {
    const redactor = new Redactor(EMAIL_POLICY);
    redactor.text(`mail ${EMAIL}`, "exception.message");
    reportOnSpan(redactor, "report-counts");
    expect(await matchesByKind()).toEqual({ email: 3, api_key: 1 });
  });

  it("writes nothing when nothing matched, even with inherited kinds", async () => {
    const redactor = new Redactor(EMAIL_POLICY);
    redactor.inherit(["email"]);
    redactor.text("nothing here", "exception.message");
    const before = await matchesByKind();
    const attributes = reportOnSpan(redactor, "report-nothing");
    expect(attributes).not.toHaveProperty(ATTR_TOKENTRACE_REDACTION_KINDS);
    expect(await matchesByKind()).toEqual(before);
  });

  it("reports without a span or a meter and never throws", () => {
    const redactor = new Redactor(EMAIL_POLICY);
    redactor.text(EMAIL, "exception.message");
    expect(() => redactor.report(undefined, undefined)).not.toThrow();
  });
});

describe("properties", () => {
  const LOWER = "abcdefghijklmnopqrstuvwxyz".split("");
  const ALPHANUMERIC = [...LOWER, ..."ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789".split("")];
  const lower = (minLength: number, maxLength: number): fc.Arbitrary<string> =>
    fc.string({ unit: fc.constantFrom(...LOWER), minLength, maxLength });
  const email = fc
    .tuple(lower(1, 10), lower(1, 10), lower(2, 6))
    .map(([local, domain, tld]) => `${local}@${domain}.${tld}`);
  // A digit and a capital, so it is a key and not a kebab-case word.
  const apiKey = fc
    .string({ unit: fc.constantFrom(...ALPHANUMERIC), minLength: 38, maxLength: 38 })
    .map((body) => `sk-proj-${body}Z9`);
  const secret = fc.oneof(email, apiKey);
  const STRUCTURE_KEYS = new Set(["role", "finish_reason", "type", "id", "name", "mime_type", "modality"]);
  // With and without the message structure.
  const attribute = fc.constantFrom(FREE_ATTRIBUTE, ATTR_GEN_AI_INPUT_MESSAGES, ATTR_GEN_AI_SYSTEM_INSTRUCTIONS);

  /** A JSON string, sometimes with a secret in it, as a word of its own. */
  const text: fc.Arbitrary<{ text: string; secrets: string[] }> = fc.oneof(
    fc.string().map((plain) => ({ text: plain, secrets: [] })),
    fc
      .tuple(fc.string(), secret, fc.string())
      .map(([before, value, after]) => ({ text: `${before} ${value} ${after}`, secrets: [value] })),
  );

  /** A JSON value and the secrets its strings embed. */
  const { json } = fc.letrec<{ json: { value: unknown; secrets: string[] } }>((tie) => ({
    json: fc.oneof(
      { depthSize: "small", maxDepth: 5 },
      text.map(({ text: value, secrets }) => ({ value, secrets })),
      fc
        .oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null))
        .map((value) => ({ value, secrets: [] })),
      fc.array(tie("json"), { maxLength: 4 }).map((entries) => ({
        value: entries.map((entry) => entry.value),
        secrets: entries.flatMap((entry) => entry.secrets),
      })),
      // Messages in the conventions' shape, so the kept structure is walked too; their texts are any value.
      fc
        .array(
          fc.tuple(fc.constantFrom("user", "assistant", "tool"), fc.constantFrom("text", "tool_call"), tie("json")),
          { maxLength: 3 },
        )
        .map((entries) => ({
          value: entries.map(([role, type, content]) => ({ role, parts: [{ type, content: content.value }] })),
          secrets: entries.flatMap(([, , content]) => content.secrets),
        })),
      // Keys that are never the conventions' structure fields (kept as is, not redacted, in messages).
      fc
        .array(
          fc.tuple(
            text.filter(({ text: key }) => !STRUCTURE_KEYS.has(key) && key !== "parts"),
            tie("json"),
          ),
          { maxLength: 4 },
        )
        .map((entries) => {
          const object: Record<string, unknown> = {};
          for (const [{ text: key }, entry] of entries) {
            // As JSON.parse would make it: every key an own key, `__proto__` included.
            Object.defineProperty(object, key, {
              value: entry.value,
              enumerable: true,
              writable: true,
              configurable: true,
            });
          }
          // Keys may embed secrets too; a key met twice is one key (the last entry's value).
          return {
            value: object,
            secrets: entries.flatMap(([key, entry]) => [...key.secrets, ...entry.secrets]),
          };
        }),
    ),
  }));

  /** The value's structure with every string blanked: keys in order, array lengths, non-string leaves. */
  function shape(value: unknown): unknown {
    // A long integer the detectors match becomes text.
    if (typeof value === "string" || (Number.isInteger(value) && Math.abs(value as number) >= 1e8)) return "<string>";
    if (Array.isArray(value)) return ["array", ...value.map(shape)];
    if (value !== null && typeof value === "object") {
      // Keys may be redacted: their number, order and the structure's own names are kept.
      return [
        "object",
        ...Object.keys(value).map((key) => [
          STRUCTURE_KEYS.has(key) || key === "parts" ? key : "<key>",
          shape((value as Record<string, unknown>)[key]),
        ]),
      ];
    }
    return value;
  }

  /** The value as JSON and read back: the form the serializer writes. */
  const asJson = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

  const allPresets = resolvePolicy({ pii: ALL_PII });

  it("keeps any JSON value valid JSON of the same shape, with none of its embedded secrets", () => {
    fc.assert(
      fc.property(json, attribute, ({ value, secrets }, name) => {
        const serialized = JSON.stringify(redactValue(value, name, allPresets, [], new RedactionAudit()));
        const parsed: unknown = JSON.parse(serialized);
        expect(shape(parsed)).toEqual(shape(asJson(value)));
        for (const embedded of secrets) expect(serialized).not.toContain(embedded);
      }),
    );
  });

  it("keeps the shape whatever redact does: throw, drop or return text", () => {
    const behaviour = fc.array(fc.constantFrom("throw", "drop", "keep", "replace"), { minLength: 1, maxLength: 8 });
    fc.assert(
      fc.property(json, attribute, behaviour, ({ value }, name, answers) => {
        let call = 0;
        const redactFunction: RedactFunction = (given) => {
          const answer = answers[call++ % answers.length];
          if (answer === "throw") throw new Error("app bug");
          if (answer === "drop") return null;
          return answer === "keep" ? given : `changed ${given.length}`;
        };
        const policy = resolvePolicy({ pii: ALL_PII, redact: redactFunction });
        const serialized = JSON.stringify(redactValue(value, name, policy, [], new RedactionAudit()));
        expect(shape(JSON.parse(serialized))).toEqual(shape(asJson(value)));
      }),
    );
  });
});
