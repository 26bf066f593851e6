/**
 * Refs (issue 14): a compact string naming one span (a call's or a stage's), safe to send to a browser and
 * back, so that feedback arriving elsewhere (another request, another process) names the exact span. With a
 * secret, a ref carries an HMAC-SHA256 of itself and an edited or forged ref is rejected; without one, refs are
 * plain and anyone who can send feedback can name any span.
 *
 * Shape: `tt1.` + base64url(trace id ‖ span id, 24 bytes: 32 characters), then, when signed, `.` +
 * base64url(the first 16 bytes of HMAC-SHA256(secret, everything before the dot)): 22 characters.
 */
import { createHmac, timingSafeEqual } from "node:crypto";

const VERSION = "tt1.";
const ID_BYTES = 24;
const ID_CHARACTERS = 32;
const SIGNATURE_BYTES = 16;
const SIGNATURE_CHARACTERS = 22;
/** Longer than any ref: a longer string is rejected before it is read. */
export const MAX_REF_LENGTH = VERSION.length + ID_CHARACTERS + 1 + SIGNATURE_CHARACTERS;

const TRACE_ID = /^[0-9a-f]{32}$/;
const SPAN_ID = /^[0-9a-f]{16}$/;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
const INVALID_TRACE_ID = "0".repeat(32);
const INVALID_SPAN_ID = "0".repeat(16);

/** Why a ref was refused: counted by reason where feedback is recorded. */
export type RefRejection = "bad_ref" | "bad_signature";

export type ParsedRef =
  { ok: true; traceId: string; spanId: string; signed: boolean } | { ok: false; reason: RefRejection };

/** The ref of a span; undefined for ids that are not a valid W3C trace id and span id (a no-op span's zeros). */
export function encodeRef(traceId: string, spanId: string, secret: string | undefined): string | undefined {
  if (!TRACE_ID.test(traceId) || !SPAN_ID.test(spanId)) return undefined;
  if (traceId === INVALID_TRACE_ID || spanId === INVALID_SPAN_ID) return undefined;
  const body = VERSION + Buffer.from(traceId + spanId, "hex").toString("base64url");
  return secret === undefined ? body : `${body}.${signature(body, secret)}`;
}

/**
 * A ref read back: its ids when it is well-formed and, with a secret, signed by it. Never throws, whatever
 * it is given (it comes from the network). With a secret, an unsigned ref is refused as `bad_signature`.
 */
export function parseRef(ref: unknown, secret: string | undefined): ParsedRef {
  if (typeof ref !== "string" || ref.length > MAX_REF_LENGTH || !ref.startsWith(VERSION)) {
    return { ok: false, reason: "bad_ref" };
  }
  const dot = ref.indexOf(".", VERSION.length);
  const ids = dot === -1 ? ref.slice(VERSION.length) : ref.slice(VERSION.length, dot);
  if (ids.length !== ID_CHARACTERS || !BASE64URL.test(ids)) return { ok: false, reason: "bad_ref" };
  const bytes = Buffer.from(ids, "base64url");
  // A character past the 24 bytes' last bits would decode the same: only the canonical spelling is a ref.
  if (bytes.length !== ID_BYTES || bytes.toString("base64url") !== ids) return { ok: false, reason: "bad_ref" };
  const hex = bytes.toString("hex");
  const traceId = hex.slice(0, 32);
  const spanId = hex.slice(32);
  if (traceId === INVALID_TRACE_ID || spanId === INVALID_SPAN_ID) return { ok: false, reason: "bad_ref" };
  const given = dot === -1 ? undefined : ref.slice(dot + 1);
  if (given !== undefined && (given.length !== SIGNATURE_CHARACTERS || !BASE64URL.test(given))) {
    return { ok: false, reason: "bad_ref" };
  }
  if (secret !== undefined) {
    if (given === undefined) return { ok: false, reason: "bad_signature" };
    // Compared as text: the last character carries 2 unused bits, so two spellings would decode alike.
    const expected = Buffer.from(signature(ref.slice(0, dot), secret));
    const received = Buffer.from(given);
    if (received.length !== expected.length || !timingSafeEqual(received, expected)) {
      return { ok: false, reason: "bad_signature" };
    }
  }
  // `signed` only for a signature checked here: without a secret, a suffix proves nothing.
  return { ok: true, traceId, spanId, signed: secret !== undefined };
}

function signature(body: string, secret: string): string {
  return createHmac("sha256", secret).update(body).digest().subarray(0, SIGNATURE_BYTES).toString("base64url");
}
