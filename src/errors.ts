/*
 * Errors that tokentrace throws. Only misuse at set-up throws (an unsupported client, an invalid option);
 * nothing on the call path ever throws into application code.
 */

/** Base class of every error tokentrace throws. */
export class TokentraceError extends Error {
  override name: string = "TokentraceError";

  // eslint-disable-next-line @typescript-eslint/no-useless-constructor -- narrows Error's signature: a message is required.
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** `observe()` was given something that is not a client tokentrace knows how to trace. */
export class UnsupportedClientError extends TokentraceError {
  override name = "UnsupportedClientError" as const;
}

/** An option passed to `observe()` or `setup()` has a value tokentrace cannot accept. */
export class InvalidOptionError extends TokentraceError {
  override name = "InvalidOptionError" as const;

  /** The option's path, e.g. `maxContentLength` or `pricing.models.my-model.inputPerMillion`. */
  readonly option: string;

  constructor(option: string, message: string, options?: { cause?: unknown }) {
    super(`Invalid tokentrace option \`${option}\`: ${message}`, options);
    this.option = option;
  }
}

const errorNames: ReadonlySet<string> = new Set(["TokentraceError", "UnsupportedClientError", "InvalidOptionError"]);

/**
 * True for any error tokentrace threw. Checks `name` as well as `instanceof`, so it also recognises errors
 * from another copy of the package (an app that bundles two versions, or mixes ESM and CJS).
 */
export function isTokentraceError(value: unknown): value is TokentraceError {
  if (value instanceof TokentraceError) return true;
  return value instanceof Error && errorNames.has(value.name);
}
