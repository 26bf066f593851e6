import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { clientSecrets, clientSecretsReader } from "../src/providers/credentials.js";

/** The client credentials the redaction pipeline replaces (issue 13), read once per client until they change. */
describe("client credentials", () => {
  it("reads the key, credential headers and query parameters, longest first", () => {
    const client = new OpenAI({
      apiKey: "sk-key-0123456789",
      defaultHeaders: { "x-portkey-api-key": "portkey-0123456789abcdef", "x-trace": "not-a-secret" },
      defaultQuery: { sig: "signature-0123" },
    });
    expect(clientSecrets(client)).toEqual(["portkey-0123456789abcdef", "sk-key-0123456789", "signature-0123"]);
  });

  it("reuses a reading until the key or the options are replaced", () => {
    const client = new OpenAI({ apiKey: "sk-first-0123456789" });
    const secretsOf = clientSecretsReader(client);
    const first = secretsOf();
    expect(first).toEqual(["sk-first-0123456789"]);
    expect(secretsOf()).toBe(first);
    client.apiKey = "sk-second-0123456789";
    expect(secretsOf()).toEqual(["sk-second-0123456789"]);
    const anthropic = new Anthropic({ apiKey: "sk-ant-0123456789" });
    const anthropicSecrets = clientSecretsReader(anthropic);
    expect(anthropicSecrets()).toEqual(["sk-ant-0123456789"]);
    const options = (anthropic as unknown as { _options: Record<string, unknown> })._options;
    (anthropic as unknown as { _options: Record<string, unknown> })._options = {
      ...options,
      defaultHeaders: { authorization: "Bearer gateway-token-0123" },
    };
    expect(anthropicSecrets()).toEqual(["Bearer gateway-token-0123", "gateway-token-0123", "sk-ant-0123456789"]);
  });
});
