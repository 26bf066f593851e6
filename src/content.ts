/**
 * Content attributes: JSON values cut to a maximum length (in characters) while staying valid JSON.
 *
 * The work is linear in the size of the content (issue #10): every item is serialised once, and cutting
 * strings takes a bounded number of passes, never a search that re-serialises the whole value per probe or
 * per dropped message.
 *
 * - An array (a chat history) keeps its system instructions (items whose `role` is `system` or `developer`)
 *   and the newest items that fit after them, in their original order. When items are dropped, a leading
 *   `{ "truncated_items": N }` item says how many.
 * - When even the system items and the newest item do not fit (or the value is not an array), the long
 *   strings in what is kept are cut to one common length, chosen from the excess in one pass: each string
 *   longer than that keeps its start and ends with {@link TRUNCATION_MARKER}.
 * - When nothing of that shape fits, the attribute is `{ "truncated": true, "length": <whole length> }`.
 *
 * Runs at span end, and only when content capture is on.
 */
export const TRUNCATION_MARKER = "…[truncated]";

export interface SerializedContent {
  json: string;
  truncated: boolean;
}

/** Roles of the items a cut history keeps first: the instructions that frame every turn. */
const PINNED_ROLES: ReadonlySet<unknown> = new Set(["system", "developer"]);

// Serialisations with cut strings at most: the estimate, corrections (one is enough unless the kept starts
// are escape-heavy), and the bare marker as the last resort.
const CUT_ATTEMPTS = 5;

/** The content limits of one client (or of setup(), for stages), resolved once. */
export interface ContentLimits {
  /** `maxContentLength`: characters of one attribute's JSON. */
  readonly maxChars: number;
  /** `maxContentBytes`: UTF-8 bytes of one attribute's JSON. */
  readonly maxBytes: number;
  /** `maxSpanContentBytes`: UTF-8 bytes of all of a span's content attributes together. */
  readonly maxSpanBytes: number;
  /** `maxContentMessages`: messages of one list kept (the system messages and the newest). */
  readonly maxMessages: number;
}

/** Passes at most: the first by characters, then each lowered by the bytes' excess ratio. */
const BYTE_ATTEMPTS = 4;

/**
 * `value` serialised within `maxChars` characters and `maxBytes` UTF-8 bytes: first cut to the characters,
 * and while its bytes exceed the limit (text outside ASCII takes 2 to 4 bytes a character), cut again to a
 * character limit lowered by the measured ratio. `droppedBefore` messages were already dropped from the list
 * (`capMessages`) and are counted in its marker. A bounded number of linear passes.
 */
export function serializeWithin(
  value: unknown,
  maxChars: number,
  maxBytes: number,
  droppedBefore = 0,
): SerializedContent {
  let limit = Math.min(maxChars, maxBytes);
  for (let attempt = 0; attempt < BYTE_ATTEMPTS; attempt++) {
    const result = serializeContent(value, limit, droppedBefore);
    const bytes = Buffer.byteLength(result.json, "utf8");
    if (bytes <= maxBytes) return attempt === 0 ? result : { json: result.json, truncated: true };
    limit = Math.floor((limit * maxBytes) / bytes) - 1;
    if (limit < TOO_LONG_MAX_LENGTH) break;
  }
  return { json: tooLong(stringify(value).length), truncated: true };
}

/**
 * A message list cut to `maxMessages`: its system/developer messages and the newest others, in order, and how
 * many were dropped (serializeWithin's marker counts them). Applied before redaction, which then reads only
 * what is kept.
 */
export function capMessages(
  items: readonly unknown[],
  maxMessages: number,
): { items: readonly unknown[]; dropped: number } {
  if (items.length <= maxMessages) return { items, dropped: 0 };
  const keep = new Array<boolean>(items.length).fill(false);
  let kept = 0;
  for (let index = 0; index < items.length && kept < maxMessages; index++) {
    if (isPinned(items[index])) {
      keep[index] = true;
      kept++;
    }
  }
  for (let index = items.length - 1; index >= 0 && kept < maxMessages; index--) {
    if (keep[index] !== true) {
      keep[index] = true;
      kept++;
    }
  }
  return { items: items.filter((_, index) => keep[index]), dropped: items.length - kept };
}

function isPinned(item: unknown): boolean {
  return item !== null && typeof item === "object" && PINNED_ROLES.has((item as { role?: unknown }).role);
}

/** The longest `tooLong` marker (a 16-digit length): below it no limit can hold anything. */
const TOO_LONG_MAX_LENGTH = 40;

export function serializeContent(value: unknown, maxLength: number, droppedBefore = 0): SerializedContent {
  if (Array.isArray(value)) return serializeArray(value, maxLength, droppedBefore);
  const whole = stringify(value);
  if (whole.length <= maxLength) return { json: whole, truncated: false };
  return { json: cutStrings(value, maxLength) ?? tooLong(whole.length), truncated: true };
}

function serializeArray(items: readonly unknown[], maxLength: number, droppedBefore: number): SerializedContent {
  const count = items.length;
  // Each item serialised once; the whole array's length follows from theirs (brackets and commas).
  const serialized = new Array<string>(count);
  const pinned = new Array<boolean>(count);
  let total = count === 0 ? 2 : count + 1;
  let pinnedCount = 0;
  let pinnedLength = 0;
  for (let index = 0; index < count; index++) {
    const item = items[index];
    const json = stringify(item);
    serialized[index] = json;
    total += json.length;
    const itemPinned = isPinned(item);
    pinned[index] = itemPinned;
    if (itemPinned) {
      pinnedCount++;
      pinnedLength += json.length + 1;
    }
  }
  if (droppedBefore === 0 && total <= maxLength) return { json: `[${serialized.join(",")}]`, truncated: false };
  const alreadyDropped = droppedMarker(droppedBefore);
  if (droppedBefore > 0 && total + alreadyDropped.length + 1 <= maxLength) {
    return { json: `[${[alreadyDropped, ...serialized].join(",")}]`, truncated: true };
  }

  // The system items, then the newest others backwards while they fit. The marker's length is bounded by
  // that of the most items that can be dropped.
  const keep = pinned.slice();
  let used = 2 + droppedMarker(droppedBefore + count - pinnedCount).length + pinnedLength;
  let keptOthers = 0;
  for (let index = count - 1; index >= 0; index--) {
    if (pinned[index]) continue;
    const cost = (serialized[index] ?? "").length + 1;
    if (used + cost > maxLength) break;
    used += cost;
    keep[index] = true;
    keptOthers++;
  }
  if (keptOthers > 0) {
    const parts = [droppedMarker(droppedBefore + count - pinnedCount - keptOthers)];
    for (let index = 0; index < count; index++) if (keep[index]) parts.push(serialized[index] ?? "null");
    return { json: `[${parts.join(",")}]`, truncated: true };
  }

  // Not even the newest item fits beside the system items whole: keep those, with their strings cut; failing
  // that, the newest item alone, cut.
  const last = count - 1;
  const kept: unknown[] = [];
  for (let index = 0; index < count; index++) if (pinned[index] || index === last) kept.push(items[index]);
  const cut =
    cutItems(kept, count, maxLength, droppedBefore) ??
    (kept.length > 1 ? cutItems([items[last]], count, maxLength, droppedBefore) : undefined);
  return { json: cut ?? tooLong(total), truncated: true };
}

/** `kept` (a selection of a `count`-item array) with its strings cut to fit, behind a marker when items were dropped. */
function cutItems(kept: unknown[], count: number, maxLength: number, droppedBefore: number): string | undefined {
  const dropped = droppedBefore + count - kept.length;
  const value = dropped > 0 ? [{ truncated_items: dropped }, ...kept] : kept;
  return cutStrings(value, maxLength);
}

function droppedMarker(dropped: number): string {
  return `{"truncated_items":${dropped}}`;
}

function tooLong(length: number): string {
  return JSON.stringify({ truncated: true, length });
}

/**
 * `value` serialised with every string longer than a common threshold cut to it, the largest threshold that
 * fits; `undefined` when even cutting every string to the bare marker does not fit.
 *
 * A string is cut only when that shortens it: a string of at most `threshold` characters stays whole; a
 * longer one keeps its first `threshold - marker` characters plus the marker, `threshold + 2` characters in
 * JSON when nothing in it needs escaping. With the strings' lengths from one pass, the largest threshold is
 * solved for directly (sorted lengths, prefix sums); escapes in the kept starts can only make the result
 * longer than estimated, and each correction lowers the threshold by the measured excess per cut string,
 * scaled by the escaping measured in the kept starts.
 */
function cutStrings(value: unknown, maxLength: number): string | undefined {
  const lengths: number[] = [];
  const serializedLengths: number[] = [];
  let stringsLength = 0;
  // One pass for the strings JSON.stringify really emits (after toJSON), one for each string's escaped length.
  const whole = JSON.stringify(value, (_key, item: unknown) => {
    if (typeof item === "string") {
      const serializedLength = JSON.stringify(item).length;
      lengths.push(item.length);
      serializedLengths.push(serializedLength);
      stringsLength += serializedLength;
    }
    return item;
  });
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined at runtime (see stringify)
  const fixed = (whole ?? "null").length - stringsLength;

  const markerLength = TRUNCATION_MARKER.length;
  const order = lengths.map((_, index) => index).sort((a, b) => (lengths[a] ?? 0) - (lengths[b] ?? 0));
  let threshold = -1;
  let wholeLength = 0;
  for (let position = 0; position < order.length; position++) {
    // The `position` shortest strings whole, the others cut at the same threshold.
    const cutCount = order.length - position;
    let candidate = Math.floor((maxLength - fixed - wholeLength) / cutCount) - 2;
    const index = order[position] ?? 0;
    candidate = Math.min(candidate, (lengths[index] ?? 0) - 1);
    const longestWhole = position > 0 ? (lengths[order[position - 1] ?? 0] ?? 0) : 0;
    if (candidate >= Math.max(markerLength, longestWhole) && candidate > threshold) threshold = candidate;
    wholeLength += serializedLengths[index] ?? 0;
  }
  if (threshold < 0) return undefined;

  for (let attempt = 0; attempt < CUT_ATTEMPTS; attempt++) {
    // The last attempt cuts every string that can be cut to the bare marker.
    if (attempt === CUT_ATTEMPTS - 1) threshold = markerLength;
    const limit = threshold;
    let cutCount = 0;
    let stringIndex = 0;
    let keptWholeLength = 0;
    const json =
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined at runtime (see stringify)
      JSON.stringify(value, (_key, item: unknown) => {
        if (typeof item !== "string") return item;
        // Same value, same traversal: the strings come in the order of the first pass.
        const index = stringIndex++;
        if (item.length <= limit) {
          keptWholeLength += serializedLengths[index] ?? 0;
          return item;
        }
        cutCount++;
        return cutString(item, limit - markerLength);
      }) ?? "null";
    if (json.length <= maxLength || threshold === markerLength || cutCount === 0) {
      return json.length <= maxLength ? json : undefined;
    }
    // Lower the kept starts by the excess, scaled by how much escaping made them longer than their length.
    const keptStarts = limit - markerLength;
    const cutStartsLength = (json.length - fixed - keptWholeLength) / cutCount - 2 - markerLength;
    const escaping = keptStarts > 0 ? Math.max(1, cutStartsLength / keptStarts) : 1;
    const lower = Math.ceil((json.length - maxLength) / cutCount / escaping);
    threshold = Math.max(markerLength, threshold - lower);
  }
  return undefined;
}

function cutString(text: string, keep: number): string {
  // Never split a surrogate pair: a lone high surrogate would serialise as an escape, and mean nothing.
  const code = text.charCodeAt(keep - 1);
  const end = keep > 0 && code >= 0xd800 && code <= 0xdbff ? keep - 1 : keep;
  return text.slice(0, end) + TRUNCATION_MARKER;
}

/**
 * `JSON.stringify`, as it behaves: undefined for `undefined`, functions and symbols (its declared type says
 * string), which the content attributes record as `null`.
 */
function stringify(value: unknown): string {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- declared string, undefined at runtime
  return JSON.stringify(value) ?? "null";
}
