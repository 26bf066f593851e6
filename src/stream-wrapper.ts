import type { ActiveCall } from "./record-call.js";
import type { StreamAccumulator } from "./providers/types.js";
import { reportInternalError } from "./internal/report.js";
import { StreamTiming } from "./metrics/timing.js";
import { outcomeOf } from "./record-call.js";

/** The parts of an SDK `Stream` (openai, @anthropic-ai/sdk) that tokentrace relies on. */
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
 * The iterator is a plain object rather than an async generator: per chunk it adds one `then` and no
 * generator machinery, and it returns the SDK's own result objects.
 */
export function traceStream(
  stream: SdkStream,
  call: ActiveCall,
  accumulator: StreamAccumulator,
  now: () => number,
  aggregateChunkGaps: boolean,
): void {
  const timing = new StreamTiming(call.startMs, aggregateChunkGaps);
  call.timing = timing;
  call.beforeEnd = finisher(accumulator, call);
  stream.iterator = tracedIteratorFactory(stream.iterator, stream.controller?.signal, call, accumulator, timing, now);
}

/**
 * Kept apart from `traceStream` on purpose: V8 closures created in one scope share one context, so a
 * closure stored on the call (which the garbage-collection safety net holds) must not be created next to
 * one that captures the stream, or a never-read stream could never be collected.
 */
function finisher(accumulator: StreamAccumulator, call: ActiveCall): () => void {
  return () => accumulator.finish(call.record);
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
    const onResult = (result: IteratorResult<unknown>): IteratorResult<unknown> | Promise<IteratorResult<unknown>> => {
      if (result.done) {
        call.end(signal?.aborted ? { kind: "aborted" } : { kind: "completed" });
        return result;
      }
      const atMs = now();
      let visible = true;
      try {
        visible = accumulator.add(result.value, atMs);
      } catch (error) {
        reportInternalError("stream-chunk", error);
      }
      if (visible) {
        timing.onChunk(atMs);
        return result;
      }
      // A chunk that exists only because tokentrace asked for it is consumed here, not shown to the app,
      // and not counted in the timing statistics.
      return inner.next().then(onResult, onError);
    };
    // Not the signal: the SDK aborts its own controller while unwinding from any failure.
    const onError = (error: unknown): never => {
      call.end(outcomeOf(error));
      throw error;
    };
    const traced: AsyncIterableIterator<unknown> = {
      next: () => inner.next().then(onResult, onError),
      return: (value?: unknown) => {
        call.end(signal?.aborted ? { kind: "aborted" } : { kind: "cancelled" });
        return inner.return ? inner.return(value).then(undefined, onError) : Promise.resolve({ done: true, value });
      },
      [Symbol.asyncIterator]() {
        return traced;
      },
    };
    if (inner.throw) {
      const innerThrow = inner.throw.bind(inner);
      traced.throw = (error?: unknown) => innerThrow(error).then(onResult, onError);
    }
    return traced;
  };
}
