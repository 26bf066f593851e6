import { identifier } from "../error-facts.js";
import { isObject } from "./json.js";

/**
 * What differs between versions of the `openai` package, as the OpenAI adapter's hooks
 * (`ProviderAdapter.observeApiPromise`, `ProviderAdapter.errorType`): the core names no SDK version.
 */

/** The parts of openai v7's `APIPromise` that hold the original request: its own helpers, not the prototype's. */
interface OwnPromiseHelpers {
  _thenUnwrap?: (transform: (data: unknown, props: unknown) => unknown) => unknown;
  withResponse?: (...args: unknown[]) => Promise<unknown>;
}

const hasOwn = (target: object, key: string): boolean => Object.prototype.hasOwnProperty.call(target, key);

export function observeOpenAIApiPromise(
  target: object,
  seeData: (data: unknown) => void,
  filterResponse: ((response: unknown) => unknown) | undefined,
): void {
  const promise = target as OwnPromiseHelpers;
  // openai v7 gives each promise its own `_thenUnwrap` that parses from the original request, not through
  // `parseResponse`; helpers such as `chat.completions.parse()` build on it.
  const thenUnwrap = hasOwn(target, "_thenUnwrap") ? promise._thenUnwrap : undefined;
  if (typeof thenUnwrap === "function") {
    promise._thenUnwrap = function tracedThenUnwrap(
      this: unknown,
      transform: (data: unknown, props: unknown) => unknown,
    ) {
      return thenUnwrap.call(this, (data: unknown, props: unknown) => {
        seeData(data);
        return transform(data, props);
      });
    };
  }
  // openai v7 gives each promise its own withResponse(), which takes the Response from the request itself,
  // not through asResponse(): where the body must be filtered, filter it here.
  const ownWithResponse = hasOwn(target, "withResponse") ? promise.withResponse : undefined;
  if (filterResponse !== undefined && typeof ownWithResponse === "function") {
    promise.withResponse = function tracedWithResponse(this: unknown, ...withArgs: unknown[]) {
      return ownWithResponse
        .apply(this, withArgs)
        .then((result) => (isObject(result) ? { ...result, response: filterResponse(result["response"]) } : result));
    };
  }
}

/**
 * openai v7 gives an `error` event's APIError the literal type "error": its code says more. Only for an
 * APIError built from a body (the SDKs' APIError always has own `status`, `headers` and `error` fields) with
 * no HTTP status.
 */
export function openaiErrorType(error: unknown): string | undefined {
  if (!isObject(error) || !("status" in error && "headers" in error && "error" in error)) return undefined;
  const { status, type, code } = error;
  if (typeof status === "number" && Number.isInteger(status) && status > 0) return undefined;
  if (error["error"] === undefined || error["error"] === null) return undefined;
  return type === "error" && typeof code === "string" && identifier.test(code) ? code : undefined;
}
