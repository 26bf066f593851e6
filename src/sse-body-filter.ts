import { Transform, pipeline } from "node:stream";
import type { Readable } from "node:stream";
import { reportInternalError } from "./internal/report.js";

/**
 * The raw body of a streamed call, rewritten event by event by the operation's adapter (its `rawStreamEvent`
 * hook: for a request the adapter changed, each event as the server would have sent it without the change;
 * issue 10, made generic in issue 11). Only an app that reads the raw body (`asResponse()`, `withResponse()`
 * then `response.body`) pays for it; the parsed stream is filtered by the stream accumulator instead.
 *
 * The filter works on whole SSE events (up to a blank line) held as latin1 strings, one character per byte,
 * so what is passed on is exactly the bytes that came, less what the rewrite cut. An event whose rewrite
 * throws is passed on unchanged.
 */

const EVENT_END = /\r\n\r\n|\n\n|\r\r/g;
/** One raw SSE event (latin1 text, its blank line included) rewritten; `""` drops it. */
export type RawEventRewrite = (event: string) => string;

/** A fetch `Response` (global, or node-fetch's, which older SDK versions use on Node, with a Node stream body). */
interface AnyResponse {
  readonly body: unknown;
  readonly status: number;
  readonly statusText: string;
  readonly headers: Headers;
  readonly url: string;
  readonly redirected: boolean;
  readonly type: string;
}

/**
 * `response` with its body filtered, as a Response of the same class; status, headers (less any
 * `content-length`) and URL kept. The original body is read only when the app reads the new one.
 */
export function withRewrittenEvents<T extends AnyResponse>(response: T, rewrite: RawEventRewrite): T {
  const source = response.body;
  if (source === null || typeof source !== "object") return response;
  // Only an event stream is filtered: any other body (an error's JSON, a proxy that ignored `stream`) is the
  // server's own, and holding it back until a blank line would change what a raw reader sees and when.
  if (!/^text\/event-stream/i.test(response.headers.get("content-type") ?? "")) return response;
  let body: unknown;
  if (typeof (source as ReadableStream).getReader === "function")
    body = webStream(source as ReadableStream<Uint8Array>, rewrite);
  else if (typeof (source as Readable).pipe === "function") body = nodeStream(source as Readable, rewrite);
  else return response;
  const Class = response.constructor as new (body: unknown, init: ResponseInit) => T;
  const headers = new Headers();
  response.headers.forEach((value, name) => {
    if (name !== "content-length") headers.append(name, value);
  });
  const filtered = new Class(body, { status: response.status, statusText: response.statusText, headers });
  for (const name of ["url", "redirected", "type"] as const) {
    Object.defineProperty(filtered, name, { value: response[name], enumerable: true, configurable: true });
  }
  return filtered;
}

function webStream(source: ReadableStream<Uint8Array>, rewrite: RawEventRewrite): ReadableStream<Uint8Array> {
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  const filter = new EventFilter(rewrite);
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        reader ??= source.getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) {
            const rest = filter.end();
            if (rest !== undefined) controller.enqueue(rest);
            controller.close();
            return;
          }
          const out = filter.push(value);
          if (out !== undefined) {
            controller.enqueue(out);
            return;
          }
        }
      },
      // Straight to the source, with the app's reason, as a cancel of the unfiltered body would be: a read in
      // flight settles at once.
      cancel(reason) {
        return reader !== undefined ? reader.cancel(reason) : source.cancel(reason);
      },
      // No read ahead: the original body stays unlocked (withResponse()'s parsed stream may read it instead)
      // until the app reads this one.
    },
    { highWaterMark: 0 },
  );
}

/** A Node stream body (node-fetch): piped through, so a destroy of either end reaches the other. */
function nodeStream(source: Readable, rewrite: RawEventRewrite): Readable {
  const filter = new EventFilter(rewrite);
  const transform = new Transform({
    transform(chunk: Uint8Array, _encoding, done) {
      done(null, filter.push(chunk));
    },
    flush(done) {
      done(null, filter.end());
    },
  });
  pipeline(source, transform, () => undefined);
  return transform;
}

/** The body's bytes, event by event, rewritten: what a chunk completes is passed on. */
class EventFilter {
  private pending = "";

  constructor(private readonly rewrite: RawEventRewrite) {}

  /** The bytes of the events `value` completes, filtered; undefined when it completes none. */
  push(value: Uint8Array): Uint8Array | undefined {
    this.pending += Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("latin1");
    let out = "";
    let from = 0;
    EVENT_END.lastIndex = 0;
    for (let match = EVENT_END.exec(this.pending); match !== null; match = EVENT_END.exec(this.pending)) {
      const to = match.index + match[0].length;
      out += this.filterEvent(this.pending.slice(from, to));
      from = to;
    }
    this.pending = this.pending.slice(from);
    return out === "" ? undefined : toBytes(out);
  }

  /** One SSE event (its lines and the blank line ending it), rewritten; unchanged should the rewrite fail. */
  private filterEvent(event: string): string {
    try {
      return this.rewrite(event);
    } catch (error) {
      reportInternalError("raw-stream-filter", error);
      return event;
    }
  }

  /** What is left at the end of the body (an event without its blank line), filtered. */
  end(): Uint8Array | undefined {
    const rest = this.pending;
    this.pending = "";
    if (rest === "") return undefined;
    const out = this.filterEvent(rest);
    return out === "" ? undefined : toBytes(out);
  }
}

function toBytes(latin1: string): Uint8Array {
  return Buffer.from(latin1, "latin1");
}
