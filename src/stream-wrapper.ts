import type { ActiveCall } from "./recorder/call.js";
import type { StreamAccumulator } from "./providers/types.js";
import { reportInternalError } from "./internal/report.js";
import { StreamTiming } from "./metrics/timing.js";
import { outcomeOf } from "./recorder/error-class.js";
import type { CallOutcome } from "./recorder/error-class.js";

/** The parts of an SDK `Stream` that tokentrace relies on. */
interface SdkStream {
  iterator: () => AsyncIterator<unknown>;
  controller?: { signal?: AbortSignal };
}

export function isSdkStream(value: unknown): value is SdkStream {
  return (
    value !== null && typeof value === "object" && typeof (value as { iterator?: unknown }).iterator === "function"
  );
}

/**
 * Trace an SDK stream in place: the app keeps the very same `Stream` object. Its `iterator` (which
 * `for await`, `tee()` and `toReadableStream()` all go through) is replaced by one that hands every
 * chunk to the accumulator and ends the call exactly once: on completion, error, early `break`, or abort.
 *
 * The iterator is a plain object rather than an async generator, and returns the SDK's own result
 * objects. Where the accumulator can never hide a chunk (decided once, per stream), `next()` returns the
 * SDK's own promise and tokentrace reads the result beside the app (its handler, attached first, runs
 * first). Where it may (a stream whose usage chunk tokentrace asked for), every result passes
 * through one `then` that can swap a hidden chunk for the next one, from the first chunk on: whether a
 * chunk is hidden is decided from the chunk alone, and a server may send it at any point (issue 10).
 */
export function traceStream(
  stream: SdkStream,
  call: ActiveCall,
  accumulator: StreamAccumulator,
  now: () => number,
  aggregateChunkGaps: boolean,
): void {
  const timing = new StreamTiming(call.startMs, aggregateChunkGaps);
  // The recorder finishes the accumulator when the call ends, however it ends (the garbage-collection safety
  // net included): it holds the accumulator and the timing, never a closure over the stream.
  call.streamStarted(accumulator, timing);
  stream.iterator = tracedIteratorFactory(stream.iterator, stream.controller?.signal, call, accumulator, timing, now);
}

function tracedIteratorFactory(
  original: () => AsyncIterator<unknown>,
  signal: AbortSignal | undefined,
  call: ActiveCall,
  accumulator: StreamAccumulator,
  timing: StreamTiming,
  now: () => number,
): () => AsyncIterator<unknown> {
  return function tracedIterator(this: unknown): AsyncIterator<unknown> {
    const inner = original.call(this);
    /** Reads one result; false when the chunk must be hidden from the app. */
    const see = (result: IteratorResult<unknown>): boolean => {
      try {
        if (result.done) {
          call.end(signal?.aborted ? ABORTED : COMPLETED);
          return true;
        }
        // A failing clock must not skip the accumulator: it is what hides the chunks tokentrace asked for.
        const atMs = readClock(now, timing.lastChunkMs >= 0 ? timing.lastChunkMs : timing.startMs);
        const visible = accumulator.add(result.value, atMs);
        // A hidden chunk (one that exists only because tokentrace asked for it) is not counted in the timing.
        if (visible) timing.onChunk(atMs);
        return visible;
      } catch (error) {
        reportInternalError("stream-chunk", error);
        return true;
      }
    };
    const fail = (error: unknown): void => {
      // Not the signal: the SDK aborts its own controller while unwinding from any failure.
      call.end(outcomeOf(error));
    };
    const rethrow = (error: unknown): never => {
      fail(error);
      throw error;
    };
    const onResult = (result: IteratorResult<unknown>): IteratorResult<unknown> | Promise<IteratorResult<unknown>> =>
      see(result) ? result : inner.next().then(onResult, rethrow);

    let next: () => Promise<IteratorResult<unknown>>;
    if (!accumulator.mayHideChunks) {
      next = () => {
        const result = inner.next();
        // A side branch: the app awaits the SDK's own promise, and its rejection stays the app's to handle.
        // `see` runs before the app's handlers (attached first), and in call order when the app asks early.
        result.then(see, fail);
        return result;
      };
    } else {
      // Swapping a hidden chunk asks the SDK for one more, so an app that calls `next()` again before its
      // previous result arrived waits for that result first: otherwise its second call could take the very
      // chunk the first one is waiting for, and results would come out of order. The wait is chained only
      // while a result is pending, so a plain `for await` pays no more than the one `then` per chunk.
      let pending = 0;
      let last: Promise<IteratorResult<unknown>> | undefined;
      const take = (result: IteratorResult<unknown>): IteratorResult<unknown> | Promise<IteratorResult<unknown>> => {
        if (!see(result)) return inner.next().then(take, failPending);
        pending--;
        return result;
      };
      const failPending = (error: unknown): never => {
        pending--;
        return rethrow(error);
      };
      const pull = (): Promise<IteratorResult<unknown>> => inner.next().then(take, failPending);
      next = () => {
        last = pending === 0 || last === undefined ? pull() : last.then(pull, pull);
        pending++;
        return last;
      };
    }
    const traced: AsyncIterableIterator<unknown> = {
      next,
      return: (value?: unknown) => {
        call.end(signal?.aborted ? ABORTED : CANCELLED);
        return inner.return ? inner.return(value).then(undefined, rethrow) : Promise.resolve({ done: true, value });
      },
      [Symbol.asyncIterator]() {
        return traced;
      },
    };
    if (inner.throw) {
      const innerThrow = inner.throw.bind(inner);
      traced.throw = (error?: unknown) => innerThrow(error).then(onResult, rethrow);
    }
    return traced;
  };
}

/** The clock's reading, or `fallbackMs` (the last good one) when it throws. */
function readClock(now: () => number, fallbackMs: number): number {
  try {
    return now();
  } catch (error) {
    reportInternalError("clock", error);
    return fallbackMs;
  }
}

const COMPLETED: CallOutcome = { kind: "completed" };
const CANCELLED: CallOutcome = { kind: "cancelled" };
const ABORTED: CallOutcome = { kind: "aborted" };
