import type { ResponseFacts } from "../call-record.js";

/**
 * Bounds on what a provider payload may make tokentrace keep (issue 10): an index in a payload (a choice's
 * `index`, a streamed tool call's `index`, Responses `output_index` / `content_index` / `summary_index`,
 * an Anthropic content block's `index`) never drives an allocation or a loop. Every accumulator keys its
 * per-index state by a `SlotTable`, which holds at most `limit` entries whatever the indexes claim: a chunk
 * naming index 10,000,000 costs what index 3 costs. Entries with an index that is not a non-negative integer
 * (negative, fractional, a string, Infinity) or that lies beyond the bound are left out of the record and
 * counted (`tokentrace.payload.ignored_entries`); the app still gets every chunk unchanged.
 */

/** Choices of one response (chat and legacy completions; the `n` parameter). */
export const MAX_CHOICES = 128;
/** Tool calls of one choice. */
export const MAX_TOOL_CALLS_PER_CHOICE = 1024;
/** Output items of one Responses API response. */
export const MAX_OUTPUT_ITEMS = 1024;
/** Content blocks of one Anthropic message. */
export const MAX_CONTENT_BLOCKS = 1024;
/** Parts of one output item (a Responses `content_index` or `summary_index`). */
export const MAX_PARTS_PER_ITEM = 1024;

/** `value` as an index below `limit`, or -1 when it is not a non-negative integer below it. */
export function boundedIndex(value: unknown, limit: number): number {
  return typeof value === "number" && Number.isInteger(value) && value >= 0 && value < limit ? value : -1;
}

/** The payload entries one call left out of its record because of their index (one counter per call). */
export class IgnoredEntries {
  count = 0;

  /**
   * `value` read as an index below `limit`; `absent` when the payload gave none (`undefined` or `null`).
   * -1, counted, when it is invalid or beyond the bound.
   */
  index(value: unknown, limit: number, absent: number): number {
    const index = boundedIndex(value ?? absent, limit);
    if (index < 0) this.count++;
    return index;
  }

  /** The first `limit` items of a whole (non-stream) payload's list; the rest are counted. */
  list<T>(items: readonly T[], limit: number): readonly T[] {
    if (items.length <= limit) return items;
    this.count += items.length - limit;
    return items.slice(0, limit);
  }

  /** Put the count in the call's response facts, once, when they are finished (the recorder reports it). */
  writeTo(facts: ResponseFacts): void {
    if (this.count === 0) return;
    facts.ignoredEntries = this.count;
  }
}

/**
 * Per-index state of a payload list (choices, tool calls, output items, content blocks), holding at most
 * `limit` slots. A Map, not an array: indexes that skip ahead never make a sparse array.
 */
export class SlotTable<T> {
  private readonly slots = new Map<number, T>();

  constructor(
    private readonly limit: number,
    private readonly ignored: IgnoredEntries,
  ) {}

  get size(): number {
    return this.slots.size;
  }

  /**
   * The slot a payload index names, made by `create` when new; an absent index means `absent` (by default
   * the next slot). `undefined`, counted, when the index is invalid or beyond the bound.
   */
  slot(value: unknown, create: () => T, absent: number = this.slots.size): T | undefined {
    const index = this.ignored.index(value, this.limit, absent);
    if (index < 0) return undefined;
    let slot = this.slots.get(index);
    if (slot === undefined) {
      slot = create();
      this.slots.set(index, slot);
    }
    return slot;
  }

  /** The slot at an index already read with `IgnoredEntries.index` (-1: none). */
  at(index: number): T | undefined {
    return this.slots.get(index);
  }

  /** Put (or replace) the slot at an index already read with `IgnoredEntries.index`; none beyond the bound. */
  set(index: number, slot: T): void {
    if (boundedIndex(index, this.limit) >= 0) this.slots.set(index, slot);
  }

  /** The slots in index order (at most `limit`; read once, when the response facts are finished). */
  values(): T[] {
    return [...this.slots.entries()].sort((a, b) => a[0] - b[0]).map((entry) => entry[1]);
  }
}

/** Stop sequences a span lists (OpenAI accepts 4; Anthropic more): the first ones, each cut to a bound. */
export const MAX_STOP_SEQUENCES = 16;
/** Characters of one listed stop sequence. */
export const MAX_STOP_SEQUENCE_LENGTH = 256;

/**
 * `gen_ai.request.stop_sequences` from a request's `stop` / `stop_sequences` (a string or a list): the strings
 * among the first MAX_STOP_SEQUENCES entries; undefined when there are none. They are the app's text: the
 * recorder redacts them before the span starts. One longer than MAX_STOP_SEQUENCE_LENGTH is listed by its
 * length only: cut, a secret in it could lose the part the detectors know it by.
 */
export function stopSequences(value: unknown): string[] | undefined {
  const list = typeof value === "string" ? [value] : Array.isArray(value) ? value : undefined;
  if (list === undefined) return undefined;
  const kept: string[] = [];
  const end = Math.min(list.length, MAX_STOP_SEQUENCES);
  for (let index = 0; index < end; index++) {
    const item: unknown = list[index];
    if (typeof item !== "string") continue;
    kept.push(item.length <= MAX_STOP_SEQUENCE_LENGTH ? item : `[${item.length} characters omitted]`);
  }
  return kept;
}
