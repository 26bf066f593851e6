/**
 * The mock LLM server in its own process, forked by bench/run.mjs, so the CPU spent serving replies is
 * not counted in the bench process's `process.cpuUsage()`.
 *
 * argv[2]: the server's default reply as JSON; argv[3], optional: the Anthropic reply as JSON, queued for
 * every Anthropic request. Sends `{ url, anthropicURL }` to the parent once listening. Messages: `"reset"`
 * clears the recorded requests (they would otherwise grow for the whole run) and refills the Anthropic
 * queue. Exits when the parent disconnects, including when the parent dies.
 */
import { startMockLLMServer } from "../dist/testing.js";

const defaultReply = JSON.parse(process.argv[2] ?? "{}");
const anthropicReply = process.argv[3] === undefined ? undefined : JSON.parse(process.argv[3]);
const server = await startMockLLMServer({ defaultReply });
// More than one bench round asks for; refilled on every reset.
const fillAnthropicQueue = () => {
  if (anthropicReply !== undefined) server.enqueueAnthropic(...Array.from({ length: 5000 }, () => anthropicReply));
};
fillAnthropicQueue();

process.on("message", (message) => {
  if (message === "reset") {
    server.reset();
    fillAnthropicQueue();
  }
});
process.once("disconnect", () => {
  server.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});

process.send?.({ url: server.openaiBaseURL, anthropicURL: server.anthropicBaseURL });
