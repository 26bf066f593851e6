/**
 * Response bodies as OpenAI and Anthropic send them, for scripted servers: the fields a test sets, with the
 * rest as the suites use them (id `…-1`, `created` 1, model `gpt-4o-mini` or `claude-3-5-haiku-latest`).
 */

/** OpenAI chat usage; the total is the sum. */
export interface ChatUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/** Responses API usage, with the details blocks where a test sends them. */
export interface ResponsesUsage {
  input_tokens: number;
  output_tokens: number;
  total_tokens: number;
  input_tokens_details?: { cached_tokens: number };
  output_tokens_details?: { reasoning_tokens: number };
}

/** Anthropic usage. */
export interface AnthropicUsage {
  input_tokens: number;
  output_tokens: number;
}

/** A chat completion's tool call, as OpenAI sends it. */
export interface ChatToolCall {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

/** OpenAI chat usage for these token counts. */
export function chatUsage(promptTokens: number, completionTokens: number): ChatUsage {
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
  };
}

/** Responses API usage for these token counts. */
export function responsesUsage(inputTokens: number, outputTokens: number): ResponsesUsage {
  return { input_tokens: inputTokens, output_tokens: outputTokens, total_tokens: inputTokens + outputTokens };
}

/**
 * A `chat.completion` with one assistant choice. `content` is null unless given (as for a tool call or a
 * refusal); `refusal` and `toolCalls` are sent only when given, and `logprobs: null` only when asked for.
 */
export function chatCompletion(
  options: {
    id?: string;
    model?: string;
    content?: string | null;
    refusal?: string | null;
    toolCalls?: ChatToolCall[];
    logprobs?: null;
    finishReason?: string;
    usage?: ChatUsage;
  } = {},
): Record<string, unknown> {
  const { id = "chatcmpl-1", model = "gpt-4o-mini", content = null, finishReason = "stop" } = options;
  const message = {
    role: "assistant",
    content,
    ...(options.refusal === undefined ? {} : { refusal: options.refusal }),
    ...(options.toolCalls === undefined ? {} : { tool_calls: options.toolCalls }),
  };
  return {
    id,
    object: "chat.completion",
    created: 1,
    model,
    choices: [
      { index: 0, message, ...(options.logprobs === undefined ? {} : { logprobs: null }), finish_reason: finishReason },
    ],
    usage: options.usage ?? chatUsage(10, 5),
  };
}

/** A `chat.completion.chunk` with these choices; `extra` sets or adds fields (`id`, `usage`). */
export function chatChunk(choices: unknown[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { id: "chatcmpl-1", object: "chat.completion.chunk", created: 1, model: "gpt-4o-mini", choices, ...extra };
}

/**
 * A Responses API `response`. Its output, unless given, is one completed assistant message holding `text`
 * (or, with `refusal`, a refusal part); `incomplete_details` is sent only when given.
 */
export function responsesResponse(
  options: {
    id?: string;
    model?: string;
    status?: string;
    incompleteDetails?: { reason: string } | null;
    messageId?: string;
    text?: string;
    refusal?: string;
    output?: unknown[];
    usage?: ResponsesUsage | null;
  } = {},
): Record<string, unknown> {
  const { id = "resp_1", model = "gpt-4o-mini", status = "completed", messageId = "msg_1", text = "" } = options;
  const part =
    options.refusal === undefined
      ? { type: "output_text", text, annotations: [] }
      : { type: "refusal", refusal: options.refusal };
  const output = options.output ?? [
    { type: "message", id: messageId, status: "completed", role: "assistant", content: [part] },
  ];
  return {
    id,
    object: "response",
    created_at: 1,
    status,
    model,
    ...(options.incompleteDetails === undefined ? {} : { incomplete_details: options.incompleteDetails }),
    output,
    usage: options.usage === undefined ? responsesUsage(10, 5) : options.usage,
  };
}

/**
 * An Anthropic `message`. Its content, unless given, is one text block holding `text`, or none without it;
 * `stopReason: null` gives the message a stream's `message_start` carries.
 */
export function anthropicMessage(
  options: {
    id?: string;
    model?: string;
    text?: string;
    content?: unknown[];
    stopReason?: string | null;
    usage?: AnthropicUsage;
  } = {},
): Record<string, unknown> {
  const { id = "msg_1", model = "claude-3-5-haiku-latest", text, stopReason = "end_turn" } = options;
  return {
    id,
    type: "message",
    role: "assistant",
    model,
    content: options.content ?? (text === undefined ? [] : [{ type: "text", text }]),
    stop_reason: stopReason,
    stop_sequence: null,
    usage: options.usage ?? { input_tokens: 10, output_tokens: 5 },
  };
}
