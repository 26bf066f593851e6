import { resolveOptions, validateObserveOptions } from "./config.js";
import type { ObserveOptions } from "./config.js";
import { describe } from "./config.js";
import { UnsupportedClientError } from "./errors.js";
import { activeSetup, setupGeneration } from "./internal/active-providers.js";
import { traceCall } from "./intercept-call.js";
import type { ClientState } from "./intercept-call.js";
import { anthropicAdapter } from "./providers/anthropic.js";
import { openaiAdapter } from "./providers/openai.js";
import type { CoreSpans, OperationAdapter, ProviderAdapter, RunHelperAdapter, WrapTool } from "./providers/types.js";
import { startRunScope } from "./stages.js";
import type { RunScope } from "./stages.js";
import { noResponseFacts } from "./call-record.js";
import type { ResponseFacts } from "./call-record.js";
import { Recorder } from "./recorder/call.js";
import type { ActiveCall } from "./recorder/call.js";
import { outcomeOf } from "./recorder/error-class.js";
import { nonRecordingSpan } from "./recorder/lent-span.js";
import { reportInternalError } from "./internal/report.js";
import { context } from "@opentelemetry/api";
import type { Context } from "@opentelemetry/api";
import { HELPER_LINK_KEY, HelperLink, rememberHelper, rememberResult } from "./feedback/call-info.js";

/** Every provider tokentrace knows. The core never branches on which one a client is. */
const adapters: readonly ProviderAdapter[] = [openaiAdapter, anthropicAdapter];

/** Which methods to trace, as a tree of property names from the client. */
interface PathNode {
  operation: OperationAdapter | undefined;
  runHelper?: RunHelperAdapter;
  children: Map<string, PathNode>;
}

function pathTree(adapter: ProviderAdapter): PathNode {
  const root: PathNode = { operation: undefined, children: new Map() };
  const paths = [
    ...adapter.operations.map((operation) => ({ path: operation.path, operation })),
    ...adapter.routedResourcePaths.map((path) => ({ path, operation: undefined })),
  ];
  for (const { path, operation } of paths) {
    let node = root;
    for (const key of path) {
      let child = node.children.get(key);
      if (child === undefined) {
        child = { operation: undefined, children: new Map() };
        node.children.set(key, child);
      }
      node = child;
    }
    node.operation ??= operation;
  }
  for (const helper of adapter.runHelpers ?? []) {
    let node = root;
    for (const key of helper.path) {
      let child = node.children.get(key);
      if (child === undefined) {
        child = { operation: undefined, children: new Map() };
        node.children.set(key, child);
      }
      node = child;
    }
    node.runHelper = helper;
  }
  return root;
}

const trees = new WeakMap<ProviderAdapter, PathNode>();

/**
 * Every wrapper answers this key with the client it wraps and its options. `Symbol.for`, so a wrapper made
 * by another copy of tokentrace (two versions bundled, ESM beside CJS) is recognised too and never wrapped
 * a second time: a call always goes through exactly one tracing layer.
 */
const OBSERVED = Symbol.for("tokentrace.observed");
interface ObservedMarker {
  readonly client: object;
  readonly options: ObserveOptions | undefined;
}

/** Raw client → the wrappers made for it, one per distinct set of options (a few at most). */
const wrappers = new WeakMap<object, { options: ObserveOptions | undefined; wrapper: object }[]>();
const MAX_WRAPPERS_PER_CLIENT = 16;

/**
 * Trace every model call made through `client`.
 *
 * Returns a wrapper of exactly the client's type: same methods, same return objects (the SDK's own
 * `APIPromise` and `Stream`), same errors. Only the methods the provider adapter lists are intercepted;
 * everything else passes straight through to the real client.
 *
 * Observing again: with no options, or the same options, `observe()` returns the same wrapper (for the raw
 * client or for a wrapper alike). With different options it returns a wrapper with those options, laid over
 * the wrapper's own (`observe(observed, { captureContent: false })` keeps the rest), over the same
 * underlying client: never a wrapper of a wrapper, so a call is traced once.
 *
 * Options not given here come from `setup()`, also when `setup()` runs after `observe()` (as ESM import
 * order often makes it): the client resolves its options again on its first call after each `setup()` or
 * `shutdown()`.
 *
 * @throws UnsupportedClientError when `client` is not an OpenAI or Anthropic SDK client, or is frozen.
 * @throws InvalidOptionError when an option has a value tokentrace cannot accept.
 *
 * @example
 * const openai = observe(new OpenAI());
 * await openai.chat.completions.create({ model: "gpt-4o-mini", messages });
 */
export function observe<T extends object>(client: T, options?: ObserveOptions): T {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- JavaScript callers pass anything
  if (client === null || (typeof client !== "object" && typeof client !== "function")) {
    throw unsupported(client);
  }
  validateObserveOptions(options, "options");
  const marker = observedMarker(client);
  const raw = (marker?.client ?? client) as T;
  const effective = marker === undefined ? definedOptions(options) : layer(marker.options, options);
  if (marker !== undefined && sameOptions(marker.options, effective)) return client;
  const known = wrappers.get(raw);
  const existing = known?.find((entry) => sameOptions(entry.options, effective));
  if (existing !== undefined) return existing.wrapper as T;

  const adapter = adapters.find((candidate) => candidate.detect(raw));
  if (adapter === undefined) throw unsupported(raw);
  let tree = trees.get(adapter);
  if (tree === undefined) {
    tree = pathTree(adapter);
    trees.set(adapter, tree);
  }
  const frozen = frozenTracedPath(raw, tree);
  if (frozen !== undefined) {
    throw new UnsupportedClientError(
      `observe() cannot trace a frozen client: \`${frozen}\` is a read-only, non-configurable property, and JavaScript requires a Proxy to return such a property unchanged, so its calls could not be traced. Pass the client to observe() unfrozen (a sealed client is fine).`,
    );
  }
  const source = stateSource(raw, adapter, effective);
  const wrapper = wrapClient(raw, tree, source, adapter, effective);
  if (known === undefined) wrappers.set(raw, [{ options: effective, wrapper }]);
  else if (known.length < MAX_WRAPPERS_PER_CLIENT) known.push({ options: effective, wrapper });
  return wrapper;
}

function observedMarker(value: object): ObservedMarker | undefined {
  let marker: unknown;
  try {
    marker = (value as Record<symbol, unknown>)[OBSERVED];
  } catch {
    return undefined;
  }
  if (marker === null || typeof marker !== "object") return undefined;
  const client = (marker as { client?: unknown }).client;
  return client !== null && typeof client === "object" ? (marker as ObservedMarker) : undefined;
}

/** The options with their `undefined` entries dropped; `undefined` when none is left. */
function definedOptions(options: ObserveOptions | undefined): ObserveOptions | undefined {
  if (options === undefined) return undefined;
  const entries = Object.entries(options).filter(([, value]) => value !== undefined);
  return entries.length === 0 ? undefined : Object.fromEntries(entries);
}

function layer(base: ObserveOptions | undefined, over: ObserveOptions | undefined): ObserveOptions | undefined {
  return definedOptions({ ...base, ...definedOptions(over) });
}

/** Same keys with the same values (`Object.is`: a new `pricing` object or clock is a different option). */
function sameOptions(a: ObserveOptions | undefined, b: ObserveOptions | undefined): boolean {
  const left = Object.entries(definedOptions(a) ?? {});
  const right = (definedOptions(b) ?? {}) as Record<string, unknown>;
  return left.length === Object.keys(right).length && left.every(([key, value]) => Object.is(right[key], value));
}

/**
 * The first traced property (`chat`, `chat.completions`, ...) a Proxy could not replace: an own data
 * property that is neither writable nor configurable (`Object.freeze`). Proxy invariants make `get` return
 * such a property as it is (ECMA-262 §10.5.8), so the wrapper would throw a TypeError on first access.
 */
function frozenTracedPath(client: object, tree: PathNode, prefix = ""): string | undefined {
  for (const [key, child] of tree.children) {
    const descriptor = Object.getOwnPropertyDescriptor(client, key);
    if (descriptor === undefined || !("value" in descriptor)) continue;
    const path = prefix === "" ? key : `${prefix}.${key}`;
    if (descriptor.writable !== true && descriptor.configurable !== true) return path;
    const value: unknown = descriptor.value;
    if (value !== null && typeof value === "object") {
      const inner = frozenTracedPath(value, child, path);
      if (inner !== undefined) return inner;
    }
  }
  return undefined;
}

/** The client's state now: resolved again (a number compare per call) when `setup()` changed the defaults. */
type StateSource = () => ClientState;

function stateSource(client: object, adapter: ProviderAdapter, options: ObserveOptions | undefined): StateSource {
  const resolve = (): ClientState => {
    const resolved = resolveOptions(options, activeSetup()?.defaults);
    const description = adapter.describe(client, { providerName: resolved.providerName });
    // The user's word wins, whatever the adapter made of it.
    if (resolved.providerName !== undefined) description.providerName = resolved.providerName;
    return {
      context: {
        client: description,
        captureContent: resolved.captureContent,
        injectStreamUsage: resolved.injectStreamUsage,
      },
      recorder: new Recorder(resolved, description.secrets, adapter.errorType),
      requestIdHeader: description.requestIdHeader,
      rateLimitHeaders: description.rateLimitHeaders,
      now: resolved.now,
      chunkTimingMetric: resolved.chunkTimingMetric,
      observeApiPromise: adapter.observeApiPromise,
    };
  };
  // Resolved now, so observe() throws for what it can check and the first call does no extra work.
  let state: ClientState = resolve();
  let generation = setupGeneration();
  return () => {
    const current = setupGeneration();
    if (current !== generation) {
      generation = current;
      try {
        state = resolve();
      } catch (error) {
        reportInternalError("resolve-options", error);
      }
    }
    return state;
  };
}

function withParent(source: StateSource, parent: Context): StateSource {
  let base: ClientState | undefined;
  let state: ClientState | undefined;
  return () => {
    const current = source();
    if (current !== base) {
      base = current;
      state = { ...current, parentContext: parent };
    }
    return state ?? current;
  };
}

function unsupported(client: unknown): UnsupportedClientError {
  const supported = adapters.map((adapter) => adapter.displayName).join(", ");
  return new UnsupportedClientError(
    `observe() received ${describe(client)}, which is not a client tokentrace can trace. Supported clients: ${supported}.`,
  );
}

function wrapClient<T extends object>(
  client: T,
  tree: PathNode,
  source: StateSource,
  adapter: ProviderAdapter,
  options: ObserveOptions | undefined,
): T {
  const derived = new Set(adapter.derivedClientMethods);
  const overrides = adapter.clientOverrides?.(client, coreSpans);
  const bound = new WeakMap<object, unknown>();
  const marker: ObservedMarker = { client, options };
  // A run helper's runner gets a client of its own whose call spans are children of the run's span.
  const runClient = (parent: Context): object => wrapClient(client, tree, withParent(source, parent), adapter, options);
  const wrapper: T = new Proxy(client, {
    get(target, property) {
      if (property === OBSERVED) return marker;
      if (overrides !== undefined && typeof property === "string" && overrides.has(property)) {
        return overrides.get(property);
      }
      // Read with the real client as receiver: the SDK's getters use private #fields.
      const value: unknown = Reflect.get(target, property, target);
      if (typeof property !== "string") return bindTo(value, target, bound);
      const node = tree.children.get(property);
      if (node !== undefined && value !== null && typeof value === "object") {
        return resourceWrapper(value, node, source, wrapper, runClient);
      }
      if (derived.has(property) && typeof value === "function") {
        return cached(bound, value, () => (...args: unknown[]) => {
          const result: unknown = (value as (...args: unknown[]) => unknown).apply(target, args);
          return result !== null && typeof result === "object" ? observe(result, options) : result;
        });
      }
      return bindTo(value, target, bound);
    },
  });
  return wrapper;
}

/** One wrapper per SDK resource object per observed client. */
const resourceWrappers = new WeakMap<object, WeakMap<object, object>>();

/**
 * A resource on a traced path (`chat`, `chat.completions`, ...). Its methods run with the wrapper as
 * `this`, and its `_client` is the observed client, so SDK helpers that call back into the client
 * (`chat.completions.parse()` calls `this._client.chat.completions.create()`) are traced too.
 */
function resourceWrapper(
  resource: object,
  node: PathNode,
  source: StateSource,
  clientWrapper: object,
  runClient: (parent: Context) => object,
): object {
  let perClient = resourceWrappers.get(clientWrapper);
  if (perClient === undefined) {
    perClient = new WeakMap();
    resourceWrappers.set(clientWrapper, perClient);
  }
  const existing = perClient.get(resource);
  if (existing !== undefined) return existing;

  const bound = new WeakMap<object, unknown>();
  const wrapper: object = new Proxy(resource, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof property === "string") {
        if (property === "_client") return clientWrapper;
        const child = node.children.get(property);
        if (child?.operation !== undefined && typeof value === "function") {
          const operation = child.operation;
          const method = value as (...args: unknown[]) => unknown;
          return cached(bound, method, () =>
            shapedLike(method, function (...args: unknown[]): unknown {
              return traceCall(source(), operation, method, target, args);
            }),
          );
        }
        if (child?.runHelper !== undefined && typeof value === "function") {
          const helper = child.runHelper;
          const method = value as (...args: unknown[]) => unknown;
          return cached(bound, method, () =>
            shapedLike(method, function (...args: unknown[]): unknown {
              return traceRun(source(), helper, method, wrapper, runClient, args);
            }),
          );
        }
        if (child !== undefined && value !== null && typeof value === "object") {
          return resourceWrapper(value, child, source, clientWrapper, runClient);
        }
        // A helper beside a traced `create` (`chat.completions.stream()` / `.parse()`, `messages.stream()` /
        // `.parse()`, `responses.parse()`): its result names the call it makes, for callInfo() (issue 14).
        const helper = property === "stream" || property === "parse";
        if (helper && child === undefined && typeof value === "function" && tracesCreate(node)) {
          const method = value as (...args: unknown[]) => unknown;
          const byResponseId = property === "parse";
          return cached(bound, method, () =>
            shapedLike(method, function (...args: unknown[]): unknown {
              return callLinked(method, wrapper, args, byResponseId);
            }),
          );
        }
      }
      return bindTo(value, wrapper, bound);
    },
  });
  perClient.set(resource, wrapper);
  return wrapper;
}

function tracesCreate(node: PathNode): boolean {
  return node.children.get("create")?.operation !== undefined;
}

/** `wrapper` with the name and length of the SDK's `method` it stands for, as the bound method would have. */
function shapedLike<F extends (...args: never[]) => unknown>(method: (...args: never[]) => unknown, wrapper: F): F {
  try {
    Object.defineProperty(wrapper, "name", { value: method.name });
    Object.defineProperty(wrapper, "length", { value: method.length });
  } catch (error) {
    reportInternalError("observe", error);
  }
  return wrapper;
}

/**
 * `method` run with a helper link in context, its result remembered by that link; the result as it is.
 * `byResponseId`: a `parse()` helper, whose result is the SDK's copy of the response (see HelperLink).
 */
function callLinked(
  method: (...args: unknown[]) => unknown,
  thisArg: object,
  args: unknown[],
  byResponseId: boolean,
): unknown {
  let link: HelperLink | undefined;
  let linked = context.active();
  try {
    link = new HelperLink(byResponseId);
    linked = linked.setValue(HELPER_LINK_KEY, link);
  } catch (error) {
    reportInternalError("call-info", error);
  }
  const result = context.with(linked, () => method.apply(thisArg, args));
  if (link !== undefined) {
    try {
      rememberHelper(result, link);
    } catch (error) {
      reportInternalError("call-info", error);
    }
  }
  return result;
}

/**
 * One run of a run helper: a span for the run, and the helper called on a per-run copy of the observed
 * client so that every request it makes, however much later, is a child of the run's span.
 */
function traceRun(
  state: ClientState,
  helper: RunHelperAdapter,
  method: (...args: unknown[]) => unknown,
  resourceWrapperOfCall: object,
  runClient: (parent: Context) => object,
  args: unknown[],
): unknown {
  let run: ActiveCall | undefined;
  let scope: RunScope | undefined;
  let thisArg: object = resourceWrapperOfCall;
  let runArgs = args;
  try {
    run = state.recorder.start(helper.start(args[0], state.context), state.now(), state.parentContext);
    const recorder = state.recorder;
    // The run's tools report where its requests do: the client's providers.
    scope = startRunScope(run.span, run.context, {
      tracer: () => recorder.tracer(),
      meter: () => recorder.meter(),
      metricContextKey: () => recorder.metricContextKey(),
      content: () => recorder.contentOptions(),
    });
    let resource: unknown = runClient(scope.context);
    for (const key of helper.path.slice(0, -1)) resource = (resource as Record<string, unknown>)[key];
    if (resource !== null && typeof resource === "object") thisArg = resource;
    if (helper.instrumentTools !== undefined) runArgs = helper.instrumentTools(args, toolWrapper(scope)) ?? args;
  } catch (error) {
    reportInternalError("run-start", error);
  }
  let result: unknown;
  try {
    result = method.apply(thisArg, runArgs);
  } catch (error) {
    scope?.end(true);
    run?.end(outcomeOf(error));
    throw error;
  }
  if (run !== undefined) {
    const active = run;
    const runScope = scope;
    // The runner names the run's span for callInfo() (issue 14).
    try {
      rememberResult(result, active.resultFacts());
    } catch (error) {
      reportInternalError("call-info", error);
    }
    try {
      helper.watchRun(result, (how) => {
        // The roll-ups first: the recorder ends the span.
        runScope?.end(how === "error");
        if (how === "aborted") active.end({ kind: "aborted" });
        else active.end({ kind: "completed" }, how === "error" ? runFailed() : undefined);
      });
    } catch (error) {
      reportInternalError("run-watch", error);
      runScope?.end(false);
      active.end({ kind: "completed" });
    }
  }
  return result;
}

/**
 * A run's tool functions as `execute_tool` stages under the run's span. The wrapper keeps the function's name
 * (helpers fall back to it for the tool's name) and returns what the function returns, errors included.
 */
function toolWrapper(scope: RunScope): WrapTool {
  return (name, fn, callIdOf) => {
    const wrapped = function (this: unknown, ...fnArgs: unknown[]): unknown {
      let callId: string | undefined;
      try {
        callId = callIdOf(fnArgs);
      } catch (error) {
        reportInternalError("run-tool", error);
      }
      return scope.runTool(name, callId, () => fn.apply(this, fnArgs));
    };
    Object.defineProperty(wrapped, "name", { value: fn.name });
    return wrapped;
  };
}

/** A run that ended with an error: the runner reports it to the app its own way, the run's span says so. */
function runFailed(): ResponseFacts {
  return { ...noResponseFacts(), failure: { type: "run_failed", message: "the run ended with an error" } };
}

const coreSpans: CoreSpans = { nonRecording: nonRecordingSpan };

function bindTo(value: unknown, thisArg: object, bound: WeakMap<object, unknown>): unknown {
  if (typeof value !== "function") return value;
  return cached(bound, value, () =>
    // Classes (e.g. error classes hung on a client) must stay constructible: pass them through.
    /^class[\s{]/.test(Function.prototype.toString.call(value))
      ? value
      : (value as (...args: unknown[]) => unknown).bind(thisArg),
  );
}

function cached(store: WeakMap<object, unknown>, key: object, make: () => unknown): unknown {
  let result = store.get(key);
  if (result === undefined) {
    result = make();
    store.set(key, result);
  }
  return result;
}
