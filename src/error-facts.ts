import * as names from "./semconv.js";

/**
 * What the recorder may say about an error: its `error.type`, and the text recorded in `exception.message`,
 * `exception.stacktrace` and the span status. Nothing here reads `constructor.name`: minified bundles rename
 * classes (issue 10), so types come from the fields the SDKs set, the way the SDKs themselves pick a class.
 */

/** A failure the provider reported in its payload (ResponseFacts.failure), as an outcome's error. */
export class ProviderFailure extends Error {
  constructor(
    readonly type: string,
    message: string | undefined,
  ) {
    super(message ?? type);
    this.name = "ProviderFailure";
  }
}

/** The class the supported SDKs make for an HTTP status (`APIError.generate`), where they do not name it themselves. */
function statusClass(status: number): string {
  switch (status) {
    case 400:
      return "BadRequestError";
    case 401:
      return "AuthenticationError";
    case 403:
      return "PermissionDeniedError";
    case 404:
      return "NotFoundError";
    case 409:
      return "ConflictError";
    case 422:
      return "UnprocessableEntityError";
    case 429:
      return "RateLimitError";
    default:
      return status >= 500 ? "InternalServerError" : "APIError";
  }
}

interface ErrorFields {
  status?: unknown;
  headers?: unknown;
  error?: unknown;
  type?: unknown;
  code?: unknown;
  name?: unknown;
  message?: unknown;
  cause?: unknown;
}

/** `name` when it says more than `Error` (SDKs that name their classes themselves, DOM errors, TypeError). */
function specificName(fields: ErrorFields): string | undefined {
  const name = fields.name;
  return typeof name === "string" && name !== "" && name !== "Error" ? name : undefined;
}

/** Codes and types worth keeping without the text: short identifiers, never free text a server echoed. */
export const identifier = /^[\w.:-]{1,64}$/;

/**
 * `error.type`: the SDK error class the error's fields stand for (`RateLimitError` for a 429), else its
 * `name`. An error that arrived as an event inside a stream (the SDKs' base `APIError` with no HTTP status,
 * built from the event's body) is named by the event's own error type instead (e.g. `overloaded_error`).
 */
export function errorType(error: unknown): string {
  // A failure reported as data carries the payload's own code: kept only as a short identifier, like the
  // server's codes below, since it lands in `error.type`, the status message and a metric attribute set.
  if (error instanceof ProviderFailure) return identifier.test(error.type) ? error.type : "_OTHER";
  if (error === null || typeof error !== "object") return "_OTHER";
  const fields = error as ErrorFields;
  const name = specificName(fields);
  const status = fields.status;
  if (typeof status === "number" && Number.isInteger(status) && status > 0) {
    // An SDK may have more classes than the table (402, 408, 529, ...) and name each in `name`.
    return name !== undefined && name !== "APIError" ? name : statusClass(status);
  }
  // The SDKs' APIError always has these own fields, set (possibly to undefined) by its constructor.
  if ("status" in error && "headers" in error && "error" in error) {
    const { type } = fields;
    if (fields.error !== undefined && fields.error !== null) {
      // Both come from the server's body: kept only when they are short identifiers, never free text that
      // would land in `error.type`, the status message and a metric attribute set.
      if (typeof type === "string" && identifier.test(type)) return type;
      return name ?? "APIError";
    }
    if (name !== undefined) return name;
    // No body and no status: one of the errors the clients raise themselves, each with its fixed message.
    if (fields.message === "Request was aborted.") return "APIUserAbortError";
    if (fields.message === "Request timed out.") return "APIConnectionTimeoutError";
    if (fields.message === "Connection error." || fields.cause !== undefined) return "APIConnectionError";
    return "APIError";
  }
  if (name !== undefined) return name;
  return error instanceof Error ? "Error" : "_OTHER";
}

/** A user's abort (the SDK's APIUserAbortError, a DOM AbortError): not a failure of the call. */
export function isUserAbort(error: unknown): boolean {
  // Read from the app's own thrown value on its way back to the app: an odd value (a getter that throws, a
  // revoked proxy) must not replace the app's error with tokentrace's.
  try {
    return (error as { name?: unknown } | null)?.name === "AbortError" || errorType(error) === "APIUserAbortError";
  } catch {
    return false;
  }
}

/** What a recorded exception says. */
export interface ErrorText {
  /** `exception.message` and the span's status message. */
  message: string;
  /** `exception.stacktrace`, or undefined when the error has none. */
  stack: string | undefined;
}

/**
 * The text an error is recorded with. Servers echo what they received in error bodies (the key in a 401, the
 * prompt in a 400), so:
 * - with content capture off, no provider-supplied text at all: a neutral message of the error's type, HTTP
 *   status, code and type (`RateLimitError: HTTP 429, code rate_limit_exceeded`), and the stack's frames
 *   under that message;
 * - with capture on, the error's own text.
 * Either way each text passes through `clean` (the redaction pipeline), told the attribute it goes into.
 */
export function errorText(
  error: unknown,
  type: string,
  captureContent: boolean,
  clean: (text: string, attribute: string) => string,
): ErrorText {
  const fields = (error !== null && typeof error === "object" ? error : {}) as ErrorFields;
  const rawMessage =
    error instanceof Error ? error.message : typeof fields.message === "string" ? fields.message : undefined;
  const rawStack = error instanceof Error && typeof error.stack === "string" ? error.stack : undefined;
  if (captureContent) {
    return {
      message: clean(rawMessage ?? String(error), names.ATTR_EXCEPTION_MESSAGE),
      stack: rawStack === undefined ? undefined : clean(rawStack, names.ATTR_EXCEPTION_STACKTRACE),
    };
  }
  const facts: string[] = [];
  const status = fields.status;
  if (typeof status === "number" && Number.isInteger(status)) facts.push(`HTTP ${status}`);
  const code = fields.code;
  if (typeof code === "string" && identifier.test(code) && code !== type) facts.push(`code ${code}`);
  const kind = fields.type;
  if (typeof kind === "string" && identifier.test(kind) && kind !== type) facts.push(`type ${kind}`);
  const message = clean(facts.length > 0 ? `${type}: ${facts.join(", ")}` : type, names.ATTR_EXCEPTION_MESSAGE);
  const frames = rawStack === undefined ? undefined : clean(framesOf(rawStack), names.ATTR_EXCEPTION_STACKTRACE);
  return { message, stack: frames === undefined ? undefined : `${message}\n${frames}` };
}

/** The stack's frames without its first lines, which repeat the message (however many lines it has). */
function framesOf(stack: string): string {
  const start = stack.search(/\n\s+at /);
  return start < 0 ? "" : stack.slice(start + 1);
}
