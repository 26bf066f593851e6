// The mock LLM server in a forked process (bench/mock-server-process.mjs), shared by the benches so the
// server's work never counts as the client's.
import { fork } from "node:child_process";

/**
 * Start the server with its default chat reply (and Anthropic reply). Resolves with the child, its URLs, and
 * `stop()`, which disconnects it and waits for it to exit (killing it after 5 s).
 */
export function startServerProcess(defaultReply, anthropicReply) {
  const args = [
    JSON.stringify(defaultReply),
    ...(anthropicReply === undefined ? [] : [JSON.stringify(anthropicReply)]),
  ];
  const child = fork(new URL("./mock-server-process.mjs", import.meta.url), args, {
    // The bench's --expose-gc is of no use to the server.
    execArgv: [],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const stop = () =>
    new Promise((done) => {
      if (child.exitCode !== null || child.signalCode !== null) return done();
      const backstop = setTimeout(() => child.kill("SIGKILL"), 5000);
      child.once("exit", () => {
        clearTimeout(backstop);
        done();
      });
      child.disconnect();
    });
  return new Promise((resolve, reject) => {
    const onExit = (code) => reject(new Error(`mock server process exited early with code ${code}`));
    child.once("exit", onExit);
    child.once("error", reject);
    child.once("message", (message) => {
      child.off("exit", onExit);
      resolve({ child, baseURL: message.url, anthropicURL: message.anthropicURL, stop });
    });
  });
}
