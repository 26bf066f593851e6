import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { observe } from "../../src/index.js";
import { createTestTelemetry } from "../helpers/telemetry.js";
import {
  anthropicMessage,
  chatChunk,
  chatCompletion,
  chatUsage,
  responsesResponse,
  responsesUsage,
} from "../helpers/provider-bodies.js";
import { startScriptedServer } from "../helpers/scripted-server.js";
import type { ScriptedAnswer, ScriptedRequest, ScriptedServer } from "../helpers/scripted-server.js";

/**
 * Secrets (issue #10, "Error text leaks nothing"): an API key placed in the client (`apiKey`), in
 * `defaultHeaders` (a custom auth header and `Authorization`), in `defaultQuery`, and echoed back by the server
 * (a 401 quoting the key, a 400 quoting the request, a mid-stream error event quoting the key) never appears in
 * any span attribute, event attribute, status message or metric attribute, with content capture on or off.
 * With capture off, the prompt the server echoes in its error text does not appear either.
 *
 * The server is scripted: it echoes every credential it received, wherever it was sent.
 */
const API_KEY = "sk-secret-api-key-0a1b2c3d";
const HEADER_SECRET = "secret-custom-auth-4e5f6a7b";
const AUTH_SECRET = "secret-authorization-8c9d0e1f";
const QUERY_SECRET = "secret-query-2a3b4c5d";
const PROMPT_SECRET = "prompt-private-6e7f8a9b";
const credentials = [API_KEY, HEADER_SECRET, AUTH_SECRET, QUERY_SECRET];

type Scenario = "ok" | "ok stream" | "401" | "400 echoing the request" | "error event";
const scenarios: Scenario[] = ["ok", "ok stream", "401", "400 echoing the request", "error event"];
type Surface = "openai chat" | "openai responses" | "anthropic";
const surfaces: Surface[] = ["openai chat", "openai responses", "anthropic"];
/** How the client carries the key. */
type Placement = "apiKey" | "defaultHeaders" | "defaultQuery";
const placements: Placement[] = ["apiKey", "defaultHeaders", "defaultQuery"];

/** Everything the server received that could hold a credential, as one string to echo. */
function echoOf(request: ScriptedRequest): string {
  const header = (name: string): string => String(request.headers[name] ?? "");
  return `authorization=${header("authorization")} x-api-key=${header("x-api-key")} x-custom-auth=${header("x-custom-auth")} url=${request.url}`;
}

const chatDelta = (delta: Record<string, unknown>, finishReason: string | null = null): object =>
  chatChunk([{ index: 0, delta, logprobs: null, finish_reason: finishReason }]);
const responseObject = (status: string): Record<string, unknown> =>
  responsesResponse({
    status,
    text: "ok",
    usage: {
      ...responsesUsage(3, 1),
      input_tokens_details: { cached_tokens: 0 },
      output_tokens_details: { reasoning_tokens: 0 },
    },
  });
const okMessage = anthropicMessage({
  model: "claude-sonnet-5",
  text: "ok",
  usage: { input_tokens: 3, output_tokens: 1 },
});
const anthropicEvent = (name: string, data: object): string => `event: ${name}\ndata: ${JSON.stringify(data)}`;

function answer(request: ScriptedRequest): ScriptedAnswer {
  const body = (request.body ?? {}) as {
    stream?: boolean;
    scenario?: string;
    metadata?: { scenario?: string };
    messages?: Array<{ content?: unknown }>;
    input?: unknown;
  };
  const prompt = JSON.stringify(body.messages ?? body.input ?? "");
  const scenario = (/scenario=([a-z0-9 ]+);/.exec(prompt)?.[1] ?? "ok") as Scenario;
  const anthropic = request.url.startsWith("/v1/messages");
  const responses = request.url.startsWith("/v1/responses");
  const echo = echoOf(request);
  if (scenario === "401") {
    return anthropic
      ? {
          status: 401,
          json: {
            type: "error",
            error: { type: "authentication_error", message: `invalid x-api-key: ${echo}` },
            request_id: "req_1",
          },
        }
      : {
          status: 401,
          json: {
            error: {
              message: `Incorrect API key provided: ${echo}`,
              type: "invalid_request_error",
              param: null,
              code: "invalid_api_key",
            },
          },
        };
  }
  if (scenario === "400 echoing the request") {
    const message = `Invalid request body ${request.rawBody} (${echo})`;
    return anthropic
      ? { status: 400, json: { type: "error", error: { type: "invalid_request_error", message }, request_id: "req_1" } }
      : { status: 400, json: { error: { message, type: "invalid_request_error", param: "messages", code: null } } };
  }
  const failing = scenario === "error event";
  if (anthropic) {
    if (body.stream !== true) return { json: okMessage };
    const start = [
      anthropicEvent("message_start", {
        type: "message_start",
        message: { ...okMessage, content: [], stop_reason: null, usage: { input_tokens: 3, output_tokens: 1 } },
      }),
      anthropicEvent("content_block_start", {
        type: "content_block_start",
        index: 0,
        content_block: { type: "text", text: "" },
      }),
      anthropicEvent("content_block_delta", {
        type: "content_block_delta",
        index: 0,
        delta: { type: "text_delta", text: "ok" },
      }),
    ];
    const end = failing
      ? [
          anthropicEvent("error", {
            type: "error",
            error: { type: "overloaded_error", message: `Overloaded while serving ${echo}` },
          }),
        ]
      : [
          anthropicEvent("content_block_stop", { type: "content_block_stop", index: 0 }),
          anthropicEvent("message_delta", {
            type: "message_delta",
            delta: { stop_reason: "end_turn", stop_sequence: null },
            usage: { output_tokens: 1 },
          }),
          anthropicEvent("message_stop", { type: "message_stop" }),
        ];
    return { events: [...start, ...end] };
  }
  if (responses) {
    if (body.stream !== true) return { json: responseObject("completed") };
    const created = `event: response.created\ndata: ${JSON.stringify({ type: "response.created", sequence_number: 0, response: { ...responseObject("in_progress"), output: [], usage: null } })}`;
    const end = failing
      ? `event: error\ndata: ${JSON.stringify({ type: "error", code: "server_error", message: `Failed while serving ${echo}`, param: null, sequence_number: 1 })}`
      : `event: response.completed\ndata: ${JSON.stringify({ type: "response.completed", sequence_number: 1, response: responseObject("completed") })}`;
    return { events: [created, end] };
  }
  if (body.stream !== true) {
    return { json: chatCompletion({ content: "ok", refusal: null, logprobs: null, usage: chatUsage(3, 1) }) };
  }
  const events: (string | object)[] = [chatDelta({ role: "assistant", content: "" }), chatDelta({ content: "ok" })];
  if (failing)
    events.push({
      error: {
        message: `The server failed while serving ${echo}`,
        type: "server_error",
        param: null,
        code: "server_error",
      },
    });
  else events.push(chatDelta({}, "stop"), "[DONE]");
  return { events };
}

let server: ScriptedServer;
beforeAll(async () => {
  server = await startScriptedServer(answer);
});
afterAll(async () => {
  await server.close();
});

/** Client options carrying the key the given way (every way puts at least one secret on the wire). */
function clientOptions(placement: Placement, baseURL: string): Record<string, unknown> {
  switch (placement) {
    case "apiKey":
      return { baseURL, apiKey: API_KEY, maxRetries: 0 };
    case "defaultHeaders":
      return {
        baseURL,
        apiKey: API_KEY,
        maxRetries: 0,
        defaultHeaders: { "x-custom-auth": HEADER_SECRET, Authorization: `Bearer ${AUTH_SECRET}` },
      };
    case "defaultQuery":
      return { baseURL, apiKey: API_KEY, maxRetries: 0, defaultQuery: { key: QUERY_SECRET } };
  }
}

async function run(
  surface: Surface,
  scenario: Scenario,
  client: { openai: OpenAI; anthropic: Anthropic },
): Promise<void> {
  const content = `scenario=${scenario}; ${PROMPT_SECRET}`;
  const stream = scenario === "ok stream" || scenario === "error event";
  const drain = async (iterable: AsyncIterable<unknown>): Promise<void> => {
    for await (const chunk of iterable) void chunk;
  };
  try {
    if (surface === "openai chat") {
      const messages = [{ role: "user" as const, content }];
      if (stream)
        await drain(await client.openai.chat.completions.create({ model: "gpt-4o-mini", messages, stream: true }));
      else await client.openai.chat.completions.create({ model: "gpt-4o-mini", messages });
    } else if (surface === "openai responses") {
      if (stream)
        await drain(await client.openai.responses.create({ model: "gpt-4o-mini", input: content, stream: true }));
      else await client.openai.responses.create({ model: "gpt-4o-mini", input: content });
    } else {
      const request = { model: "claude-sonnet-5", max_tokens: 10, messages: [{ role: "user" as const, content }] };
      if (stream) await drain(await client.anthropic.messages.create({ ...request, stream: true }));
      else await client.anthropic.messages.create(request);
    }
  } catch {
    // The failures are the point; what matters is what telemetry recorded of them.
  }
}

describe("secrets in telemetry", () => {
  for (const captureContent of [true, false]) {
    for (const surface of surfaces) {
      for (const scenario of scenarios) {
        it(`never records a credential${captureContent ? "" : " or the echoed prompt"} for ${surface}, ${scenario}, with content capture ${captureContent ? "on" : "off"}, wherever the client carries the key`, async () => {
          const telemetry = createTestTelemetry();
          const options = {
            tracerProvider: telemetry.tracerProvider,
            meterProvider: telemetry.meterProvider,
            captureContent,
          };
          for (const placement of placements) {
            const client = {
              openai: observe(new OpenAI(clientOptions(placement, `${server.url}/v1`)), options),
              anthropic: observe(new Anthropic(clientOptions(placement, server.url)), options),
            };
            await run(surface, scenario, client);
          }
          const spans = telemetry.spans();
          expect(spans).toHaveLength(placements.length);
          // The server did receive (and echo) the secrets: the test would prove nothing otherwise.
          const received = server.requests.slice(-placements.length).map(echoOf).join(" ");
          for (const secret of credentials) expect(received).toContain(secret);

          const metrics = await telemetry.sink.collectMetrics();
          const recorded = JSON.stringify({
            spans: spans.map((span) => ({
              name: span.name,
              attributes: span.attributes,
              events: span.events.map((event) => ({ name: event.name, attributes: event.attributes })),
              status: span.status,
              links: span.links,
            })),
            metrics: metrics.scopeMetrics.flatMap((scope) =>
              scope.metrics.map((metric) => ({
                name: metric.descriptor.name,
                attributes: metric.dataPoints.map((point) => point.attributes),
              })),
            ),
          });
          const leaked = [...credentials, ...(captureContent ? [] : [PROMPT_SECRET])].filter((secret) =>
            recorded.includes(secret),
          );
          expect(leaked).toEqual([]);
          await telemetry.shutdown();
        });
      }
    }
  }
});
