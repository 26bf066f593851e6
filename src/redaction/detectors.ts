/**
 * Text detectors for content redaction: personal data (emails, phone numbers, card numbers, IBANs, IP
 * addresses, US social security numbers) and secrets (API keys, bearer tokens, JWTs, private keys, passwords
 * in URLs). Pure and dependency-free.
 *
 * The redaction pipeline runs this once per LLM call at span end over every text part, and a prompt can be
 * anything, so hostile input must cost what normal input costs. Two rules keep every detector linear:
 * - No pattern has a nested quantifier or an alternation whose branches can match the same text. A
 *   character-class run is bounded ({n,m}) unless it ends the pattern: nothing after it can fail, so it never
 *   backtracks, and a long secret is redacted whole.
 * - A pattern that starts with a run of some class is guarded by a lookbehind saying the character before is
 *   not of that class, so a long run is tried once, from its start, not again from each of its characters.
 * Patterns give the shape; validators give the substance (checksums, reserved ranges, lengths by network or
 * country), which keeps false positives low without clever patterns.
 */

/** What a detector finds. The first six are the personal-data presets; the rest make up the `secrets` preset. */
export type DetectorKind =
  | "email"
  | "phone"
  | "credit_card"
  | "iban"
  | "ip_address"
  | "us_ssn"
  | "api_key"
  | "bearer_token"
  | "jwt"
  | "private_key"
  | "url_password";

/** A name accepted where detectors are chosen: `secrets`, or one personal-data kind. */
export type PresetName = "secrets" | "email" | "phone" | "credit_card" | "iban" | "ip_address" | "us_ssn";

/** Every accepted preset name, `secrets` first. */
export const PRESET_NAMES: readonly PresetName[] = Object.freeze([
  "secrets",
  "email",
  "phone",
  "credit_card",
  "iban",
  "ip_address",
  "us_ssn",
]);

const kindList = (...kinds: DetectorKind[]): readonly DetectorKind[] => Object.freeze(kinds);

const PRESET_KINDS: ReadonlyMap<PresetName, readonly DetectorKind[]> = new Map([
  ["secrets", kindList("api_key", "bearer_token", "jwt", "private_key", "url_password")],
  ["email", kindList("email")],
  ["phone", kindList("phone")],
  ["credit_card", kindList("credit_card")],
  ["iban", kindList("iban")],
  ["ip_address", kindList("ip_address")],
  ["us_ssn", kindList("us_ssn")],
]);

/**
 * The kinds a preset turns on: `secrets` gives the five secret kinds, any other preset gives itself.
 *
 * @example kindsOf("secrets") // ["api_key", "bearer_token", "jwt", "private_key", "url_password"]
 */
export function kindsOf(preset: PresetName): readonly DetectorKind[] {
  return PRESET_KINDS.get(preset) ?? kindList();
}

/** A user-defined pattern. */
export interface CustomPattern {
  /**
   * Names what the pattern finds, in the replacement and in the kinds found. Must match
   * `/^[a-z][a-z0-9_]{0,31}$/` (see {@link isValidCustomKind}; the option's resolver checks it at set-up).
   */
  kind: string;
  /**
   * Any RegExp. It runs on a global copy (a sticky flag is dropped, so it matches anywhere), and the caller's
   * object, `lastIndex` included, is never touched. Its cost is the user's to bound: it runs as written.
   */
  pattern: RegExp;
}

/** A found range `[start, end)` of the text, and what it is (a {@link DetectorKind} or a custom kind). */
export interface Match {
  start: number;
  end: number;
  kind: string;
}

const CUSTOM_KIND = /^[a-z][a-z0-9_]{0,31}$/;

/**
 * Whether `kind` is an accepted name for a {@link CustomPattern}: a lower-case letter, then up to 31 lower-case
 * letters, digits or underscores (it becomes part of attribute values and replacements).
 */
export function isValidCustomKind(kind: string): boolean {
  return CUSTOM_KIND.test(kind);
}

// Bounds on custom patterns, whose matches the user's regex decides: per pattern per text, and in all.
const MAX_MATCHES_PER_PATTERN = 1_000;
const MAX_CUSTOM_MATCHES = 10_000;

/** Reports a found range `[start, end)`. */
type Emit = (start: number, end: number) => void;

/** Reports every candidate of one kind in the text; candidates may overlap ({@link findMatches} resolves that). */
type Detector = (text: string, emit: Emit) => void;

/**
 * The end of the range to report for the candidate `[start, end)`, or -1 to reject it. A validator may end the
 * range earlier (a trailing dot) or later (a card number or an IBAN, read from where its pattern found it).
 */
type Measure = (text: string, start: number, end: number) => number;

interface Rule {
  /** Global. The candidate is the whole match, or its group named `secret`, which must end the match. */
  readonly pattern: RegExp;
  readonly measure?: Measure;
  /**
   * A cheap test every match needs to pass (a character or literal it contains), run first: most texts hold
   * no `@`, no `://`, no `sk-`, and a pattern led by a lookbehind is tried at every position, where a literal
   * search skips ahead (bench/redaction.ts measures the difference).
   */
  readonly hint?: (text: string) => boolean;
}

/** Reports each candidate of one rule; after a rejected candidate the search resumes one character on. */
function scan(rule: Rule, text: string, emit: Emit): void {
  const { pattern, measure, hint } = rule;
  if (hint !== undefined && !hint(text)) return;
  pattern.lastIndex = 0;
  for (let match = pattern.exec(text); match !== null; match = pattern.exec(text)) {
    const matchEnd = match.index + match[0].length;
    const secret = match.groups?.secret;
    const start = secret === undefined ? match.index : matchEnd - secret.length;
    const end = measure === undefined ? matchEnd : measure(text, start, matchEnd);
    if (end > start) {
      emit(start, end);
      pattern.lastIndex = end;
    } else {
      pattern.lastIndex = match.index + 1;
    }
  }
}

const byRules =
  (...rules: Rule[]): Detector =>
  (text, emit) => {
    for (const rule of rules) scan(rule, text, emit);
  };

/** A {@link Measure} from a yes/no validator of the candidate's text. */
const whole =
  (accept: (value: string) => boolean): Measure =>
  (text, start, end) =>
    accept(text.slice(start, end)) ? end : -1;

/** A {@link Rule} hint: the text contains `literal`. */
const has =
  (literal: string): ((text: string) => boolean) =>
  (text) =>
    text.includes(literal);
const DIGIT = /[0-9]/;
const hasDigits = (text: string): boolean => DIGIT.test(text);
const DIGIT_DOT = /[0-9]\.[0-9]/;
const BEARER_HINT = /bearer/i;
const AWS_ID_HINT = /A(?:KIA|SIA|GPA|IDA|ROA)/;
const AWS_SECRET_HINT = /aws_secret_access_key/i;

// Character codes, for validators that walk the text.
const ZERO = 48;
const NINE = 57;
const DOT = 46;
const DASH = 45;
const COLON = 58;
const SLASH = 47;
const SPACE = 32;

const isDigit = (code: number): boolean => code >= ZERO && code <= NINE;
const isLetter = (code: number): boolean => (code >= 65 && code <= 90) || (code >= 97 && code <= 122);
const isUpperAlphanumeric = (code: number): boolean => isDigit(code) || (code >= 65 && code <= 90);
const isAlphanumeric = (code: number): boolean => isDigit(code) || isLetter(code);
/** `\w` without flags: ASCII letters, digits and underscore. `charCodeAt` past the end is NaN: not a word char. */
const isWordChar = (code: number): boolean => isAlphanumeric(code) || code === 95;

/**
 * Whether a number ending at `end` stands alone on its right: no word character follows, nor a dot or dash
 * joining it to one (`4111…-2`, `1.5`); a dot or dash that ends a sentence or a clause is fine.
 */
function endsToken(text: string, end: number): boolean {
  const next = text.charCodeAt(end);
  if (isWordChar(next)) return false;
  return !((next === DOT || next === DASH) && isAlphanumeric(text.charCodeAt(end + 1)));
}

// ---------------------------------------------------------------------------------------------------------------
// email: local@domain.tld. Local part [A-Za-z0-9._%+-]{1,64} (RFC 5321's limit), starting where its run starts;
// domain labels of 1..63 letters, digits and inner hyphens, at least two of them, the last (the TLD) 2..24
// letters. A trailing dot is left out. Not `pkg@1.2.3`, `user@localhost`, nor a URL's password (url_password).

const EMAIL = /(?<![\w.%+-])[\w.%+-]{1,64}@[A-Za-z0-9.-]{1,253}/g;

function emailEnd(text: string, start: number, end: number): number {
  if (isUrlPassword(text, start)) return -1;
  return domainEnd(text, text.indexOf("@", start) + 1, end);
}

/** The end of the longest valid domain in `[start, limit)` (letters, digits, dots and hyphens only), or -1. */
function domainEnd(text: string, start: number, limit: number): number {
  let best = -1;
  let labels = 0;
  let labelStart = start;
  for (let index = start; index <= limit; index++) {
    if (index < limit && text.charCodeAt(index) !== DOT) continue;
    const length = index - labelStart;
    if (length < 1 || length > 63 || text.charCodeAt(labelStart) === DASH || text.charCodeAt(index - 1) === DASH) {
      break;
    }
    labels++;
    if (labels >= 2 && length >= 2 && length <= 24 && allLetters(text, labelStart, index)) best = index;
    labelStart = index + 1;
  }
  return best;
}

function allLetters(text: string, start: number, end: number): boolean {
  for (let index = start; index < end; index++) if (!isLetter(text.charCodeAt(index))) return false;
  return true;
}

/** Characters that end a URL's user name, besides whitespace and "/" (see URL_PASSWORD). */
const URL_USER_STOPS: ReadonlySet<number> = new Set(Array.from(":?#\"'<>`\\", (char) => char.charCodeAt(0)));

/**
 * Whether `start` follows the `user:` of a URL (`scheme://user:password@host`): that is `url_password`'s, and
 * an email there would swallow the host. Looks back over the user name (as URL_PASSWORD reads it) to "://".
 * Each look stops at the previous colon, so consecutive candidates never rescan the same characters.
 */
function isUrlPassword(text: string, start: number): boolean {
  if (text.charCodeAt(start - 1) !== COLON) return false;
  const floor = Math.max(0, start - 258);
  for (let index = start - 2; index >= floor; index--) {
    const code = text.charCodeAt(index);
    if (code === SLASH) return text.startsWith("://", index - 2);
    if (code <= SPACE || URL_USER_STOPS.has(code)) return false;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------------------------
// phone, international: "+", a digit 1-9 (no country code starts with 0), then digits with at most two
// separators (space . - ( )) in a row between groups; 8..15 digits in all (E.164's maximum), ending at a group
// boundary. A longer run is cut back to its last group boundary with at most 15 digits.

const PHONE_INTERNATIONAL = /(?<![\w+])\+[1-9][0-9 .()-]{7,40}/g;

function internationalPhoneEnd(text: string, start: number, limit: number): number {
  let best = -1;
  let digits = 0;
  let separators = 0;
  for (let index = start + 1; index < limit; index++) {
    if (isDigit(text.charCodeAt(index))) {
      digits++;
      separators = 0;
      if (digits > 15) break;
      if (digits >= 8 && !isWordChar(text.charCodeAt(index + 1))) best = index + 1;
    } else if (++separators > 2) {
      break;
    }
  }
  return best;
}

// phone, North American: 3-3-4 digits with a separator (space . -) between the groups, or (area) then 3-4;
// optionally "1" or "+1" and a separator before. The area code starts with 2-9 (NANP: none starts with 0 or 1).
// Standing alone: not inside a dash- or dot-joined token (ORD-555-123-4567) or a longer number.

const PHONE_NORTH_AMERICAN =
  /(?<![\w+])(?<![A-Za-z0-9][.-])(?:\+?1[ .-])?(?:\([2-9][0-9]{2}\)[ .-]?|[2-9][0-9]{2}[ .-])[0-9]{3}[ .-][0-9]{4}(?!\w)(?![.-][A-Za-z0-9])/g;

// ---------------------------------------------------------------------------------------------------------------
// credit_card: 13..19 digits, optionally in groups of 3+ digits split by single spaces or dashes (cards print
// 4-4-4-4, 4-6-5, 4-6-4 or 4-4-4-4-3; "1 2 3 …" is not a card), Luhn-valid, with a known network prefix and a
// length that network issues; the longest such number from its start wins. Not after a dot (a decimal
// fraction) or inside a dash-joined token (a UUID). Space-separated groups are each tried as a start, so
// "order 123 4111 1111 1111 1111" still finds the card.

const CARD_START = /(?<!\w)(?<![A-Za-z0-9][.-])[0-9](?=[0-9]{2}[0-9 -]{10})/g;

/** The longest card number in characters: 19 digits, each group split from the next by one separator. */
const CARD_MAX_LENGTH = 37;

function cardEnd(text: string, start: number): number {
  let best = -1;
  let digits = 0;
  let leading = 0;
  // Luhn sums doubling the digits at even and at odd positions from the left: which one applies depends on the
  // length of the number ending at a group boundary, so one pass keeps both and checks every length.
  let doublingEven = 0;
  let doublingOdd = 0;
  let groupDigits = 0;
  const limit = Math.min(text.length, start + CARD_MAX_LENGTH);
  for (let index = start; index < limit; index++) {
    const code = text.charCodeAt(index);
    if (!isDigit(code)) {
      // A separator: exactly one, after a group of 3+ digits.
      if ((code !== SPACE && code !== DASH) || groupDigits < 3 || !isDigit(text.charCodeAt(index + 1))) break;
      groupDigits = 0;
      continue;
    }
    groupDigits++;
    const digit = code - ZERO;
    const doubled = digit > 4 ? digit * 2 - 9 : digit * 2;
    doublingEven += digits % 2 === 0 ? doubled : digit;
    doublingOdd += digits % 2 === 0 ? digit : doubled;
    if (digits < 4) leading = leading * 10 + digit;
    if (++digits > 19) break;
    if (digits >= 13 && groupDigits >= 3 && endsToken(text, index + 1)) {
      // The last digit is never doubled, so in a number of even length the digits at even positions are.
      const sum = digits % 2 === 0 ? doublingEven : doublingOdd;
      if (sum % 10 === 0 && cardNetworkIssues(leading, digits)) best = index + 1;
    }
  }
  return best;
}

/**
 * Whether a network issues numbers with these first four digits (IIN prefix) and this length, from the
 * networks' published ranges. Visa 4 (13, 16, 19 digits); Mastercard 51-55, 2221-2720 (16); American Express
 * 34, 37 (15); Discover 6011, 644-649, 65; JCB 3528-3589; UnionPay 62 (16-19); Diners Club 300-305, 36, 38 (14-19).
 */
function cardNetworkIssues(firstFour: number, length: number): boolean {
  const two = Math.floor(firstFour / 100);
  const three = Math.floor(firstFour / 10);
  if (two >= 40 && two <= 49) return length === 13 || length === 16 || length === 19;
  if ((two >= 51 && two <= 55) || (firstFour >= 2221 && firstFour <= 2720)) return length === 16;
  if (two === 34 || two === 37) return length === 15;
  if (firstFour === 6011 || (three >= 644 && three <= 649) || two === 65) return length >= 16;
  if ((firstFour >= 3528 && firstFour <= 3589) || two === 62) return length >= 16;
  if ((three >= 300 && three <= 305) || two === 36 || two === 38) return length >= 14;
  return false;
}

/**
 * Whether a string of digits passes the Luhn check (ISO/IEC 7812-1), as card numbers do. Anything but digits,
 * or nothing, fails.
 */
export function luhnValid(digits: string): boolean {
  if (digits.length === 0) return false;
  let sum = 0;
  let double = false;
  for (let index = digits.length - 1; index >= 0; index--) {
    let digit = digits.charCodeAt(index) - ZERO;
    if (digit < 0 || digit > 9) return false;
    if (double) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
    double = !double;
  }
  return sum % 10 === 0;
}

// ---------------------------------------------------------------------------------------------------------------
// iban: a country code and two check digits, then 11..30 upper-case letters and digits (the electronic format
// is upper case), compact or in groups of four split by single spaces (the print format), passing the checks of
// ibanValid. Grouped, it is read group by group and the longest valid prefix wins, so a word after it is not
// swallowed.

const IBAN_START = /(?<!\w)[A-Z]{2}[0-9]{2}/g;

function ibanEnd(text: string, start: number): number {
  const known = IBAN_LENGTHS.get(text.slice(start, start + 2));
  const shortest = known ?? 15;
  const longest = known ?? 34;
  // The remainder mod 97 is folded character by character, so each possible end costs four more steps.
  let remainder = 0;
  let size = 4;
  let index = start + 4;
  if (text.charCodeAt(index) !== SPACE) {
    for (; size <= longest && isUpperAlphanumeric(text.charCodeAt(index)); index++, size++) {
      remainder = mod97(remainder, text.charCodeAt(index));
    }
    if (size < shortest || isWordChar(text.charCodeAt(index))) return -1;
    return closeMod97(remainder, text, start) === 1 ? index : -1;
  }
  let best = -1;
  while (text.charCodeAt(index) === SPACE && size < longest) {
    let end = index + 1;
    let next = remainder;
    for (; end - index <= 4 && isUpperAlphanumeric(text.charCodeAt(end)); end++) {
      next = mod97(next, text.charCodeAt(end));
    }
    const groupSize = end - index - 1;
    if (groupSize === 0 || isWordChar(text.charCodeAt(end))) break;
    remainder = next;
    size += groupSize;
    index = end;
    if (size >= shortest && size <= longest && closeMod97(remainder, text, start) === 1) best = end;
    if (groupSize < 4) break;
  }
  return best;
}

/** One step of ISO 7064 mod 97-10 over an IBAN character: a digit, or a letter read as 10..35. */
function mod97(remainder: number, code: number): number {
  return isDigit(code) ? (remainder * 10 + code - ZERO) % 97 : (remainder * 100 + code - 55) % 97;
}

/** The remainder of the whole rearranged IBAN: the country code and check digits at `start` come last. */
function closeMod97(remainder: number, text: string, start: number): number {
  let closed = remainder;
  for (let index = start; index < start + 4; index++) closed = mod97(closed, text.charCodeAt(index));
  return closed;
}

/** IBAN lengths (SWIFT's IBAN registry) of the countries most seen here; others may be 15..34 long. */
const IBAN_LENGTHS: ReadonlyMap<string, number> = new Map([
  ["AT", 20],
  ["BE", 16],
  ["CH", 21],
  ["DE", 22],
  ["DK", 18],
  ["ES", 24],
  ["FI", 18],
  ["FR", 27],
  ["GB", 22],
  ["IE", 22],
  ["IT", 27],
  ["LU", 20],
  ["NL", 18],
  ["NO", 15],
  ["PL", 28],
  ["PT", 25],
  ["SE", 24],
]);

const IBAN_SHAPE = /^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$/;

/**
 * Whether `candidate` is a valid IBAN (ISO 13616): upper-case country code, two check digits, 11..30 letters
 * and digits, the country's length where it is known, and mod-97 of the rearranged number equal to 1. Single
 * spaces are allowed between groups of four (`GB82 WEST 1234 5698 7654 32`).
 */
export function ibanValid(candidate: string): boolean {
  if (candidate.length > 42) return false;
  for (let index = 0; index < candidate.length; index++) {
    if (candidate.charCodeAt(index) === SPACE && (index % 5 !== 4 || index === candidate.length - 1)) return false;
  }
  const iban = candidate.replaceAll(" ", "");
  if (!IBAN_SHAPE.test(iban)) return false;
  const length = IBAN_LENGTHS.get(iban.slice(0, 2));
  if (length !== undefined && iban.length !== length) return false;
  let remainder = 0;
  for (let index = 4; index < iban.length; index++) remainder = mod97(remainder, iban.charCodeAt(index));
  return closeMod97(remainder, iban, 0) === 1;
}

// ---------------------------------------------------------------------------------------------------------------
// ip_address, IPv4: a dotted quad, each part 0..255, not inside a longer dotted number (1.2.3.4.5) nor after
// a letter (v1.2.3.4). A four-part version number such as 1.2.3.4 is an address by shape, and is reported.

const IPV4 = /(?<!\w)(?<![0-9]\.)[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}(?!\w)(?!\.[0-9])/g;

function ipv4Valid(address: string): boolean {
  const parts = address.split(".");
  return parts.length === 4 && parts.every((part) => /^[0-9]{1,3}$/.test(part) && Number(part) <= 255);
}

// ip_address, IPv6 (RFC 4291 §2.2): up to 8 groups of 1..4 hex digits, at most one "::", optionally an IPv4
// tail (two groups' worth). Either 8 groups, or "::" with at least 2 groups, a decimal digit and a group of 3+
// hex digits (or an IPv4 tail): that keeps out times (12:30:45), MAC addresses (6 groups), "::", hex words
// (dead::beef, Face::Cafe) and Python slices (a[1::2]). A trailing "." or ":" (punctuation) is left out.

const IPV6 = /(?<![\w:.])[0-9A-Fa-f]{0,4}:[0-9A-Fa-f:.]{1,41}/g;
const HEX_GROUP = /^[0-9A-Fa-f]{1,4}$/;

function ipv6End(text: string, start: number, end: number): number {
  const next = text.charCodeAt(end);
  if (isWordChar(next) || next === COLON || next === DOT) return -1;
  // Cheap first: an address has a "::" or 7 colons (most candidates are times and "key:value" words).
  let colons = 0;
  let compressed = false;
  for (let index = start; index < end; index++) {
    if (text.charCodeAt(index) !== COLON) continue;
    colons++;
    if (text.charCodeAt(index + 1) === COLON) compressed = true;
  }
  if (!compressed && colons < 7) return -1;
  for (let stop = end; stop > start; stop--) {
    if (ipv6Valid(text.slice(start, stop))) return stop;
    const last = text.charCodeAt(stop - 1);
    if (last !== DOT && last !== COLON) return -1;
  }
  return -1;
}

function ipv6Valid(address: string): boolean {
  const gap = address.indexOf("::");
  if (gap !== -1 && address.includes("::", gap + 1)) return false;
  const head = gap === -1 ? address : address.slice(0, gap);
  const tail = gap === -1 ? "" : address.slice(gap + 2);
  const groups = [...(head === "" ? [] : head.split(":")), ...(tail === "" ? [] : tail.split(":"))];
  // An IPv4 tail is the last group, and not before a trailing "::".
  const lastMayBeIpv4 = gap === -1 || tail !== "";
  let count = 0;
  let hasDecimal = false;
  let hasLongGroup = false;
  for (let index = 0; index < groups.length; index++) {
    const group = groups[index] ?? "";
    if (lastMayBeIpv4 && index === groups.length - 1 && group.includes(".")) {
      if (!ipv4Valid(group)) return false;
      count += 2;
      hasDecimal = true;
      hasLongGroup = true;
    } else if (HEX_GROUP.test(group)) {
      count++;
      if (/[0-9]/.test(group)) hasDecimal = true;
      if (group.length >= 3) hasLongGroup = true;
    } else {
      return false;
    }
  }
  if (gap === -1) return count === 8;
  return count >= 2 && count <= 7 && hasDecimal && hasLongGroup;
}

// ---------------------------------------------------------------------------------------------------------------
// us_ssn: AAA-GG-SSSS with dashes, or with spaces (the same separator twice), standing alone. The SSA never
// issues area 000, 666 or 900-999, group 00 or serial 0000.

const US_SSN = /(?<!\w)(?<![A-Za-z0-9][.-])[0-9]{3}([- ])[0-9]{2}\1[0-9]{4}(?!\w)(?![.-][A-Za-z0-9])/g;

function ssnValid(value: string): boolean {
  const area = Number(value.slice(0, 3));
  return area !== 0 && area !== 666 && area < 900 && value.slice(4, 6) !== "00" && value.slice(7) !== "0000";
}

// ---------------------------------------------------------------------------------------------------------------
// api_key: providers' key formats, each with its own prefix, so a word never matches by accident.

/** Random keys have digits or capitals; kebab-case words after the same prefix (sk-learn-…) do not. */
const hasDigitOrCapital = (value: string): boolean => /[0-9A-Z]/.test(value);
const hasDigit = (value: string): boolean => /[0-9]/.test(value);

const API_KEY_RULES: readonly Rule[] = [
  // OpenAI (sk-, sk-proj-, sk-svcacct-, sk-admin-) and Anthropic (sk-ant-): 20+ key characters after "sk-".
  { hint: has("sk-"), pattern: /(?<![\w-])sk-[\w-]{20,}/g, measure: whole(hasDigitOrCapital) },
  // AWS access key ids: IAM user (AKIA), temporary (ASIA), group (AGPA), user (AIDA), role (AROA).
  {
    hint: (text) => AWS_ID_HINT.test(text),
    pattern: /(?<![A-Za-z0-9])(?:AKIA|ASIA|AGPA|AIDA|AROA)[A-Z0-9]{16}(?![A-Za-z0-9])/g,
  },
  // AWS secret access keys are 40 base64 characters with no prefix: only right after their name and = or :.
  {
    hint: (text) => AWS_SECRET_HINT.test(text),
    pattern:
      /(?<!\w)aws_secret_access_key["']?[ \t]{0,8}[:=][ \t]{0,8}["']?(?<secret>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])/gi,
  },
  // Google API keys.
  { hint: has("AIza"), pattern: /(?<![\w-])AIza[\w-]{35}(?![\w-])/g },
  // GitHub: classic tokens (personal, OAuth, user-to-server, server-to-server, refresh), fine-grained tokens.
  { hint: has("_"), pattern: /(?<!\w)gh[pousr]_[A-Za-z0-9]{36,}/g },
  { hint: has("github_pat_"), pattern: /(?<!\w)github_pat_\w{22,}/g },
  // Slack (bot, user, app, …): the team and user ids make digits certain; "xoxo-…" prose has none.
  { hint: has("xox"), pattern: /(?<![\w-])xox[abposr]-[A-Za-z0-9-]{10,}/g, measure: whole(hasDigit) },
  // Stripe secret and restricted keys, live and test.
  { hint: has("k_"), pattern: /(?<!\w)[sr]k_(?:live|test)_[A-Za-z0-9]{16,}/g },
  // Hugging Face user access tokens.
  { hint: has("hf_"), pattern: /(?<!\w)hf_[A-Za-z0-9]{30,}/g, measure: whole(hasDigitOrCapital) },
];

// bearer_token: "Bearer" (any case), then a token of 16+ characters of RFC 6750's b64token alphabet. Only the
// token is reported, so a redacted header still reads "Bearer [REDACTED]".
const BEARER = /(?<!\w)bearer[ \t]{1,8}(?<secret>[\w.~+/=-]{16,})/gi;

// jwt: three base64url segments split by dots; header and payload are JSON objects, so both start "eyJ"
// (`{"`), and are 10+ characters; the signature is not empty. Segments over 8 KB are not looked for.
const JWT = /(?<![\w-])eyJ[\w-]{7,8192}\.eyJ[\w-]{7,8192}\.[\w-]+/g;

// url_password: scheme://user:password@host, reporting the password only. The userinfo ends at its last "@"
// before a host (as WHATWG URL parsing reads it), so a password with a raw "@" is reported whole.
const URL_PASSWORD =
  /(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{0,31}:\/\/[^\s:/?#"'<>`\\]{0,256}:(?<secret>[^\s/?#"'<>`\\]{1,256})(?=@[A-Za-z0-9[])/g;

// ---------------------------------------------------------------------------------------------------------------
// private_key: "-----BEGIN … PRIVATE KEY-----" (RSA, EC, DSA, OPENSSH, ENCRYPTED, PGP's "… KEY BLOCK", or no
// label) through the matching "-----END … PRIVATE KEY-----", found with indexOf (a lazy regex over a whole
// key would rescan it from each BEGIN). An unterminated block is reported to the end of the text: fail closed.

const PEM_BEGIN = "-----BEGIN ";
const PEM_HEADER = /-----BEGIN ([A-Z0-9 ]{0,40})PRIVATE KEY( BLOCK)?-----/y;

function findPrivateKeys(text: string, emit: Emit): void {
  for (let begin = text.indexOf(PEM_BEGIN); begin !== -1;) {
    PEM_HEADER.lastIndex = begin;
    const header = PEM_HEADER.exec(text);
    if (header === null) {
      begin = text.indexOf(PEM_BEGIN, begin + 1);
      continue;
    }
    const footer = `-----END ${header[1] ?? ""}PRIVATE KEY${header[2] ?? ""}-----`;
    const footerAt = text.indexOf(footer, begin + header[0].length);
    if (footerAt === -1) {
      emit(begin, text.length);
      return;
    }
    const end = footerAt + footer.length;
    emit(begin, end);
    begin = text.indexOf(PEM_BEGIN, end);
  }
}

// ---------------------------------------------------------------------------------------------------------------

/**
 * The detectors, in the order that breaks ties (same start, same length): the more specific kind first, so a
 * JWT sent as a bearer token is reported as a JWT and an OpenAI key after "Bearer" as an API key.
 */
const DETECTORS: ReadonlyArray<readonly [DetectorKind, Detector]> = [
  ["private_key", findPrivateKeys],
  ["jwt", byRules({ hint: has("eyJ"), pattern: JWT })],
  ["api_key", byRules(...API_KEY_RULES)],
  ["url_password", byRules({ hint: has("://"), pattern: URL_PASSWORD })],
  ["bearer_token", byRules({ hint: (text) => BEARER_HINT.test(text), pattern: BEARER })],
  ["email", byRules({ hint: has("@"), pattern: EMAIL, measure: emailEnd })],
  ["credit_card", byRules({ hint: hasDigits, pattern: CARD_START, measure: cardEnd })],
  ["iban", byRules({ hint: hasDigits, pattern: IBAN_START, measure: ibanEnd })],
  ["us_ssn", byRules({ hint: hasDigits, pattern: US_SSN, measure: whole(ssnValid) })],
  [
    "phone",
    byRules(
      { hint: has("+"), pattern: PHONE_INTERNATIONAL, measure: internationalPhoneEnd },
      { hint: hasDigits, pattern: PHONE_NORTH_AMERICAN },
    ),
  ],
  [
    "ip_address",
    byRules(
      { hint: (text) => DIGIT_DOT.test(text), pattern: IPV4, measure: whole(ipv4Valid) },
      { hint: has(":"), pattern: IPV6, measure: ipv6End },
    ),
  ],
];

const MIN_BUILT_IN_MATCH = 6;

/** Global copies of custom patterns, made once per RegExp (V8 compiles each copy once). */
const globalCopies = new WeakMap<RegExp, RegExp>();

function globalCopy(pattern: RegExp): RegExp {
  let copy = globalCopies.get(pattern);
  if (copy === undefined) {
    copy = new RegExp(pattern.source, `${pattern.flags.replace(/[gy]/g, "")}g`);
    globalCopies.set(pattern, copy);
  }
  copy.lastIndex = 0;
  return copy;
}

/** Thrown when custom patterns match more than their bounds allow: the caller fails closed on the whole text. */
export class TooManyMatchesError extends Error {
  constructor() {
    super(`custom patterns matched more than ${MAX_MATCHES_PER_PATTERN} times (or ${MAX_CUSTOM_MATCHES} in all)`);
    this.name = "TooManyMatchesError";
  }
}

function findCustom(text: string, custom: readonly CustomPattern[], into: Match[]): void {
  let total = 0;
  for (const { kind, pattern } of custom) {
    const copy = globalCopy(pattern);
    let found = 0;
    for (;;) {
      const match = copy.exec(text);
      if (match === null) break;
      // Past the bounds the rest would go unredacted: refuse the text instead (the pipeline writes a marker).
      if (found >= MAX_MATCHES_PER_PATTERN || total >= MAX_CUSTOM_MATCHES) throw new TooManyMatchesError();
      const end = match.index + match[0].length;
      if (end === match.index) {
        // An empty match finds nothing to redact; step over it, or exec would return it forever.
        copy.lastIndex = end + 1;
        continue;
      }
      into.push({ start: match.index, end, kind });
      found++;
      total++;
    }
  }
}

/**
 * Non-overlapping matches, sorted by start; on overlap the earlier start wins, then the longer, then the
 * detector listed first (built-in kinds before custom patterns, custom patterns in their order).
 *
 * Linear in the text's length for the built-in kinds. Custom patterns may add at most 1,000 matches each and
 * 10,000 in all; their kinds are not checked here (a pattern is never dropped, so a bad kind cannot leave
 * content unredacted), the option's resolver rejects a bad one at set-up with {@link isValidCustomKind}.
 *
 * @example findMatches("mail jane@example.com", new Set(["email"])) // [{ start: 5, end: 21, kind: "email" }]
 */
export function findMatches(
  text: string,
  kinds: ReadonlySet<DetectorKind>,
  custom: readonly CustomPattern[] = [],
): Match[] {
  const candidates: Match[] = [];
  // No built-in kind matches fewer characters (an email a@b.co, an address 1::abc): a role, a part type, a
  // short word is passed over without running a detector.
  const builtIn = text.length >= MIN_BUILT_IN_MATCH;
  for (const [kind, detect] of DETECTORS) {
    if (!builtIn || !kinds.has(kind)) continue;
    detect(text, (start, end) => {
      candidates.push({ start, end, kind });
    });
  }
  if (custom.length > 0) findCustom(text, custom, candidates);
  // Stable sort: ties keep the detectors' order.
  candidates.sort((a, b) => a.start - b.start || b.end - a.end);
  const matches: Match[] = [];
  let reached = 0;
  for (const candidate of candidates) {
    if (candidate.start < reached) continue;
    matches.push(candidate);
    reached = candidate.end;
  }
  return matches;
}

/**
 * The text with each match replaced by `replace(kind, matchedText)`, and the kinds found in the order they
 * first appear. Text with nothing to redact comes back as the same string.
 *
 * @example
 * redactText("mail jane@example.com", new Set(["email"]), (kind) => `[${kind.toUpperCase()}]`)
 * // { text: "mail [EMAIL]", kinds: ["email"] }
 */
export function redactText(
  text: string,
  kinds: ReadonlySet<DetectorKind>,
  replace: (kind: string, value: string) => string,
  custom?: readonly CustomPattern[],
): { text: string; kinds: string[] } {
  const matches = findMatches(text, kinds, custom);
  if (matches.length === 0) return { text, kinds: [] };
  const found = new Set<string>();
  let redacted = "";
  let copied = 0;
  for (const { start, end, kind } of matches) {
    redacted += text.slice(copied, start) + replace(kind, text.slice(start, end));
    copied = end;
    found.add(kind);
  }
  return { text: redacted + text.slice(copied), kinds: [...found] };
}
