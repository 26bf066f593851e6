/** Address and port of a client's `baseURL`, as `server.address` / `server.port` report them. */
export interface Endpoint {
  address: string | undefined;
  port: number | undefined;
}

export function endpointOf(baseURL: unknown): Endpoint {
  if (typeof baseURL !== "string") return { address: undefined, port: undefined };
  try {
    // Only host and port are ever kept: credentials in a URL never reach an attribute.
    const url = new URL(baseURL);
    const address = url.hostname.replace(/^\[(.*)\]$/, "$1");
    const port = url.port !== "" ? Number(url.port) : url.protocol === "http:" ? 80 : 443;
    return { address, port };
  } catch {
    return { address: undefined, port: undefined };
  }
}

/** Loopback hosts: local model servers (Ollama, vLLM, LM Studio, the tokentrace mock server). */
export function isLoopback(address: string | undefined): boolean {
  return address === "localhost" || address === "::1" || (address?.startsWith("127.") ?? false);
}
