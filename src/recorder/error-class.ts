import { errorType, isUserAbort } from "../error-facts.js";

/**
 * Error classification: how a call ended (`outcomeOf`), and the `error.type` of a failed one. An adapter may
 * name an SDK's errors its own way (`ProviderAdapter.errorType`); the generic rules of `error-facts.ts` decide
 * the rest.
 */

/** How a call ended. */
export type CallOutcome =
  | { kind: "completed" }
  | { kind: "error"; error: unknown }
  /** The app stopped reading a stream early (`break`, `return()`). */
  | { kind: "cancelled" }
  /** The app aborted the request (`controller.abort()`, an AbortSignal). */
  | { kind: "aborted" }
  /** The app dropped the result without reading it; noticed when it was garbage-collected. */
  | { kind: "abandoned" };

/** A user's abort (the SDK's APIUserAbortError, a DOM AbortError) is not a failure of the call. */
export function outcomeOf(error: unknown): CallOutcome {
  return isUserAbort(error) ? { kind: "aborted" } : { kind: "error", error };
}

/** `error.type` of an error: the adapter's word first, where it has one, else the generic rules. */
export type ErrorClassifier = (error: unknown) => string;

export function errorClassifier(adapterErrorType?: (error: unknown) => string | undefined): ErrorClassifier {
  if (adapterErrorType === undefined) return errorType;
  return (error) => adapterErrorType(error) ?? errorType(error);
}
