import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  PRESET_NAMES,
  findMatches,
  ibanValid,
  isValidCustomKind,
  kindsOf,
  luhnValid,
  redactText,
  TooManyMatchesError,
} from "../src/redaction/detectors.js";
import type { CustomPattern, DetectorKind } from "../src/redaction/detectors.js";

/** Every built-in kind, as a redaction config with all presets on would pass them. */
const ALL_KINDS: ReadonlySet<DetectorKind> = new Set(PRESET_NAMES.flatMap((preset) => kindsOf(preset)));

/** The substrings found for one kind, in order. */
function found(text: string, kind: DetectorKind): string[] {
  return findMatches(text, new Set([kind])).map((match) => text.slice(match.start, match.end));
}

/** Every match with all kinds on, as `kind:substring`. */
function foundAll(text: string, custom?: readonly CustomPattern[]): string[] {
  return findMatches(text, ALL_KINDS, custom).map((match) => `${match.kind}:${text.slice(match.start, match.end)}`);
}

const base64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString("base64url");

// Fake secrets in the providers' formats, built by concatenation so secret scanners do not flag the repository.
const FAKE = {
  openAiProject: "sk-" + "proj-" + "A".repeat(40),
  openAiLegacy: "sk-" + "Z9".repeat(24),
  openAiServiceAccount: "sk-" + "svcacct-" + "B1".repeat(20),
  anthropic: "sk-" + "ant-" + "api03-" + "C".repeat(40),
  awsAccessKeyId: "AKIA" + "0123456789ABCDEF",
  awsSecret: "Q".repeat(20) + "/" + "q1".repeat(9) + "+",
  google: "AIza" + "D".repeat(35),
  github: "ghp" + "_" + "e".repeat(36),
  githubFineGrained: "github" + "_pat_" + "11" + "F".repeat(20) + "_" + "g".repeat(59),
  slack: "xoxb" + "-" + "1234567890" + "-" + "h".repeat(24),
  stripe: "sk" + "_live_" + "i".repeat(24),
  huggingFace: "hf" + "_" + "J".repeat(34),
  jwt: [base64url({ alg: "HS256", typ: "JWT" }), base64url({ sub: "1234567890" }), "s".repeat(43)].join("."),
  password: "hunter" + "2-" + "x".repeat(6),
};

/** A PEM block with its label ("RSA ", "OPENSSH ", "" …): BEGIN line, base64 body, END line. */
const pem = (label: string, body = "MIIB" + "x".repeat(60)): string =>
  `-----BEGIN ${label}PRIVATE KEY-----\n${body}\n-----END ${label}PRIVATE KEY-----`;

const TEST_CARDS = ["4111111111111111", "5555555555554444", "378282246310005", "6011111111111117"];
const TEST_IBANS = [
  "GB82WEST12345698765432",
  "DE89370400440532013000",
  "FR1420041010050500013M02606",
  "NL91ABNA0417164300",
];

describe("presets", () => {
  it("lists every preset name, secrets first", () => {
    expect(PRESET_NAMES).toEqual(["secrets", "email", "phone", "credit_card", "iban", "ip_address", "us_ssn"]);
  });

  it("expands secrets to the five secret kinds and every other preset to itself", () => {
    expect(kindsOf("secrets")).toEqual(["api_key", "bearer_token", "jwt", "private_key", "url_password"]);
    for (const preset of PRESET_NAMES.slice(1)) expect(kindsOf(preset)).toEqual([preset]);
  });

  it("accepts custom kinds of a lower-case letter and up to 31 letters, digits or underscores", () => {
    expect(isValidCustomKind("ticket_id")).toBe(true);
    expect(isValidCustomKind("a" + "b".repeat(31))).toBe(true);
    expect(isValidCustomKind("a" + "b".repeat(32))).toBe(false);
    expect(isValidCustomKind("Ticket")).toBe(false);
    expect(isValidCustomKind("1ticket")).toBe(false);
    expect(isValidCustomKind("ticket-id")).toBe(false);
    expect(isValidCustomKind("")).toBe(false);
  });
});

describe("email", () => {
  it("finds addresses with dotted, tagged and subdomain parts, without trailing punctuation", () => {
    expect(found("Write to jane.doe+billing@example.co.uk today.", "email")).toEqual([
      "jane.doe+billing@example.co.uk",
    ]);
    expect(found("<bob_smith@mail.example.com>", "email")).toEqual(["bob_smith@mail.example.com"]);
    expect(found("Ends a sentence: ops@example.org.", "email")).toEqual(["ops@example.org"]);
    expect(found("a@x.io, b@y.dev", "email")).toEqual(["a@x.io", "b@y.dev"]);
  });

  it("ignores package versions, local hosts, scoped packages and one-letter TLDs", () => {
    for (const text of ["npm i react@18.2.0", "ssh root@localhost", "@types/node", "a@b.c", "foo@bar", "x@-a.com"]) {
      expect(found(text, "email"), text).toEqual([]);
    }
  });

  it("leaves the password of a URL to url_password instead of swallowing the host", () => {
    const text = `postgres://admin:${FAKE.password}@db.example.com/app`;
    expect(found(text, "email")).toEqual([]);
    expect(foundAll(text)).toEqual([`url_password:${FAKE.password}`]);
  });
});

describe("phone", () => {
  it("finds international numbers with spaces, dashes, dots and parentheses", () => {
    expect(found("Call +44 20 7946 0958 now", "phone")).toEqual(["+44 20 7946 0958"]);
    expect(found("+1 (415) 555-2671", "phone")).toEqual(["+1 (415) 555-2671"]);
    expect(found("Berlin: +49-30-1234567.", "phone")).toEqual(["+49-30-1234567"]);
    expect(found("(+33 1 23 45 67 89)", "phone")).toEqual(["+33 1 23 45 67 89"]);
  });

  it("finds North American numbers in their usual forms", () => {
    expect(found("(415) 555-2671", "phone")).toEqual(["(415) 555-2671"]);
    expect(found("415.555.2671", "phone")).toEqual(["415.555.2671"]);
    expect(found("call 555 123 4567", "phone")).toEqual(["555 123 4567"]);
    expect(found("1-800-555-0199", "phone")).toEqual(["1-800-555-0199"]);
  });

  it("ignores dates, versions, plain numbers, times, ISBNs, order numbers and invalid area codes", () => {
    const misses = [
      "2024-01-15",
      "1.2.3.4",
      "12345678",
      "Order 20240115",
      "at 10:30:00",
      "2024-01-15T10:30:00+05:30",
      "+12 34",
      "ISBN 978-3-16-148410-0",
      "ORD-555-123-4567",
      "123-456-7890",
      "555-123-45678",
    ];
    for (const text of misses) expect(found(text, "phone"), text).toEqual([]);
  });
});

describe("credit_card", () => {
  it("finds Luhn-valid numbers of known networks, compact or grouped", () => {
    for (const card of TEST_CARDS) expect(found(`card ${card}.`, "credit_card")).toEqual([card]);
    expect(found("5555 5555 5555 4444", "credit_card")).toEqual(["5555 5555 5555 4444"]);
    expect(found("3782-822463-10005", "credit_card")).toEqual(["3782-822463-10005"]);
    expect(found("card 4111 1111 1111 1111 exp 12/26", "credit_card")).toEqual(["4111 1111 1111 1111"]);
  });

  it("finds a card after another number in the same run of groups", () => {
    expect(found("order 123 4111 1111 1111 1111", "credit_card")).toEqual(["4111 1111 1111 1111"]);
  });

  it("ignores Luhn-invalid numbers, unknown prefixes, wrong lengths, short groups, fractions and dash-joined tokens", () => {
    const misses = [
      "4111111111111112",
      "1234567812345670",
      "1705312345678",
      "0.4111111111111111",
      "4111111111111111-2",
      "41111111111111111111",
      "3782822463100050",
      "4111  1111 1111 1111",
      "id 4111-1111-1111-1111-7777",
      "4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1",
      "4111 1111 1111 11 11",
    ];
    for (const text of misses) expect(found(text, "credit_card"), text).toEqual([]);
  });

  it("checks Luhn on digits only", () => {
    for (const card of TEST_CARDS) expect(luhnValid(card)).toBe(true);
    expect(luhnValid("4111111111111112")).toBe(false);
    expect(luhnValid("4111 1111 1111 1111")).toBe(false);
    expect(luhnValid("")).toBe(false);
    expect(luhnValid("abc")).toBe(false);
  });
});

describe("iban", () => {
  it("finds valid IBANs, compact or in groups of four", () => {
    for (const iban of TEST_IBANS) expect(found(`IBAN ${iban}.`, "iban")).toEqual([iban]);
    expect(found("GB82 WEST 1234 5698 7654 32", "iban")).toEqual(["GB82 WEST 1234 5698 7654 32"]);
    expect(found("IBAN: NL91 ABNA 0417 1643 00, thanks", "iban")).toEqual(["NL91 ABNA 0417 1643 00"]);
    expect(found("DE89 3704 0044 0532 0130 00 FOR RENT", "iban")).toEqual(["DE89 3704 0044 0532 0130 00"]);
  });

  it("ignores wrong checksums, wrong lengths, lower case and longer tokens", () => {
    const misses = [
      "GB83WEST12345698765432",
      "DE89370400440532013001",
      "GB82WEST1234569876543",
      "gb82west12345698765432",
      "GB82WEST12345698765432X",
      "GB82WEST12345698765432_ref",
    ];
    for (const text of misses) expect(found(text, "iban"), text).toEqual([]);
  });

  it("validates checksum, shape, country length and spacing", () => {
    for (const iban of TEST_IBANS) expect(ibanValid(iban)).toBe(true);
    expect(ibanValid("GB82 WEST 1234 5698 7654 32")).toBe(true);
    expect(ibanValid("GB82  WEST 1234 5698 7654 32")).toBe(false);
    expect(ibanValid("GB82 WEST 1234 5698 7654 32 ")).toBe(false);
    expect(ibanValid("GB83WEST12345698765432")).toBe(false);
    expect(ibanValid("GB82WEST1234569876543")).toBe(false);
    expect(ibanValid("gb82west12345698765432")).toBe(false);
    expect(ibanValid("")).toBe(false);
  });
});

describe("ip_address", () => {
  it("finds IPv4 addresses, also with a port or a prefix length", () => {
    expect(found("host 10.0.0.1 is up", "ip_address")).toEqual(["10.0.0.1"]);
    expect(found("192.168.1.254:8080", "ip_address")).toEqual(["192.168.1.254"]);
    expect(found("10.0.0.0/8 and 255.255.255.255.", "ip_address")).toEqual(["10.0.0.0", "255.255.255.255"]);
    expect(found("1.2.3.4", "ip_address")).toEqual(["1.2.3.4"]);
  });

  it("finds IPv6 addresses, full, compressed and with an IPv4 tail", () => {
    expect(found("2001:0db8:85a3:0000:0000:8a2e:0370:7334", "ip_address")).toEqual([
      "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
    ]);
    expect(found("via 2001:db8::8a2e:370:7334.", "ip_address")).toEqual(["2001:db8::8a2e:370:7334"]);
    expect(found("link fe80::1", "ip_address")).toEqual(["fe80::1"]);
    expect(found("::ffff:192.0.2.128", "ip_address")).toEqual(["::ffff:192.0.2.128"]);
    expect(found("https://[2001:db8::1]:443/", "ip_address")).toEqual(["2001:db8::1"]);
  });

  it("ignores versions, longer dotted numbers, out-of-range parts, times, MACs and code", () => {
    const misses = [
      "v1.2.3.4",
      "1.2.3.4.5",
      "256.1.1.1",
      "12:30",
      "10:30:45",
      "::",
      "::1",
      "dead:beef",
      "dead::beef",
      "std::vector",
      "a[1::2]",
      "00:1A:2B:3C:4D:5E",
      "Chrome/120.0.6099.109",
    ];
    for (const text of misses) expect(found(text, "ip_address"), text).toEqual([]);
  });
});

describe("us_ssn", () => {
  it("finds numbers with dashes or with spaces", () => {
    expect(found("SSN 123-45-6789.", "us_ssn")).toEqual(["123-45-6789"]);
    expect(found("ssn: 219 09 9999", "us_ssn")).toEqual(["219 09 9999"]);
  });

  it("ignores numbers the SSA never issues, mixed separators and longer tokens", () => {
    const misses = [
      "999-12-3456",
      "900-12-3456",
      "000-12-3456",
      "666-12-3456",
      "123-00-6789",
      "123-45-0000",
      "123-45 6789",
      "123-45-67890",
      "ORD-123-45-6789",
      "2024-01-15",
    ];
    for (const text of misses) expect(found(text, "us_ssn"), text).toEqual([]);
  });
});

describe("api_key", () => {
  it("finds each provider's key format", () => {
    const keys = [
      FAKE.openAiProject,
      FAKE.openAiLegacy,
      FAKE.openAiServiceAccount,
      FAKE.anthropic,
      FAKE.awsAccessKeyId,
      FAKE.google,
      FAKE.github,
      FAKE.githubFineGrained,
      FAKE.slack,
      FAKE.stripe,
      FAKE.huggingFace,
    ];
    for (const key of keys) expect(found(`key="${key}"`, "api_key")).toEqual([key]);
  });

  it("finds an AWS secret access key only after its name, and reports the key alone", () => {
    expect(found(`aws_secret_access_key = ${FAKE.awsSecret}`, "api_key")).toEqual([FAKE.awsSecret]);
    expect(found(`{"AWS_SECRET_ACCESS_KEY": "${FAKE.awsSecret}"}`, "api_key")).toEqual([FAKE.awsSecret]);
    expect(found(`secret ${FAKE.awsSecret}`, "api_key")).toEqual([]);
  });

  it("ignores words that share a prefix and keys that are too short", () => {
    const misses = [
      "sk-learn-compatible-estimators-list",
      "task-" + "A".repeat(30),
      "AKIA" + "0123456789ABCDE",
      "ghp" + "_" + "e".repeat(35),
      "hf" + "_" + "downloadmodelweightsfromhubcache",
      "xoxo-gossip-girl-fans-club",
      "AIza" + "D".repeat(34),
    ];
    for (const text of misses) expect(found(text, "api_key"), text).toEqual([]);
  });
});

describe("bearer_token", () => {
  it("reports the token after Bearer, not the word", () => {
    const token = "abc123DEF456ghi789";
    expect(found(`Authorization: Bearer ${token}`, "bearer_token")).toEqual([token]);
    expect(found(`authorization: bearer ${token}==`, "bearer_token")).toEqual([`${token}==`]);
  });

  it("ignores short tokens and prose", () => {
    expect(found("Authorization: Bearer abc.def", "bearer_token")).toEqual([]);
    expect(found("the bearer of bad news", "bearer_token")).toEqual([]);
  });
});

describe("jwt", () => {
  it("finds a JWT, also inside a bearer header", () => {
    expect(found(`token=${FAKE.jwt}&next=1`, "jwt")).toEqual([FAKE.jwt]);
    expect(foundAll(`Authorization: Bearer ${FAKE.jwt}`)).toEqual([`jwt:${FAKE.jwt}`]);
  });

  it("needs three non-empty segments, the first two JSON objects", () => {
    const [header, payload] = FAKE.jwt.split(".");
    expect(found(`${header}.${payload}`, "jwt")).toEqual([]);
    expect(found(`${header}.${payload}.`, "jwt")).toEqual([]);
    expect(found(`${header}.cGF5bG9hZHBheWxvYWQ.sig`, "jwt")).toEqual([]);
  });
});

describe("private_key", () => {
  it("finds whole PEM blocks of every label", () => {
    for (const label of ["RSA ", "EC ", "DSA ", "OPENSSH ", "ENCRYPTED ", ""]) {
      const block = pem(label);
      expect(found(`key:\n${block}\nthanks`, "private_key")).toEqual([block]);
    }
  });

  it("finds two blocks and leaves the text between them", () => {
    const text = `${pem("RSA ")}\nbetween\n${pem("EC ")}`;
    expect(found(text, "private_key")).toEqual([pem("RSA "), pem("EC ")]);
  });

  it("redacts an unterminated or mismatched block to the end of the text", () => {
    const begin = "-----BEGIN RSA " + "PRIVATE KEY-----";
    expect(found(`key ${begin}\nMIIEow and the rest`, "private_key")).toEqual([`${begin}\nMIIEow and the rest`]);
    const mismatched = `${begin}\nMIIE\n-----END EC PRIVATE KEY----- tail`;
    expect(found(mismatched, "private_key")).toEqual([mismatched]);
  });

  it("ignores public keys and certificates", () => {
    expect(found("-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----", "private_key")).toEqual([]);
    expect(found("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----", "private_key")).toEqual([]);
  });
});

describe("url_password", () => {
  it("reports the password of a URL's userinfo only", () => {
    expect(found(`postgres://admin:${FAKE.password}@db.example.com:5432/app`, "url_password")).toEqual([FAKE.password]);
    expect(found(`redis://:${FAKE.password}@cache:6379`, "url_password")).toEqual([FAKE.password]);
    expect(found("ftp://user:p@ss@files.example.com/", "url_password")).toEqual(["p@ss"]);
  });

  it("ignores URLs without a password", () => {
    for (const text of ["https://user@example.com", "http://example.com:8080/path", "mysql://root:@localhost"]) {
      expect(found(text, "url_password"), text).toEqual([]);
    }
  });
});

describe("near-misses with every kind on", () => {
  it("finds nothing in dates, versions, ids, hashes, timestamps and prose", () => {
    const texts = [
      "Released 2024-01-15 at 10:30:00Z, build 2024.01.15",
      "2024-01-15T10:30:00+05:30",
      "upgrade to v1.2.3.4 then 1.2.3.4.5",
      "Order #20240115-0042 shipped",
      "ts=1705312345678",
      "request 123e4567-e89b-12d3-a456-426614174000",
      "commit 3f786850e387550fdab836ed7e6dc881de23001b",
      "npm i react@18.2.0 lodash@latest",
      "the bearer of bad news said sk-learn-is-great",
      "refund 999-12-3456 via card 4111111111111112 to GB83WEST12345698765432",
      "Plain words only, nothing to see here.",
    ];
    for (const text of texts) expect(foundAll(text), text).toEqual([]);
  });
});

describe("overlaps", () => {
  it("keeps the earlier start, then the longer match, then the detector listed first", () => {
    const custom: CustomPattern[] = [
      { kind: "short", pattern: /abc/ },
      { kind: "tail", pattern: /bcdef/ },
      { kind: "long", pattern: /abcd/ },
      { kind: "same", pattern: /abcd/ },
    ];
    expect(findMatches("abcdef", new Set(), custom)).toEqual([{ start: 0, end: 4, kind: "long" }]);
  });

  it("prefers the built-in kind on a tie and the earlier custom match on overlap", () => {
    const text = "mail jane@example.com";
    expect(foundAll(text, [{ kind: "address", pattern: /jane@example\.com/ }])).toEqual(["email:jane@example.com"]);
    expect(foundAll(text, [{ kind: "domain", pattern: /example\.com/ }])).toEqual(["email:jane@example.com"]);
    expect(foundAll(text, [{ kind: "greeting", pattern: /mail jane/ }])).toEqual(["greeting:mail jane"]);
  });

  it("reports an OpenAI key after Bearer as an API key", () => {
    expect(foundAll(`Authorization: Bearer ${FAKE.openAiProject}`)).toEqual([`api_key:${FAKE.openAiProject}`]);
  });
});

describe("redactText()", () => {
  const bracket = (kind: string): string => `[${kind.toUpperCase()}]`;

  it("replaces each match and lists the kinds in the order they first appear", () => {
    const text = `Contact jane@example.com or bob@example.org, card 4111 1111 1111 1111, key ${FAKE.openAiProject}.`;
    expect(redactText(text, ALL_KINDS, bracket)).toEqual({
      text: "Contact [EMAIL] or [EMAIL], card [CREDIT_CARD], key [API_KEY].",
      kinds: ["email", "credit_card", "api_key"],
    });
  });

  it("keeps the word Bearer and the URL around a redacted token and password", () => {
    const text = `curl -H "Authorization: Bearer ${"t0k3n".repeat(4)}" https://bot:${FAKE.password}@api.example.com/`;
    expect(redactText(text, new Set(kindsOf("secrets")), bracket)).toEqual({
      text: 'curl -H "Authorization: Bearer [BEARER_TOKEN]" https://bot:[URL_PASSWORD]@api.example.com/',
      kinds: ["bearer_token", "url_password"],
    });
  });

  it("passes each matched value to replace", () => {
    const seen: Array<[string, string]> = [];
    redactText("a 10.0.0.1 b 123-45-6789", ALL_KINDS, (kind, value) => {
      seen.push([kind, value]);
      return "";
    });
    expect(seen).toEqual([
      ["ip_address", "10.0.0.1"],
      ["us_ssn", "123-45-6789"],
    ]);
  });

  it("returns the same text and no kinds when nothing matches", () => {
    const text = "nothing to redact";
    const result = redactText(text, ALL_KINDS, bracket);
    expect(result.text).toBe(text);
    expect(result.kinds).toEqual([]);
  });

  it("runs only the kinds asked for", () => {
    const text = "jane@example.com 10.0.0.1";
    expect(redactText(text, new Set(["ip_address"]), bracket)).toEqual({
      text: "jane@example.com [IP_ADDRESS]",
      kinds: ["ip_address"],
    });
  });
});

describe("custom patterns", () => {
  it("finds every match of a pattern without the global flag and leaves its lastIndex alone", () => {
    const pattern = /ORD-[0-9]{6}/;
    pattern.lastIndex = 7;
    const text = "ORD-123456 and ORD-654321";
    expect(foundAll(text, [{ kind: "order_id", pattern }])).toEqual(["order_id:ORD-123456", "order_id:ORD-654321"]);
    expect(pattern.lastIndex).toBe(7);
  });

  it("searches a global pattern from the start and leaves its lastIndex alone", () => {
    const pattern = /ticket-[0-9]+/g;
    pattern.lastIndex = 5;
    const custom = [{ kind: "ticket", pattern }];
    expect(foundAll("ticket-1 ticket-22", custom)).toEqual(["ticket:ticket-1", "ticket:ticket-22"]);
    expect(foundAll("ticket-1 ticket-22", custom)).toEqual(["ticket:ticket-1", "ticket:ticket-22"]);
    expect(pattern.lastIndex).toBe(5);
  });

  it("steps over empty matches instead of looping, and reports only non-empty ones", () => {
    expect(findMatches("abc", new Set(), [{ kind: "nothing", pattern: /(?:)/g }])).toEqual([]);
    expect(foundAll("axxb x", [{ kind: "x_run", pattern: /x*/ }])).toEqual(["x_run:xx", "x_run:x"]);
  });

  it("matches a sticky pattern anywhere, and keeps its other flags", () => {
    expect(foundAll("xxab", [{ kind: "ab", pattern: /ab/y }])).toEqual(["ab:ab"]);
    expect(foundAll("xxAB", [{ kind: "ab", pattern: /ab/iy }])).toEqual(["ab:AB"]);
  });

  it("refuses a text past 1,000 matches per pattern or 10,000 in all, rather than leave the rest unredacted", () => {
    expect(findMatches("a".repeat(1_000), new Set(), [{ kind: "a", pattern: /a/ }])).toHaveLength(1_000);
    expect(() => findMatches("a".repeat(1_001), new Set(), [{ kind: "a", pattern: /a/ }])).toThrow(TooManyMatchesError);
    const letters = "abcdefghij";
    const text = Array.from(letters, (letter) => letter.repeat(1_000)).join("");
    const custom = Array.from(letters, (letter) => ({ kind: letter, pattern: new RegExp(letter) }));
    expect(findMatches(text, new Set(), custom)).toHaveLength(10_000);
    const more = [...custom, { kind: "k", pattern: /k/ }];
    expect(() => findMatches(`${text}k`, new Set(), more)).toThrow(TooManyMatchesError);
  });
});

describe("properties", () => {
  const base62 = Array.from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789");
  const chars = (alphabet: readonly string[], length: number) =>
    fc.string({ unit: fc.constantFrom(...alphabet), minLength: length, maxLength: length });
  const lower = Array.from("abcdefghijklmnopqrstuvwxyz");
  const digits = Array.from("0123456789");
  const email = fc
    .tuple(
      fc.string({ unit: fc.constantFrom(...lower, ...digits, ".", "_", "%", "+", "-"), minLength: 1, maxLength: 30 }),
      fc.string({ unit: fc.constantFrom(...lower, ...digits), minLength: 1, maxLength: 12 }),
      fc.string({ unit: fc.constantFrom(...lower), minLength: 2, maxLength: 6 }),
    )
    .map(([local, domain, tld]) => `${local}@${domain}.${tld}`);
  const secret = fc.oneof(
    chars(base62, 40)
      .filter((body) => /[A-Z0-9]/.test(body))
      .map((body) => "sk-" + "proj-" + body),
    chars(Array.from("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"), 16).map((body) => "AKIA" + body),
    chars(base62, 36).map((body) => "ghp" + "_" + body),
    fc
      .tuple(chars([...base62, "-", "_"], 20), chars([...base62, "-", "_"], 30), chars(base62, 43))
      .map(([header, payload, signature]) => `eyJ${header}.eyJ${payload}.${signature}`),
    email,
    fc.constantFrom(...TEST_CARDS, ...TEST_IBANS, "123-45-6789", "+44 20 7946 0958", pem("RSA ")),
  );

  it("never leaves a generated secret or email in text redacted to nothing", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), secret, fc.string({ maxLength: 60 }), (before, value, after) => {
        const { text } = redactText(`${before} ${value} ${after}`, ALL_KINDS, () => "");
        expect(text).not.toContain(value);
      }),
    );
  });

  // Text made of the pieces detectors look for, so candidates, rejections and overlaps are common.
  const fragments = [
    "@",
    "a",
    "x.io",
    "1",
    "4111",
    " ",
    "-",
    ".",
    ":",
    "::",
    "+1",
    "GB82",
    "WEST",
    "eyJ",
    "sk-",
    "AKIA",
    "Bearer ",
    "http://u:",
    "-----BEGIN PRIVATE KEY-----",
    "-----END PRIVATE KEY-----",
    "(",
    ")",
    "\n",
  ];
  const detectorish = fc.array(fc.constantFrom(...fragments), { maxLength: 80 }).map((parts) => parts.join(""));

  it("returns sorted, non-overlapping matches within the text for any input", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: "binary" }), detectorish), (text) => {
        const matches = findMatches(text, ALL_KINDS);
        let reached = 0;
        for (const match of matches) {
          expect(match.start).toBeGreaterThanOrEqual(reached);
          expect(match.end).toBeGreaterThan(match.start);
          expect(match.end).toBeLessThanOrEqual(text.length);
          expect(ALL_KINDS.has(match.kind as DetectorKind)).toBe(true);
          reached = match.end;
        }
      }),
    );
  });

  // How long these take is measured in bench/redaction.ts (never a timed test); here, that they finish with
  // well-formed results.
  it("reads 100 KB of hostile input and returns well-formed matches", () => {
    const size = 100_000;
    const fill = (unit: string): string => unit.repeat(Math.ceil(size / unit.length)).slice(0, size);
    const check = (text: string): void => {
      let reached = 0;
      for (const match of findMatches(text, ALL_KINDS)) {
        expect(match.start).toBeGreaterThanOrEqual(reached);
        expect(match.end).toBeGreaterThan(match.start);
        reached = match.end;
      }
      expect(reached).toBeLessThanOrEqual(text.length);
    };
    for (const unit of ["a@", "1-", "1", "1 ", "-----BEGIN ", "AB12 ", "a:b@", "+1 ", "eyJ", "sk-", "http://a:"]) {
      check(fill(unit));
    }
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...fragments), { minLength: 1, maxLength: 4 }), (parts) => {
        check(fill(parts.join("")));
      }),
      { numRuns: 8 },
    );
  });
});
