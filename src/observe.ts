import { resolveOptions } from "./config.js";
import type { ObserveOptions } from "./config.js";
import { describe } from "./config.js";
import { UnsupportedClientError } from "./errors.js";
import { activeSetup } from "./internal/active-providers.js";
import { traceCall } from "./intercept-call.js";
import type { ClientState } from "./intercept-call.js";
import { anthropicAdapter } from "./providers/anthropic.js";
import { openaiAdapter } from "./providers/openai.js";
import type { OperationAdapter, ProviderAdapter, RunHelperAdapter } from "./providers/types.js";
import { Recorder, outcomeOf } from "./record-call.js";
import type { ActiveCall } from "./record-call.js";
import { reportInternalError } from "./internal/report.js";
import type { Context } from "@opentelemetry/api";

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
  const paths = [...adapter.operations.map((operation) => ({ path: operation.path, operation })), ...adapter.routedResourcePaths.map((path) => ({ path, operation: undefined }))];
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
/** Observed client → its wrapper, so observing twice returns the same wrapper. */
const wrappers = new WeakMap<object, object>();
const isWrapper = new WeakSet<object>();

/**
 * Trace every model call made through `client`.
 *
 * Returns a wrapper of exactly the client's type: same methods, same return objects (the SDK's own
 * `APIPromise` and `Stream`), same errors. Only the methods the provider adapter lists are intercepted;
 * everything else passes straight through to the real client. Observing a client twice returns the same
 * wrapper (with the options of the first call).
 *
 * @throws UnsupportedClientError when `client` is not an OpenAI or Anthropic SDK client.
 * @throws InvalidOptionError when an option has a value tokentrace cannot accept.
 *
 * @example
 * const openai = observe(new OpenAI());
 * await openai.chat.completions.create({ model: "gpt-4o-mini", messages });
 */
export function observe<T extends object>(client: T, options?: ObserveOptions): T {
  if (client === null || (typeof client !== "object" && typeof client !== "function")) {
    throw unsupported(client);
  }
  if (isWrapper.has(client)) return client;
  const existing = wrappers.get(client);
  if (existing !== undefined) return existing as T;

  const adapter = adapters.find((candidate) => candidate.detect(client));
  if (adapter === undefined) throw unsupported(client);
  const setupState = activeSetup();
  const resolved = resolveOptions(options, setupState?.defaults);
  const description = adapter.describe(client, { providerName: resolved.providerName });
  // The user's word wins, whatever the adapter made of it.
  if (resolved.providerName !== undefined) description.providerName = resolved.providerName;
  const state: ClientState = {
    context: {
      client: description,
      captureContent: resolved.captureContent,
      injectStreamUsage: resolved.injectStreamUsage,
    },
    recorder: new Recorder(resolved, description.secrets),
    requestIdHeader: description.requestIdHeader,
    now: resolved.now,
    chunkTimingMetric: resolved.chunkTimingMetric,
  };
  let tree = trees.get(adapter);
  if (tree === undefined) {
    tree = pathTree(adapter);
    trees.set(adapter, tree);
  }
  const wrapper = wrapClient(client, tree, state, adapter, options);
  wrappers.set(client, wrapper);
  isWrapper.add(wrapper);
  return wrapper;
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
  state: ClientState,
  adapter: ProviderAdapter,
  options: ObserveOptions | undefined,
): T {
  const derived = new Set(adapter.derivedClientMethods);
  const overrides = adapter.clientOverrides?.(client);
  const bound = new WeakMap<object, unknown>();
  // A run helper's runner gets a client of its own whose call spans are children of the run's span.
  const runClient = (parent: Context): object =>
    wrapClient(client, tree, { ...state, parentContext: parent }, adapter, options);
  const wrapper: T = new Proxy(client, {
    get(target, property) {
      if (overrides !== undefined && typeof property === "string" && overrides.has(property)) {
        return overrides.get(property);
      }
      // Read with the real client as receiver: the SDK's getters use private #fields.
      const value: unknown = Reflect.get(target, property, target);
      if (typeof property !== "string") return bindTo(value, target, bound);
      const node = tree.children.get(property);
      if (node !== undefined && value !== null && typeof value === "object") {
        return resourceWrapper(value, node, state, wrapper, runClient);
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
  state: ClientState,
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
            function traced(...args: unknown[]): unknown {
              return traceCall(state, operation, method, target, args);
            },
          );
        }
        if (child?.runHelper !== undefined && typeof value === "function") {
          const helper = child.runHelper;
          const method = value as (...args: unknown[]) => unknown;
          return cached(bound, method, () =>
            function tracedRun(...args: unknown[]): unknown {
              return traceRun(state, helper, method, wrapper, runClient, args);
            },
          );
        }
        if (child !== undefined && value !== null && typeof value === "object") {
          return resourceWrapper(value, child, state, clientWrapper, runClient);
        }
      }
      return bindTo(value, wrapper, bound);
    },
  });
  perClient.set(resource, wrapper);
  return wrapper;
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
  let thisArg: object = resourceWrapperOfCall;
  try {
    run = state.recorder.start(helper.start(args[0], state.context), state.now(), state.parentContext);
    let resource: unknown = runClient(run.context);
    for (const key of helper.path.slice(0, -1)) resource = (resource as Record<string, unknown>)[key];
    if (resource !== null && typeof resource === "object") thisArg = resource;
  } catch (error) {
    reportInternalError("run-start", error);
  }
  let result: unknown;
  try {
    result = method.apply(thisArg, args);
  } catch (error) {
    run?.end(outcomeOf(error));
    throw error;
  }
  if (run !== undefined) {
    const active = run;
    try {
      helper.watchRun(result, (how) => {
        if (how === "error") active.record.failure ??= { type: "run_failed", message: "the run ended with an error" };
        active.end(how === "aborted" ? { kind: "aborted" } : { kind: "completed" });
      });
    } catch (error) {
      reportInternalError("run-watch", error);
      active.end({ kind: "completed" });
    }
  }
  return result;
}

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
