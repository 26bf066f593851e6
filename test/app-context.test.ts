import { createHmac } from "node:crypto";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { context, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import type { ReadableSpan, SpanProcessor } from "@opentelemetry/sdk-trace-base";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { InvalidOptionError, currentContext, observe, withContext } from "../src/index.js";
import { collect, createHarness } from "./helpers/harness.js";
import type { Harness } from "./helpers/harness.js";

/** Application context (issue 12): `withContext()` values on every span started inside, stamped at start. */

const messages = [{ role: "user" as const, content: "What is the capital of France?" }];
const contextKeys = [
  "user.id",
  "session.id",
  "gen_ai.conversation.id",
  "tokentrace.tags",
  "tokentrace.context.dropped",
];

/** The context attributes of a span: the known keys and every `tokentrace.metadata.*` / `tokentrace.request.metadata.*`. */
function contextAttributes(span: ReadableSpan): Record<string, unknown> {
  const picked: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(span.attributes)) {
    if (
      contextKeys.includes(key) ||
      key.startsWith("tokentrace.metadata.") ||
      key.startsWith("tokentrace.request.metadata.")
    )
      picked[key] = value;
  }
  return picked;
}

const manager = new AsyncLocalStorageContextManager();
beforeAll(() => {
  context.setGlobalContextManager(manager.enable());
});
afterAll(() => {
  context.disable();
});

let h: Harness;
beforeEach(async () => {
  h = await createHarness({ captureContent: false });
});
afterEach(async () => {
  await h.close();
});

describe("withContext()", () => {
  it("stamps user, session, conversation, tags and metadata on the call's span", async () => {
    await withContext(
      {
        userId: "user-42",
        sessionId: "session-7",
        conversationId: "conv-1",
        tags: ["beta", "eu"],
        metadata: { plan: "pro", seats: 3, trial: false },
      },
      () => h.openai.chat.completions.create({ model: "gpt-4o-mini", messages }),
    );
    expect(contextAttributes(h.onlySpan())).toEqual({
      "user.id": "user-42",
      "session.id": "session-7",
      "gen_ai.conversation.id": "conv-1",
      "tokentrace.tags": ["beta", "eu"],
      "tokentrace.metadata.plan": "pro",
      "tokentrace.metadata.seats": 3,
      "tokentrace.metadata.trial": false,
    });
  });

  it("has the attributes at span start, where samplers and onStart processors see them", async () => {
    const seen: Record<string, unknown>[] = [];
    const processor: SpanProcessor = {
      onStart: (span) => seen.push({ ...(span as unknown as ReadableSpan).attributes }),
      onEnd: () => undefined,
      forceFlush: () => Promise.resolve(),
      shutdown: () => Promise.resolve(),
    };
    const { BasicTracerProvider } = await import("@opentelemetry/sdk-trace-base");
    const client = observe(new OpenAI({ baseURL: h.server.openaiBaseURL, apiKey: "sk-x", maxRetries: 0 }), {
      tracerProvider: new BasicTracerProvider({ spanProcessors: [processor] }),
    });
    await withContext({ userId: "u-start", tags: ["t"] }, () =>
      client.chat.completions.create({ model: "gpt-4o-mini", messages }),
    );
    expect(seen).toHaveLength(1);
    expect(seen[0]!["user.id"]).toBe("u-start");
    expect(seen[0]!["tokentrace.tags"]).toEqual(["t"]);
  });

  it("merges nested scopes: ids override, tags union, metadata by key; currentContext() reads them", async () => {
    let inner: unknown;
    await withContext(
      { userId: "outer-user", sessionId: "s-1", tags: ["a", "b"], metadata: { plan: "free", region: "eu" } },
      () =>
        withContext({ userId: "inner-user", tags: ["b", "c"], metadata: { plan: "pro" } }, async () => {
          inner = currentContext();
          await h.openai.chat.completions.create({ model: "gpt-4o-mini", messages });
        }),
    );
    expect(inner).toEqual({
      userId: "inner-user",
      sessionId: "s-1",
      tags: ["a", "b", "c"],
      metadata: { plan: "pro", region: "eu" },
    });
    expect(contextAttributes(h.onlySpan())).toEqual({
      "user.id": "inner-user",
      "session.id": "s-1",
      "tokentrace.tags": ["a", "b", "c"],
      "tokentrace.metadata.plan": "pro",
      "tokentrace.metadata.region": "eu",
    });
    expect(currentContext()).toEqual({ tags: [], metadata: {} });
  });

  it("returns exactly what fn returns: a value, the same promise object (withResponse kept), the same generator", async () => {
    expect(withContext({ userId: "u" }, () => 42)).toBe(42);
    let created: unknown;
    const returned = withContext({ userId: "u" }, () => {
      created = h.openai.chat.completions.create({ model: "gpt-4o-mini", messages });
      return created;
    });
    expect(returned).toBe(created);
    const { data, response } = await (returned as ReturnType<OpenAI["chat"]["completions"]["create"]>).withResponse();
    expect(response.status).toBe(200);
    expect(data).toHaveProperty("choices");
    function* numbers(): Generator<number> {
      yield 1;
      yield 2;
    }
    const generator = numbers();
    expect(withContext({ userId: "u" }, () => generator)).toBe(generator);
    expect([...generator]).toEqual([1, 2]);
  });

  it("keeps the scope for a stream read after the scope returned, and inside an async generator's steps", async () => {
    const stream = await withContext({ userId: "stream-user" }, () =>
      h.openai.chat.completions.create({ model: "gpt-4o-mini", messages, stream: true }),
    );
    expect(currentContext().userId).toBeUndefined();
    await collect(stream);
    const client = h.openai;
    async function* answers(): AsyncGenerator<string> {
      // Runs on next(), after withContext returned: the scope is still the generator's.
      const completion = await client.chat.completions.create({ model: "gpt-4o-mini", messages });
      yield completion.choices[0]!.message.content ?? "";
    }
    const generator = withContext({ userId: "generator-user" }, () => answers());
    const answered = await collect(generator);
    expect(answered).toHaveLength(1);
    expect(answered[0]!.length).toBeGreaterThan(0);
    const users = h.spans().map((span) => span.attributes["user.id"]);
    expect(users).toEqual(["stream-user", "generator-user"]);
  });

  it("gives each of 1,000 interleaved requests only its own context", async () => {
    const requests = Array.from({ length: 1_000 }, (_, index) => index);
    await Promise.all(
      requests.map((index) =>
        withContext({ userId: `user-${index}`, sessionId: `session-${index % 17}` }, async () => {
          // Interleave: yield before and between steps, streams read after other requests started.
          await new Promise((resolve) => setImmediate(resolve));
          if (index % 3 === 0) {
            const stream = await h.openai.chat.completions.create({ model: `model-${index}`, messages, stream: true });
            await new Promise((resolve) => setImmediate(resolve));
            await collect(stream);
          } else {
            await h.openai.chat.completions.create({ model: `model-${index}`, messages });
          }
        }),
      ),
    );
    const spans = h.spans();
    expect(spans).toHaveLength(1_000);
    const mismatched = spans.filter((span) => {
      const index = Number(String(span.attributes["gen_ai.request.model"]).slice("model-".length));
      return (
        span.attributes["user.id"] !== `user-${index}` || span.attributes["session.id"] !== `session-${index % 17}`
      );
    });
    expect(mismatched).toEqual([]);
  }, 60_000);

  it("nests calls under the app's own span and keeps context on the same trace", async () => {
    const tracer = h.tracerProvider.getTracer("app");
    await tracer.startActiveSpan("handle-request", (parent) =>
      withContext({ userId: "u" }, async () => {
        await h.openai.chat.completions.create({ model: "gpt-4o-mini", messages });
        await h.openai.chat.completions.create({ model: "gpt-4o-mini", messages });
        parent.end();
      }),
    );
    const spans = h.spans();
    const parent = spans.find((span) => span.name === "handle-request")!;
    const calls = spans.filter((span) => span.name === "chat gpt-4o-mini");
    expect(calls).toHaveLength(2);
    for (const call of calls) {
      expect(call.spanContext().traceId).toBe(parent.spanContext().traceId);
      expect(call.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
      expect(call.attributes["user.id"]).toBe("u");
    }
    expect(trace.getActiveSpan()).toBeUndefined();
  });

  it("drops bad values, never cuts or invents them, and lists them in tokentrace.context.dropped", async () => {
    await withContext(
      {
        userId: "",
        sessionId: "s".repeat(257),
        conversationId: 7 as unknown as string,
        tags: ["ok", "", 3 as unknown as string, "ok"],
        metadata: {
          good: "yes",
          empty: "",
          nan: Number.NaN,
          "bad key!": "x",
          nested: {} as unknown as string,
          ...(JSON.parse('{"__proto__": "polluted"}') as Record<string, string>),
        },
      },
      () => h.openai.chat.completions.create({ model: "gpt-4o-mini", messages }),
    );
    expect(contextAttributes(h.onlySpan())).toEqual({
      "tokentrace.tags": ["ok"],
      "tokentrace.metadata.good": "yes",
      "tokentrace.context.dropped": [
        "userId",
        "sessionId",
        "conversationId",
        "tags[1]",
        "tags[2]",
        "metadata.empty",
        "metadata.nan",
        "metadata (an invalid key)",
        "metadata.nested",
        "metadata.__proto__",
      ],
    });
  });

  it("keeps an enclosing value when the nested one is dropped", async () => {
    await withContext({ userId: "outer" }, () =>
      withContext({ userId: "   ", tags: "beta" as unknown as string[] }, () =>
        h.openai.chat.completions.create({ model: "gpt-4o-mini", messages }),
      ),
    );
    expect(contextAttributes(h.onlySpan())).toEqual({
      "user.id": "outer",
      "tokentrace.context.dropped": ["userId", "tags"],
    });
  });

  it("bounds tags and metadata keys", async () => {
    const tags = Array.from({ length: 70 }, (_, index) => `tag-${index}`);
    const metadata = Object.fromEntries(Array.from({ length: 66 }, (_, index) => [`key${index}`, index]));
    await withContext({ tags, metadata }, () => h.openai.chat.completions.create({ model: "gpt-4o-mini", messages }));
    const attributes = h.onlySpan().attributes;
    expect(attributes["tokentrace.tags"]).toEqual(tags.slice(0, 64));
    expect(Object.keys(attributes).filter((key) => key.startsWith("tokentrace.metadata."))).toHaveLength(64);
    expect(attributes["tokentrace.context.dropped"]).toEqual([
      "tags[64]",
      "tags[65]",
      "tags[66]",
      "tags[67]",
      "tags[68]",
      "tags[69]",
      "metadata.key64",
      "metadata.key65",
    ]);
  });

  it("reads at most 256 tags and metadata keys, whatever the input says, and ignores inherited keys", async () => {
    const sparse: string[] = [];
    sparse.length = 2 ** 32 - 1;
    sparse[0] = "first";
    const inherited = Object.create({ userId: "from-prototype" }) as { userId?: string };
    const metadata = Object.fromEntries(Array.from({ length: 300 }, (_, index) => [`k${index}`, "v"]));
    await withContext({ ...inherited, tags: sparse, metadata }, () =>
      withContext(inherited, () => h.openai.chat.completions.create({ model: "gpt-4o-mini", messages })),
    );
    const attributes = h.onlySpan().attributes;
    expect(attributes["user.id"]).toBeUndefined();
    expect(attributes["tokentrace.tags"]).toEqual(["first"]);
    const dropped = attributes["tokentrace.context.dropped"] as string[];
    // Listed through the nested scope: the range past 256, the 255 holes, k64..k255 over the 64-key cap and the
    // keys past 256 make 449 entries; 31 are listed and the rest counted.
    expect(dropped.slice(0, 3)).toEqual(["tags[256..4294967294]", "tags[1]", "tags[2]"]);
    expect(dropped).toHaveLength(32);
    expect(dropped.at(-1)).toBe("and 418 more");
  });

  it("throws InvalidOptionError for a non-object, an unknown key or a non-function", () => {
    const run = (values: unknown, fn: unknown): unknown =>
      withContext(values as Parameters<typeof withContext>[0], fn as () => unknown);
    expect(() => run(null, () => 1)).toThrow(
      new InvalidOptionError("withContext", "expected an object of context values, received null."),
    );
    expect(() => run(["u"], () => 1)).toThrow(InvalidOptionError);
    expect(() => run({ user: "u" }, () => 1)).toThrow(
      new InvalidOptionError(
        "withContext.user",
        "unknown key. Accepted keys: userId, sessionId, conversationId, messageId, tags, metadata, captureContent.",
      ),
    );
    expect(() => run({ userId: "u" }, "not a function")).toThrow(
      new InvalidOptionError(
        "withContext",
        'expected a function to run as the second argument, received the string "not a function".',
      ),
    );
  });

  it("turns content capture off for the calls inside with captureContent: false, and a nested true cannot turn it back on", async () => {
    const input = (span: ReadableSpan): unknown => span.attributes["gen_ai.input.messages"];
    const openai = h.observeClient(new OpenAI({ baseURL: h.server.openaiBaseURL, apiKey: "sk-x", maxRetries: 0 }), {
      captureContent: true,
    });
    const ask = () => openai.chat.completions.create({ model: "gpt-4o-mini", messages });
    await ask(); // this client captures content
    await withContext({ captureContent: false }, async () => {
      await ask();
      await collect(await openai.chat.completions.create({ model: "gpt-4o-mini", messages, stream: true }));
      h.server.enqueue({ status: 400 });
      await ask().catch(() => undefined);
      await withContext({ captureContent: true, userId: "u-1" }, ask);
    });
    const spans = h.spans();
    expect(spans.map((span) => input(span) !== undefined)).toEqual([true, false, false, false, false]);
    expect(spans.map((span) => span.attributes["gen_ai.output.messages"] !== undefined)).toEqual([
      true,
      false,
      false,
      false,
      false,
    ]);
    expect(JSON.stringify(spans.slice(1).map((span) => [span.attributes, span.status, span.events]))).not.toMatch(
      /capital of France|Hello from|rejected with status/,
    );
    expect(spans[4]!.attributes["user.id"]).toBe("u-1");
    expect(() => withContext({ captureContent: "no" as never }, () => 1)).toThrow(
      new InvalidOptionError("withContext.captureContent", 'expected true or false, received the string "no".'),
    );
  });

  it("rethrows fn's own error, the same object", () => {
    const error = new RangeError("mine");
    expect(() =>
      withContext({ userId: "u" }, () => {
        throw error;
      }),
    ).toThrow(error);
  });
});

describe("request fields that name the end user", () => {
  it("records OpenAI safety_identifier (over user) and metadata when no context value is set", async () => {
    await h.openai.chat.completions.create({
      model: "gpt-4o-mini",
      messages,
      user: "legacy-user",
      safety_identifier: "hashed-user",
      metadata: { feature: "search", tenant: "acme" },
    } as Parameters<OpenAI["chat"]["completions"]["create"]>[0] & { safety_identifier: string });
    expect(contextAttributes(h.onlySpan())).toEqual({
      "user.id": "hashed-user",
      "tokentrace.request.metadata.feature": "search",
      "tokentrace.request.metadata.tenant": "acme",
    });
  });

  it("lets the context's user win over the request's", async () => {
    await withContext({ userId: "context-user" }, () =>
      h.openai.chat.completions.create({ model: "gpt-4o-mini", messages, user: "request-user" }),
    );
    expect(h.onlySpan().attributes["user.id"]).toBe("context-user");
  });

  it("records Anthropic metadata.user_id", async () => {
    const client = observe(new Anthropic({ baseURL: h.server.anthropicBaseURL, apiKey: "sk-ant-x", maxRetries: 0 }), {
      tracerProvider: h.tracerProvider,
      meterProvider: h.meterProvider,
    });
    await client.messages.create({
      model: "claude-sonnet-4-5",
      max_tokens: 64,
      messages: [{ role: "user", content: "Hi" }],
      metadata: { user_id: "anthropic-user" },
    });
    expect(h.onlySpan().attributes["user.id"]).toBe("anthropic-user");
  });
});

describe("hashUserId", () => {
  const key = "0123456789abcdef-secret";
  const expected = (id: string): string => createHmac("sha256", key).update(id).digest("hex");

  it("writes user.hash (HMAC-SHA256, hex) instead of user.id, for context and request ids alike", async () => {
    const client = h.observeClient(h.raw, { hashUserId: { key } });
    await withContext({ userId: "user-42" }, () => client.chat.completions.create({ model: "gpt-4o-mini", messages }));
    await client.chat.completions.create({ model: "gpt-4o-mini", messages, user: "request-user" });
    const spans = h.spans();
    expect(spans.map((span) => span.attributes["user.hash"])).toEqual([expected("user-42"), expected("request-user")]);
    expect(spans.map((span) => span.attributes["user.id"])).toEqual([undefined, undefined]);
  });

  it("rejects a missing, short or misspelt key at set-up", () => {
    const client = new OpenAI({ baseURL: h.server.openaiBaseURL, apiKey: "sk-x" });
    expect(() => observe(client, { hashUserId: { key: "short" } })).toThrow(
      new InvalidOptionError(
        "hashUserId.key",
        "expected a secret string of at least 16 characters, received a string of 5.",
      ),
    );
    expect(() => observe(client, { hashUserId: {} as { key: string } })).toThrow(
      new InvalidOptionError(
        "hashUserId.key",
        "expected a secret string of at least 16 characters, received undefined.",
      ),
    );
    expect(() => observe(client, { hashUserId: { key, salt: "x" } as { key: string } })).toThrow(
      new InvalidOptionError("hashUserId.salt", "unknown option. Accepted options: key."),
    );
    expect(() => observe(client, { hashUserId: "k" as unknown as { key: string } })).toThrow(
      new InvalidOptionError("hashUserId", 'expected an object { key }, received the string "k".'),
    );
  });
});

describe("metrics", () => {
  it("never carry context values", async () => {
    await withContext({ userId: "u-metrics", sessionId: "s", tags: ["x"], metadata: { plan: "pro" } }, () =>
      h.openai.chat.completions.create({ model: "gpt-4o-mini", messages }),
    );
    const resourceMetrics = await h.sink.collectMetrics();
    const text = JSON.stringify(resourceMetrics.scopeMetrics.map((scope) => scope.metrics.map((m) => m.dataPoints)));
    expect(text).toContain("gpt-4o-mini");
    for (const value of ["u-metrics", "user.id", "session.id", "tokentrace.tags", "tokentrace.metadata"]) {
      expect(text).not.toContain(value);
    }
  });
});
