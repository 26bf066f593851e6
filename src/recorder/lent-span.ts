import { INVALID_SPAN_CONTEXT, isSpanContextValid, trace } from "@opentelemetry/api";
import type { Attributes, AttributeValue, Span, SpanContext } from "@opentelemetry/api";

/**
 * Spans handed to SDKs that trace themselves (see `LiveCall.lendSpan`, `CoreSpans`): the core makes them so
 * that adapters never start or touch spans.
 */

interface LendingCall {
  readonly span: Span;
  readonly ended: boolean;
}

/** A call's span as an SDK may use it: only the attributes it accepts get through, while the call is in flight. */
class LentSpan implements Span {
  constructor(
    private readonly call: LendingCall,
    private readonly accepted: ReadonlySet<string>,
  ) {}

  spanContext(): SpanContext {
    return this.call.span.spanContext();
  }

  /**
   * Always false, though the span it stands for records: an SDK that sets the accepted attributes whatever this
   * says skips, when it is false, the response and per-event recording whose results this span would drop
   * anyway (for a stream, an extra async iterator layer and bookkeeping on every event).
   */
  isRecording(): boolean {
    return false;
  }

  setAttribute(key: string, value: AttributeValue): this {
    if (this.accepted.has(key) && !this.call.ended && this.call.span.isRecording()) {
      this.call.span.setAttribute(key, value);
    }
    return this;
  }

  setAttributes(attributes: Attributes): this {
    for (const [key, value] of Object.entries(attributes)) if (value !== undefined) this.setAttribute(key, value);
    return this;
  }

  addEvent(): this {
    return this;
  }

  addLink(): this {
    return this;
  }

  addLinks(): this {
    return this;
  }

  // The recorder alone sets the status and ends the span, once.
  setStatus(): this {
    return this;
  }

  updateName(): this {
    return this;
  }

  end(): void {}

  recordException(): void {}
}

/** A stand-in for `call`'s span, or undefined when that span is a no-op (no tracer provider: nothing to lend). */
export function lendSpan(call: LendingCall, accepted: ReadonlySet<string>): Span | undefined {
  const span = call.span;
  return span.isRecording() || isSpanContextValid(span.spanContext()) ? new LentSpan(call, accepted) : undefined;
}

/** A span that records nothing, with an invalid context. */
export function nonRecordingSpan(): Span {
  return trace.wrapSpanContext(INVALID_SPAN_CONTEXT);
}
