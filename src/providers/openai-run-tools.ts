/*
 * openai's `runTools()` calls the app's tool functions itself: tokentrace gives each call an `execute_tool` span
 * under the run, with the tool call id the model sent. The helper passes a tool function the arguments and the
 * runner, never the tool call, so the id is read from the runner's messages: the assistant message whose tool
 * calls are running is the last one before this round's tool results.
 *
 * Every openai major (v4 to v7) builds its tool table from `params.tools`: `{ type: "function", function: {
 * function, parse?, name?, ... } }` objects, and v5+'s auto-parseable tools (`zodFunction`, with a `$callback`).
 * tokentrace hands the helper copies of the params and of each tool with the function wrapped; the app's objects
 * are not changed, and what the helper sends the model (names, descriptions, parameters) is the same.
 */
import { isObject } from "./json.js";
import { MAX_TOOL_CALLS_PER_CHOICE } from "./payload-bounds.js";
import type { WrapTool } from "./types.js";

type ToolFunction = (...args: unknown[]) => unknown;

/** `runTools(params, options)`'s arguments with each tool function wrapped; undefined when there are none. */
export function instrumentRunTools(args: readonly unknown[], wrap: WrapTool): unknown[] | undefined {
  const params = args[0];
  if (!isObject(params) || !Array.isArray(params["tools"])) return undefined;
  // Tool call ids already given to an invocation, per assistant message of this run.
  const claimed: Claims = new WeakMap();
  const tools = params["tools"].map((tool: unknown) => instrumentTool(tool, wrap, claimed));
  return [{ ...params, tools }, ...args.slice(1)];
}

function instrumentTool(tool: unknown, wrap: WrapTool, claimed: Claims): unknown {
  if (!isObject(tool)) return tool;
  const definition = tool["function"];
  const declaredName = isObject(definition) && typeof definition["name"] === "string" ? definition["name"] : "";
  // An auto-parseable tool (zodFunction): the helper calls its `$callback`.
  const callback = tool["$callback"];
  if (tool["$brand"] === "auto-parseable-tool" && typeof callback === "function") {
    const fn = callback as ToolFunction;
    return copyWith(
      tool,
      "$callback",
      wrap(declaredName || fn.name, fn, (fnArgs) => toolCallId(declaredName, fnArgs, claimed)),
    );
  }
  if (tool["type"] !== "function" || !isObject(definition) || typeof definition["function"] !== "function") return tool;
  const fn = definition["function"] as ToolFunction;
  // The helpers' own fallback when the tool has no name: the function's name (the wrapper keeps it).
  const name = declaredName || fn.name;
  return copyWith(
    tool,
    "function",
    copyWith(
      definition,
      "function",
      wrap(name, fn, (fnArgs) => toolCallId(name, fnArgs, claimed)),
    ),
  );
}

/** A copy of `object` (same prototype, same properties, non-enumerable ones included) with `key` set to `value`. */
function copyWith(object: Record<string, unknown>, key: string, value: unknown): object {
  const descriptors = Object.getOwnPropertyDescriptors(object);
  const enumerable = descriptors[key]?.enumerable ?? true;
  descriptors[key] = { value, enumerable, writable: true, configurable: true };
  return Object.create(Object.getPrototypeOf(object) as object | null, descriptors) as object;
}

/** Tool call ids already given to an invocation, per assistant message: two calls of one tool get two ids. */
type Claims = WeakMap<object, Set<string>>;

/**
 * The id of the tool call a tool function was called for: the first not yet claimed of the running assistant
 * message's calls of that tool, preferring one whose raw arguments are those the function got. Bounded by the
 * choice's tool-call bound whatever the message holds.
 */
function toolCallId(name: string, fnArgs: readonly unknown[], claimed: Claims): string | undefined {
  const runner = fnArgs[1];
  const messages = isObject(runner) ? runner["messages"] : undefined;
  if (!Array.isArray(messages)) return undefined;
  let message: unknown;
  const stop = Math.max(0, messages.length - 1 - MAX_TOOL_CALLS_PER_CHOICE);
  for (let index = messages.length - 1; index >= stop; index--) {
    const candidate: unknown = messages[index];
    if (isObject(candidate) && candidate["role"] === "tool") continue;
    message = candidate;
    break;
  }
  if (!isObject(message) || message["role"] !== "assistant" || !Array.isArray(message["tool_calls"])) return undefined;
  const calls = message["tool_calls"] as unknown[];
  let taken = claimed.get(message);
  if (taken === undefined) {
    taken = new Set();
    claimed.set(message, taken);
  }
  const rawArguments = typeof fnArgs[0] === "string" ? fnArgs[0] : undefined;
  let first: string | undefined;
  let exact: string | undefined;
  for (let index = 0; index < calls.length && index < MAX_TOOL_CALLS_PER_CHOICE; index++) {
    const call: unknown = calls[index];
    if (!isObject(call) || typeof call["id"] !== "string" || taken.has(call["id"])) continue;
    const fn = call["function"];
    if (!isObject(fn) || fn["name"] !== name) continue;
    first ??= call["id"];
    if (rawArguments === undefined || fn["arguments"] === rawArguments) {
      exact = call["id"];
      break;
    }
  }
  const id = exact ?? first;
  if (id !== undefined) taken.add(id);
  return id;
}
