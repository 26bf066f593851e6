import { Transform, pipeline } from "node:stream";
import type { Readable } from "node:stream";
import { reportInternalError } from "./internal/report.js";

/**
 * The raw body of a streamed call whose usage chunk tokentrace asked for (`stream_options.include_usage`),
 * as the server would have sent it without the option: the usage event is dropped and the `"usage":null`
 * field the API adds to every other event is cut out, byte for byte (issue 10). Only an app that reads the
 * raw body (`asResponse()`, `withResponse()` then `response.body`) pays for it; the parsed stream is filtered
 * by the stream accumulator instead. The same rule as there: an event whose JSON has no choices (absent or
 * empty) and a `usage` that is not null is the usage event; `usage: null` elsewhere is the added field.
 *
 * The filter works on whole SSE events (up to a blank line) held as latin1 strings, one character per byte,
 * so what is passed on is exactly the bytes that came, less what was cut. An event it cannot read as JSON,
 * or whose `"usage":null` it cannot place unambiguously, is passed on unchanged.
 */

const EVENT_END = /\r\n\r\n|\n\n|\r\r/g;
/** The top-level field as the API writes it (`,"usage":null` after `choices`), or first in its object. */
const NULL_USAGE_FIELD = /,[ \t]*"usage"[ \t]*:[ \t]*null(?=[ \t]*[,}])|(?<=\{[ \t]*)"usage"[ \t]*:[ \t]*null[ \t]*,/g;

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
export function withoutInjectedUsage<T extends AnyResponse>(response: T): T {
  const source = response.body;
  if (source === null || typeof source !== "object") return response;
  // Only an event stream is filtered: any other body (an error's JSON, a proxy that ignored `stream`) is the
  // server's own, and holding it back until a blank line would change what a raw reader sees and when.
  if (!/^text\/event-stream/i.test(response.headers.get("content-type") ?? "")) return response;
  let body: unknown;
  if (typeof (source as ReadableStream).getReader === "function")
    body = webStream(source as ReadableStream<Uint8Array>);
  else if (typeof (source as Readable).pipe === "function") body = nodeStream(source as Readable);
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

function webStream(source: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  const filter = new EventFilter();
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
function nodeStream(source: Readable): Readable {
  const filter = new EventFilter();
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

/** The body's bytes, event by event, less the injected usage: what a chunk completes is passed on. */
class EventFilter {
  private pending = "";

  /** The bytes of the events `value` completes, filtered; undefined when it completes none. */
  push(value: Uint8Array): Uint8Array | undefined {
    this.pending += Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("latin1");
    let out = "";
    let from = 0;
    EVENT_END.lastIndex = 0;
    for (let match = EVENT_END.exec(this.pending); match !== null; match = EVENT_END.exec(this.pending)) {
      const to = match.index + match[0].length;
      out += filterEvent(this.pending.slice(from, to));
      from = to;
    }
    this.pending = this.pending.slice(from);
    return out === "" ? undefined : toBytes(out);
  }

  /** What is left at the end of the body (an event without its blank line), filtered. */
  end(): Uint8Array | undefined {
    const rest = this.pending;
    this.pending = "";
    if (rest === "") return undefined;
    const out = filterEvent(rest);
    return out === "" ? undefined : toBytes(out);
  }
}

function toBytes(latin1: string): Uint8Array {
  return Buffer.from(latin1, "latin1");
}

/** One SSE event (its lines and the blank line ending it), filtered; unchanged should filtering fail. */
function filterEvent(event: string): string {
  if (!event.includes('"usage"')) return event;
  try {
    return filterUsageEvent(event);
  } catch (error) {
    reportInternalError("raw-stream-filter", error);
    return event;
  }
}

function filterUsageEvent(event: string): string {
  let data: unknown;
  try {
    data = JSON.parse(Buffer.from(dataOf(event), "latin1").toString("utf8"));
  } catch {
    return event;
  }
  if (data === null || typeof data !== "object" || Array.isArray(data) || !("usage" in data)) return event;
  const { usage, choices } = data as { usage: unknown; choices?: unknown };
  if (usage !== null) return !Array.isArray(choices) || choices.length === 0 ? "" : event;
  const matches = event.match(NULL_USAGE_FIELD);
  if (matches?.length !== 1) return event;
  return event.replace(NULL_USAGE_FIELD, "");
}

/** The event's data: its `data:` lines' values joined by newlines (the SSE rule). */
function dataOf(event: string): string {
  const values: string[] = [];
  for (const line of event.split(/\r\n|\n|\r/)) {
    if (!line.startsWith("data:")) continue;
    values.push(line.startsWith("data: ") ? line.slice(6) : line.slice(5));
  }
  return values.join("\n");
}
