import { createServer } from "node:http";
import type { IncomingHttpHeaders, Server } from "node:http";
import type { AddressInfo } from "node:net";
import { ROOT_CONTEXT, context, propagation } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from "@opentelemetry/core";
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { InvalidOptionError, contextFromBaggage, withContext } from "../src/index.js";
import type { ContextBaggageKey } from "../src/index.js";
import { createHarness } from "./helpers/harness.js";
import type { Harness } from "./helpers/harness.js";

/**
 * W3C baggage (issue 12): context values travel to other services only for the keys the app lists, in both
 * directions: `withContext(values, fn, { baggage })` sends, `contextFromBaggage(keys)` reads. Two services here talk
 * real HTTP on 127.0.0.1 with OpenTelemetry's W3C propagators, as an app's HTTP instrumentation would.
 */
const messages = [{ role: "user" as const, content: "Hi" }];
const contextKeys = ["user.id", "session.id", "gen_ai.conversation.id", "tokentrace.context.dropped"];
const contextAttributes = (span: ReadableSpan): Record<string, unknown> =>
  Object.fromEntries(
    Object.entries(span.attributes).filter(
      ([key]) => contextKeys.includes(key) || key.startsWith("tokentrace.metadata."),
    ),
  );

beforeAll(() => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(
    new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }),
  );
});
afterAll(() => {
  propagation.disable();
  context.disable();
});

/** The downstream service: reads the listed keys from the request's baggage and makes one observed call. */
let h: Harness;
let downstream: Server;
let downstreamURL: string;
let readKeys: ContextBaggageKey[];
let receivedHeaders: IncomingHttpHeaders | undefined;
beforeEach(async () => {
  h = await createHarness({ captureContent: false });
  readKeys = ["userId", "sessionId", "metadata.tenant"];
  receivedHeaders = undefined;
  downstream = createServer((request, response) => {
    receivedHeaders = request.headers;
    const extracted = propagation.extract(ROOT_CONTEXT, request.headers);
    context
      .with(extracted, () =>
        withContext(contextFromBaggage(readKeys), () =>
          h.openai.chat.completions.create({ model: "gpt-4o-mini", messages }),
        ),
      )
      .then(
        () => response.end("ok"),
        (error: unknown) => response.writeHead(500).end(String(error)),
      );
  });
  await new Promise<void>((resolve) => downstream.listen(0, "127.0.0.1", resolve));
  downstreamURL = `http://127.0.0.1:${(downstream.address() as AddressInfo).port}/`;
});
afterEach(async () => {
  await new Promise<void>((resolve) => downstream.close(() => resolve()));
  await h.close();
});

/** The upstream service's outgoing request: headers injected from the active context, as HTTP instrumentation does. */
async function callDownstream(): Promise<void> {
  const headers: Record<string, string> = {};
  propagation.inject(context.active(), headers);
  const response = await fetch(downstreamURL, { headers });
  expect(await response.text()).toBe("ok");
}

describe("context in W3C baggage", () => {
  it("sends only the listed values, and the downstream call's span carries the ones it reads", async () => {
    await withContext(
      {
        userId: "u-1",
        sessionId: "s-1",
        conversationId: "c-1",
        tags: ["beta"],
        metadata: { tenant: "acme", plan: "pro" },
      },
      callDownstream,
      { baggage: ["userId", "sessionId", "metadata.tenant"] },
    );
    expect(receivedHeaders?.["baggage"]).toBe("user.id=u-1,session.id=s-1,tokentrace.metadata.tenant=acme");
    expect(contextAttributes(h.onlySpan())).toEqual({
      "user.id": "u-1",
      "session.id": "s-1",
      "tokentrace.metadata.tenant": "acme",
    });
  });

  it("sends nothing by default", async () => {
    await withContext({ userId: "u-1", sessionId: "s-1" }, callDownstream);
    expect(receivedHeaders?.["baggage"]).toBeUndefined();
    expect(receivedHeaders?.["traceparent"]).toBeUndefined(); // no span is active in this test: nothing to propagate
    expect(contextAttributes(h.onlySpan())).toEqual({});
  });

  it("reads only the keys the downstream lists, and percent-encoded values come back as sent", async () => {
    readKeys = ["userId"];
    await withContext({ userId: "user 42, ü;=", sessionId: "s-1" }, callDownstream, {
      baggage: ["userId", "sessionId"],
    });
    expect(receivedHeaders?.["baggage"]).toBe("user.id=user%2042%2C%20%C3%BC%3B%3D,session.id=s-1");
    expect(contextAttributes(h.onlySpan())).toEqual({ "user.id": "user 42, ü;=" });
  });

  it("lets nested scopes inherit the list and send their own values for it, over what upstream sent", async () => {
    await withContext(
      { userId: "outer", sessionId: "s-1" },
      () => withContext({ userId: "inner" }, callDownstream, { baggage: ["metadata.tenant"] }),
      { baggage: ["userId", "sessionId"] },
    );
    expect(receivedHeaders?.["baggage"]).toBe("user.id=inner,session.id=s-1");
    expect(contextAttributes(h.onlySpan())).toEqual({ "user.id": "inner", "session.id": "s-1" });
  });

  it("checks what it reads as withContext checks anything: a bad value from upstream is dropped and listed", async () => {
    const tooLong = "x".repeat(257);
    const upstream = propagation.setBaggage(
      ROOT_CONTEXT,
      propagation.createBaggage({ "user.id": { value: tooLong }, "session.id": { value: "s-9" } }),
    );
    await context.with(upstream, callDownstream);
    expect(contextAttributes(h.onlySpan())).toEqual({
      "session.id": "s-9",
      "tokentrace.context.dropped": ["userId"],
    });
    // Without baggage in the context, nothing is read.
    expect(contextFromBaggage(["userId"], ROOT_CONTEXT)).toEqual({});
  });

  it("keeps at most 16 keys over nested scopes, listing the ones past that as dropped", async () => {
    const first = Array.from({ length: 16 }, (_, index): ContextBaggageKey => `metadata.k${index}`);
    await withContext(
      { userId: "u-1" },
      () =>
        withContext({ sessionId: "s-1" }, () => h.openai.chat.completions.create({ model: "gpt-4o-mini", messages }), {
          baggage: ["userId", "metadata.k0"],
        }),
      { baggage: first },
    );
    expect(contextAttributes(h.onlySpan())).toEqual({
      "user.id": "u-1",
      "session.id": "s-1",
      "tokentrace.context.dropped": ["baggage.userId"],
    });
  });

  it("throws InvalidOptionError naming the option for a bad list, on either side", () => {
    const run = (): number => 1;
    const cases: Array<[() => unknown, string]> = [
      [() => withContext({}, run, { baggage: ["email" as ContextBaggageKey] }), "withContext.baggage[0]"],
      [() => withContext({}, run, { baggage: "userId" as never }), "withContext.baggage"],
      [() => withContext({}, run, { propagate: [] } as never), "withContext.propagate"],
      [() => withContext({}, run, null as never), "withContext"],
      [
        () => withContext({}, run, { baggage: Array.from({ length: 17 }, (): ContextBaggageKey => "userId") }),
        "withContext.baggage",
      ],
      [() => contextFromBaggage(["userId", "metadata.bad key"]), "contextFromBaggage[1]"],
    ];
    for (const [call, option] of cases) {
      let thrown: unknown;
      try {
        call();
      } catch (error) {
        thrown = error;
      }
      expect(thrown, option).toBeInstanceOf(InvalidOptionError);
      expect((thrown as InvalidOptionError).option).toBe(option);
    }
    expect(withContext({}, run, { baggage: [] })).toBe(1);
  });
});
