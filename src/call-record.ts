import type { AttributeValue } from "@opentelemetry/api";
import type { Usage } from "./usage.js";

/** A part of a message in the GenAI conventions' parts format (text, tool_call, tool_call_response, blob, uri, ...). */
export type MessagePart = Record<string, unknown> & { type: string };

/** A message in the GenAI conventions' format: `{ role, parts, finish_reason? }`. */
export interface Message {
  role: string;
  parts: MessagePart[];
  finish_reason?: string;
  name?: string;
}

/**
 * What one traced call is, in provider-neutral terms. Provider adapters fill it from requests, responses
 * and stream chunks; the recorder turns it into span attributes and metric points. Nothing here refers to
 * a provider by name.
 */
export interface CallRecord {
  operationName: string;
  providerName: string;
  requestModel: string | undefined;
  serverAddress: string | undefined;
  serverPort: number | undefined;
  stream: boolean;
  /** Request parameters as attributes (`gen_ai.request.*`, provider-specific request attributes). */
  requestAttributes: Record<string, AttributeValue>;

  // Content: present only when capture is on. Built lazily where possible.
  inputMessages?: () => Message[] | undefined;
  systemInstructions?: () => MessagePart[] | undefined;
  toolDefinitions?: () => unknown[] | undefined;
  outputMessages?: Message[];

  // Response.
  responseId?: string;
  responseModel?: string;
  /** Per choice; `undefined` where a choice never got one (an unfinished stream). */
  finishReasons?: (string | undefined)[];
  usage: Usage;
  /** Service tier the provider says it used (from the response), for attributes and pricing. */
  serviceTier?: string;
  /** Provider-specific response attributes (e.g. `openai.response.system_fingerprint`). */
  responseAttributes: Record<string, AttributeValue>;
  requestId?: string;
  httpStatusCode?: number;
  /**
   * A failure the provider reported as data rather than as an error the app sees (a Responses API
   * `status: "failed"`, a `response.failed` or `error` event the SDK passes on). The recorder ends such a
   * call as an error: status ERROR, `error.type` = `type`, counted under outcome `error`.
   */
  failure?: { type: string; message?: string };
  /**
   * Clock time (ms, the call's clock) of the first chunk that carried output content, for providers whose
   * first chunks carry none (Anthropic's `message_start`). Set by stream accumulators.
   */
  firstContentAtMs?: number;
}
