/*
 * `tokentrace/testing`: helpers for testing code that calls LLM clients, kept out of the main entry point so
 * production bundles never include a server.
 */
export { startMockLLMServer } from "./mock-server.js";
export type { MockLLMServer, MockLLMServerOptions, RecordedRequest } from "./mock-server.js";
export type { MockMalformedKind, MockReply, MockToolCall, MockUsage } from "./openai-chat-wire.js";
export type {
  MockAnthropicBlock,
  MockAnthropicRawBlock,
  MockAnthropicRedactedThinkingBlock,
  MockAnthropicReply,
  MockAnthropicTextBlock,
  MockAnthropicThinkingBlock,
  MockAnthropicToolUseBlock,
  MockAnthropicUsage,
} from "./anthropic-wire.js";
export type {
  MockResponsesFunctionCallItem,
  MockResponsesItem,
  MockResponsesMessageItem,
  MockResponsesRawItem,
  MockResponsesReasoningItem,
  MockResponsesReply,
  MockResponsesUsage,
} from "./openai-responses-wire.js";
export type { MockEmbeddingsReply } from "./openai-embeddings-wire.js";
export type { MockCompletionsReply } from "./openai-completions-wire.js";
