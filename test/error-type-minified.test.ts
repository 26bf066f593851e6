import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { SpanStatusCode } from "@opentelemetry/api";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startMockLLMServer } from "../src/testing/index.js";
import type { MockLLMServer } from "../src/testing/index.js";

const run = promisify(execFile);
const app = fileURLToPath(new URL("./fixtures/minified-app/app.ts", import.meta.url));

let server: MockLLMServer;
let directory: string;
beforeAll(async () => {
  server = await startMockLLMServer();
  directory = await mkdtemp(join(tmpdir(), "tokentrace-minified-"));
});
afterAll(async () => {
  await server.close();
  await rm(directory, { recursive: true, force: true });
});

/** A URL on which nothing listens: a port the system gave and took back. */
async function closedURL(): Promise<string> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return `http://127.0.0.1:${port}/v1`;
}

describe("error.type in a minified bundle", () => {
  it("names the SDK's error classes although the bundle renamed them", async () => {
    const outfile = join(directory, "app.cjs");
    await build({
      entryPoints: [app],
      bundle: true,
      platform: "node",
      format: "cjs",
      target: "node20",
      minify: true,
      keepNames: false,
      outfile,
      logLevel: "silent",
    });
    server.enqueue({ status: 429 });
    server.enqueue({ status: 500 });
    server.enqueue({ status: 400 });
    const { stdout } = await run(process.execPath, [outfile, server.openaiBaseURL, await closedURL()]);
    const result = JSON.parse(stdout) as {
      errorTypes: string[];
      constructorNames: string[];
      aborted: { errorType: string | null; status: number };
    };
    // Not vacuous: the classes really lost their names in the bundle.
    expect(result.constructorNames).toHaveLength(5);
    for (const name of [
      "RateLimitError",
      "InternalServerError",
      "BadRequestError",
      "APIConnectionError",
      "APIUserAbortError",
    ]) {
      expect(result.constructorNames).not.toContain(name);
    }
    expect(result.errorTypes).toEqual([
      "RateLimitError",
      "InternalServerError",
      "BadRequestError",
      "APIConnectionError",
    ]);
    // An abort is still told apart from a failure.
    expect(result.aborted).toEqual({ errorType: null, status: SpanStatusCode.UNSET });
  });
});
