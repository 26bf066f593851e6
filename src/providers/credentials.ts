/**
 * Names of headers and query parameters whose values are credentials: the providers' own (`Authorization`,
 * `x-api-key`, `api-key`, Gemini's `?key=`) and the ones gateways in front of them use (`x-portkey-api-key`,
 * `cf-aig-authorization`, `x-custom-auth`, `?token=`, `?sig=`). Matched by name, not listed, so a gateway's own
 * header is covered too; a false match only redacts a value from error text.
 */
const credentialName = /auth|key|token|secret|passw|cookie|session|signature|^sig$|credential/i;

/**
 * The client's own credentials, read when asked (keys can be rotated through the SDKs' key setters): its
 * `apiKey` and `authToken`, and the values of credential-named headers among its `defaultHeaders` and
 * parameters among its `defaultQuery`, each also without a `Bearer ` prefix. Never throws. Used only to redact them from recorded error text.
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
    const fields = client as {
      apiKey?: unknown;
      authToken?: unknown;
      _options?: { defaultHeaders?: unknown; defaultQuery?: unknown };
    };
    add(fields.apiKey);
    add(fields.authToken);
    // Other credentials the SDKs keep on the client (openai's `adminAPIKey`, `webhookSecret`; Anthropic's
    // `webhookKey`), found by name like the headers: own enumerable fields only, a handful per client.
    for (const [name, value] of Object.entries(client)) {
      if (name !== "apiKey" && name !== "authToken" && credentialName.test(name)) add(value);
    }
    const addCredential = (name: string, value: unknown): void => {
      if (credentialName.test(name)) add(value);
    };
    forEachHeader(fields._options?.defaultHeaders, addCredential);
    forEachHeader(fields._options?.defaultQuery, addCredential);
  } catch {
    // A client we cannot read has nothing we can redact.
  }
  // Longest first: a key inside a longer header value is replaced as part of the whole value.
  return secrets.sort((a, b) => b.length - a.length);
}

/** What a reading of a client's credentials depends on: the fields its key setters replace. */
interface CredentialReading {
  apiKey: unknown;
  authToken: unknown;
  options: unknown;
  headers: unknown;
  query: unknown;
  secrets: string[];
}

/**
 * A reader of `clientSecrets(client)` that reads again only when the client's key, token, options or their
 * header and query objects are other objects than at the last reading (the SDKs' setters replace them): the
 * recorder asks on every call that records text, and reading walks the client's fields. The reading lives in
 * the reader, which the client's description holds.
 */
export function clientSecretsReader(client: object): () => readonly string[] {
  let cached: CredentialReading | undefined;
  return () => {
    try {
      const fields = client as {
        apiKey?: unknown;
        authToken?: unknown;
        _options?: { defaultHeaders?: unknown; defaultQuery?: unknown };
      };
      const options = fields._options;
      if (
        cached !== undefined &&
        cached.apiKey === fields.apiKey &&
        cached.authToken === fields.authToken &&
        cached.options === options &&
        cached.headers === options?.defaultHeaders &&
        cached.query === options?.defaultQuery
      ) {
        return cached.secrets;
      }
      const secrets = clientSecrets(client);
      cached = {
        apiKey: fields.apiKey,
        authToken: fields.authToken,
        options,
        headers: options?.defaultHeaders,
        query: options?.defaultQuery,
        secrets,
      };
      return secrets;
    } catch {
      return clientSecrets(client);
    }
  };
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
