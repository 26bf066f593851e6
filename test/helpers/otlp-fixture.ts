import { diag, DiagLogLevel } from "@opentelemetry/api";
import type { DiagLogger } from "@opentelemetry/api";
import { startMockLLMServer } from "../../src/testing/index.js";
import type { MockLLMServer } from "../../src/testing/index.js";
import { startOtlpReceiver } from "./otlp-receiver.js";
import type { OtlpReceiver } from "./otlp-receiver.js";

/** What the OTLP suites start before each test: the mock model server, an OTLP receiver, and diag's warnings. */
export interface OtlpFixture {
  server: MockLLMServer;
  receiver: OtlpReceiver;
  /** diag warnings and errors (errors prefixed `error: `) since the fixture started. */
  warnings: string[];
  /** Closes the receiver and the server and stops collecting warnings. */
  close(): Promise<void>;
}

export async function startOtlpFixture(): Promise<OtlpFixture> {
  const server = await startMockLLMServer();
  const receiver = await startOtlpReceiver();
  const warnings: string[] = [];
  const logger: DiagLogger = {
    error: (message) => warnings.push(`error: ${message}`),
    warn: (message) => warnings.push(message),
    info: () => {},
    debug: () => {},
    verbose: () => {},
  };
  diag.setLogger(logger, DiagLogLevel.WARN);
  return {
    server,
    receiver,
    warnings,
    close: async () => {
      await receiver.close();
      await server.close();
      diag.disable();
    },
  };
}
