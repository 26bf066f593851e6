import OpenAI from "openai";
import { afterEach, describe, expect, it } from "vitest";
import { startScriptedServer } from "./helpers/scripted-server.js";
import type { ScriptedServer } from "./helpers/scripted-server.js";

let server: ScriptedServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe("the scripted test server", () => {
  it("serves the events a test scripts to the real OpenAI SDK, in order", async () => {
    server = await startScriptedServer(() => ({
      events: [
        {
          id: "c1",
          object: "chat.completion.chunk",
          created: 1,
          model: "m",
          choices: [{ index: 0, delta: { content: "Hi" }, finish_reason: null }],
        },
        {
          id: "c1",
          object: "chat.completion.chunk",
          created: 1,
          model: "m",
          choices: [{ index: 0, delta: {}, finish_reason: "stop" }],
        },
        "[DONE]",
      ],
    }));
    const client = new OpenAI({ apiKey: "sk-test", baseURL: `${server.url}/v1`, maxRetries: 0 });
    const stream = await client.chat.completions.create({
      model: "m",
      messages: [{ role: "user", content: "x" }],
      stream: true,
    });
    const reasons: (string | null)[] = [];
    for await (const chunk of stream) reasons.push(chunk.choices[0]?.finish_reason ?? null);
    expect(reasons).toEqual([null, "stop"]);
    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]?.url).toBe("/v1/chat/completions");
    expect((server.requests[0]?.body as { model?: string }).model).toBe("m");
  });
});
