/*
 * What the opt-in signals (issue 15) share: the bounded table of their series, one entry per three-part key
 * (operation, provider, request model; or a root stage's kind and name), made on first use, at most `max` of them,
 * the previous lookup's entry kept at hand (most calls ask for the same series as the one before); the state per
 * settings object; and the check of their numeric settings.
 */
import { InvalidOptionError } from "../errors.js";
import { describeValue as describe } from "../internal/describe-value.js";

export class SeriesTable<T> {
  private readonly entries = new Map<string, T>();
  private last: { a: string; b: string; c: string | undefined; entry: T } | undefined;
  /** Lookups of series past `max`, not tracked. */
  untracked = 0;

  constructor(
    private readonly max: number,
    private readonly make: (a: string, b: string, c: string | undefined) => T,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  values(): IterableIterator<T> {
    return this.entries.values();
  }

  /** The entry of (a, b, c), made on first use; undefined past the bound. */
  get(a: string, b: string, c: string | undefined): T | undefined {
    const last = this.last;
    if (last !== undefined && last.a === a && last.b === b && last.c === c) return last.entry;
    const key = `${a}\u0000${b}\u0000${c ?? ""}`;
    let entry = this.entries.get(key);
    if (entry === undefined) {
      if (this.entries.size >= this.max) {
        this.untracked++;
        return undefined;
      }
      entry = this.make(a, b, c);
      this.entries.set(key, entry);
    }
    this.last = { a, b, c, entry };
    return entry;
  }
}

/** The state `make` builds for `settings`, one per settings object (clients made with them share it). */
export function stateOf<S extends object, T>(store: WeakMap<S, T>, settings: S, make: (settings: S) => T): T {
  let state = store.get(settings);
  if (state === undefined) {
    state = make(settings);
    store.set(settings, state);
  }
  return state;
}

/**
 * Check the numeric options of `given` (`option.key`) against `ranges` (inclusive; those in `integers` whole):
 * each one given must be a number within its range, or InvalidOptionError names it and the range.
 */
export function checkRanges(
  option: string,
  given: Readonly<Record<string, unknown>>,
  ranges: Readonly<Record<string, readonly [number, number]>>,
  integers: ReadonlySet<string>,
): void {
  for (const [key, [low, high]] of Object.entries(ranges)) {
    const value = given[key];
    if (value === undefined) continue;
    const integer = integers.has(key);
    if (typeof value !== "number" || !(value >= low && value <= high) || (integer && !Number.isInteger(value))) {
      throw new InvalidOptionError(
        `${option}.${key}`,
        `expected ${integer ? "an integer" : "a number"} from ${low} to ${high}, received ${describe(value)}.`,
      );
    }
  }
}
