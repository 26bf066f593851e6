import { context } from "@opentelemetry/api";
import type { Context } from "@opentelemetry/api";
import type { CallContext, OperationAdapter, PreparedCall, ProviderAdapter } from "./providers/types.js";
import type { ActiveCall, Recorder } from "./recorder/call.js";
import { outcomeOf } from "./recorder/error-class.js";
import { contentAllowedIn } from "./app-context.js";
import { linkCall, rememberResult } from "./feedback/call-info.js";
import { trackStream } from "./internal/open-streams.js";
import { reportInternalError } from "./internal/report.js";
import { readRateLimits } from "./signals/rate-limits.js";
import type { RateLimitHeaders } from "./signals/rate-limits.js";
import { withRewrittenEvents } from "./sse-body-filter.js";
import type { RawEventRewrite } from "./sse-body-filter.js";
import { isSdkStream, traceStream } from "./stream-wrapper.js";

/** What an observed client decided once, shared by all its calls. */
export interface ClientState {
  readonly context: CallContext;
  readonly recorder: Recorder;
  readonly requestIdHeader: string;
  /** The provider's rate-limit headers, if it sends some. */
  readonly rateLimitHeaders: RateLimitHeaders | undefined;
  readonly now: () => number;
  /** Aggregate chunk gaps for `gen_ai.client.operation.time_per_output_chunk`. */
  readonly chunkTimingMetric: boolean;
  /**
   * Parent of this client's call spans instead of the active context: set on the per-run client a run
   * helper hands its runner, whose requests happen on later ticks, out of reach of `context.with`.
   */
  readonly parentContext?: Context;
  /** The adapter's SDK-version hook for the SDK's promises (`ProviderAdapter.observeApiPromise`). */
  readonly observeApiPromise: ProviderAdapter["observeApiPromise"];
}

/**
 * The parts of the SDKs' `APIPromise` that tokentrace relies on. The supported SDKs keep the response promise
 * and the parser as instance fields, which lets tokentrace observe the call on the very object the app
 * receives, instead of handing back a look-alike. Paths of an SDK version's own are the adapter's
 * (`ProviderAdapter.observeApiPromise`).
 */
interface SdkApiPromise {
  responsePromise: Promise<ResponseProps>;
  parseResponse: (...args: unknown[]) => Promise<unknown>;
  asResponse?: () => Promise<unknown>;
  parsedPromise?: unknown;
}

interface ResponseProps {
  response?: Response;
  /** openai 5+ and @anthropic-ai/sdk: the SDK's log id of the first attempt, when this response is a retry's. */
  retryOfRequestLogID?: unknown;
}

function isSdkApiPromise(value: unknown): value is SdkApiPromise {
  if (value === null || typeof value !== "object") return false;
  const candidate = value as Partial<SdkApiPromise>;
  return typeof candidate.parseResponse === "function" && typeof candidate.responsePromise?.then === "function";
}

/** Call one traced SDK method. Returns exactly what the SDK returned; rethrows exactly what it threw. */
export function traceCall(
  state: ClientState,
  operation: OperationAdapter,
  method: (...args: unknown[]) => unknown,
  target: object,
  args: unknown[],
): unknown {
  let prepared: PreparedCall;
  let call: ActiveCall;
  try {
    // A withContext({ captureContent: false }) scope: this call records no content, whatever the client says.
    if (state.context.captureContent && !contentAllowedIn(state.parentContext ?? context.active())) {
      state = withoutContent(state);
    }
    // The span starts where the call's clock starts (issue 10): both read here, together.
    const startEpochMs = Date.now();
    const startMs = state.now();
    prepared = operation.prepare(args[0], state.context);
    call = state.recorder.start(
      prepared.facts,
      startMs,
      state.parentContext,
      startEpochMs,
      state.context.captureContent,
    );
  } catch (error) {
    reportInternalError("prepare", error);
    return method.apply(target, args);
  }

  let callArgs = prepared.body === args[0] ? args : [prepared.body, ...args.slice(1)];
  if (operation.bindCall !== undefined) {
    try {
      callArgs = operation.bindCall(callArgs, call, state.context);
    } catch (error) {
      reportInternalError("bind-call", error);
    }
  }
  let result: unknown;
  try {
    // Run the SDK under the call's span so HTTP instrumentation below it nests correctly.
    result = context.with(call.context, () => method.apply(target, callArgs));
  } catch (error) {
    call.end(outcomeOf(error));
    throw error;
  }

  try {
    if (isSdkApiPromise(result)) {
      observeApiPromise(result, state, operation, prepared, call);
    } else {
      // Not an SDK promise (an SDK version we do not know): leave it alone, end the span now.
      call.end({ kind: "completed" });
    }
  } catch (error) {
    reportInternalError("observe-result", error);
    call.end({ kind: "completed" });
  }
  return result;
}

/** The provider's rate-limit headers among `headers`, for the call's span and the headroom gauges (issue 15). */
function noteRateLimits(headers: unknown, state: ClientState, call: ActiveCall): void {
  const spec = state.rateLimitHeaders;
  if (spec === undefined) return;
  const read = readRateLimits(headers, spec, Date.now);
  if (read !== undefined) call.setRateLimits(read.readings, read.receivedAtEpochMs);
}

const contentless = new WeakMap<ClientState, ClientState>();

/** The client's state with content capture off, made once per state. */
function withoutContent(state: ClientState): ClientState {
  let off = contentless.get(state);
  if (off === undefined) {
    off = { ...state, context: { ...state.context, captureContent: false } };
    contentless.set(state, off);
  }
  return off;
}

function observeApiPromise(
  promise: SdkApiPromise,
  state: ClientState,
  operation: OperationAdapter,
  prepared: PreparedCall,
  call: ActiveCall,
): void {
  let rawResponseRequested = false;

  const onResponse = (props: ResponseProps | undefined): void => {
    const response = props?.response;
    if (response === undefined) return;
    // The transport facts, once, from the Response the SDK received.
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- a fetch polyfill's Response may have no headers
    call.setTransport(response.status, response.headers?.get(state.requestIdHeader) ?? undefined);
    try {
      noteRateLimits(response.headers, state, call);
    } catch (error) {
      reportInternalError("rate-limits", error);
    }
    // The SDK retried before this response (how many times it does not say).
    if (typeof props?.retryOfRequestLogID === "string") call.retried = true;
    if (rawResponseRequested) readRawResponse(response, state, operation, prepared, call);
    // The app that awaits the call has asked for its parse by now, and the parse ends the call. Only a
    // promise nobody has asked to parse yet may be dropped unread: watch it from here, not for every call.
    else if (promise.parsedPromise === undefined) call.watch(promise);
  };

  // A side branch, not a replacement: every path to the response (parse(), asResponse(), withResponse(),
  // and an SDK version's per-instance helpers that hold the original promise) still sees the SDK's own promise.
  // Attached now, before any handler of the app, so a raw Response is copied before the app reads it.
  promise.responsePromise.then(
    (props) => {
      try {
        onResponse(props);
      } catch (error) {
        reportInternalError("response", error);
      }
    },
    (error: unknown) => {
      // An API error (a 429 above all) carries the response's headers.
      if (error !== null && typeof error === "object" && "headers" in error) {
        try {
          noteRateLimits(error.headers, state, call);
        } catch (failure) {
          reportInternalError("rate-limits", failure);
        }
      }
      call.end(outcomeOf(error));
    },
  );

  let dataSeen = false;
  const seeData = (data: unknown): void => {
    if (dataSeen) return;
    dataSeen = true;
    try {
      onData(data, state, operation, prepared, call);
    } catch (error) {
      reportInternalError("read-response", error);
      call.end({ kind: "completed" });
    }
  };
  const seeError = (error: unknown): never => {
    call.end(outcomeOf(error));
    throw error;
  };

  const parseResponse = promise.parseResponse;
  promise.parseResponse = function tracedParseResponse(this: unknown, ...parseArgs: unknown[]) {
    return parseResponse.apply(this, parseArgs).then((data) => {
      seeData(data);
      return data;
    }, seeError);
  };

  // asResponse() alone hands the raw Response to the app and never parses it; read a copy instead.
  // withResponse() calls parse() first, so it is not mistaken for this.
  // Where tokentrace asked for the usage chunk, the request is sent by the time the app can ask for the raw
  // body, so the body is filtered instead (issue 10): withResponse() goes through asResponse() too, and its
  // Response then is a filtered one over the same body, read only if the app reads it (the parsed stream
  // reads the original, and is filtered by its accumulator).
  // The adapter's rewrite of the raw events, where its request change shows in them (decided once per call).
  const rewrite = prepared.injectedStreamUsage ? operation.rawStreamEvent : undefined;
  const filterBody =
    rewrite === undefined ? undefined : (response: unknown): unknown => filteredResponse(response, rewrite);
  const asResponse = promise.asResponse;
  if (typeof asResponse === "function") {
    promise.asResponse = function tracedAsResponse(this: SdkApiPromise) {
      if (this.parsedPromise === undefined) rawResponseRequested = true;
      const response = asResponse.call(this);
      return filterBody === undefined ? response : response.then(filterBody);
    };
  }

  if (state.observeApiPromise !== undefined) {
    try {
      state.observeApiPromise(promise, seeData, filterBody);
    } catch (error) {
      reportInternalError("observe-promise", error);
    }
  }
}

/** One filtered Response per original, so `asResponse()` called again returns the same object, as the SDK's does. */
const filteredResponses = new WeakMap<object, unknown>();

function filteredResponse(response: unknown, rewrite: RawEventRewrite): unknown {
  try {
    if (!isResponse(response)) return response;
    let filtered = filteredResponses.get(response);
    if (filtered === undefined) {
      filtered = withRewrittenEvents(response, rewrite);
      filteredResponses.set(response, filtered);
    }
    return filtered;
  } catch (error) {
    reportInternalError("raw-stream-filter", error);
    return response;
  }
}

function isResponse(value: unknown): value is Response {
  const candidate = value as Partial<Response> | null;
  return (
    typeof candidate?.headers?.forEach === "function" && typeof candidate.status === "number" && "body" in candidate
  );
}

function onData(
  data: unknown,
  state: ClientState,
  operation: OperationAdapter,
  prepared: PreparedCall,
  call: ActiveCall,
): void {
  if (call.ended) return;
  // What the app gets back names its call for callInfo() (issue 14).
  try {
    const facts = call.resultFacts();
    rememberResult(data, facts);
    linkCall(call.context, facts);
  } catch (error) {
    reportInternalError("call-info", error);
  }
  if (prepared.facts.stream && isSdkStream(data)) {
    traceStream(
      data,
      call,
      operation.createStreamAccumulator(prepared, state.context),
      state.now,
      state.chunkTimingMetric,
    );
    // From here the stream, not the promise, is what the app holds on to.
    call.watch(data);
    // A stage whose function returns this stream ends when the stream's call does.
    trackStream(data, call);
    return;
  }
  call.end({ kind: "completed" }, operation.readResponse(data, prepared, state.context));
}

function readRawResponse(
  response: Response,
  state: ClientState,
  operation: OperationAdapter,
  prepared: PreparedCall,
  call: ActiveCall,
): void {
  if (call.request.stream || typeof response.clone !== "function") {
    call.end({ kind: "completed" });
    return;
  }
  response
    .clone()
    .json()
    .then(
      (data: unknown) => {
        let facts;
        try {
          facts = operation.readResponse(data, prepared, state.context);
        } catch (error) {
          reportInternalError("read-response", error);
        }
        call.end({ kind: "completed" }, facts);
      },
      () => call.end({ kind: "completed" }),
    );
}
