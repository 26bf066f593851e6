import { clientSecretsReader } from "./credentials.js";
import type { AttributeValue, Span, Tracer } from "@opentelemetry/api";
import type { Message, MessagePart, RequestFacts, ResponseFacts } from "../call-record.js";
import * as names from "../semconv.js";
import type { Usage } from "../usage.js";
import { base64BlobPart, estimateTokens, mediaPart, parseArguments, textPart } from "./content-parts.js";
import { endpointOf } from "./endpoint.js";
import { IgnoredEntries, MAX_CONTENT_BLOCKS, SlotTable, stopSequences } from "./payload-bounds.js";
import type {
  CallContext,
  ClientDescription,
  CoreSpans,
  LiveCall,
  OperationAdapter,
  PreparedCall,
  ProviderAdapter,
  StreamAccumulator,
} from "./types.js";
import { isObject, numberOr, stringOr } from "./json.js";
import type { Json } from "./json.js";
import { setAnthropicRequestUser } from "./request-user.js";
import { ANTHROPIC_RATE_LIMIT_HEADERS } from "../signals/rate-limits.js";

/**
 * Anthropic's `@anthropic-ai/sdk` (0.x and 1.x), and the clients built on it for Amazon Bedrock
 * (`AnthropicBedrock`) and Google Vertex AI (`AnthropicVertex`): `messages.create` and
 * `beta.messages.create`, streamed and not. The stream helpers (`messages.stream()`, `beta.messages.stream()`)
 * and `messages.parse()` call `create` through the observed client, so each gives exactly one span.
 * `messages.countTokens` and everything else pass through untraced.
 *
 * Like the OpenAI adapter, the translation is pure and reads payloads defensively. One part is not pure
 * translation: coexisting with the SDK's own tracing (at the end of this file), where the adapter decides when
 * to hand the SDK the span the core lends (`LiveCall.lendSpan`).
 */

/** What the adapter decides about a client once, when it is observed, beside its ClientDescription. */
interface ClientTraits {
  /** The SDK traces this client's calls itself (`@anthropic-ai/sdk` 0.134+ with its tracing enabled). */
  sdkTraces: boolean;
}

type AnthropicContext = CallContext<ClientTraits>;

// --- the client ---

/**
 * `gen_ai.provider.name` of a client. SDK 1.x says it itself (`_genAIProviderName`, which the Bedrock and
 * Vertex clients override); older clients are recognised by class name, then by shape (bundlers may rename
 * classes), so that neither `@anthropic-ai/bedrock-sdk` nor `@anthropic-ai/vertex-sdk` needs to be installed.
 */
function providerNameOf(client: object): string {
  const candidate = client as {
    _genAIProviderName?: unknown;
    awsRegion?: unknown;
    region?: unknown;
    projectId?: unknown;
  };
  const declared = candidate._genAIProviderName;
  if (typeof declared === "string" && declared !== "") return declared;
  for (let proto: unknown = Object.getPrototypeOf(client); isObject(proto); proto = Object.getPrototypeOf(proto)) {
    const name = (proto as { constructor?: { name?: unknown } }).constructor?.name;
    if (typeof name !== "string") continue;
    if (name.startsWith("AnthropicBedrock")) return names.PROVIDER_AWS_BEDROCK;
    if (name.startsWith("AnthropicVertex")) return names.PROVIDER_GCP_VERTEX_AI;
  }
  if (typeof candidate.awsRegion === "string") return names.PROVIDER_AWS_BEDROCK;
  if (typeof candidate.region === "string" && "projectId" in candidate) return names.PROVIDER_GCP_VERTEX_AI;
  return names.PROVIDER_ANTHROPIC;
}

function describeClient(client: object): ClientDescription<ClientTraits> {
  const { address, port } = endpointOf((client as { baseURL?: unknown }).baseURL);
  return {
    providerName: providerNameOf(client),
    serverAddress: address,
    serverPort: port,
    // Anthropic streams always carry usage: there is nothing to ask for.
    acceptsStreamUsageOption: false,
    requestIdHeader: "request-id",
    rateLimitHeaders: ANTHROPIC_RATE_LIMIT_HEADERS,
    secrets: clientSecretsReader(client),
    traits: { sdkTraces: sdkTracerOf(client) !== undefined },
  };
}

function detect(client: object): boolean {
  const candidate = client as { messages?: { create?: unknown }; baseURL?: unknown; chat?: { completions?: unknown } };
  return (
    typeof candidate.messages?.create === "function" &&
    typeof candidate.baseURL === "string" &&
    // Not an OpenAI client (which the OpenAI adapter takes first anyway).
    !isObject(candidate.chat?.completions)
  );
}

// --- request ---

/** Structured outputs' format: `output_config.format`, or the beta API's older `output_format`; else `{}`. */
function outputFormatOf(body: Json): Json {
  const config = isObject(body["output_config"]) ? body["output_config"] : {};
  if (isObject(config["format"])) return config["format"];
  return isObject(body["output_format"]) ? body["output_format"] : {};
}

function requestAttributes(body: Json): Record<string, AttributeValue> {
  const attributes: Record<string, AttributeValue> = {};
  const number = (name: string, value: unknown): void => {
    const parsed = numberOr(value);
    if (parsed !== undefined) attributes[name] = parsed;
  };
  number(names.ATTR_GEN_AI_REQUEST_MAX_TOKENS, body["max_tokens"]);
  number(names.ATTR_GEN_AI_REQUEST_TEMPERATURE, body["temperature"]);
  number(names.ATTR_GEN_AI_REQUEST_TOP_P, body["top_p"]);
  number(names.ATTR_GEN_AI_REQUEST_TOP_K, body["top_k"]);
  const stop = Array.isArray(body["stop_sequences"]) ? stopSequences(body["stop_sequences"]) : undefined;
  if (stop !== undefined) attributes[names.ATTR_GEN_AI_REQUEST_STOP_SEQUENCES] = stop;
  attributes[names.ATTR_GEN_AI_REQUEST_STREAM] = body["stream"] === true;
  if (outputFormatOf(body)["type"] === "json_schema")
    attributes[names.ATTR_GEN_AI_OUTPUT_TYPE] = names.OUTPUT_TYPE_JSON;
  const tier = stringOr(body["service_tier"]);
  if (tier !== undefined) attributes[names.ATTR_ANTHROPIC_REQUEST_SERVICE_TIER] = tier;
  const thinking = isObject(body["thinking"]) ? body["thinking"] : undefined;
  const thinkingType = stringOr(thinking?.["type"]);
  if (thinkingType !== undefined) attributes[names.ATTR_ANTHROPIC_THINKING_TYPE] = thinkingType;
  number(names.ATTR_ANTHROPIC_THINKING_BUDGET_TOKENS, thinking?.["budget_tokens"]);
  setAnthropicRequestUser(attributes, body);
  return attributes;
}

/** An image's or document's `source` as a part: base64 data as a `blob` (size only), never inlined. */
function sourcePart(source: unknown, modality: string): MessagePart {
  const from = isObject(source) ? source : {};
  switch (from["type"]) {
    case "base64":
      return base64BlobPart(from["data"], modality, stringOr(from["media_type"]));
    case "url": {
      const url = stringOr(from["url"]);
      return url !== undefined ? mediaPart(url, modality) : { type: modality };
    }
    case "file":
      return { type: "file", modality, file_id: stringOr(from["file_id"]) };
    case "text":
      // A plain-text document is text the app sent.
      return textPart(stringOr(from["data"]) ?? "");
    default:
      return { type: modality };
  }
}

/** A tool result's content: its text as a string, or its blocks as parts. */
function toolResultResponse(content: unknown): unknown {
  if (typeof content === "string") return content;
  return Array.isArray(content) ? content.filter(isObject).map(blockPart) : [];
}

/**
 * One content block (of a request message, a system prompt or a response) as a part of the GenAI
 * conventions. Blocks the conventions have no part for (including types of newer API versions) keep only
 * their type: image data is large, redacted thinking and search results hold opaque data.
 */
function blockPart(block: Json): MessagePart {
  const type = block["type"];
  switch (type) {
    case "text":
      return textPart(stringOr(block["text"]) ?? "");
    case "thinking":
      return { type: "reasoning", content: stringOr(block["thinking"]) ?? "" };
    case "redacted_thinking":
      // Its data is encrypted: only the fact that the model reasoned is kept.
      return { type: "reasoning", content: "", redacted: true };
    case "tool_use":
      return { type: "tool_call", id: stringOr(block["id"]), name: stringOr(block["name"]), arguments: block["input"] };
    case "server_tool_use":
    case "mcp_tool_use": {
      const name = stringOr(block["name"]);
      return {
        type: "server_tool_call",
        id: stringOr(block["id"]),
        name,
        server_tool_call: { type: name ?? type, arguments: block["input"] },
      };
    }
    case "tool_result":
      return {
        type: "tool_call_response",
        id: stringOr(block["tool_use_id"]),
        response: toolResultResponse(block["content"]),
      };
    case "image":
      return sourcePart(block["source"], "image");
    case "document":
      return sourcePart(block["source"], "document");
    default: {
      const typeName = String(type);
      // web_search_tool_result, code_execution_tool_result, mcp_tool_result, ...
      if (typeName.endsWith("_tool_result") && typeof block["tool_use_id"] === "string") {
        return {
          type: "server_tool_call_response",
          id: block["tool_use_id"],
          server_tool_call_response: { type: typeName },
        };
      }
      return { type: typeName };
    }
  }
}

function contentParts(content: unknown): MessagePart[] {
  if (typeof content === "string") return [textPart(content)];
  return Array.isArray(content) ? content.filter(isObject).map(blockPart) : [];
}

function toInputMessages(messages: readonly unknown[]): Message[] {
  const result: Message[] = [];
  for (const message of messages) {
    if (!isObject(message)) continue;
    // Tool results stay in the user message that carries them, as Anthropic sends them.
    result.push({ role: stringOr(message["role"]) ?? "user", parts: contentParts(message["content"]) });
  }
  return result;
}

function toToolDefinitions(tools: readonly unknown[]): unknown[] {
  return tools.map((tool) => {
    if (!isObject(tool)) return tool;
    const type = tool["type"];
    // A custom tool (no type, or "custom"); server tools (web_search_..., bash_..., ...) are kept as they are.
    if ((type === undefined || type === null || type === "custom") && "input_schema" in tool) {
      return {
        type: "function",
        name: tool["name"],
        description: tool["description"],
        parameters: tool["input_schema"],
      };
    }
    return tool;
  });
}

function textCharacters(content: unknown): number {
  if (typeof content === "string") return content.length;
  let characters = 0;
  if (Array.isArray(content)) {
    for (const block of content)
      if (isObject(block) && typeof block["text"] === "string") characters += block["text"].length;
  }
  return characters;
}

function requestCharacters(body: Json): number {
  let characters = textCharacters(body["system"]);
  const messages = body["messages"];
  if (Array.isArray(messages)) {
    for (const message of messages) if (isObject(message)) characters += textCharacters(message["content"]);
  }
  return characters;
}

// --- response ---

/** Usage normalised: Anthropic counts cached input beside `input_tokens`; the conventions want it inside. */
function normaliseUsage(usage: Json): Usage {
  const input = numberOr(usage["input_tokens"]);
  const cacheRead = numberOr(usage["cache_read_input_tokens"]);
  const cacheWrite = numberOr(usage["cache_creation_input_tokens"]);
  const creation = isObject(usage["cache_creation"]) ? usage["cache_creation"] : {};
  const details = isObject(usage["output_tokens_details"]) ? usage["output_tokens_details"] : {};
  return {
    inputTokens: input === undefined ? undefined : input + (cacheRead ?? 0) + (cacheWrite ?? 0),
    outputTokens: numberOr(usage["output_tokens"]),
    cacheReadInputTokens: cacheRead,
    cacheWriteInputTokens: cacheWrite,
    cacheWrite5mInputTokens: numberOr(creation["ephemeral_5m_input_tokens"]),
    cacheWrite1hInputTokens: numberOr(creation["ephemeral_1h_input_tokens"]),
    // Thinking tokens are part of output_tokens, as the conventions want reasoning tokens to be.
    reasoningOutputTokens: numberOr(details["thinking_tokens"]),
  };
}

/** What the usage says beyond the neutral counts: the service tier. */
function readUsageExtras(record: ResponseFacts, usage: Json): void {
  const attributes = record.responseAttributes;
  const tier = stringOr(usage["service_tier"]);
  if (tier !== undefined) {
    record.serviceTier = tier;
    attributes[names.ATTR_ANTHROPIC_RESPONSE_SERVICE_TIER] = tier;
  }
}

function readMessageMetadata(record: ResponseFacts, message: Json): void {
  record.responseId ??= stringOr(message["id"]);
  record.responseModel ??= stringOr(message["model"]);
}

/** Where the provider reported no usage: estimate, and say so. */
function estimateUsage(prepared: PreparedCall, outputCharacters: number): Usage {
  const body = isObject(prepared.request) ? prepared.request : {};
  return {
    inputTokens: estimateTokens(requestCharacters(body)),
    outputTokens: estimateTokens(outputCharacters),
    estimated: true,
    estimateMethod: "characters",
  };
}

function outputCharacters(blocks: readonly Json[]): number {
  let characters = 0;
  for (const block of blocks) {
    if (typeof block["text"] === "string") characters += block["text"].length;
    if (typeof block["thinking"] === "string") characters += block["thinking"].length;
    if (block["type"] === "tool_use" && isObject(block["input"])) characters += JSON.stringify(block["input"]).length;
  }
  return characters;
}

function outputMessage(blocks: readonly Json[], stopReason: string | undefined): Message {
  const message: Message = { role: "assistant", parts: blocks.map(blockPart) };
  if (stopReason !== undefined) message.finish_reason = stopReason;
  return message;
}

function createOperation(path: readonly string[]): OperationAdapter<ClientTraits> {
  return {
    path,

    prepare(body: unknown, context: AnthropicContext): PreparedCall {
      const request = isObject(body) ? body : {};
      const record: RequestFacts = {
        operationName: names.OPERATION_CHAT,
        providerName: context.client.providerName,
        requestModel: stringOr(request["model"]),
        serverAddress: context.client.serverAddress,
        serverPort: context.client.serverPort,
        stream: request["stream"] === true,
        requestAttributes: requestAttributes(request),
      };
      const format = outputFormatOf(request);
      if (format["type"] === "json_schema" && format["schema"] !== undefined) record.outputSchema = format["schema"];
      if (context.captureContent) {
        // Shallow copies: the app may push to its own arrays while a stream is still being read.
        const messages = Array.isArray(request["messages"]) ? request["messages"].slice() : [];
        record.inputMessages = () => toInputMessages(messages);
        const system = Array.isArray(request["system"]) ? request["system"].slice() : request["system"];
        if (system !== undefined && system !== null) record.systemInstructions = () => contentParts(system);
        if (Array.isArray(request["tools"]) && request["tools"].length > 0) {
          const tools = request["tools"].slice();
          record.toolDefinitions = () => toToolDefinitions(tools);
        }
      }
      return { facts: record, body, request: body, injectedStreamUsage: false };
    },

    readResponse(data: unknown, prepared: PreparedCall, context: AnthropicContext): ResponseFacts {
      if (!isObject(data)) {
        return { usage: estimateUsage(prepared, typeof data === "string" ? data.length : 0), responseAttributes: {} };
      }
      const record: ResponseFacts = { usage: {}, responseAttributes: {} };
      readMessageMetadata(record, data);
      const stopReason = stringOr(data["stop_reason"]);
      record.finishReasons = stopReason !== undefined ? [stopReason] : [];
      // A whole message's blocks are as many as were received; they are bounded as a stream's blocks are.
      const ignored = new IgnoredEntries();
      const blocks = ignored.list(
        Array.isArray(data["content"]) ? data["content"].filter(isObject) : [],
        MAX_CONTENT_BLOCKS,
      );
      ignored.writeTo(record);
      if (context.captureContent) record.outputMessages = [outputMessage(blocks, stopReason)];
      const usage = data["usage"];
      if (isObject(usage)) {
        record.usage = normaliseUsage(usage);
        readUsageExtras(record, usage);
      } else {
        record.usage = estimateUsage(prepared, outputCharacters(blocks));
      }
      return record;
    },

    createStreamAccumulator(prepared: PreparedCall, context: AnthropicContext): StreamAccumulator {
      // Decided once per stream: keep the blocks, or only count their text.
      return context.captureContent
        ? new CapturingMessageStreamAccumulator(prepared)
        : new MessageStreamAccumulator(prepared);
    },

    bindCall: lendSpanToSdk,
  };
}

/** A content block being streamed, per `index` (its content kept only when content capture is on). */
interface BlockDraft {
  /** The block as `content_block_start` gave it (with capture on). */
  start: Json;
  /** Streamed text or thinking. */
  text: string;
  /** Streamed tool input JSON. */
  json: string;
}

const noBlock: Json = Object.freeze({});

/**
 * Collects a Messages stream: `message_start` (id, model, input and cache usage), content blocks and their
 * deltas, `message_delta` (stop reason, cumulative usage). Unknown event, block and delta types are skipped.
 * This one counts (content capture off); the capturing variant keeps the blocks too.
 */
class MessageStreamAccumulator implements StreamAccumulator {
  readonly mayHideChunks = false;
  protected readonly facts: ResponseFacts = { usage: {}, responseAttributes: {} };
  /** The usage so far: each field's latest value (message_delta totals are cumulative, never summed). */
  private usage: Json | undefined;
  private usageFinal = false;
  protected started = false;
  protected stopReason: string | undefined;
  private outputCharacters = 0;
  private contentSeen = false;
  private readonly ignored = new IgnoredEntries();
  protected readonly blocks = new SlotTable<BlockDraft>(MAX_CONTENT_BLOCKS, this.ignored);
  /** The index of the block started last: a delta without an index belongs to it. */
  private lastBlock = 0;

  constructor(private readonly prepared: PreparedCall) {}

  /** The slot of a started block. Here it only marks the index taken: no content is kept. */
  protected blockDraft(_block: Json, _text: string): BlockDraft {
    return { start: noBlock, text: "", json: "" };
  }

  /** Keep a delta's piece of the block at `index` (the capturing variant). */
  protected keepPiece(_index: number, _json: boolean, _piece: string): void {}

  add(chunk: unknown, atMs: number): boolean {
    if (!isObject(chunk)) return true;
    switch (chunk["type"]) {
      case "content_block_delta":
        this.addDelta(chunk, atMs);
        break;
      case "content_block_start":
        this.startBlock(chunk);
        break;
      case "message_start": {
        this.started = true;
        const message = chunk["message"];
        if (!isObject(message)) break;
        readMessageMetadata(this.facts, message);
        if (isObject(message["usage"])) this.mergeUsage(message["usage"]);
        break;
      }
      case "message_delta": {
        const delta = chunk["delta"];
        const reason = isObject(delta) ? stringOr(delta["stop_reason"]) : undefined;
        if (reason !== undefined) this.stopReason = reason;
        if (isObject(chunk["usage"])) {
          this.mergeUsage(chunk["usage"]);
          this.usageFinal = true;
        }
        break;
      }
      // content_block_stop, message_stop: nothing to collect. Anything else: a newer API's event, skipped.
    }
    return true;
  }

  private mergeUsage(usage: Json): void {
    const merged: Json = { ...this.usage };
    for (const [field, value] of Object.entries(usage)) {
      // A null total does not apply (e.g. no cache on this call): it never replaces a value.
      if (value !== null && value !== undefined) merged[field] = value;
    }
    this.usage = merged;
  }

  private startBlock(event: Json): void {
    this.started = true;
    const block = event["content_block"];
    if (!isObject(block)) return;
    // A block without an index is the next one.
    const index = this.ignored.index(event["index"], MAX_CONTENT_BLOCKS, this.blocks.size);
    if (index < 0) return;
    this.lastBlock = index;
    const text = stringOr(block["text"]) ?? stringOr(block["thinking"]) ?? "";
    this.outputCharacters += text.length;
    this.blocks.set(index, this.blockDraft(block, text));
  }

  private addDelta(event: Json, atMs: number): void {
    const delta = event["delta"];
    if (!isObject(delta)) return;
    let piece: string | undefined;
    switch (delta["type"]) {
      case "text_delta":
        piece = stringOr(delta["text"]);
        break;
      case "thinking_delta":
        piece = stringOr(delta["thinking"]);
        break;
      case "input_json_delta":
        piece = stringOr(delta["partial_json"]);
        break;
      // signature_delta and citations_delta carry no output text; unknown delta types are skipped.
      default:
        return;
    }
    if (piece === undefined) return;
    const index = this.ignored.index(event["index"], MAX_CONTENT_BLOCKS, this.lastBlock);
    if (index < 0) return;
    if (!this.contentSeen) {
      // Anthropic opens with message_start and content_block_start: the first delta is the first content.
      this.contentSeen = true;
      this.facts.firstContentAtMs = atMs;
    }
    this.outputCharacters += piece.length;
    this.keepPiece(index, delta["type"] === "input_json_delta", piece);
  }

  finish(): ResponseFacts {
    const record = this.facts;
    record.finishReasons = [this.stopReason];
    this.ignored.writeTo(record);
    if (this.usage !== undefined) {
      const usage = normaliseUsage(this.usage);
      if (!this.usageFinal) {
        // message_start's output_tokens is a placeholder: without a message_delta the output is estimated.
        usage.outputTokens = estimateTokens(this.outputCharacters);
        usage.reasoningOutputTokens = undefined;
        usage.estimated = true;
        usage.estimateMethod = "characters";
      }
      record.usage = usage;
      readUsageExtras(record, this.usage);
    } else {
      record.usage = estimateUsage(this.prepared, this.outputCharacters);
    }
    return record;
  }
}

/** Counts and keeps a Messages stream's blocks (content capture on). */
class CapturingMessageStreamAccumulator extends MessageStreamAccumulator {
  protected override blockDraft(block: Json, text: string): BlockDraft {
    return { start: block, text, json: "" };
  }

  protected override keepPiece(index: number, json: boolean, piece: string): void {
    const draft = this.blocks.at(index);
    if (draft === undefined) return;
    if (json) draft.json += piece;
    else draft.text += piece;
  }

  override finish(): ResponseFacts {
    const record = super.finish();
    if (this.started) {
      const blocks: Json[] = [];
      for (const draft of this.blocks.values()) blocks.push(completedBlock(draft));
      record.outputMessages = [outputMessage(blocks, this.stopReason)];
    }
    return record;
  }
}

/** A streamed block as the non-streamed Message would have it, so both give the same parts. */
function completedBlock(draft: BlockDraft): Json {
  const { start } = draft;
  switch (start["type"]) {
    case "text":
      return { ...start, text: draft.text };
    case "thinking":
      return { ...start, thinking: draft.text };
    case "tool_use":
    case "server_tool_use":
    case "mcp_tool_use":
      // A stream cut inside the JSON keeps the raw text (parseArguments), never a wrong object.
      return { ...start, input: draft.json === "" ? start["input"] : parseArguments(draft.json) };
    default:
      return start;
  }
}

export const anthropicAdapter: ProviderAdapter<ClientTraits> = {
  displayName: "Anthropic (@anthropic-ai/sdk, including AnthropicBedrock and AnthropicVertex)",
  detect,
  describe: describeClient,
  operations: [createOperation(["messages", "create"]), createOperation(["beta", "messages", "create"])],
  // messages.stream() and beta.messages.stream() live on resources already on a traced path.
  routedResourcePaths: [],
  derivedClientMethods: ["withOptions"],
  clientOverrides,
};

// --- coexisting with the SDK's own tracing ---
//
// `@anthropic-ai/sdk` 0.134+ (so every 1.x) traces itself: whenever its tracing is enabled (the default; the
// client option `openTelemetry`, or ANTHROPIC_OPEN_TELEMETRY=false, turn it off), each API call starts a
// CLIENT "call span" and the SDK records on it as the call goes. Next to tokentrace's span that would be two
// spans for one call. Decision (issue 3): tokentrace's span is the call's only span, and the SDK records on it.
//
// The SDK has a mechanism for this: a helper that starts the call span itself passes it to `create()` in the
// request options (`__span`), and the SDK then uses that span instead of starting one. tokentrace is such a
// helper: `bindCall` hands the SDK tokentrace's span, behind the guard the core lends (`LiveCall.lendSpan`) that
// - lets through only the attempt attributes the recorder does not know (`http.request.method`,
//   `http.request.resend_count` on retries, `url.*`): status, `error.type`, usage, ids and content stay the
//   recorder's, and content obeys tokentrace's capture switch alone;
// - never lets the SDK set the status or end the span: the recorder ends it, once;
// - says it is not recording, so the SDK spends nothing on the response and stream recording it would
//   otherwise do only for the guard to drop (the attempt attributes do not ask);
// - gives the SDK the span's context, so the SDK's `propagation` setting keeps its meaning: with it on, the
//   request carries `traceparent` of tokentrace's span.
// The stream helpers start their span before calling `create()`; through the observed client they are given
// a tracer (`clientOverrides`) that starts no span for `messages.create`, so `create()` gets tokentrace's.
//
// The user's explicit `openTelemetry` settings stay meaningful: `openTelemetry: false` (or `traces: false`)
// means the SDK records nothing and propagates nothing; `propagation` is honoured as above; calls tokentrace
// does not trace (countTokens, models, batches, files, ...) keep the SDK's own spans, with the SDK's
// `tracerProvider`. Where tokentrace's own span is a no-op (no tracer provider for tokentrace), tokentrace
// lends nothing and the SDK traces the call itself, so the call still has exactly one span. Where the SDK's
// `contentMode: 'content'` is set, the SDK's content attributes are not copied: tokentrace's `captureContent`
// decides what content its span carries.

/** The span name the SDK gives the call span of `messages.create` (stable and beta alike). */
const SDK_MESSAGES_CREATE_SPAN = "anthropic.messages.create";

/** The SDK attributes a lent span accepts: those of the HTTP attempts, which tokentrace does not record. */
const sdkAttemptAttributes: ReadonlySet<string> = new Set([
  names.ATTR_HTTP_REQUEST_METHOD,
  names.ATTR_HTTP_REQUEST_RESEND_COUNT,
  names.ATTR_URL_SCHEME,
  names.ATTR_URL_PATH,
  names.ATTR_URL_QUERY,
  names.ATTR_URL_FULL,
]);

/** The SDK's tracer of a client, when its own tracing is enabled (`_tracer` is set once, in its constructor). */
function sdkTracerOf(client: object): Tracer | undefined {
  const tracer = (client as { _tracer?: unknown })._tracer;
  return isObject(tracer) && typeof tracer["startSpan"] === "function" ? (tracer as unknown as Tracer) : undefined;
}

/** The SDK's `__span` request option: a call span with its name and start time. */
interface SdkCallSpan {
  span: Span;
  name: string;
  startTime: number;
}

const isRecordingSpan = (value: unknown): boolean =>
  isObject(value) && typeof value["isRecording"] === "function" && (value as unknown as Span).isRecording();

function lendSpanToSdk(args: readonly unknown[], call: LiveCall, context: AnthropicContext): unknown[] {
  if (!context.client.traits.sdkTraces) return args as unknown[];
  const options = isObject(args[1]) ? args[1] : undefined;
  const given = options?.["__span"];
  // A span some other helper started and records on stays that helper's (no known helper does this).
  if (isObject(given) && isRecordingSpan(given["span"])) return args as unknown[];
  // Undefined where tokentrace's span is a no-op: the SDK traces the call itself (dropping a stand-in a helper
  // may pass).
  const span = call.lendSpan(sdkAttemptAttributes);
  if (span === undefined && given === undefined) return args as unknown[];
  const lent: SdkCallSpan | undefined =
    span !== undefined ? { span, name: SDK_MESSAGES_CREATE_SPAN, startTime: call.startEpochMs } : undefined;
  const next = args.slice();
  next[1] = { ...options, __span: lent };
  return next;
}

/**
 * The SDK's tracer as the observed client shows it: it starts no span for `messages.create`, which
 * tokentrace traces (a stream helper then starts none and `create()` is handed tokentrace's); every other
 * call span (countTokens, tool runners, ...) is the SDK's as usual.
 */
function clientOverrides(client: object, spans: CoreSpans): ReadonlyMap<string, unknown> | undefined {
  try {
    const tracer = sdkTracerOf(client);
    if (tracer === undefined) return undefined;
    const startSpan = tracer.startSpan.bind(tracer);
    const helperTracer: Tracer = {
      startSpan: (name, options, context) =>
        name === SDK_MESSAGES_CREATE_SPAN ? spans.nonRecording() : startSpan(name, options, context),
      startActiveSpan: tracer.startActiveSpan.bind<Tracer["startActiveSpan"]>(tracer),
    };
    return new Map([["_tracer", helperTracer]]);
  } catch {
    return undefined;
  }
}
