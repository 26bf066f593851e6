/**
 * The mock LLM server in its own process, forked by bench/run.mjs, so the CPU spent serving replies is
 * not counted in the bench process's `process.cpuUsage()`.
 *
 * argv[2]: the server's default reply as JSON. Sends `{ url }` (the OpenAI base URL) to the parent once
 * listening. Messages: `"reset"` clears the recorded requests (they would otherwise grow for the whole
 * run). Exits when the parent disconnects, including when the parent dies.
 */
import { startMockLLMServer } from "../dist/testing.js";

const defaultReply = JSON.parse(process.argv[2] ?? "{}");
const server = await startMockLLMServer({ defaultReply });

process.on("message", (message) => {
  if (message === "reset") server.reset();
});
process.once("disconnect", () => {
  server.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});

process.send?.({ url: server.openaiBaseURL });
