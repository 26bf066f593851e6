import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import type { ObserveOptions } from "../../src/index.js";

/**
 * The corpus of personal data and secrets the redaction tests (issue 13) place in every content-bearing field,
 * each value with the marker the pipeline writes for it with every preset on.
 */

export const JWT =
  "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJqYW5lIiwiaWF0IjoxNzAwMDAwMDAwfQ.c2lnbmF0dXJlLXZhbHVlLWZvci10ZXN0cy1vbmx5MTIzNA";
export const CORPUS: readonly (readonly [value: string, marker: string])[] = [
  ["jane.doe@example.com", "[EMAIL]"],
  ["sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7dEf0h", "[API_KEY]"],
  ["4111 1111 1111 1111", "[CREDIT_CARD]"],
  ["+44 20 7946 0958", "[PHONE]"],
  ["GB82 WEST 1234 5698 7654 32", "[IBAN]"],
  ["123-45-6789", "[US_SSN]"],
  ["81.2.69.160", "[IP_ADDRESS]"],
  [JWT, "[JWT]"],
  ["AKIAIOSFODNN7EXAMPLE", "[API_KEY]"],
];
/** Every value of the corpus, each in parentheses. */
export const SENSITIVE = CORPUS.map(([value]) => `(${value})`).join(" ");
/** `SENSITIVE` as the pipeline writes it with every preset on. */
export const REDACTED = CORPUS.map(([, marker]) => `(${marker})`).join(" ");
/** The client's own key, which the server echoes in its errors: replaced by `[REDACTED]` wherever it appears. */
export const CLIENT_KEY = "client-credential-0123456789";
export const ALL_PII: ObserveOptions["pii"] = ["email", "phone", "credit_card", "iban", "ip_address", "us_ssn"];

/** All the text spans export: names, attributes, events' names and attributes, status, links' attributes. */
export function exportedText(spans: readonly ReadableSpan[]): string {
  return JSON.stringify(
    spans.map((span) => ({
      name: span.name,
      attributes: span.attributes,
      events: span.events.map((event) => ({ name: event.name, attributes: event.attributes })),
      status: span.status,
      links: span.links.map((link) => link.attributes),
    })),
  );
}
