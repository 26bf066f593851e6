import OpenAI, { AzureOpenAI } from "openai";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isTokentraceError } from "../src/index.js";
import { setup } from "../src/setup-entry.js";
import { collect, createHarness, API_KEY } from "./helpers/harness.js";
import type { Harness } from "./helpers/harness.js";

/**
 * Providers behind the OpenAI client: AzureOpenAI against the mock's Azure-style paths, and the
 * OpenAI-compatible endpoints recognised from `baseURL`. Clients for hosted providers keep their real
 * `baseURL` (so detection and `server.address` see it) while their `fetch` carries the request to the mock
 * server: the real SDK, end to end, without the network.
 */
const messages = [{ role: "user" as const, content: "What is the capital of France?" }];

let h: Harness;
beforeEach(async () => {
  h = await createHarness();
});
afterEach(async () => {
  await h.close();
});

/** A client of `baseURL` whose requests the mock server answers. */
function clientOf(baseURL: string, options: { defaultQuery?: Record<string, string> } = {}): OpenAI {
  const mock = h.server.openaiBaseURL;
  const redirect = (url: unknown, init?: RequestInit): Promise<Response> =>
    fetch(String(url).replace(baseURL, mock), init);
  return new OpenAI({ baseURL, apiKey: API_KEY, maxRetries: 0, fetch: redirect, ...options });
}

describe("AzureOpenAI", () => {
  const apiVersion = "2024-10-21";

  it("names the provider azure.ai.openai, requests the deployment, and labels and prices by the response's model", async () => {
    h.server.enqueue({ model: "gpt-4o-2024-08-06" });
    const azure = h.observeClient(
      new AzureOpenAI({ endpoint: h.server.url, apiKey: API_KEY, apiVersion, deployment: "prod-chat", maxRetries: 0 }),
    );
    const completion = await azure.chat.completions.create({ model: "gpt-4o", messages });
    expect(completion.model).toBe("gpt-4o-2024-08-06");
    expect(h.server.requests[0]?.path).toBe(`/openai/deployments/prod-chat/chat/completions?api-version=${apiVersion}`);

    const span = h.onlySpan();
    expect(span.name).toBe("chat prod-chat");
    expect(span.attributes).toMatchObject({
      "gen_ai.provider.name": "azure.ai.openai",
      "gen_ai.request.model": "prod-chat",
      "gen_ai.response.model": "gpt-4o-2024-08-06",
      "tokentrace.azure.api_version": apiVersion,
      "server.address": "127.0.0.1",
      "server.port": h.server.port,
      "gen_ai.usage.input_tokens": 12,
      "gen_ai.usage.output_tokens": 6,
    });
    expect(span.attributes["tokentrace.cost.model"]).toMatch(/^gpt-4o/);
    expect(span.attributes["gen_ai.usage.cost"]).toBeGreaterThan(0);
  });

  it("requests the body's model as the deployment when the client names none", async () => {
    const azure = h.observeClient(
      new AzureOpenAI({ endpoint: h.server.url, apiKey: API_KEY, apiVersion, maxRetries: 0 }),
    );
    await azure.embeddings.create({ model: "embed-deployment", input: "hello" });
    expect(h.server.requests[0]?.path).toBe(
      `/openai/deployments/embed-deployment/embeddings?api-version=${apiVersion}`,
    );
    expect(h.onlySpan().attributes).toMatchObject({
      "gen_ai.operation.name": "embeddings",
      "gen_ai.provider.name": "azure.ai.openai",
      "gen_ai.request.model": "embed-deployment",
    });
  });

  it("asks for stream usage from api-version 2024-09-01 on, and not before", async () => {
    const recent = h.observeClient(
      new AzureOpenAI({ endpoint: h.server.url, apiKey: API_KEY, apiVersion, deployment: "d", maxRetries: 0 }),
    );
    await collect(await recent.chat.completions.create({ model: "gpt-4o", messages, stream: true }));
    const old = h.observeClient(
      new AzureOpenAI({
        endpoint: h.server.url,
        apiKey: API_KEY,
        apiVersion: "2024-06-01",
        deployment: "d",
        maxRetries: 0,
      }),
    );
    await collect(await old.chat.completions.create({ model: "gpt-4o", messages, stream: true }));
    expect(h.server.requests[0]?.body).toMatchObject({ stream_options: { include_usage: true } });
    expect(h.server.requests[1]?.body).not.toHaveProperty("stream_options");
    const [recentSpan, oldSpan] = h.spans();
    expect(recentSpan!.attributes["tokentrace.usage.estimated"]).toBeUndefined();
    expect(oldSpan!.attributes["tokentrace.usage.estimated"]).toBe(true);
    expect(oldSpan!.attributes["tokentrace.azure.api_version"]).toBe("2024-06-01");
  });

  it("traces the Responses API on Azure, where the body's model names the deployment", async () => {
    const azure = h.observeClient(
      new AzureOpenAI({ endpoint: h.server.url, apiKey: API_KEY, apiVersion: "2025-04-01-preview", maxRetries: 0 }),
    );
    const response = await azure.responses.create({ model: "responses-deployment", input: "Hi" });
    expect(response.output_text).toBe("Hello from the tokentrace mock server.");
    expect(h.server.requests[0]?.path).toBe("/openai/responses?api-version=2025-04-01-preview");
    expect(h.onlySpan().attributes).toMatchObject({
      "gen_ai.provider.name": "azure.ai.openai",
      "openai.api.type": "responses",
      "gen_ai.request.model": "responses-deployment",
      "tokentrace.azure.api_version": "2025-04-01-preview",
    });
  });
});

describe("OpenAI-compatible endpoints recognised from baseURL", () => {
  // [baseURL, gen_ai.provider.name, server.address, server.port, asks for stream usage]
  const table: ReadonlyArray<[string, string, string, number, boolean]> = [
    ["https://api.openai.com/v1", "openai", "api.openai.com", 443, true],
    ["https://myresource.openai.azure.com/openai/v1", "azure.ai.openai", "myresource.openai.azure.com", 443, true],
    ["https://api.groq.com/openai/v1", "groq", "api.groq.com", 443, true],
    ["https://api.deepseek.com/v1", "deepseek", "api.deepseek.com", 443, true],
    ["https://api.x.ai/v1", "x_ai", "api.x.ai", 443, false],
    ["https://api.mistral.ai/v1", "mistral_ai", "api.mistral.ai", 443, false],
    ["https://api.perplexity.ai", "perplexity", "api.perplexity.ai", 443, false],
    [
      "https://generativelanguage.googleapis.com/v1beta/openai",
      "gcp.gemini",
      "generativelanguage.googleapis.com",
      443,
      false,
    ],
    ["https://openrouter.ai/api/v1", "tokentrace.openrouter", "openrouter.ai", 443, false],
    ["https://api.together.xyz/v1", "tokentrace.together_ai", "api.together.xyz", 443, false],
    ["https://api.fireworks.ai/inference/v1", "tokentrace.fireworks_ai", "api.fireworks.ai", 443, false],
    ["http://localhost:11434/v1", "tokentrace.ollama", "localhost", 11434, true],
    ["http://gpu-box.internal:11434/v1", "tokentrace.ollama", "gpu-box.internal", 11434, true],
    ["http://127.0.0.1:8000/v1", "tokentrace.vllm", "127.0.0.1", 8000, true],
    ["http://localhost:1234/v1", "tokentrace.lm_studio", "localhost", 1234, true],
    ["https://llm-gateway.example.com/v1", "openai", "llm-gateway.example.com", 443, false],
  ];

  it.each(table)(
    "%s is %s, at its own address and port, asked for stream usage: %s",
    async (baseURL, provider, address, port, injects) => {
      const client = h.observeClient(clientOf(baseURL));
      const chunks = await collect(
        await client.chat.completions.create({ model: "some-model", messages, stream: true }),
      );
      expect(chunks.some((chunk) => "usage" in chunk)).toBe(false);
      const span = h.onlySpan();
      expect(span.attributes["gen_ai.provider.name"]).toBe(provider);
      expect(span.attributes["server.address"]).toBe(address);
      expect(span.attributes["server.port"]).toBe(port);
      expect(h.server.requests[0]?.body).toMatchObject({ model: "some-model" });
      if (injects) expect(h.server.requests[0]?.body).toMatchObject({ stream_options: { include_usage: true } });
      else expect(h.server.requests[0]?.body).not.toHaveProperty("stream_options");
      expect(span.attributes["tokentrace.stream.usage_injected"]).toBe(injects ? true : undefined);
      expect(span.attributes["tokentrace.usage.estimated"]).toBe(injects ? undefined : true);
    },
  );

  it("records the api-version a plain client sends to Azure as a default query parameter", async () => {
    const client = h.observeClient(
      clientOf("https://myresource.openai.azure.com/openai/deployments/chat-prod", {
        defaultQuery: { "api-version": "2024-02-01" },
      }),
    );
    await collect(await client.chat.completions.create({ model: "gpt-4o", messages, stream: true }));
    expect(h.onlySpan().attributes).toMatchObject({
      "gen_ai.provider.name": "azure.ai.openai",
      "gen_ai.request.model": "chat-prod",
      "tokentrace.azure.api_version": "2024-02-01",
    });
    expect(h.server.requests[0]?.body).not.toHaveProperty("stream_options");
  });

  it("reads Groq's usage from its x_groq field when a stream has no usage chunk", async () => {
    const chunk = (fields: Record<string, unknown>): string =>
      `data: ${JSON.stringify({ id: "chatcmpl-groq", object: "chat.completion.chunk", created: 1, model: "llama-3.3-70b-versatile", ...fields })}\n\n`;
    const body = [
      chunk({ choices: [{ index: 0, delta: { role: "assistant", content: "Hi" }, finish_reason: null }] }),
      chunk({
        choices: [{ index: 0, delta: {}, finish_reason: "stop" }],
        x_groq: { id: "req_groq", usage: { prompt_tokens: 17, completion_tokens: 2, total_tokens: 19 } },
      }),
      "data: [DONE]\n\n",
    ].join("");
    const groqFetch = (): Promise<Response> =>
      Promise.resolve(
        new Response(body, { headers: { "content-type": "text/event-stream", "x-request-id": "req_groq" } }),
      );
    const client = h.observeClient(
      new OpenAI({
        baseURL: "https://api.groq.com/openai/v1",
        apiKey: API_KEY,
        maxRetries: 0,
        fetch: groqFetch,
      }),
      {
        injectStreamUsage: false,
      },
    );
    await collect(await client.chat.completions.create({ model: "llama-3.3-70b-versatile", messages, stream: true }));
    expect(h.onlySpan().attributes).toMatchObject({
      "gen_ai.provider.name": "groq",
      "gen_ai.usage.input_tokens": 17,
      "gen_ai.usage.output_tokens": 2,
    });
    expect(h.onlySpan().attributes["tokentrace.usage.estimated"]).toBeUndefined();
  });
});

describe("the providerName option", () => {
  it("names the provider of a client tokentrace cannot recognise, and brings that provider's rules", async () => {
    const client = h.observeClient(clientOf("https://llm-gateway.example.com/v1"), { providerName: "openai" });
    await collect(await client.chat.completions.create({ model: "gpt-4o-mini", messages, stream: true }));
    const span = h.onlySpan();
    expect(span.attributes["gen_ai.provider.name"]).toBe("openai");
    expect(span.attributes["server.address"]).toBe("llm-gateway.example.com");
    // OpenAI accepts stream_options, so the gateway in front of it is asked for usage.
    expect(h.server.requests[0]?.body).toMatchObject({ stream_options: { include_usage: true } });
  });

  it("overrides detection with a name of the app's own, keeping the endpoint's rules", async () => {
    const client = h.observeClient(clientOf("https://api.groq.com/openai/v1"), { providerName: "acme.llm" });
    await client.chat.completions.create({ model: "m", messages });
    expect(h.onlySpan().attributes["gen_ai.provider.name"]).toBe("acme.llm");
  });

  it("is rejected, naming the option, when it is not a usable name or is given to setup()", () => {
    const rejected = (run: () => unknown): unknown => {
      try {
        run();
      } catch (error) {
        return error;
      }
      return undefined;
    };
    const bad = rejected(() =>
      h.observeClient(new OpenAI({ baseURL: h.server.openaiBaseURL, apiKey: API_KEY }), { providerName: " " }),
    );
    expect(isTokentraceError(bad)).toBe(true);
    expect((bad as Error).message).toMatch(/providerName/);
    const inSetup = rejected(() => setup({ providerName: "openai" } as never));
    expect(isTokentraceError(inSetup)).toBe(true);
    expect((inSetup as Error).message).toMatch(/providerName.*observe\(\) option/);
  });
});
