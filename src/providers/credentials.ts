/** Header names whose values are credentials (OpenAI, Azure OpenAI, Anthropic, and gateways in front of them). */
const credentialHeaders: ReadonlySet<string> = new Set(["authorization", "x-api-key", "api-key"]);

/**
 * The client's own credentials, read when asked (keys can be rotated through the SDKs' key setters): its
 * `apiKey` and `authToken`, and the values of credential headers among its `defaultHeaders`, each also
 * without a `Bearer ` prefix. Never throws. Used only to redact them from recorded error text.
 */
export function clientSecrets(client: object): string[] {
  const secrets: string[] = [];
  const add = (value: unknown): void => {
    if (typeof value !== "string" || value === "") return;
    secrets.push(value);
    const bearer = /^bearer\s+(.+)$/i.exec(value)?.[1];
    if (bearer !== undefined) secrets.push(bearer);
  };
  try {
    const fields = client as { apiKey?: unknown; authToken?: unknown; _options?: { defaultHeaders?: unknown } };
    add(fields.apiKey);
    add(fields.authToken);
    forEachHeader(fields._options?.defaultHeaders, (name, value) => {
      if (credentialHeaders.has(name.toLowerCase())) add(value);
    });
  } catch {
    // A client we cannot read has nothing we can redact.
  }
  // Longest first: a key inside a longer header value is replaced as part of the whole value.
  return secrets.sort((a, b) => b.length - a.length);
}

/** The SDKs' `HeadersLike`: a Headers object, an array of pairs, or a record. */
function forEachHeader(headers: unknown, visit: (name: string, value: unknown) => void): void {
  if (headers === null || typeof headers !== "object") return;
  if (typeof (headers as Headers).forEach === "function" && !Array.isArray(headers)) {
    (headers as Headers).forEach((value, name) => visit(name, value));
    return;
  }
  if (Array.isArray(headers)) {
    for (const pair of headers as unknown[]) if (Array.isArray(pair)) visit(String(pair[0]), pair[1]);
    return;
  }
  for (const [name, value] of Object.entries(headers)) visit(name, value);
}
