import type { Span } from "@opentelemetry/api";
import type { CallRecord } from "../call-record.js";

/** What an adapter learns about a client once, when it is observed. */
export interface ClientDescription {
  /** `gen_ai.provider.name` value, e.g. `openai`. */
  providerName: string;
  serverAddress: string | undefined;
  serverPort: number | undefined;
  /** Whether the endpoint is known to accept the request change an operation may make (e.g. stream usage). */
  acceptsStreamUsageOption: boolean;
  /** Response header carrying the provider's request id. */
  requestIdHeader: string;
  /**
   * The client's own credentials (API key, auth header values), read when an error is recorded, to keep them
   * out of recorded error text. Optional: a description without it redacts nothing.
   */
  secrets?: () => readonly string[];
}

/** What `observe()` passes to `describe` besides the client: the user's options that shape its description. */
export interface DescribeOptions {
  /**
   * The `providerName` option. `observe()` puts it in the description's `providerName` itself; an adapter
   * may also apply the rules it knows for that provider (e.g. whether stream usage may be asked for).
   */
  providerName?: string | undefined;
}

/** Per-call context handed to an operation adapter. */
export interface CallContext {
  client: ClientDescription;
  captureContent: boolean;
  injectStreamUsage: boolean;
}

/** The result of looking at a request before it is sent. */
export interface PreparedCall {
  record: CallRecord;
  /** The request body to send: the caller's own object, or a copy when tokentrace had to add to it. */
  body: unknown;
  /** The caller's request body, for the adapter's later use (estimates); never mutated. */
  request: unknown;
  /** True when tokentrace asked the API for a streamed usage chunk the app did not ask for. */
  injectedStreamUsage: boolean;
}

/**
 * Collects what a stream tells about a call. Called once per chunk on the hot path: keep it to a few
 * field updates; keep content only when capture is on.
 */
export interface StreamAccumulator {
  /**
   * Take one chunk, seen at `atMs`. Returns `false` when the chunk must be hidden from the app (a chunk
   * that exists only because tokentrace asked for it).
   */
  add(chunk: unknown, atMs: number): boolean;
  /**
   * Whether `add` may ever return `false` for this stream; read once, when the stream's iterator is made.
   * While it is false, tokentrace sees each chunk beside the app's read of it instead of inside it, which
   * spares the app one promise per chunk.
   */
  readonly mayHideChunks: boolean;
  /** Write what was collected into the record, once, when the stream ends (however it ends). */
  finish(record: CallRecord): void;
}

/** What `bindCall` may know of a call in flight: its span, and whether it has ended. */
export interface LiveCall {
  readonly span: Span;
  readonly ended: boolean;
}

/** One SDK method the adapter traces, e.g. `chat.completions.create`. */
export interface OperationAdapter {
  /** Property path from the client to the method. */
  readonly path: readonly string[];
  /** Inspect the call's arguments; never mutate the caller's objects. */
  prepare(body: unknown, context: CallContext): PreparedCall;
  /** Read a complete (non-stream) response into the record. */
  readResponse(data: unknown, prepared: PreparedCall, context: CallContext): void;
  /** Start collecting a stream's chunks. */
  createStreamAccumulator(prepared: PreparedCall, context: CallContext): StreamAccumulator;
  /**
   * Optional: the arguments to call the SDK method with, once the call's span exists (`args` already carry
   * `prepare`'s body; never mutate them). For SDKs that trace themselves: handing them the span keeps one
   * call one span (see the Anthropic adapter).
   */
  bindCall?(args: readonly unknown[], call: LiveCall, context: CallContext): unknown[];
}

/** How a run ended, as a run helper's result tells it. */
export type RunEnd = "completed" | "error" | "aborted";

/** A helper method whose one call is a run of several model requests (see `ProviderAdapter.runHelpers`). */
export interface RunHelperAdapter {
  /** Property path from the client to the method. */
  readonly path: readonly string[];
  /** The run's record, from the helper's arguments. */
  start(body: unknown, context: CallContext): CallRecord;
  /** Call `end` once when the helper's result (e.g. a runner) says the run is over. Must not change it. */
  watchRun(result: unknown, end: (how: RunEnd) => void): void;
}

/** A provider: how to recognise its clients and which of their methods to trace. */
export interface ProviderAdapter {
  /** For diagnostics and error messages, e.g. `OpenAI`. */
  readonly displayName: string;
  detect(client: object): boolean;
  describe(client: object, options?: DescribeOptions): ClientDescription;
  readonly operations: readonly OperationAdapter[];
  /**
   * Resources whose helper methods call back into the client (`this._client....create()`), with no method
   * of their own to trace: wrapping them routes those calls through the observed client.
   */
  readonly routedResourcePaths: readonly (readonly string[])[];
  /**
   * Helpers that make several model requests in one run (openai's `runTools()`): the run gets a span of its
   * own, the parent of each request's span.
   */
  readonly runHelpers?: readonly RunHelperAdapter[];
  /** Client methods that return a new client of the same kind (e.g. `withOptions`), observed in turn. */
  readonly derivedClientMethods: readonly string[];
  /**
   * Optional: properties the observed client shows in place of the real client's, decided once when it is
   * observed. SDK helpers that read the client through a traced resource's `_client` see them (the
   * Anthropic adapter uses this to keep the SDK's stream helpers from starting a second span). Never throws.
   */
  clientOverrides?(client: object): ReadonlyMap<string, unknown> | undefined;
}
