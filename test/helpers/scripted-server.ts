import { createServer } from "node:http";
import type { IncomingHttpHeaders } from "node:http";
import type { AddressInfo, Socket } from "node:net";

/**
 * A local HTTP server on 127.0.0.1 that answers each request exactly as a test scripts it: for payloads the
 * mock LLM server would never send (hostile indexes, usage in odd places, echoed credentials). The real SDKs
 * talk to it like to any OpenAI- or Anthropic-compatible endpoint.
 */
export interface ScriptedRequest {
  method: string;
  /** Path and query, as received. */
  url: string;
  headers: IncomingHttpHeaders;
  /** The body parsed as JSON, or `undefined` when it is not JSON. */
  body: unknown;
  rawBody: string;
}

export interface ScriptedAnswer {
  /** Default 200. */
  status?: number;
  /** Default `application/json`, or `text/event-stream` when `events` is given. */
  headers?: Record<string, string>;
  /** A JSON body (serialised with `JSON.stringify`). */
  json?: unknown;
  /** A raw body, written as is. */
  text?: string;
  /**
   * Server-sent events: each item is one event's text after `data: ` (objects are serialised with
   * `JSON.stringify`), or a whole raw frame when it starts with `event:` or `:`. Written in one burst.
   */
  events?: (string | object)[];
}

export type ScriptedHandler = (request: ScriptedRequest) => ScriptedAnswer | Promise<ScriptedAnswer>;

export interface ScriptedServer {
  /** `http://127.0.0.1:<port>` (append `/v1` for the OpenAI SDK's baseURL). */
  readonly url: string;
  readonly requests: ScriptedRequest[];
  close(): Promise<void>;
}

/** The SSE text of `events`, exactly as the server writes it. */
export function sseText(events: readonly (string | object)[]): string {
  return events
    .map((event) => {
      if (typeof event !== "string") return `data: ${JSON.stringify(event)}\n\n`;
      if (event.startsWith("event:") || event.startsWith(":")) return event.endsWith("\n\n") ? event : `${event}\n\n`;
      return `data: ${event}\n\n`;
    })
    .join("");
}

export async function startScriptedServer(handler: ScriptedHandler): Promise<ScriptedServer> {
  const requests: ScriptedRequest[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((request, response) => {
    const pieces: Buffer[] = [];
    request.on("data", (piece: Buffer) => pieces.push(piece));
    request.on("end", () => {
      const rawBody = Buffer.concat(pieces).toString("utf8");
      let body: unknown;
      try {
        body = rawBody === "" ? undefined : JSON.parse(rawBody);
      } catch {
        body = undefined;
      }
      const recorded: ScriptedRequest = {
        method: request.method ?? "",
        url: request.url ?? "",
        headers: request.headers,
        body,
        rawBody,
      };
      requests.push(recorded);
      Promise.resolve()
        .then(() => handler(recorded))
        .then(
          (answer) => {
            const streaming = answer.events !== undefined;
            const headers = {
              "content-type": streaming ? "text/event-stream" : "application/json",
              ...answer.headers,
            };
            response.writeHead(answer.status ?? 200, headers);
            if (streaming) response.end(sseText(answer.events ?? []));
            else if (answer.text !== undefined) response.end(answer.text);
            else response.end(JSON.stringify(answer.json ?? {}));
          },
          (error: unknown) => {
            response.writeHead(500, { "content-type": "application/json" });
            response.end(JSON.stringify({ error: { message: String(error), type: "scripted_server_error" } }));
          },
        );
    });
  });
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
