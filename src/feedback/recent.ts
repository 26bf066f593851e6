/*
 * The recent calls of this process (issue 14), by span id and by the app's message id: how `recordFeedback()`
 * finds what a ref alone does not carry (the model, the agent, the response id) and which span a
 * `{ messageId }` names. Bounded twice: at most `maxEntries` calls (the oldest forgotten first) and each for
 * `ttlMs` after it was noted. Nothing of the call's content is kept: ids, the model and the agent's name.
 *
 * Noted only when something can name the call later, so a call nobody rates costs nothing here: by span id
 * when `callInfo()` hands out its ref, by message id when the call ran under `withContext({ messageId })`, by
 * response id when a `parse()` helper made it (the helper's result is a new object the SDK builds from the
 * response, which only the response's id ties to the call).
 */
import type { CallFacts } from "./call-info.js";

const DEFAULT_MAX_ENTRIES = 10_000;
const DEFAULT_TTL_MS = 60 * 60 * 1000;

interface Entry {
  readonly facts: CallFacts;
  readonly notedAt: number;
}

export class RecentCalls {
  private readonly bySpan = new Map<string, Entry>();
  private readonly byMessage = new Map<string, Entry>();
  private readonly byResponse = new Map<string, Entry>();

  constructor(
    readonly maxEntries: number = DEFAULT_MAX_ENTRIES,
    readonly ttlMs: number = DEFAULT_TTL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Note a call by its span id (again: it moves to the newest). */
  noteSpan(facts: CallFacts): void {
    note(this.bySpan, facts.spanId, { facts, notedAt: this.now() }, this.maxEntries);
  }

  /** Note a call by its message id, if it has one: a message id names its newest call. */
  noteMessage(facts: CallFacts): void {
    const messageId = facts.messageId;
    if (messageId !== undefined) note(this.byMessage, messageId, { facts, notedAt: this.now() }, this.maxEntries);
  }

  /** Note a call by its response id (`gen_ai.response.id`), once known: a `parse()` helper's result. */
  noteResponse(facts: CallFacts): void {
    const responseId = facts.responseId;
    if (responseId !== undefined) note(this.byResponse, responseId, { facts, notedAt: this.now() }, this.maxEntries);
  }

  /** The call with this span id, if noted within the time limit. */
  bySpanId(spanId: string): CallFacts | undefined {
    return this.fresh(this.bySpan, spanId);
  }

  /** The newest call made under `withContext({ messageId })`, if noted within the time limit. */
  byMessageId(messageId: string): CallFacts | undefined {
    return this.fresh(this.byMessage, messageId);
  }

  /** The call that answered with this response id, if noted within the time limit. */
  byResponseId(responseId: string): CallFacts | undefined {
    return this.fresh(this.byResponse, responseId);
  }

  /** Calls held now (each map counted apart; at most `maxEntries` each). */
  get size(): { spans: number; messages: number; responses: number } {
    return { spans: this.bySpan.size, messages: this.byMessage.size, responses: this.byResponse.size };
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

/** Set `key` as the newest entry, dropping the oldest (a Map iterates in insertion order) past `max`. */
function note(map: Map<string, Entry>, key: string, entry: Entry, max: number): void {
  map.delete(key);
  map.set(key, entry);
  while (map.size > max) {
    const oldest = map.keys().next();
    if (oldest.done === true) return;
    map.delete(oldest.value);
  }
}
