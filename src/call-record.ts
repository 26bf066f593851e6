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
 * What a call asked for, in provider-neutral terms: returned by an adapter's `prepare` before the call is sent
 * (the span starts with these). Nothing here refers to a provider by name.
 */
export interface RequestFacts {
  operationName: string;
  providerName: string;
  requestModel: string | undefined;
  serverAddress: string | undefined;
  serverPort: number | undefined;
  stream: boolean;
  /** Request parameters as attributes (`gen_ai.request.*`, provider-specific request attributes). */
  requestAttributes: Record<string, AttributeValue>;
  /** `requestAttributes` hold the request's own `metadata` (`tokentrace.request.metadata.*`): free text to redact. */
  hasRequestMetadata?: boolean;
  /** The JSON schema the request declared for its output (the request's own object, for evaluators; never exported). */
  outputSchema?: unknown;

  // Content: present only when capture is on. Built lazily, at the span's end.
  inputMessages?: () => Message[] | undefined;
  systemInstructions?: () => MessagePart[] | undefined;
  toolDefinitions?: () => unknown[] | undefined;
}

/**
 * What the provider answered: returned by an adapter's `readResponse` (a whole response) or by a stream
 * accumulator's `finish` (however the stream ended), never written anywhere else.
 */
export interface ResponseFacts {
  responseId?: string;
  responseModel?: string;
  /** Per choice; `undefined` where a choice never got one (an unfinished stream). */
  finishReasons?: (string | undefined)[];
  usage: Usage;
  /** Service tier the provider says it used (from the response), for attributes and pricing. */
  serviceTier?: string;
  /** Provider-specific response attributes (e.g. a system fingerprint, a service tier). */
  responseAttributes: Record<string, AttributeValue>;
  /** Present only when capture is on. */
  outputMessages?: Message[];
  /** The provider said it refused in a field of its own (OpenAI's `refusal`), whatever the finish reason. */
  refused?: boolean;
  /**
   * An embeddings response's `data` entries, as the provider sent them (vectors as numbers or base64): read at
   * the call's end by embedding drift when it is on, never recorded or kept.
   */
  embeddings?: readonly unknown[];
  /**
   * A failure the provider reported as data rather than as an error the app sees (a `status: "failed"`, a
   * failure event the SDK passes on). The recorder ends such a call as an error: status ERROR, `error.type` =
   * `type`, counted under outcome `error`.
   */
  failure?: { type: string; message?: string };
  /**
   * Clock time (ms, the `atMs` the stream wrapper handed `add`) of the first chunk that carried output
   * content, for providers whose first chunks carry none (a stream that opens with metadata events).
   */
  firstContentAtMs?: number;
  /**
   * Payload entries left out because of their index (invalid, or beyond tokentrace's bounds): a payload
   * tokentrace refuses to believe, which the recorder counts with the other impossible data.
   */
  ignoredEntries?: number;
}

/** What the HTTP exchange said, read by the interceptor from the SDK's Response, once. */
export interface TransportFacts {
  httpStatusCode?: number;
  requestId?: string;
}

/**
 * The final record of one traced call, assembled once by the recorder when the call ends: the adapter's
 * request and response facts, and the interceptor's transport facts.
 */
export interface CallRecord extends TransportFacts {
  readonly request: RequestFacts;
  readonly response: ResponseFacts;
}

/** Finish reasons that say the provider refused or filtered the answer. */
const REFUSAL_FINISH_REASONS: ReadonlySet<string | undefined> = new Set(["content_filter", "refusal"]);

/** Whether the provider refused: in a field of its own (OpenAI's `refusal`), or by a refusal finish reason. */
export function isRefusal(response: ResponseFacts): boolean {
  if (response.refused === true) return true;
  const reasons = response.finishReasons;
  return reasons !== undefined && reasons.some((reason) => REFUSAL_FINISH_REASONS.has(reason));
}

/** Finish reasons that say the answer stopped at the token limit. */
const LENGTH_FINISH_REASONS: ReadonlySet<string | undefined> = new Set(["length", "max_tokens", "max_output_tokens"]);

/** Whether any of `reasons` says the answer stopped at its token limit (`length`, `max_tokens`, `max_output_tokens`). */
export function stoppedAtLimit(reasons: readonly (string | undefined)[] | undefined): boolean {
  return reasons !== undefined && reasons.some((reason) => LENGTH_FINISH_REASONS.has(reason));
}

/** Response facts of a call that got no response the adapter could read. */
export function noResponseFacts(): ResponseFacts {
  return { usage: {}, responseAttributes: {} };
}
