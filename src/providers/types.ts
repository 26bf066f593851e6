import type { Span } from "@opentelemetry/api";
import type { RequestFacts, ResponseFacts } from "../call-record.js";
import type { RateLimitHeaders } from "../signals/rate-limits.js";

/**
 * What an adapter learns about a client once, when it is observed. `Traits`: what only that adapter needs
 * to know of the client (e.g. an Azure deployment), handed back to it in every call's context.
 */
export interface ClientDescription<Traits = unknown> {
  /** `gen_ai.provider.name` value, e.g. `openai`. */
  providerName: string;
  serverAddress: string | undefined;
  serverPort: number | undefined;
  /** Whether the endpoint is known to accept the request change an operation may make (e.g. stream usage). */
  acceptsStreamUsageOption: boolean;
  /** Response header carrying the provider's request id. */
  requestIdHeader: string;
  /** The provider's rate-limit response headers, if it sends some (issue 15). */
  rateLimitHeaders?: RateLimitHeaders;
  /**
   * The client's own credentials (API key, auth header values), read when an error is recorded, to keep them
   * out of recorded error text. Optional: a description without it redacts nothing.
   */
  secrets?: () => readonly string[];
  /** The adapter's own facts about the client, decided once. */
  traits: Traits;
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
export interface CallContext<Traits = unknown> {
  client: ClientDescription<Traits>;
  captureContent: boolean;
  injectStreamUsage: boolean;
}

/** The result of looking at a request before it is sent. */
export interface PreparedCall {
  /** What the call asks for: the span starts with these. */
  facts: RequestFacts;
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
  /** What was collected, once, when the stream ends (however it ends). */
  finish(): ResponseFacts;
}

/**
 * What `bindCall` may know of a call in flight, and what the core offers an SDK that traces itself: a span
 * to lend it, so that one call stays one span.
 */
export interface LiveCall {
  readonly span: Span;
  readonly ended: boolean;
  /** Wall-clock time (epoch ms) the call started, where its span starts. */
  readonly startEpochMs: number;
  /**
   * A stand-in for the call's span that an SDK may record on: it takes only the attributes named in
   * `acceptedAttributes` (while the call is in flight), never sets the status or ends the span, and says it
   * is not recording. Undefined when the call's span is a no-op (nothing to lend).
   */
  lendSpan(acceptedAttributes: ReadonlySet<string>): Span | undefined;
}

/**
 * One SDK method the adapter traces, e.g. `chat.completions.create`. `Prepared`: what the adapter's
 * `prepare` returns, handed back to it unchanged (an adapter may add its own typed fields).
 */
export interface OperationAdapter<Traits = unknown, Prepared extends PreparedCall = PreparedCall> {
  /** Property path from the client to the method. */
  readonly path: readonly string[];
  /** Inspect the call's arguments; never mutate the caller's objects. */
  prepare(body: unknown, context: CallContext<Traits>): Prepared;
  /** The facts of a complete (non-stream) response. */
  readResponse(data: unknown, prepared: Prepared, context: CallContext<Traits>): ResponseFacts;
  /**
   * Start collecting a stream's chunks. Called once per stream: choose here what the stream needs (e.g. a
   * variant that keeps content, or one that only counts), never per chunk.
   */
  createStreamAccumulator(prepared: Prepared, context: CallContext<Traits>): StreamAccumulator;
  /**
   * Optional: the arguments to call the SDK method with, once the call's span exists (`args` already carry
   * `prepare`'s body; never mutate them). For SDKs that trace themselves: handing them the span keeps one
   * call one span (see `LiveCall.lendSpan`).
   */
  bindCall?(args: readonly unknown[], call: LiveCall, context: CallContext<Traits>): unknown[];
  /**
   * Optional, for operations whose `prepare` changes a streamed request (`injectedStreamUsage`): one raw SSE
   * event (latin1 text, one character per byte, its blank line included) as the server would have sent it
   * without the change; `""` drops it. The core applies it to the raw body an app reads (`asResponse()`).
   */
  readonly rawStreamEvent?: (event: string) => string;
}

/** How a run ended, as a run helper's result tells it. */
export type RunEnd = "completed" | "error" | "aborted";

/** A helper method whose one call is a run of several model requests (see `ProviderAdapter.runHelpers`). */
export interface RunHelperAdapter<Traits = unknown> {
  /** Property path from the client to the method. */
  readonly path: readonly string[];
  /** The run's request facts, from the helper's arguments. */
  start(body: unknown, context: CallContext<Traits>): RequestFacts;
  /** Call `end` once when the helper's result (e.g. a runner) says the run is over. Must not change it. */
  watchRun(result: unknown, end: (how: RunEnd) => void): void;
  /**
   * Optional: the helper's arguments with each tool function the run may call replaced by what `wrap` returns,
   * on copies (the app's objects are never changed); `undefined` leaves them as they are.
   */
  instrumentTools?(args: readonly unknown[], wrap: WrapTool): unknown[] | undefined;
}

/**
 * Wrap one tool function of a run: `callIdOf` reads the tool call id the model gave this invocation from the
 * arguments the helper calls the function with.
 */
export type WrapTool = (
  name: string,
  fn: (...args: unknown[]) => unknown,
  callIdOf: (args: readonly unknown[]) => string | undefined,
) => (...args: unknown[]) => unknown;

/** A provider: how to recognise its clients and which of their methods to trace. */
export interface ProviderAdapter<Traits = unknown> {
  /** For diagnostics and error messages, e.g. `OpenAI`. */
  readonly displayName: string;
  detect(client: object): boolean;
  describe(client: object, options?: DescribeOptions): ClientDescription<Traits>;
  readonly operations: readonly OperationAdapter<Traits>[];
  /**
   * Resources whose helper methods call back into the client (`this._client....create()`), with no method
   * of their own to trace: wrapping them routes those calls through the observed client.
   */
  readonly routedResourcePaths: readonly (readonly string[])[];
  /**
   * Helpers that make several model requests in one run (openai's `runTools()`): the run gets a span of its
   * own, the parent of each request's span.
   */
  readonly runHelpers?: readonly RunHelperAdapter<Traits>[];
  /** Client methods that return a new client of the same kind (e.g. `withOptions`), observed in turn. */
  readonly derivedClientMethods: readonly string[];
  /**
   * Optional: properties the observed client shows in place of the real client's, decided once when it is
   * observed. SDK helpers that read the client through a traced resource's `_client` see them (the
   * Anthropic adapter uses this to keep the SDK's stream helpers from starting a second span). Never throws.
   */
  clientOverrides?(client: object, spans: CoreSpans): ReadonlyMap<string, unknown> | undefined;
  /**
   * Optional SDK-version hook: the SDK's `APIPromise` of a traced call, before the app gets it. For SDK
   * versions whose promises reach the response by paths of their own (per-instance helpers that do not go
   * through `parseResponse`), route those paths through the core's functions:
   * - `seeData`: hand the parsed response data to the call (only the first one counts);
   * - `filterResponse`: where tokentrace changed the request (asked for a streamed usage chunk), the raw
   *   Response as the app must see it; undefined otherwise.
   */
  readonly observeApiPromise?: (
    promise: object,
    seeData: (data: unknown) => void,
    filterResponse: ((response: unknown) => unknown) | undefined,
  ) => void;
  /**
   * Optional SDK-version hook: the `error.type` of an error the SDK raised, where the SDK's fields say it in a
   * way of its own; undefined to leave it to the generic rules.
   */
  readonly errorType?: (error: unknown) => string | undefined;
}

/** Spans the core makes for an adapter that must hand an SDK one (adapters start no spans themselves). */
export interface CoreSpans {
  /** A span that records nothing and has an invalid context: "start no span here". */
  nonRecording(): Span;
}
