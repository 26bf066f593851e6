import type { AttributeValue } from "@opentelemetry/api";
import type { Message, MessagePart, ResponseFacts } from "../call-record.js";
import * as names from "../semconv.js";
import type { Usage } from "../usage.js";
import { base64BlobPart, estimateTokens, mediaPart, parseArguments, textPart } from "./content-parts.js";
import type { OpenAIClientTraits } from "./openai-endpoints.js";
import type { Json, OpenAIContext } from "./openai-payload.js";
import {
  contentText,
  isObject,
  numberOr,
  readOutputFormat,
  readResponseMetadata,
  setNumber,
  startRecord,
  stringOr,
} from "./openai-payload.js";
import { estimatedUsageOf, estimateChatInputTokens, estimateTextTokens } from "./openai-token-estimate.js";
import type { TokenEstimate } from "./openai-token-estimate.js";
import { IgnoredEntries, MAX_OUTPUT_ITEMS, MAX_PARTS_PER_ITEM, SlotTable } from "./payload-bounds.js";
import type { OperationAdapter, PreparedCall, StreamAccumulator } from "./types.js";
import { setOpenAIRequestUser } from "./request-user.js";

/**
 * The Responses API: `responses.create`, streamed and not. `responses.stream()` and `responses.parse()` call
 * `create` through the observed client, so each is one span too.
 *
 * A response is one answer made of output items (messages, function calls, reasoning, server tool calls):
 * it becomes one output message whose parts are those items, with one finish reason.
 * https://platform.openai.com/docs/api-reference/responses
 */

// --- request ---

/** Returns whether the request's own `metadata` was written (see `RequestFacts.hasRequestMetadata`). */
function requestAttributes(body: Json, attributes: Record<string, AttributeValue>): boolean {
  attributes[names.ATTR_OPENAI_API_TYPE] = names.OPENAI_API_TYPE_RESPONSES;
  setNumber(attributes, names.ATTR_GEN_AI_REQUEST_MAX_TOKENS, body["max_output_tokens"]);
  setNumber(attributes, names.ATTR_GEN_AI_REQUEST_TEMPERATURE, body["temperature"]);
  setNumber(attributes, names.ATTR_GEN_AI_REQUEST_TOP_P, body["top_p"]);
  attributes[names.ATTR_GEN_AI_REQUEST_STREAM] = body["stream"] === true;
  const tier = stringOr(body["service_tier"]);
  if (tier !== undefined) attributes[names.ATTR_OPENAI_REQUEST_SERVICE_TIER] = tier;
  const previous = stringOr(body["previous_response_id"]);
  if (previous !== undefined) attributes[names.ATTR_GEN_AI_REQUEST_PREVIOUS_RESPONSE_ID] = previous;
  const reasoning = isObject(body["reasoning"]) ? body["reasoning"] : {};
  const effort = stringOr(reasoning["effort"]);
  if (effort !== undefined) attributes[names.ATTR_GEN_AI_REQUEST_REASONING_LEVEL] = effort;
  const conversation = body["conversation"];
  const conversationId = isObject(conversation) ? stringOr(conversation["id"]) : stringOr(conversation);
  if (conversationId !== undefined) attributes[names.ATTR_GEN_AI_CONVERSATION_ID] = conversationId;
  return setOpenAIRequestUser(attributes, body);
}

/** A content part of an input message (input_text, input_image, input_file, input_audio, output_text, refusal). */
function inputContentPart(part: Json): MessagePart {
  switch (part["type"]) {
    case "input_text":
    case "output_text":
      return textPart(stringOr(part["text"]) ?? "");
    case "refusal":
      return textPart(stringOr(part["refusal"]) ?? "");
    case "input_image": {
      const url = stringOr(part["image_url"]);
      if (url !== undefined) return mediaPart(url, "image");
      return { type: "file", modality: "image", file_id: stringOr(part["file_id"]) };
    }
    case "input_file": {
      const data = stringOr(part["file_data"]);
      if (data !== undefined) return mediaPart(data, "file");
      const url = stringOr(part["file_url"]);
      if (url !== undefined) return mediaPart(url, "file");
      return { type: "file", file_id: stringOr(part["file_id"]), filename: stringOr(part["filename"]) };
    }
    case "input_audio": {
      const audio = isObject(part["input_audio"]) ? part["input_audio"] : part;
      const format = stringOr(audio["format"]);
      return base64BlobPart(audio["data"], "audio", format ? `audio/${format}` : undefined);
    }
    default:
      return { type: String(part["type"]) };
  }
}

function inputContentParts(content: unknown): MessagePart[] {
  if (typeof content === "string") return [textPart(content)];
  return Array.isArray(content) ? content.filter(isObject).map(inputContentPart) : [];
}

/** A reasoning item's readable text: its summary, else its raw reasoning text (open-weight models). */
function reasoningText(item: Json): string {
  const texts: string[] = [];
  for (const key of ["summary", "content"]) {
    const list = item[key];
    if (!Array.isArray(list)) continue;
    for (const entry of list) if (isObject(entry) && typeof entry["text"] === "string") texts.push(entry["text"]);
    if (texts.length > 0) break;
  }
  return texts.join("\n");
}

/** One output item (or an output item replayed as input) as a part of the conventions. */
function itemPart(item: Json): MessagePart | MessagePart[] {
  const type = String(item["type"]);
  switch (type) {
    case "message":
      return inputContentParts(item["content"]);
    case "reasoning":
      return { type: "reasoning", content: reasoningText(item) };
    case "function_call":
      return {
        type: "tool_call",
        id: stringOr(item["call_id"]),
        name: stringOr(item["name"]),
        arguments: parseArguments(item["arguments"]),
      };
    case "custom_tool_call":
      return {
        type: "tool_call",
        id: stringOr(item["call_id"]),
        name: stringOr(item["name"]),
        arguments: item["input"],
      };
    case "mcp_call":
      return {
        type: "server_tool_call",
        id: stringOr(item["id"]),
        name: stringOr(item["name"]),
        server_tool_call: { type: "mcp", arguments: parseArguments(item["arguments"]) },
      };
    default:
      // web_search_call, file_search_call, code_interpreter_call, image_generation_call, computer_call, ...:
      // only what was called, never their results (images, files, page contents).
      if (type.endsWith("_call")) {
        const name = type.slice(0, -"_call".length);
        return { type: "server_tool_call", id: stringOr(item["id"]), name, server_tool_call: { type: name } };
      }
      return { type };
  }
}

function outputParts(items: readonly unknown[]): MessagePart[] {
  const parts: MessagePart[] = [];
  for (const item of items) {
    if (!isObject(item)) continue;
    const part = itemPart(item);
    if (Array.isArray(part)) parts.push(...part);
    else parts.push(part);
  }
  return parts;
}

/** `input` as the conventions' messages. Consecutive assistant items (reasoning, calls, text) form one message. */
function toInputMessages(input: unknown): Message[] {
  if (typeof input === "string") return [{ role: "user", parts: [textPart(input)] }];
  if (!Array.isArray(input)) return [];
  const messages: Message[] = [];
  const push = (role: string, parts: MessagePart[]): void => {
    const last = messages[messages.length - 1];
    if (role === "assistant" && last?.role === "assistant") last.parts.push(...parts);
    else messages.push({ role, parts });
  };
  for (const item of input) {
    if (!isObject(item)) continue;
    const type = stringOr(item["type"]) ?? (item["role"] !== undefined ? "message" : undefined);
    switch (type) {
      case "message":
        push(stringOr(item["role"]) ?? "user", inputContentParts(item["content"]));
        break;
      case "function_call_output":
      case "custom_tool_call_output": {
        const output = item["output"];
        const response = typeof output === "string" ? output : inputContentParts(output);
        messages.push({
          role: "tool",
          parts: [{ type: "tool_call_response", id: stringOr(item["call_id"]), response }],
        });
        break;
      }
      case "item_reference":
        push("user", [{ type: "item_reference", id: stringOr(item["id"]) }]);
        break;
      default: {
        const part = itemPart(item);
        push("assistant", Array.isArray(part) ? part : [part]);
      }
    }
  }
  return messages;
}

function toToolDefinitions(tools: readonly unknown[]): unknown[] {
  return tools.map((tool) => {
    if (!isObject(tool)) return tool;
    const type = stringOr(tool["type"]);
    if (type === "function" || type === "custom") {
      return { type, name: tool["name"], description: tool["description"], parameters: tool["parameters"] };
    }
    // Built-in tools: their type only. Their configuration may hold credentials (an MCP server's headers).
    return { type };
  });
}

// --- text for estimates ---

/** The billable text of an input or output item. */
function itemText(item: Json): string {
  switch (item["type"]) {
    case "function_call":
      return (stringOr(item["name"]) ?? "") + (stringOr(item["arguments"]) ?? "");
    case "custom_tool_call":
      return (stringOr(item["name"]) ?? "") + (stringOr(item["input"]) ?? "");
    case "function_call_output":
    case "custom_tool_call_output":
      return contentText(item["output"]);
    case "reasoning":
      return reasoningText(item);
    default:
      return contentText(item["content"]);
  }
}

/** Input tokens of `instructions` and `input` (each instruction block and item counted as a message). */
function estimateInputTokens(request: Json, model: string | undefined): TokenEstimate {
  const texts: { text: string; named: boolean }[] = [];
  const instructions = stringOr(request["instructions"]);
  if (instructions !== undefined) texts.push({ text: instructions, named: false });
  const input = request["input"];
  if (typeof input === "string") texts.push({ text: input, named: false });
  else if (Array.isArray(input)) {
    for (const item of input) if (isObject(item)) texts.push({ text: itemText(item), named: false });
  }
  return estimateChatInputTokens(texts, model);
}

function outputText(items: unknown): string {
  if (!Array.isArray(items)) return "";
  let text = "";
  for (const item of items) if (isObject(item)) text += itemText(item);
  return text;
}

// --- response ---

function normaliseUsage(usage: Json): Usage {
  const inputDetails = isObject(usage["input_tokens_details"]) ? usage["input_tokens_details"] : {};
  const outputDetails = isObject(usage["output_tokens_details"]) ? usage["output_tokens_details"] : {};
  return {
    // input_tokens includes cached tokens, output_tokens includes reasoning tokens, as the conventions want.
    inputTokens: numberOr(usage["input_tokens"]),
    outputTokens: numberOr(usage["output_tokens"]),
    cacheReadInputTokens: numberOr(inputDetails["cached_tokens"]),
    reasoningOutputTokens: numberOr(outputDetails["reasoning_tokens"]),
  };
}

const toolCallItems: ReadonlySet<unknown> = new Set(["function_call", "custom_tool_call"]);

/**
 * The response's status as a finish reason: `stop`, or `tool_calls` when it asks the app to call tools (as
 * chat completions say it); the reason an incomplete response stopped (`max_output_tokens`,
 * `content_filter`); `error` for a failed one; `cancelled`. None while queued or in progress.
 */
function finishReasonOf(response: Json): string | undefined {
  switch (response["status"]) {
    case "completed": {
      const output = Array.isArray(response["output"]) ? response["output"] : [];
      const callsTools = output.some((item) => isObject(item) && toolCallItems.has(item["type"]));
      return callsTools ? names.FINISH_REASON_TOOL_CALLS : names.FINISH_REASON_STOP;
    }
    case "incomplete": {
      const details = isObject(response["incomplete_details"]) ? response["incomplete_details"] : {};
      return stringOr(details["reason"]) ?? "incomplete";
    }
    case "failed":
      return names.FINISH_REASON_ERROR;
    case "cancelled":
      return names.FINISH_REASON_CANCELLED;
    default:
      return undefined;
  }
}

/** Still running in the background: nothing has been generated, or billed, yet. */
const pendingStatuses: ReadonlySet<unknown> = new Set(["queued", "in_progress"]);

/** `output`: the output's estimate, or a plain count for streamed output (estimated from its length). */
function estimatedUsage(prepared: PreparedCall, output: TokenEstimate | number): Usage {
  const request = isObject(prepared.request) ? prepared.request : {};
  const input = estimateInputTokens(request, prepared.facts.requestModel);
  return estimatedUsageOf(input, output);
}

/**
 * A failed response (`status: "failed"`, a `response.failed` event) or an `error` event arrives as data, not
 * as an exception the app sees: its code is recorded as `error.type`.
 */
function recordProviderError(record: ResponseFacts, code: string | undefined, message?: string): void {
  record.failure = { type: code ?? names.FINISH_REASON_ERROR, message };
}

/** Whether an output message item holds a `refusal` content part (structured outputs' refusal). */
function hasRefusal(item: unknown): boolean {
  if (!isObject(item) || !Array.isArray(item["content"])) return false;
  return (item["content"] as unknown[]).some((part) => isObject(part) && part["type"] === "refusal");
}

/** A whole Response object (a non-stream body, or the response of a stream's final event) into the facts. */
function readWholeResponse(
  record: ResponseFacts,
  response: Json,
  prepared: PreparedCall,
  capture: boolean,
  ignored = new IgnoredEntries(),
): void {
  readResponseMetadata(record, response);
  const reason = finishReasonOf(response);
  record.finishReasons = reason !== undefined ? [reason] : [];
  if (response["status"] === "failed") {
    const error = isObject(response["error"]) ? response["error"] : {};
    recordProviderError(record, stringOr(error["code"]), stringOr(error["message"]));
  }
  // A whole response's output is as long as what was received; it is bounded as a stream's items are.
  const output = ignored.list(Array.isArray(response["output"]) ? response["output"] : [], MAX_OUTPUT_ITEMS);
  ignored.writeTo(record);
  if (output.some(hasRefusal)) record.refused = true;
  if (capture && (output.length > 0 || reason !== undefined)) {
    const message: Message = { role: "assistant", parts: outputParts(output) };
    if (reason !== undefined) message.finish_reason = reason;
    record.outputMessages = [message];
  }
  if (isObject(response["usage"])) record.usage = normaliseUsage(response["usage"]);
  else if (!pendingStatuses.has(response["status"])) {
    record.usage = estimatedUsage(prepared, estimateTextTokens(outputText(output), prepared.facts.requestModel));
  }
}

export const responsesCreate: OperationAdapter<OpenAIClientTraits> = {
  path: ["responses", "create"],

  prepare(body: unknown, context: OpenAIContext): PreparedCall {
    const request = isObject(body) ? body : {};
    // The Responses API is not deployment-routed on Azure: `model` names the deployment.
    const record = startRecord(names.OPERATION_CHAT, request, context, false);
    if (requestAttributes(request, record.requestAttributes)) record.hasRequestMetadata = true;
    // Structured outputs: `text: { format: { type: "json_schema", schema } }`.
    const text = isObject(request["text"]) ? request["text"] : {};
    const format = isObject(text["format"]) ? text["format"] : {};
    readOutputFormat(record, format, format["schema"]);
    if (context.captureContent) {
      const input = Array.isArray(request["input"]) ? request["input"].slice() : request["input"];
      record.inputMessages = () => toInputMessages(input);
      const instructions = stringOr(request["instructions"]);
      if (instructions !== undefined) record.systemInstructions = () => [textPart(instructions)];
      if (Array.isArray(request["tools"]) && request["tools"].length > 0) {
        const tools = request["tools"].slice();
        record.toolDefinitions = () => toToolDefinitions(tools);
      }
    }
    // Streamed responses always end with their usage (`response.completed`): nothing to ask for.
    return { facts: record, body, request: body, injectedStreamUsage: false };
  },

  readResponse(data: unknown, prepared: PreparedCall, context: OpenAIContext): ResponseFacts {
    if (!isObject(data)) return { usage: estimatedUsage(prepared, 0), responseAttributes: {} };
    const facts: ResponseFacts = { usage: {}, responseAttributes: {} };
    readWholeResponse(facts, data, prepared, context.captureContent);
    return facts;
  },

  createStreamAccumulator(prepared: PreparedCall, context: OpenAIContext): StreamAccumulator {
    // Decided once per stream: keep the items, or only count their text.
    return context.captureContent
      ? new CapturingResponsesStreamAccumulator(prepared)
      : new ResponsesStreamAccumulator(prepared);
  },
};

/** An output item of a stream in progress, per `output_index`. */
interface ItemDraft {
  /** The item as its last `output_item` event gave it; kept only when content capture is on. */
  item: Json | undefined;
  /** Deltas of its text, arguments or reasoning summary, until the item is done (kept only with capture on). */
  text: string;
  done: boolean;
}

const newItemDraft = (): ItemDraft => ({ item: undefined, text: "", done: false });

/** Events that carry generated text, in the order the API documents them. */
const deltaEvents: ReadonlySet<unknown> = new Set([
  "response.output_text.delta",
  "response.refusal.delta",
  "response.function_call_arguments.delta",
  "response.custom_tool_call_input.delta",
  "response.reasoning_summary_text.delta",
  "response.reasoning_text.delta",
]);

/** Counts a Responses stream's output (content capture off); the capturing variant keeps it too. */
class ResponsesStreamAccumulator implements StreamAccumulator {
  readonly mayHideChunks = false;
  protected readonly capture: boolean = false;
  private readonly facts: ResponseFacts = { usage: {}, responseAttributes: {} };
  private firstContentAtMs: number | undefined;
  private metadataSeen = false;
  /** The response of `response.completed`, `response.incomplete` or `response.failed`. */
  private final: Json | undefined;
  private errorEvent: Json | undefined;
  private outputCharacters = 0;
  private contentSeen = false;
  private readonly ignored = new IgnoredEntries();
  protected readonly drafts = new SlotTable<ItemDraft>(MAX_OUTPUT_ITEMS, this.ignored);

  constructor(private readonly prepared: PreparedCall) {}

  /** Keep a delta of the item at `index` (the capturing variant). */
  protected keepDelta(_index: number, _delta: string): void {}

  /** Keep an output item's latest state (the capturing variant). */
  protected keepItem(_draft: ItemDraft, _item: Json): void {}

  add(chunk: unknown, atMs: number): boolean {
    if (!isObject(chunk)) return true;
    const type = chunk["type"];
    if (deltaEvents.has(type)) {
      const delta = chunk["delta"];
      if (typeof delta !== "string") return true;
      // A delta of an item or part beyond the bounds is left out (the part indexes are only checked).
      const ignored = this.ignored;
      if (ignored.index(chunk["content_index"], MAX_PARTS_PER_ITEM, 0) < 0) return true;
      if (ignored.index(chunk["summary_index"], MAX_PARTS_PER_ITEM, 0) < 0) return true;
      const index = ignored.index(chunk["output_index"], MAX_OUTPUT_ITEMS, 0);
      if (index < 0) return true;
      if (!this.contentSeen) {
        // Responses streams open with events that carry no output (response.created, output_item.added).
        this.contentSeen = true;
        this.firstContentAtMs = atMs;
      }
      this.outputCharacters += delta.length;
      this.keepDelta(index, delta);
      return true;
    }
    switch (type) {
      case "response.output_item.added":
      case "response.output_item.done": {
        const item = chunk["item"];
        if (!isObject(item)) break;
        const draft = this.drafts.slot(chunk["output_index"], newItemDraft);
        if (draft === undefined) break;
        this.keepItem(draft, item);
        draft.text = "";
        draft.done = type === "response.output_item.done";
        break;
      }
      case "response.created":
      case "response.in_progress":
        if (!this.metadataSeen && isObject(chunk["response"])) {
          this.metadataSeen = true;
          readResponseMetadata(this.facts, chunk["response"]);
        }
        break;
      case "response.completed":
      case "response.incomplete":
      case "response.failed":
        if (isObject(chunk["response"])) this.final = chunk["response"];
        break;
      case "error":
        this.errorEvent = chunk;
        break;
    }
    return true;
  }

  finish(): ResponseFacts {
    const record = this.facts;
    if (this.firstContentAtMs !== undefined) record.firstContentAtMs = this.firstContentAtMs;
    if (this.final !== undefined) {
      readWholeResponse(record, this.final, this.prepared, this.capture, this.ignored);
      return record;
    }
    this.ignored.writeTo(record);
    // No final event: the stream was cut short, or the API sent an `error` event (which some SDK versions
    // hand to the app as an event rather than throwing it).
    if (this.errorEvent !== undefined) {
      recordProviderError(record, stringOr(this.errorEvent["code"]), stringOr(this.errorEvent["message"]));
      record.finishReasons = [names.FINISH_REASON_ERROR];
    }
    const drafts = this.capture ? this.drafts.values() : [];
    const parts = this.capture ? draftParts(drafts) : [];
    if (this.capture && parts.length > 0) record.outputMessages = [{ role: "assistant", parts }];
    // Streamed output is estimated from its length, capture on or off alike (issue 10).
    record.usage = estimatedUsage(this.prepared, estimateTokens(this.outputCharacters));
    return record;
  }
}

/** Counts and keeps a Responses stream's output (content capture on). */
class CapturingResponsesStreamAccumulator extends ResponsesStreamAccumulator {
  protected override readonly capture: boolean = true;

  protected override keepDelta(index: number, delta: string): void {
    const draft = this.drafts.at(index);
    if (draft !== undefined && !draft.done) draft.text += delta;
  }

  protected override keepItem(draft: ItemDraft, item: Json): void {
    draft.item = item;
  }
}

function draftParts(drafts: readonly ItemDraft[]): MessagePart[] {
  const parts: MessagePart[] = [];
  for (const draft of drafts) {
    const item = draft.item;
    if (item === undefined) continue;
    if (draft.done) {
      parts.push(...outputParts([item]));
      continue;
    }
    switch (item["type"]) {
      case "message":
        if (draft.text !== "") parts.push(textPart(draft.text));
        break;
      case "function_call":
        parts.push({
          type: "tool_call",
          id: stringOr(item["call_id"]),
          name: stringOr(item["name"]),
          arguments: parseArguments(draft.text),
        });
        break;
      case "custom_tool_call":
        parts.push({
          type: "tool_call",
          id: stringOr(item["call_id"]),
          name: stringOr(item["name"]),
          arguments: draft.text,
        });
        break;
      case "reasoning":
        parts.push({ type: "reasoning", content: draft.text });
        break;
      default:
        parts.push(...outputParts([item]));
    }
  }
  return parts;
}
