/**
 * The SDK streams tokentrace traces whose call has not ended, so that a stage whose function returns one (or a
 * promise of one) ends when the stream's call ends, not when the stream object is handed back (issue 12). Weak:
 * a stream the app drops leaves nothing here.
 */
export interface StreamEnd {
  readonly ended: boolean;
  /** Run `callback` once, right after the call ended (at once if it has). */
  afterEnd(callback: () => void): void;
}

const openStreams = new WeakMap<object, StreamEnd>();

export function trackStream(stream: object, call: StreamEnd): void {
  openStreams.set(stream, call);
}

/** The call of a traced stream `value` still open, if `value` is one. */
export function openStreamCall(value: unknown): StreamEnd | undefined {
  if (value === null || typeof value !== "object") return undefined;
  const call = openStreams.get(value);
  return call === undefined || call.ended ? undefined : call;
}
