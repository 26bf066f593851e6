import { createHmac } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAX_REF_LENGTH, encodeRef, parseRef } from "../src/feedback/ref.js";

/** Refs (issue 14): a span named in a string that travels to a browser and back. */

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN_ID = "00f067aa0ba902b7";
const SECRET = "feedback-secret-0123456789";

describe("refs", () => {
  it("encodes the trace and span ids in 36 characters, plain without a secret", () => {
    const ref = encodeRef(TRACE_ID, SPAN_ID, undefined);
    expect(ref).toBe(`tt1.${Buffer.from(TRACE_ID + SPAN_ID, "hex").toString("base64url")}`);
    expect(ref).toHaveLength(36);
    expect(parseRef(ref, undefined)).toEqual({ ok: true, traceId: TRACE_ID, spanId: SPAN_ID, signed: false });
  });

  it("signs with the secret: the first 16 bytes of HMAC-SHA256 over the plain ref", () => {
    const plain = encodeRef(TRACE_ID, SPAN_ID, undefined)!;
    const signed = encodeRef(TRACE_ID, SPAN_ID, SECRET);
    const mac = createHmac("sha256", SECRET).update(plain).digest().subarray(0, 16).toString("base64url");
    expect(signed).toBe(`${plain}.${mac}`);
    expect(signed).toHaveLength(MAX_REF_LENGTH);
    expect(parseRef(signed, SECRET)).toEqual({ ok: true, traceId: TRACE_ID, spanId: SPAN_ID, signed: true });
  });

  it("rejects a signed ref with any one character edited, and an unsigned one, when a secret is set", () => {
    const signed = encodeRef(TRACE_ID, SPAN_ID, SECRET)!;
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (let index = 4; index < signed.length; index++) {
      if (signed[index] === ".") continue;
      const other = alphabet[(alphabet.indexOf(signed[index]!) + 1) % alphabet.length]!;
      const edited = signed.slice(0, index) + other + signed.slice(index + 1);
      expect(parseRef(edited, SECRET), `edit at ${index}`).toEqual({ ok: false, reason: "bad_signature" });
    }
    expect(parseRef(encodeRef(TRACE_ID, SPAN_ID, undefined), SECRET)).toEqual({ ok: false, reason: "bad_signature" });
    expect(parseRef(encodeRef(TRACE_ID, SPAN_ID, "another-secret-0123456789"), SECRET)).toEqual({
      ok: false,
      reason: "bad_signature",
    });
  });

  it("refuses what is not a ref as bad_ref, whatever it is", () => {
    const plain = encodeRef(TRACE_ID, SPAN_ID, undefined)!;
    for (const value of [
      undefined,
      null,
      42,
      {},
      "",
      "tt1.",
      "tt2." + plain.slice(4),
      plain.slice(0, -1),
      plain + "A",
      plain.slice(0, 10) + "*" + plain.slice(11),
      `${plain}.short`,
      `${plain}.${"A".repeat(22)}.x`,
      "x".repeat(10_000),
      encodeRef(TRACE_ID, SPAN_ID, undefined)!.replace(/^tt1\./, "TT1."),
      `tt1.${Buffer.alloc(24).toString("base64url")}`,
    ]) {
      expect(parseRef(value, undefined), JSON.stringify(value)?.slice(0, 40)).toEqual({ ok: false, reason: "bad_ref" });
    }
  });

  it("gives no ref for ids that are not a valid trace and span", () => {
    expect(encodeRef("0".repeat(32), SPAN_ID, undefined)).toBeUndefined();
    expect(encodeRef(TRACE_ID, "0".repeat(16), undefined)).toBeUndefined();
    expect(encodeRef("xyz", SPAN_ID, undefined)).toBeUndefined();
    expect(encodeRef(TRACE_ID.toUpperCase(), SPAN_ID, undefined)).toBeUndefined();
  });

  it("round-trips any valid ids, signed or not, and never throws on any string", () => {
    const hex = (length: number) =>
      fc.string({ unit: fc.constantFrom(..."0123456789abcdef".split("")), minLength: length, maxLength: length });
    fc.assert(
      fc.property(hex(32), hex(16), fc.boolean(), (traceId, spanId, sign) => {
        fc.pre(traceId !== "0".repeat(32) && spanId !== "0".repeat(16));
        const secret = sign ? SECRET : undefined;
        expect(parseRef(encodeRef(traceId, spanId, secret), secret)).toEqual({
          ok: true,
          traceId,
          spanId,
          signed: sign,
        });
      }),
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (text) => {
        const parsed = parseRef(`tt1.${text}`, SECRET);
        expect(!parsed.ok || parsed.signed).toBe(true);
      }),
    );
  });
});
