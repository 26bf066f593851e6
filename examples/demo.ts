/**
 * tokentrace in one screen: a plain chat completion, a stream, a tool call, a failing call, a Responses API
 * call and an embedding through an observed OpenAI client, then a streamed Anthropic message, each traced and printed by the console sink
 * as one `[tokentrace] ...` line; then a pipeline of stages printed as a tree, and what a span carries with content
 * capture off (the default) and on.
 *
 * Run: `npm run demo`. Without OPENAI_API_KEY / ANTHROPIC_API_KEY it talks to the bundled mock server, so it
 * needs no network and costs nothing; with a key set it calls that real API (gpt-4o-mini, claude-haiku-4-5;
 * a few tokens).
 */
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import type { ChatCompletionTool } from "openai/resources/chat/completions";
import { observe, withAgent, withContext, withRetrieval, withTool, withWorkflow } from "../src/index.js";
import { consoleSink, memorySink, setup } from "../src/setup-entry.js";
import { startMockLLMServer } from "../src/testing/index.js";
import type { MockLLMServer } from "../src/testing/index.js";

const apiKey = process.env["OPENAI_API_KEY"];
const anthropicKey = process.env["ANTHROPIC_API_KEY"];
const model = "gpt-4o-mini";
const anthropicModel = "claude-haiku-4-5";

// The stream's span ends (and its line prints) while the streamed text is still on the current line;
// start the telemetry line on a fresh one so the output stays readable.
// Changed inside callbacks, so a field: TypeScript would narrow a plain `let` to its initial value at the reads below.
const output = { midLine: false };
function writeStreamed(text: string): void {
  process.stdout.write(text);
  if (text !== "") output.midLine = !text.endsWith("\n");
}
const printLine = (line: string): void => {
  console.log(output.midLine ? `\n${line}` : line);
  output.midLine = false;
};

// The memory sink lets section 8 show what a span carries with content capture off and on.
const spans = memorySink();
const telemetry = setup({ serviceName: "tokentrace-demo", sinks: [consoleSink({ write: printLine }), spans] });

const useMockOpenAI = apiKey === undefined || apiKey === "";
const useMockAnthropic = anthropicKey === undefined || anthropicKey === "";
let mock: MockLLMServer | undefined;
if (useMockOpenAI || useMockAnthropic) {
  mock = await startMockLLMServer();
  if (useMockOpenAI) console.log(`No OPENAI_API_KEY set: using the tokentrace mock server at ${mock.openaiBaseURL}`);
  if (useMockAnthropic)
    console.log(`No ANTHROPIC_API_KEY set: using the tokentrace mock server at ${mock.anthropicBaseURL}`);
}
// The OpenAI sections steer the mock (a tool call, a 429) only when they talk to it.
const server = useMockOpenAI ? mock : undefined;

// maxRetries 0 so the failing call fails at once instead of backing off and retrying.
const openai = observe(
  server !== undefined
    ? new OpenAI({ baseURL: server.openaiBaseURL, apiKey: "sk-demo", maxRetries: 0 })
    : new OpenAI({ apiKey, maxRetries: 0 }),
);
const anthropic = observe(
  useMockAnthropic && mock !== undefined
    ? new Anthropic({ baseURL: mock.anthropicBaseURL, apiKey: "sk-ant-demo", maxRetries: 0 })
    : new Anthropic({ apiKey: anthropicKey, maxRetries: 0 }),
);

const weatherTool: ChatCompletionTool = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Current weather for a city.",
    parameters: {
      type: "object",
      properties: { city: { type: "string" } },
      required: ["city"],
    },
  },
};

function heading(title: string): void {
  console.log(`\n== ${title}`);
}

try {
  heading("1. Chat completion");
  const completion = await openai.chat.completions.create({
    model,
    messages: [{ role: "user", content: "Say hello in five words." }],
  });
  console.log(completion.choices[0]?.message.content);

  heading("2. Stream");
  const stream = await openai.chat.completions.create({
    model,
    messages: [{ role: "user", content: "Count from one to ten in words." }],
    stream: true,
  });
  for await (const chunk of stream) writeStreamed(chunk.choices[0]?.delta.content ?? "");
  if (output.midLine) writeStreamed("\n");

  heading("3. Tool call");
  server?.enqueue({
    toolCalls: [{ id: "call_demo_1", name: "get_weather", arguments: JSON.stringify({ city: "Paris" }) }],
  });
  const toolReply = await openai.chat.completions.create({
    model,
    messages: [{ role: "user", content: "What is the weather in Paris?" }],
    tools: [weatherTool],
    tool_choice: { type: "function", function: { name: "get_weather" } },
  });
  for (const toolCall of toolReply.choices[0]?.message.tool_calls ?? []) {
    if (toolCall.type === "function") console.log(`${toolCall.function.name}(${toolCall.function.arguments})`);
  }

  heading("4. Failing call");
  // The mock answers 429 on request; the real API is made to fail with a model that does not exist.
  server?.enqueue({ status: 429 });
  try {
    await openai.chat.completions.create({
      model: server !== undefined ? model : "tokentrace-demo-no-such-model",
      messages: [{ role: "user", content: "This call fails." }],
    });
    console.log("unexpected: the call succeeded");
  } catch (error) {
    const name = error instanceof Error ? error.constructor.name : typeof error;
    const message = error instanceof Error ? error.message : String(error);
    console.log(`caught ${name} ${message}`);
  }

  heading("5. Responses API and embeddings");
  const response = await openai.responses.create({ model, input: "Say hello in five words." });
  console.log(response.output_text);
  const embedding = await openai.embeddings.create({ model: "text-embedding-3-small", input: "tokentrace" });
  console.log(`embedding of ${embedding.data[0]?.embedding.length ?? 0} dimensions`);

  heading("6. Anthropic, streamed with messages.stream()");
  const messageStream = anthropic.messages.stream({
    model: anthropicModel,
    max_tokens: 100,
    messages: [{ role: "user", content: "Say hello in five words." }],
  });
  messageStream.on("text", (text) => writeStreamed(text));
  await messageStream.finalMessage();
  if (output.midLine) writeStreamed("\n");

  heading("7. One request as a pipeline: context and stages");
  // withContext puts who and where on every span inside; the stages nest the calls and sum their tokens and cost
  // on their own spans (tokentrace.rollup.*), so the workflow's span says what the whole request cost.
  await withContext({ userId: "demo-user", sessionId: "demo-session", tags: ["demo"] }, () =>
    withWorkflow("answer-question", () =>
      withAgent("support-agent", async () => {
        const documents = await withRetrieval(
          "kb-articles",
          (stage) => {
            const found = [{ id: "kb-17", score: 0.92 }];
            stage.addDocuments(found);
            return Promise.resolve(found);
          },
          { topK: 3 },
        );
        const weather = await withTool("get_weather", () => Promise.resolve("sunny, 21 °C"), { callId: "call_demo" });
        const answer = await openai.chat.completions.create({
          model,
          messages: [
            { role: "user", content: `Using ${documents[0]?.id ?? "nothing"} and "${weather}", answer briefly.` },
          ],
        });
        console.log(answer.choices[0]?.message.content);
      }),
    ),
  );

  heading("8. What leaves the process: content capture off (the default) and on");
  // Off by default, as the GenAI conventions require: spans carry the model, tokens, timing and cost, never the
  // prompt or the answer. `captureContent: true` adds them (gen_ai.input.messages, gen_ai.output.messages, ...).
  // With it on, every text passes the redaction pipeline: secrets always, and here the email preset.
  const question = [{ role: "user" as const, content: "Say hello in five words to jane.doe@example.com." }];
  await openai.chat.completions.create({ model, messages: question });
  const withContent = observe(
    server !== undefined
      ? new OpenAI({ baseURL: server.openaiBaseURL, apiKey: "sk-demo", maxRetries: 0 })
      : new OpenAI({ apiKey, maxRetries: 0 }),
    { captureContent: true, pii: ["email"] },
  );
  await withContent.chat.completions.create({ model, messages: question });
  const [offSpan, onSpan] = spans.getSpans().slice(-2);
  const contentKeys = (attributes: Record<string, unknown> | undefined): string[] =>
    Object.keys(attributes ?? {}).filter((key) => key.endsWith(".messages") || key === "gen_ai.system_instructions");
  console.log(`capture off: content attributes ${JSON.stringify(contentKeys(offSpan?.attributes))}`);
  console.log(`capture on:  content attributes ${JSON.stringify(contentKeys(onSpan?.attributes))}`);
  console.log(`             gen_ai.input.messages = ${String(onSpan?.attributes["gen_ai.input.messages"])}`);
  console.log(
    `             tokentrace.redaction.kinds = ${JSON.stringify(onSpan?.attributes["tokentrace.redaction.kinds"])}`,
  );
} finally {
  await telemetry.shutdown();
  await mock?.close();
}
