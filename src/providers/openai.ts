import type { AttributeValue } from "@opentelemetry/api";
import type { Message, MessagePart, RequestFacts, ResponseFacts } from "../call-record.js";
import * as names from "../semconv.js";
import type { Usage } from "../usage.js";
import { base64BlobPart, estimateTokens, mediaPart, parseArguments, textPart } from "./content-parts.js";
import { describeOpenAIClient } from "./openai-endpoints.js";
import type { OpenAIClientTraits } from "./openai-endpoints.js";
import { openaiErrorType, observeOpenAIApiPromise } from "./openai-sdk-versions.js";
import { completionsCreate } from "./openai-completions.js";
import { embeddingsCreate } from "./openai-embeddings.js";
import type { Json } from "./openai-payload.js";
import type { ChoiceSlot, OpenAIContext } from "./openai-payload.js";
import {
  ChoiceStreamAccumulator,
  contentText,
  isObject,
  numberOr,
  readOutputFormat,
  readResponseMetadata,
  setNumber,
  setSamplingAttributes,
  shouldInjectStreamUsage,
  startRecord,
  stringOr,
  withoutInjectedUsageEvent,
} from "./openai-payload.js";
import { responsesCreate } from "./openai-responses.js";
import { IgnoredEntries, MAX_CHOICES, MAX_TOOL_CALLS_PER_CHOICE, SlotTable } from "./payload-bounds.js";
import {
  estimatedUsageOf,
  estimateChatInputTokens,
  estimateTextTokens,
  estimateTexts,
} from "./openai-token-estimate.js";
import type { TokenEstimate } from "./openai-token-estimate.js";
import type {
  OperationAdapter,
  PreparedCall,
  ProviderAdapter,
  RunEnd,
  RunHelperAdapter,
  StreamAccumulator,
} from "./types.js";
import { setOpenAIRequestUser } from "./request-user.js";
import { instrumentRunTools } from "./openai-run-tools.js";

/**
 * OpenAI's `openai` package (v4 to v7), and every endpoint reached through it (Azure OpenAI and the
 * OpenAI-compatible providers of `openai-endpoints.ts`): `chat.completions.create` (here), the Responses
 * API, embeddings and legacy completions (their own files), streamed and not. The SDK's helpers
 * (`chat.completions.parse/stream/runTools`, `responses.parse/stream`, and v4's `beta.chat.completions.*`)
 * call `create` through the observed client, so each model request they make is one span.
 *
 * The adapters are pure translation between OpenAI payloads and neutral request and response facts: no spans,
 * no clocks, no I/O. Payloads are read defensively: a field of the wrong type is skipped, never trusted.
 */

function detect(client: object): boolean {
  const candidate = client as { chat?: { completions?: { create?: unknown } }; baseURL?: unknown };
  return typeof candidate.chat?.completions?.create === "function" && typeof candidate.baseURL === "string";
}

// --- request ---

/** Returns whether the request's own `metadata` was written (see `RequestFacts.hasRequestMetadata`). */
function requestAttributes(body: Json, attributes: Record<string, AttributeValue>): boolean {
  attributes[names.ATTR_OPENAI_API_TYPE] = names.OPENAI_API_TYPE_CHAT_COMPLETIONS;
  setNumber(attributes, names.ATTR_GEN_AI_REQUEST_MAX_TOKENS, body["max_completion_tokens"] ?? body["max_tokens"]);
  setSamplingAttributes(attributes, body);
  const tier = stringOr(body["service_tier"]);
  if (tier !== undefined) attributes[names.ATTR_OPENAI_REQUEST_SERVICE_TIER] = tier;
  const effort = stringOr(body["reasoning_effort"]);
  if (effort !== undefined) attributes[names.ATTR_GEN_AI_REQUEST_REASONING_LEVEL] = effort;
  return setOpenAIRequestUser(attributes, body);
}

function contentParts(content: unknown): MessagePart[] {
  if (typeof content === "string") return [textPart(content)];
  if (!Array.isArray(content)) return [];
  const parts: MessagePart[] = [];
  for (const item of content) {
    if (!isObject(item)) continue;
    switch (item["type"]) {
      case "text":
        parts.push(textPart(stringOr(item["text"]) ?? ""));
        break;
      case "refusal":
        parts.push(textPart(stringOr(item["refusal"]) ?? ""));
        break;
      case "image_url": {
        const url = isObject(item["image_url"]) ? stringOr(item["image_url"]["url"]) : undefined;
        if (url !== undefined) parts.push(mediaPart(url, "image"));
        break;
      }
      case "input_audio": {
        const audio = isObject(item["input_audio"]) ? item["input_audio"] : {};
        const format = stringOr(audio["format"]);
        parts.push(base64BlobPart(audio["data"], "audio", format ? `audio/${format}` : undefined));
        break;
      }
      case "file": {
        const file = isObject(item["file"]) ? item["file"] : {};
        const fileData = stringOr(file["file_data"]);
        parts.push(
          fileData !== undefined
            ? mediaPart(fileData, "file")
            : { type: "file", file_id: stringOr(file["file_id"]), filename: stringOr(file["filename"]) },
        );
        break;
      }
      default:
        parts.push({ type: String(item["type"]) });
    }
  }
  return parts;
}

function toolCallParts(toolCalls: unknown): MessagePart[] {
  if (!Array.isArray(toolCalls)) return [];
  const parts: MessagePart[] = [];
  for (const call of toolCalls) {
    if (!isObject(call)) continue;
    const fn = isObject(call["function"]) ? call["function"] : isObject(call["custom"]) ? call["custom"] : {};
    parts.push({
      type: "tool_call",
      id: stringOr(call["id"]),
      name: stringOr(fn["name"]),
      arguments: parseArguments(fn["arguments"] ?? fn["input"]),
    });
  }
  return parts;
}

export function toInputMessages(messages: readonly unknown[]): Message[] {
  const result: Message[] = [];
  for (const message of messages) {
    if (!isObject(message)) continue;
    const role = stringOr(message["role"]) ?? "user";
    if (role === "tool" || role === "function") {
      const response = typeof message["content"] === "string" ? message["content"] : contentParts(message["content"]);
      result.push({
        role: "tool",
        parts: [{ type: "tool_call_response", id: stringOr(message["tool_call_id"]), response }],
      });
      continue;
    }
    const parts = contentParts(message["content"]);
    const refusal = stringOr(message["refusal"]);
    if (refusal) parts.push(textPart(refusal));
    parts.push(...toolCallParts(message["tool_calls"]));
    if (isObject(message["function_call"])) parts.push(...toolCallParts([{ function: message["function_call"] }]));
    const entry: Message = { role, parts };
    const name = stringOr(message["name"]);
    if (name !== undefined) entry.name = name;
    result.push(entry);
  }
  return result;
}

const nonEmpty = (value: unknown): boolean => typeof value === "string" && value !== "";

function toToolDefinitions(tools: readonly unknown[]): unknown[] {
  return tools.map((tool) => {
    if (!isObject(tool)) return tool;
    const fn = isObject(tool["function"]) ? tool["function"] : undefined;
    if (fn === undefined) return tool;
    return {
      type: stringOr(tool["type"]) ?? "function",
      name: fn["name"],
      description: fn["description"],
      parameters: fn["parameters"],
    };
  });
}

/** The text a chat message is billed for: its content, refusal, and the names and arguments of its tool calls. */
function chatMessageText(message: Json): string {
  let text = contentText(message["content"]);
  if (typeof message["refusal"] === "string") text += message["refusal"];
  const calls: unknown[] = Array.isArray(message["tool_calls"]) ? message["tool_calls"] : [];
  for (const call of isObject(message["function_call"]) ? [...calls, { function: message["function_call"] }] : calls) {
    const fn = isObject(call) && isObject(call["function"]) ? call["function"] : {};
    if (typeof fn["name"] === "string") text += fn["name"];
    if (typeof fn["arguments"] === "string") text += fn["arguments"];
  }
  return text;
}

/** Input tokens of the first `count` request messages (those the app sent; it may append to its array later). */
function estimateChatInput(request: Json, count: number, model: string | undefined): TokenEstimate {
  const messages = Array.isArray(request["messages"]) ? request["messages"] : [];
  const texts: { text: string; named: boolean }[] = [];
  for (const message of messages.slice(0, count)) {
    if (isObject(message)) texts.push({ text: chatMessageText(message), named: typeof message["name"] === "string" });
  }
  return estimateChatInputTokens(texts, model);
}

// --- response ---

function normaliseUsage(usage: Json): Usage {
  const promptDetails = isObject(usage["prompt_tokens_details"]) ? usage["prompt_tokens_details"] : {};
  const completionDetails = isObject(usage["completion_tokens_details"]) ? usage["completion_tokens_details"] : {};
  return {
    // OpenAI's prompt_tokens already includes cached tokens, as the conventions want.
    inputTokens: numberOr(usage["prompt_tokens"]),
    outputTokens: numberOr(usage["completion_tokens"]),
    cacheReadInputTokens: numberOr(promptDetails["cached_tokens"]),
    reasoningOutputTokens: numberOr(completionDetails["reasoning_tokens"]),
  };
}

/** A prepared chat call that can estimate its input tokens at its end, should the provider report none. */
interface ChatPreparedCall extends PreparedCall {
  readonly messageCount: number;
}

/**
 * Where the provider reported no usage: estimate, and say so. `output` is the output's estimate, or a plain
 * count for streamed output (always estimated from its length, so the method is the input's).
 */
function estimateUsage(prepared: ChatPreparedCall, output: TokenEstimate | number): Usage {
  const request = isObject(prepared.request) ? prepared.request : {};
  const input = estimateChatInput(request, prepared.messageCount, prepared.facts.requestModel);
  return estimatedUsageOf(input, output);
}

const chatCompletionsCreate: OperationAdapter<OpenAIClientTraits, ChatPreparedCall> = {
  path: ["chat", "completions", "create"],

  prepare(body: unknown, context: OpenAIContext): ChatPreparedCall {
    const request = isObject(body) ? body : {};
    const facts = startRecord(names.OPERATION_CHAT, request, context, true);
    if (requestAttributes(request, facts.requestAttributes)) facts.hasRequestMetadata = true;
    // Structured outputs: `response_format: { type: "json_schema", json_schema: { schema } }`.
    const format = isObject(request["response_format"]) ? request["response_format"] : {};
    readOutputFormat(facts, format, isObject(format["json_schema"]) ? format["json_schema"]["schema"] : undefined);
    const messages = Array.isArray(request["messages"]) ? request["messages"] : [];
    if (context.captureContent) {
      // Shallow copies: the app may push to its own arrays while a stream is still being read.
      const copy = messages.slice();
      facts.inputMessages = () => toInputMessages(copy);
      if (Array.isArray(request["tools"]) && request["tools"].length > 0) {
        const tools = request["tools"].slice();
        facts.toolDefinitions = () => toToolDefinitions(tools);
      }
    }
    let sent: unknown = body;
    let injectedStreamUsage = false;
    if (shouldInjectStreamUsage(request, context)) {
      sent = { ...request, stream_options: { include_usage: true } };
      injectedStreamUsage = true;
      facts.requestAttributes[names.ATTR_TOKENTRACE_STREAM_USAGE_INJECTED] = true;
    }
    return { facts, body: sent, request: body, injectedStreamUsage, messageCount: messages.length };
  },

  readResponse(data: unknown, prepared: ChatPreparedCall, context: OpenAIContext): ResponseFacts {
    const model = prepared.facts.requestModel;
    if (!isObject(data)) {
      const usage = estimateUsage(prepared, estimateTextTokens(typeof data === "string" ? data : "", model));
      return { usage, responseAttributes: {} };
    }
    const record: ResponseFacts = { usage: {}, responseAttributes: {} };
    readResponseMetadata(record, data);
    // A whole response's lists are as long as what was received; the choices are bounded as a stream's are.
    const ignored = new IgnoredEntries();
    const choices = ignored.list(Array.isArray(data["choices"]) ? data["choices"].filter(isObject) : [], MAX_CHOICES);
    record.finishReasons = choices.map((choice) => stringOr(choice["finish_reason"]));
    // Structured outputs' refusal: a `refusal` text instead of content.
    if (choices.some((choice) => isObject(choice["message"]) && nonEmpty(choice["message"]["refusal"])))
      record.refused = true;
    if (context.captureContent) {
      const output: Message[] = [];
      for (const choice of choices) {
        const message = isObject(choice["message"]) ? choice["message"] : {};
        const entry: Message = {
          role: stringOr(message["role"]) ?? "assistant",
          parts: contentParts(message["content"]),
        };
        const refusal = stringOr(message["refusal"]);
        if (refusal) entry.parts.push(textPart(refusal));
        entry.parts.push(...toolCallParts(message["tool_calls"]));
        const reason = stringOr(choice["finish_reason"]);
        if (reason !== undefined) entry.finish_reason = reason;
        output.push(entry);
      }
      record.outputMessages = output;
    }
    ignored.writeTo(record);
    if (isObject(data["usage"])) {
      record.usage = normaliseUsage(data["usage"]);
      return record;
    }
    const texts: string[] = [];
    for (const choice of choices) if (isObject(choice["message"])) texts.push(chatMessageText(choice["message"]));
    record.usage = estimateUsage(prepared, estimateTexts(texts, model));
    return record;
  },

  // The usage chunk tokentrace asked for, kept out of a raw body the app reads too.
  rawStreamEvent: withoutInjectedUsageEvent,

  createStreamAccumulator(prepared: ChatPreparedCall, context: OpenAIContext): StreamAccumulator {
    // Decided once per stream: keep the content, or only count it.
    return context.captureContent ? new CapturingChatStreamAccumulator(prepared) : new ChatStreamAccumulator(prepared);
  },
};

interface ToolCallDraft {
  id: string | undefined;
  name: string | undefined;
  arguments: string;
}

/** Per choice index: its finish reason, and the text and tool calls streamed so far (text kept only with capture on). */
interface ChatChoice extends ChoiceSlot {
  text: string;
  refusal: string;
  /** Per tool-call index; made on the choice's first tool call. */
  toolCalls: SlotTable<ToolCallDraft> | undefined;
}

const newChatChoice = (): ChatChoice => ({ finishReason: undefined, text: "", refusal: "", toolCalls: undefined });
const newToolCall = (): ToolCallDraft => ({ id: undefined, name: undefined, arguments: "" });

/** Counts the streamed output (content capture off): no content is kept. */
class ChatStreamAccumulator extends ChoiceStreamAccumulator<ChatChoice> {
  protected readonly newSlot = newChatChoice;
  /** A choice streamed a non-empty `refusal`. */
  protected refused = false;

  constructor(protected readonly chat: ChatPreparedCall) {
    super(chat);
  }

  protected addChoice(slot: ChatChoice, choice: Json): void {
    const delta = choice["delta"];
    if (!isObject(delta)) return;
    const content = delta["content"];
    const refusal = delta["refusal"];
    if (typeof content === "string") this.outputCharacters += content.length;
    if (typeof refusal === "string") {
      this.outputCharacters += refusal.length;
      if (refusal !== "") this.refused = true;
    }
    const toolCalls = delta["tool_calls"];
    if (!Array.isArray(toolCalls)) return;
    for (const call of toolCalls) {
      if (!isObject(call)) continue;
      // The slot is taken all the same: a tool call past the bound is counted as ignored, as with capture on.
      const draft = this.toolCallDraft(slot, call);
      if (draft === undefined) continue;
      const fn = isObject(call["function"]) ? call["function"] : {};
      const args = fn["arguments"];
      if (typeof args === "string") this.outputCharacters += args.length;
    }
  }

  /** A tool call's draft; a tool call without an index is the choice's next one. */
  protected toolCallDraft(slot: ChatChoice, call: Json): ToolCallDraft | undefined {
    return (slot.toolCalls ??= new SlotTable(MAX_TOOL_CALLS_PER_CHOICE, this.ignored)).slot(call["index"], newToolCall);
  }

  finish(): ResponseFacts {
    this.finishFacts();
    return this.facts;
  }

  /** Finish reasons and usage, and the choices in index order. */
  protected finishFacts(): ChatChoice[] {
    const choices = this.finishChoices();
    if (this.refused) this.facts.refused = true;
    this.facts.usage =
      this.usage !== undefined
        ? normaliseUsage(this.usage)
        : // Streamed output is estimated from its length, capture on or off alike (issue 10: the estimate a
          // call gets must not depend on capture, and nothing is kept per chunk for it beyond a length).
          estimateUsage(this.chat, estimateTokens(this.outputCharacters));
    return choices;
  }
}

/** Counts and keeps the streamed output (content capture on). */
class CapturingChatStreamAccumulator extends ChatStreamAccumulator {
  protected override addChoice(slot: ChatChoice, choice: Json): void {
    const delta = choice["delta"];
    if (!isObject(delta)) return;
    const content = delta["content"];
    const refusal = delta["refusal"];
    if (typeof content === "string") {
      this.outputCharacters += content.length;
      slot.text += content;
    }
    if (typeof refusal === "string") {
      this.outputCharacters += refusal.length;
      slot.refusal += refusal;
      if (refusal !== "") this.refused = true;
    }
    const toolCalls = delta["tool_calls"];
    if (!Array.isArray(toolCalls)) return;
    for (const call of toolCalls) {
      if (!isObject(call)) continue;
      const draft = this.toolCallDraft(slot, call);
      if (draft === undefined) continue;
      const fn = isObject(call["function"]) ? call["function"] : {};
      const args = fn["arguments"];
      if (typeof args === "string") {
        this.outputCharacters += args.length;
        draft.arguments += args;
      }
      if (typeof call["id"] === "string") draft.id = call["id"];
      if (typeof fn["name"] === "string") draft.name = fn["name"];
    }
  }

  override finish(): ResponseFacts {
    const choices = this.finishFacts();
    const output: Message[] = [];
    for (const choice of choices) {
      const parts: MessagePart[] = [];
      if (choice.text) parts.push(textPart(choice.text));
      if (choice.refusal) parts.push(textPart(choice.refusal));
      for (const call of choice.toolCalls?.values() ?? []) {
        parts.push({ type: "tool_call", id: call.id, name: call.name, arguments: parseArguments(call.arguments) });
      }
      const message: Message = { role: "assistant", parts };
      if (choice.finishReason !== undefined) message.finish_reason = choice.finishReason;
      output.push(message);
    }
    this.facts.outputMessages = output;
    return this.facts;
  }
}

/**
 * `runTools()`: a loop of chat requests and tool calls, run by the SDK's ChatCompletionRunner. The run is an
 * `invoke_agent` span, the parent of each request's `chat` span; it ends when the runner emits `end` (which it
 * does after success, error and abort alike; tokentrace listens to nothing else, so the runner's own error
 * reporting is unchanged). Each tool function it calls is an `execute_tool` span under the run
 * (openai-run-tools.ts).
 */
function runToolsHelper(path: readonly string[]): RunHelperAdapter {
  return {
    path,
    start(body: unknown, context: OpenAIContext): RequestFacts {
      const request = isObject(body) ? body : {};
      const requestAttributes: Record<string, AttributeValue> = {
        [names.ATTR_TOKENTRACE_HELPER]: "chat.completions.runTools",
      };
      const model = stringOr(request["model"]);
      if (model !== undefined) requestAttributes[names.ATTR_GEN_AI_REQUEST_MODEL] = model;
      return {
        operationName: names.OPERATION_INVOKE_AGENT,
        providerName: context.client.providerName,
        // The run's name is the operation alone: the model is an attribute, it is not the agent.
        requestModel: undefined,
        serverAddress: context.client.serverAddress,
        serverPort: context.client.serverPort,
        stream: false,
        requestAttributes,
      };
    },
    watchRun(result: unknown, end: (how: RunEnd) => void): void {
      // The helper's result, whatever an SDK version makes it (possibly nothing).
      const runner = result as { on?: unknown; errored?: unknown; aborted?: unknown } | null | undefined;
      if (typeof runner?.on !== "function") {
        end("completed");
        return;
      }
      (runner.on as (event: string, listener: () => void) => void).call(result, "end", () =>
        end(runner.aborted === true ? "aborted" : runner.errored === true ? "error" : "completed"),
      );
    },
    instrumentTools: instrumentRunTools,
  };
}

export const openaiAdapter: ProviderAdapter<OpenAIClientTraits> = {
  displayName: "OpenAI (openai package)",
  detect,
  describe: describeOpenAIClient,
  operations: [chatCompletionsCreate, responsesCreate, embeddingsCreate, completionsCreate],
  // openai v4 keeps parse(), stream() and runTools() helpers under beta.chat.completions.
  routedResourcePaths: [["beta", "chat", "completions"]],
  runHelpers: [
    runToolsHelper(["chat", "completions", "runTools"]),
    runToolsHelper(["beta", "chat", "completions", "runTools"]),
  ],
  derivedClientMethods: ["withOptions"],
  observeApiPromise: observeOpenAIApiPromise,
  errorType: openaiErrorType,
};
