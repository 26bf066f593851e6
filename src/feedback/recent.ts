/*
 * The recent calls of this process (issue 14), by span id and by the app's message id: how `recordFeedback()`
 * finds what a ref alone does not carry (the model, the agent, the response id) and which span a
 * `{ messageId }` names. Bounded twice: at most `maxEntries` calls (the oldest forgotten first) and each for
 * `ttlMs` after it was noted. Nothing of the call's content is kept: ids, the model and the agent's name.
 */
import type { CallFacts } from "./call-info.js";

export const DEFAULT_MAX_ENTRIES = 10_000;
export const DEFAULT_TTL_MS = 60 * 60 * 1000;

interface Entry {
  readonly facts: CallFacts;
  readonly notedAt: number;
}

export class RecentCalls {
  private readonly bySpan = new Map<string, Entry>();
  private readonly byMessage = new Map<string, Entry>();

  constructor(
    readonly maxEntries: number = DEFAULT_MAX_ENTRIES,
    readonly ttlMs: number = DEFAULT_TTL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Note a call (again: it moves to the newest). A message id names its newest call. */
  note(facts: CallFacts): void {
    const entry: Entry = { facts, notedAt: this.now() };
    this.bySpan.delete(facts.spanId);
    this.bySpan.set(facts.spanId, entry);
    evictOldest(this.bySpan, this.maxEntries);
    const messageId = facts.messageId;
    if (messageId !== undefined) {
      this.byMessage.delete(messageId);
      this.byMessage.set(messageId, entry);
      evictOldest(this.byMessage, this.maxEntries);
    }
  }

  /** The call with this span id, if noted within the time limit. */
  bySpanId(spanId: string): CallFacts | undefined {
    return this.fresh(this.bySpan, spanId);
  }

  /** The newest call made under `withContext({ messageId })`, if noted within the time limit. */
  byMessageId(messageId: string): CallFacts | undefined {
    return this.fresh(this.byMessage, messageId);
  }

  /** Calls held now (each map counted apart; at most `maxEntries` each). */
  get size(): { spans: number; messages: number } {
    return { spans: this.bySpan.size, messages: this.byMessage.size };
  }

  private fresh(map: Map<string, Entry>, key: string): CallFacts | undefined {
    const entry = map.get(key);
    if (entry === undefined) return undefined;
    if (this.now() - entry.notedAt > this.ttlMs) {
      map.delete(key);
      return undefined;
    }
    return entry.facts;
  }
}

/** Drop the oldest entries (a Map iterates in insertion order) until `map` holds at most `max`. */
function evictOldest(map: Map<string, Entry>, max: number): void {
  while (map.size > max) {
    const oldest = map.keys().next();
    if (oldest.done === true) return;
    map.delete(oldest.value);
  }
}
