import OpenAI from "openai";
import { diag, DiagLogLevel } from "@opentelemetry/api";
import { afterEach, describe, expect, it, vi } from "vitest";
import { resolveOptions } from "../src/config.js";
import { envBoolean, envChoice, envInteger, envString } from "../src/internal/env.js";
import { resetWarningsForTests } from "../src/internal/report.js";
import { observe } from "../src/index.js";
import { memorySink, setup } from "../src/setup-entry.js";
import { startMockLLMServer } from "../src/testing/index.js";

const NAME = "TOKENTRACE_TEST_VARIABLE";

afterEach(() => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
});

/** Reads `NAME` set to each value with `read`; returns [value, result, rejected raw values]. */
function readEach<T>(values: (string | undefined)[], read: (onInvalid: (raw: string) => void) => T) {
  return values.map((value) => {
    vi.stubEnv(NAME, value);
    const rejected: string[] = [];
    return [value, read((raw) => rejected.push(raw)), rejected] as const;
  });
}

describe("envBoolean", () => {
  it("accepts true and false in any case, around spaces, and nothing else, as the OpenTelemetry spec says", () => {
    const values = ["true", "TRUE", " True ", "false", "FALSE", "1", "0", "yes", undefined, "", "  "];
    expect(readEach(values, (onInvalid) => envBoolean(NAME, onInvalid))).toEqual([
      ["true", true, []],
      ["TRUE", true, []],
      [" True ", true, []],
      ["false", false, []],
      ["FALSE", false, []],
      ["1", undefined, ["1"]],
      ["0", undefined, ["0"]],
      ["yes", undefined, ["yes"]],
      [undefined, undefined, []],
      ["", undefined, []],
      ["  ", undefined, []],
    ]);
  });
});

describe("envInteger", () => {
  it("accepts integers in range and rejects the rest, with one word for a value that is not a number", () => {
    const seen: string[] = [];
    diag.setLogger(
      { error: () => {}, warn: (message) => seen.push(message), info: () => {}, debug: () => {}, verbose: () => {} },
      DiagLogLevel.WARN,
    );
    try {
      const values = ["64", " 100 ", "63", "1e3", "12.5", "abc", "9007199254740993", undefined, " "];
      expect(readEach(values, (onInvalid) => envInteger(NAME, 64, 10_000, onInvalid))).toEqual([
        ["64", 64, []],
        [" 100 ", 100, []],
        ["63", undefined, ["63"]],
        ["1e3", 1000, []],
        ["12.5", undefined, ["12.5"]],
        ["abc", undefined, ["abc"]],
        ["9007199254740993", undefined, ["9007199254740993"]],
        [undefined, undefined, []],
        [" ", undefined, []],
      ]);
    } finally {
      diag.disable();
    }
    expect(seen).toEqual([]);
  });
});

describe("envChoice and envString", () => {
  it("match a choice without regard to case or spaces and return it as spelt in the list", () => {
    const choices = ["http/protobuf", "http/json"] as const;
    expect(readEach([" HTTP/JSON", "grpc", ""], (onInvalid) => envChoice(NAME, choices, onInvalid))).toEqual([
      [" HTTP/JSON", "http/json", []],
      ["grpc", undefined, ["grpc"]],
      ["", undefined, []],
    ]);
  });

  it("treat unset, empty and blank strings alike, and keep a set value as it is", () => {
    expect(readEach([undefined, "", " \t", " a b "], () => envString(NAME))).toEqual([
      [undefined, undefined, []],
      ["", undefined, []],
      [" \t", undefined, []],
      [" a b ", " a b ", []],
    ]);
  });
});

describe("tokentrace's boolean variables", () => {
  it("take true and false in any case; 1 and other values warn once and leave the default", () => {
    resetWarningsForTests();
    const written = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    vi.stubEnv("TOKENTRACE_INJECT_STREAM_USAGE", "FALSE");
    vi.stubEnv("TOKENTRACE_CHUNK_TIMING_METRIC", "True");
    expect(resolveOptions(undefined)).toMatchObject({ injectStreamUsage: false, chunkTimingMetric: true });
    vi.stubEnv("TOKENTRACE_INJECT_STREAM_USAGE", "0");
    vi.stubEnv("TOKENTRACE_CHUNK_TIMING_METRIC", "1");
    expect(resolveOptions(undefined)).toMatchObject({ injectStreamUsage: true, chunkTimingMetric: false });
    expect(resolveOptions(undefined)).toMatchObject({ injectStreamUsage: true, chunkTimingMetric: false });
    expect(written.mock.calls.map((call) => call[0])).toEqual([
      'tokentrace: ignoring TOKENTRACE_INJECT_STREAM_USAGE="0": expected true or false; using the default.\n',
      'tokentrace: ignoring TOKENTRACE_CHUNK_TIMING_METRIC="1": expected true or false; using the default.\n',
    ]);
  });

  it("TOKENTRACE_MAX_CONTENT_LENGTH takes an integer of at least 64 and warns once for anything else", () => {
    resetWarningsForTests();
    const written = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    vi.stubEnv("TOKENTRACE_MAX_CONTENT_LENGTH", "4096");
    expect(resolveOptions(undefined).maxContentLength).toBe(4096);
    vi.stubEnv("TOKENTRACE_MAX_CONTENT_LENGTH", "32");
    expect(resolveOptions(undefined).maxContentLength).toBe(16_384);
    expect(written.mock.calls.map((call) => call[0])).toEqual([
      'tokentrace: ignoring TOKENTRACE_MAX_CONTENT_LENGTH="32": expected an integer of at least 64; using the default.\n',
    ]);
  });
});

describe("OTEL_SERVICE_NAME", () => {
  it("names the service when set, and leaves the default when empty", async () => {
    const server = await startMockLLMServer();
    try {
      const names: unknown[] = [];
      for (const value of ["support-bot", ""]) {
        vi.stubEnv("OTEL_SERVICE_NAME", value);
        const sink = memorySink();
        const telemetry = setup({ sinks: [sink], warnings: "off" });
        const client = observe(new OpenAI({ baseURL: server.openaiBaseURL, apiKey: "sk-test", maxRetries: 0 }));
        await client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }] });
        names.push(...sink.getSpans().map((span) => span.resource.attributes["service.name"]));
        await telemetry.shutdown();
      }
      expect(names).toEqual(["support-bot", "unknown_service:node"]);
    } finally {
      await server.close();
    }
  });
});
