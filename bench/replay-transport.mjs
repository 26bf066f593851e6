// An in-memory `fetch` for the deterministic bench (bench/instructions.mjs): the first request with a given URL and
// body goes to the embedded mock server over loopback and its reply is kept; every later request with the same URL
// and body gets the same bytes back from memory, as a `Response` whose body delivers one server-sent event per read
// (a JSON body in one read), as a server flushing each event would. No socket, no undici timers, and the same chunk
// boundaries on every call, so the instructions a call executes do not depend on the machine or on timing.
import { startMockLLMServer } from "../dist/testing.js";

const encoder = new TextEncoder();

/**
 * Starts the mock server with one reply for each route and returns `{ fetch, baseURL, anthropicURL, close }`.
 * After `close()` the server is gone and a request not seen before throws.
 */
export async function startReplayTransport({ chat = {}, responses = {}, anthropic = {} } = {}) {
  const server = await startMockLLMServer({ defaultReply: chat });
  const replies = new Map();
  let open = true;

  const record = async (url, init) => {
    // Each distinct request is answered once by the server, so one queued reply per route is enough.
    if (url.endsWith("/responses")) server.enqueueResponses(responses);
    if (url.endsWith("/messages")) server.enqueueAnthropic(anthropic);
    const response = await globalThis.fetch(url, init);
    const text = await response.text();
    const headers = [...response.headers].filter(
      ([name]) => !["content-length", "connection", "keep-alive", "date", "transfer-encoding"].includes(name),
    );
    const isEventStream = (response.headers.get("content-type") ?? "").includes("text/event-stream");
    const pieces = isEventStream ? text.split(/(?<=\n\n)/) : [text];
    return { status: response.status, headers, chunks: pieces.map((piece) => encoder.encode(piece)) };
  };

  const fetch = async (input, init = {}) => {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    const key = `${init.method ?? "GET"} ${url}\n${typeof init.body === "string" ? init.body : ""}`;
    let reply = replies.get(key);
    if (reply === undefined) {
      if (!open) throw new Error(`replay transport: a request not seen during warm-up: ${key.slice(0, 200)}`);
      reply = await record(url, init);
      replies.set(key, reply);
    }
    const { chunks } = reply;
    let next = 0;
    const body = new ReadableStream({
      pull(controller) {
        if (next < chunks.length) controller.enqueue(chunks[next++]);
        else controller.close();
      },
    });
    return new Response(body, { status: reply.status, headers: reply.headers });
  };

  return {
    fetch,
    baseURL: server.openaiBaseURL,
    anthropicURL: server.anthropicBaseURL,
    /** Distinct requests recorded so far. */
    get recorded() {
      return replies.size;
    },
    close: async () => {
      open = false;
      await server.close();
    },
  };
}
