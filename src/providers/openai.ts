import type { AttributeValue } from "@opentelemetry/api";
import type { CallRecord, Message, MessagePart } from "../call-record.js";
import * as names from "../semconv.js";
import type { Usage } from "../usage.js";
import { base64BlobPart, estimateTokens, mediaPart, parseArguments, textPart } from "./content-parts.js";
import { endpointOf, isLoopback } from "./endpoint.js";
import type {
  CallContext,
  ClientDescription,
  OperationAdapter,
  PreparedCall,
  ProviderAdapter,
  StreamAccumulator,
} from "./types.js";

/**
 * OpenAI's `openai` package (v4 to v7): `chat.completions.create`, streamed and not.
 *
 * The adapter is pure translation between OpenAI payloads and the neutral CallRecord: no spans, no
 * clocks, no I/O. Payloads are read defensively: a field of the wrong type is skipped, never trusted.
 */

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json => value !== null && typeof value === "object";
const stringOr = (value: unknown): string | undefined => (typeof value === "string" ? value : undefined);
const numberOr = (value: unknown): number | undefined =>
  typeof value === "number" && Number.isFinite(value) ? value : undefined;

/**
 * Endpoints known to accept `stream_options.include_usage`, so tokentrace may add it. Loopback servers
 * are in: vLLM, Ollama, LM Studio and the tokentrace mock server all accept it.
 */
function acceptsStreamUsageOption(address: string | undefined): boolean {
  return address === "api.openai.com" || (address?.endsWith(".openai.azure.com") ?? false) || isLoopback(address);
}

function describeClient(client: object): ClientDescription {
  const { address, port } = endpointOf((client as { baseURL?: unknown }).baseURL);
  return {
    providerName: names.PROVIDER_OPENAI,
    serverAddress: address,
    serverPort: port,
    acceptsStreamUsageOption: acceptsStreamUsageOption(address),
    requestIdHeader: "x-request-id",
  };
}

function detect(client: object): boolean {
  const candidate = client as { chat?: { completions?: { create?: unknown } }; baseURL?: unknown };
  return typeof candidate.chat?.completions?.create === "function" && typeof candidate.baseURL === "string";
}

// --- request ---

function requestAttributes(body: Json): Record<string, AttributeValue> {
  const attributes: Record<string, AttributeValue> = {};
  const number = (name: string, value: unknown): void => {
    const parsed = numberOr(value);
    if (parsed !== undefined) attributes[name] = parsed;
  };
  number(names.ATTR_GEN_AI_REQUEST_MAX_TOKENS, body["max_completion_tokens"] ?? body["max_tokens"]);
  number(names.ATTR_GEN_AI_REQUEST_TEMPERATURE, body["temperature"]);
  number(names.ATTR_GEN_AI_REQUEST_TOP_P, body["top_p"]);
  number(names.ATTR_GEN_AI_REQUEST_FREQUENCY_PENALTY, body["frequency_penalty"]);
  number(names.ATTR_GEN_AI_REQUEST_PRESENCE_PENALTY, body["presence_penalty"]);
  number(names.ATTR_GEN_AI_REQUEST_SEED, body["seed"]);
  const choices = numberOr(body["n"]);
  // The conventions ask for the choice count only when it is not 1.
  if (choices !== undefined && choices !== 1) attributes[names.ATTR_GEN_AI_REQUEST_CHOICE_COUNT] = choices;
  const stop = body["stop"];
  if (typeof stop === "string") attributes[names.ATTR_GEN_AI_REQUEST_STOP_SEQUENCES] = [stop];
  else if (Array.isArray(stop)) {
    attributes[names.ATTR_GEN_AI_REQUEST_STOP_SEQUENCES] = stop.filter((item): item is string => typeof item === "string");
  }
  attributes[names.ATTR_GEN_AI_REQUEST_STREAM] = body["stream"] === true;
  const format = isObject(body["response_format"]) ? stringOr(body["response_format"]["type"]) : undefined;
  if (format === "json_object" || format === "json_schema") attributes[names.ATTR_GEN_AI_OUTPUT_TYPE] = names.OUTPUT_TYPE_JSON;
  else if (format === "text") attributes[names.ATTR_GEN_AI_OUTPUT_TYPE] = names.OUTPUT_TYPE_TEXT;
  const tier = stringOr(body["service_tier"]);
  if (tier !== undefined) attributes[names.ATTR_OPENAI_REQUEST_SERVICE_TIER] = tier;
  return attributes;
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

function toToolDefinitions(tools: readonly unknown[]): unknown[] {
  return tools.map((tool) => {
    if (!isObject(tool)) return tool;
    const fn = isObject(tool["function"]) ? tool["function"] : undefined;
    if (fn === undefined) return tool;
    return { type: stringOr(tool["type"]) ?? "function", name: fn["name"], description: fn["description"], parameters: fn["parameters"] };
  });
}

function messageCharacters(messages: unknown): number {
  if (!Array.isArray(messages)) return 0;
  let characters = 0;
  for (const message of messages) {
    if (!isObject(message)) continue;
    const content = message["content"];
    if (typeof content === "string") characters += content.length;
    else if (Array.isArray(content)) {
      for (const part of content) if (isObject(part) && typeof part["text"] === "string") characters += part["text"].length;
    }
  }
  return characters;
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

function readResponseMetadata(record: CallRecord, data: Json): void {
  record.responseId ??= stringOr(data["id"]);
  record.responseModel ??= stringOr(data["model"]);
  const tier = stringOr(data["service_tier"]);
  if (tier !== undefined) {
    record.serviceTier = tier;
    record.responseAttributes[names.ATTR_OPENAI_RESPONSE_SERVICE_TIER] = tier;
  }
  const fingerprint = stringOr(data["system_fingerprint"]);
  if (fingerprint !== undefined) record.responseAttributes[names.ATTR_OPENAI_RESPONSE_SYSTEM_FINGERPRINT] = fingerprint;
}

/** Where the provider reported no usage: estimate, and say so. */
function estimateUsage(prepared: PreparedCall, outputCharacters: number): Usage {
  const body = isObject(prepared.request) ? prepared.request : {};
  return {
    inputTokens: estimateTokens(messageCharacters(body["messages"])),
    outputTokens: estimateTokens(outputCharacters),
    estimated: true,
  };
}

function outputCharacters(message: Json): number {
  let characters = typeof message["content"] === "string" ? message["content"].length : 0;
  if (Array.isArray(message["tool_calls"])) {
    for (const call of message["tool_calls"]) {
      if (isObject(call) && isObject(call["function"]) && typeof call["function"]["arguments"] === "string") {
        characters += call["function"]["arguments"].length;
      }
    }
  }
  return characters;
}

const chatCompletionsCreate: OperationAdapter = {
  path: ["chat", "completions", "create"],

  prepare(body: unknown, context: CallContext): PreparedCall {
    const request = isObject(body) ? body : {};
    const stream = request["stream"] === true;
    const record: CallRecord = {
      operationName: names.OPERATION_CHAT,
      providerName: context.client.providerName,
      requestModel: stringOr(request["model"]),
      serverAddress: context.client.serverAddress,
      serverPort: context.client.serverPort,
      stream,
      requestAttributes: requestAttributes(request),
      usage: {},
      responseAttributes: {},
    };
    if (context.captureContent) {
      // Shallow copies: the app may push to its own arrays while a stream is still being read.
      const messages = Array.isArray(request["messages"]) ? request["messages"].slice() : [];
      record.inputMessages = () => toInputMessages(messages);
      if (Array.isArray(request["tools"]) && request["tools"].length > 0) {
        const tools = request["tools"].slice();
        record.toolDefinitions = () => toToolDefinitions(tools);
      }
    }
    let sent: unknown = body;
    let injectedStreamUsage = false;
    if (
      stream &&
      context.injectStreamUsage &&
      context.client.acceptsStreamUsageOption &&
      request["stream_options"] == null
    ) {
      sent = { ...request, stream_options: { include_usage: true } };
      injectedStreamUsage = true;
      record.requestAttributes[names.ATTR_TOKENTRACE_STREAM_USAGE_INJECTED] = true;
    }
    return { record, body: sent, request: body, injectedStreamUsage };
  },

  readResponse(data: unknown, prepared: PreparedCall, context: CallContext): void {
    const record = prepared.record;
    if (!isObject(data)) {
      record.usage = estimateUsage(prepared, typeof data === "string" ? data.length : 0);
      return;
    }
    readResponseMetadata(record, data);
    const choices = Array.isArray(data["choices"]) ? data["choices"].filter(isObject) : [];
    record.finishReasons = choices.map((choice) => stringOr(choice["finish_reason"]));
    let characters = 0;
    const output: Message[] = [];
    for (const choice of choices) {
      const message = isObject(choice["message"]) ? choice["message"] : {};
      characters += outputCharacters(message);
      if (context.captureContent) {
        const entry: Message = { role: stringOr(message["role"]) ?? "assistant", parts: contentParts(message["content"]) };
        const refusal = stringOr(message["refusal"]);
        if (refusal) entry.parts.push(textPart(refusal));
        entry.parts.push(...toolCallParts(message["tool_calls"]));
        const reason = stringOr(choice["finish_reason"]);
        if (reason !== undefined) entry.finish_reason = reason;
        output.push(entry);
      }
    }
    if (context.captureContent) record.outputMessages = output;
    record.usage = isObject(data["usage"]) ? normaliseUsage(data["usage"]) : estimateUsage(prepared, characters);
  },

  createStreamAccumulator(prepared: PreparedCall, context: CallContext): StreamAccumulator {
    return new ChatStreamAccumulator(prepared, context.captureContent);
  },
};

interface ToolCallDraft {
  id: string | undefined;
  name: string | undefined;
  arguments: string;
}

/** Per choice index: the text and tool calls streamed so far (kept only when content capture is on). */
interface ChoiceDraft {
  text: string;
  refusal: string;
  toolCalls: ToolCallDraft[];
}

class ChatStreamAccumulator implements StreamAccumulator {
  private metadataSeen = false;
  private usage: Json | undefined;
  private readonly finishReasons: (string | undefined)[] = [];
  private outputCharacters = 0;
  private readonly drafts: ChoiceDraft[] = [];
  private readonly injected: boolean;

  constructor(
    private readonly prepared: PreparedCall,
    private readonly capture: boolean,
  ) {
    this.injected = prepared.injectedStreamUsage;
  }

  add(chunk: unknown): boolean {
    if (!isObject(chunk)) return true;
    if (!this.metadataSeen && typeof chunk["id"] === "string") {
      this.metadataSeen = true;
      readResponseMetadata(this.prepared.record, chunk);
    }
    const usage = chunk["usage"];
    if (isObject(usage)) this.usage = usage;
    // With include_usage every chunk carries `usage: null`; the app did not ask for it, so it does not see it.
    else if (this.injected && usage === null) delete chunk["usage"];

    const choices = chunk["choices"];
    if (!Array.isArray(choices)) return true;
    if (choices.length === 0) return !(this.injected && isObject(usage));
    for (const choice of choices) {
      if (!isObject(choice)) continue;
      const index = typeof choice["index"] === "number" ? choice["index"] : 0;
      const delta = choice["delta"];
      if (isObject(delta)) this.addDelta(index, delta);
      const reason = choice["finish_reason"];
      if (typeof reason === "string") this.finishReasons[index] = reason;
      else if (this.finishReasons.length <= index) this.finishReasons[index] = undefined;
    }
    return true;
  }

  private addDelta(index: number, delta: Json): void {
    const content = delta["content"];
    const toolCalls = delta["tool_calls"];
    const refusal = delta["refusal"];
    if (typeof content === "string") this.outputCharacters += content.length;
    if (typeof refusal === "string") this.outputCharacters += refusal.length;
    if (!this.capture) {
      if (Array.isArray(toolCalls)) {
        for (const call of toolCalls) {
          const args = isObject(call) && isObject(call["function"]) ? call["function"]["arguments"] : undefined;
          if (typeof args === "string") this.outputCharacters += args.length;
        }
      }
      return;
    }
    const draft = (this.drafts[index] ??= { text: "", refusal: "", toolCalls: [] });
    if (typeof content === "string") draft.text += content;
    if (typeof refusal === "string") draft.refusal += refusal;
    if (!Array.isArray(toolCalls)) return;
    for (const call of toolCalls) {
      if (!isObject(call)) continue;
      const position = typeof call["index"] === "number" ? call["index"] : draft.toolCalls.length;
      const toolDraft = (draft.toolCalls[position] ??= { id: undefined, name: undefined, arguments: "" });
      if (typeof call["id"] === "string") toolDraft.id = call["id"];
      const fn = isObject(call["function"]) ? call["function"] : {};
      if (typeof fn["name"] === "string") toolDraft.name = fn["name"];
      if (typeof fn["arguments"] === "string") {
        toolDraft.arguments += fn["arguments"];
        this.outputCharacters += fn["arguments"].length;
      }
    }
  }

  finish(record: CallRecord): void {
    record.finishReasons = this.finishReasons;
    record.usage = this.usage !== undefined ? normaliseUsage(this.usage) : estimateUsage(this.prepared, this.outputCharacters);
    if (!this.capture) return;
    const count = Math.max(this.drafts.length, this.finishReasons.length);
    const output: Message[] = [];
    for (let index = 0; index < count; index++) {
      const draft = this.drafts[index];
      const parts: MessagePart[] = [];
      if (draft?.text) parts.push(textPart(draft.text));
      if (draft?.refusal) parts.push(textPart(draft.refusal));
      for (const call of draft?.toolCalls ?? []) {
        if (call) parts.push({ type: "tool_call", id: call.id, name: call.name, arguments: parseArguments(call.arguments) });
      }
      const message: Message = { role: "assistant", parts };
      const reason = this.finishReasons[index];
      if (reason !== undefined) message.finish_reason = reason;
      output.push(message);
    }
    record.outputMessages = output;
  }
}

export const openaiAdapter: ProviderAdapter = {
  displayName: "OpenAI (openai package)",
  detect,
  describe: describeClient,
  operations: [chatCompletionsCreate],
  // openai v4 keeps parse() and stream() helpers under beta.chat.completions.
  routedResourcePaths: [["beta", "chat", "completions"]],
  derivedClientMethods: ["withOptions"],
};
