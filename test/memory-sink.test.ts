import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { afterEach, describe, expect, it, vi } from "vitest";
import { InvalidOptionError, recordFeedback } from "../src/index.js";
import { memorySink, setup } from "../src/setup-entry.js";
import type { MemorySink, MemorySinkOptions, TokentraceHandle } from "../src/setup-entry.js";
import { resetWarningsForTests } from "../src/internal/report.js";

let telemetry: TokentraceHandle | undefined;

afterEach(async () => {
  vi.restoreAllMocks();
  await telemetry?.shutdown();
  telemetry = undefined;
});

/** Sets up `sink` and returns a function that ends one span of the given name through setup()'s provider. */
function endSpansInto(sink: MemorySink): (name: string) => void {
  telemetry = setup({ sinks: [sink], warnings: "stderr" });
  const tracer = telemetry.tracerProvider.getTracer("memory-sink-test");
  return (name) => tracer.startSpan(name).end();
}

const names = (sink: MemorySink): string[] => sink.getSpans().map((span) => span.name);

describe("memorySink's cap", () => {
  it("keeps the newest maxSpans spans oldest first, counts the dropped ones and warns once", () => {
    resetWarningsForTests();
    const sink = memorySink({ maxSpans: 3 });
    const end = endSpansInto(sink);
    const written = vi.spyOn(process.stderr, "write").mockImplementation(() => true);

    for (const name of ["s1", "s2", "s3"]) end(name);
    expect(names(sink)).toEqual(["s1", "s2", "s3"]);
    expect(sink.droppedSpans()).toBe(0);
    expect(written).not.toHaveBeenCalled();

    for (const name of ["s4", "s5"]) end(name);
    expect(names(sink)).toEqual(["s3", "s4", "s5"]);
    expect(sink.droppedSpans()).toBe(2);
    expect(written.mock.calls.map((call) => call[0])).toEqual([
      "tokentrace: memorySink() keeps at most 3 spans (maxSpans); dropping the oldest span for each new one. Raise it with memorySink({ maxSpans }) (up to 1000000), or call reset() between tests.\n",
    ]);
  });

  it("stays oldest first however many times the ring wraps around", () => {
    const sink = memorySink({ maxSpans: 3 });
    const end = endSpansInto(sink);
    vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    for (let i = 1; i <= 11; i += 1) end(`s${i}`);
    expect(names(sink)).toEqual(["s9", "s10", "s11"]);
    expect(sink.droppedSpans()).toBe(8);
  });

  it("reset() empties the sink and zeroes the drop count; the warning stays spent", () => {
    resetWarningsForTests();
    const sink = memorySink({ maxSpans: 2 });
    const end = endSpansInto(sink);
    const written = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    for (const name of ["s1", "s2", "s3"]) end(name);
    expect(sink.droppedSpans()).toBe(1);
    expect(written).toHaveBeenCalledTimes(1);

    sink.reset();
    expect(sink.getSpans()).toEqual([]);
    expect(sink.droppedSpans()).toBe(0);

    for (const name of ["t1", "t2", "t3", "t4"]) end(name);
    expect(names(sink)).toEqual(["t3", "t4"]);
    expect(sink.droppedSpans()).toBe(2);
    expect(written).toHaveBeenCalledTimes(1);
  });

  it("keeps 10,000 spans by default and drops the oldest past them", () => {
    const sink = memorySink();
    const end = endSpansInto(sink);
    vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    end("first");
    // Cheap: one ended span handed to the sink's own processor again, rather than 10,000 spans started and ended.
    const tracer = telemetry!.tracerProvider.getTracer("memory-sink-test");
    const later = tracer.startSpan("later");
    later.end();
    const processor = sink.spanProcessors[0]!;
    // "first", "later" once ended, and 9,998 more times: 10,000 spans, the cap.
    for (let i = 0; i < 9_998; i += 1) processor.onEnd(later as unknown as ReadableSpan);
    expect(sink.getSpans().length).toBe(10_000);
    expect(sink.droppedSpans()).toBe(0);

    end("newest");
    const spans = sink.getSpans();
    expect(spans.length).toBe(10_000);
    expect(spans.filter((span) => span.name === "first")).toEqual([]);
    expect(spans[0]!.name).toBe("later");
    expect(spans[9_999]!.name).toBe("newest");
    expect(sink.droppedSpans()).toBe(1);
  });

  it("returns a copy from getSpans(), so the caller's array does not change as spans end", () => {
    const sink = memorySink({ maxSpans: 2 });
    const end = endSpansInto(sink);
    vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    end("s1");
    const before = sink.getSpans();
    end("s2");
    end("s3");
    expect(before.map((span) => span.name)).toEqual(["s1"]);
    expect(names(sink)).toEqual(["s2", "s3"]);
  });

  it("accepts maxSpans from 1 to 1,000,000", () => {
    const one = memorySink({ maxSpans: 1 });
    const end = endSpansInto(one);
    vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    end("s1");
    end("s2");
    expect(names(one)).toEqual(["s2"]);
    expect(one.droppedSpans()).toBe(1);
    expect(() => memorySink({ maxSpans: 1_000_000 })).not.toThrow();
    expect(() => memorySink({ maxSpans: undefined })).not.toThrow();
  });
});

describe("memorySink's log records", () => {
  it("keeps the newest maxSpans log records of feedback, oldest first, and reset() empties them", () => {
    const sink = memorySink({ maxSpans: 2 });
    telemetry = setup({ sinks: [sink], warnings: "stderr" });
    const ref = `tt1.${Buffer.from("ab".repeat(24), "hex").toString("base64url")}`;
    for (const value of [1, 2, 3]) expect(recordFeedback(ref, { name: "rating", value })).toMatchObject({ ok: true });
    expect(sink.getLogRecords().map((record) => record.attributes["gen_ai.evaluation.score.value"])).toEqual([2, 3]);
    // The sink takes log records: no `evaluation` spans by default.
    expect(sink.getSpans()).toEqual([]);
    sink.reset();
    expect(sink.getLogRecords()).toEqual([]);
  });
});

describe("memorySink's options", () => {
  it("fail at set-up with an InvalidOptionError naming the option and what it accepts", () => {
    const cases: Array<[unknown, string, string]> = [
      [null, "memorySink", "expected an options object, received null"],
      [5, "memorySink", "expected an options object, received number 5"],
      ["big", "memorySink", 'expected an options object, received the string "big"'],
      [[], "memorySink", "expected an options object, received an array"],
      [{ maxspans: 5 }, "memorySink.maxspans", "unknown option. Accepted options: maxSpans."],
      [{ maxSpans: 0 }, "memorySink.maxSpans", "expected an integer from 1 to 1000000 (spans kept), received number 0"],
      [
        { maxSpans: -1 },
        "memorySink.maxSpans",
        "expected an integer from 1 to 1000000 (spans kept), received number -1",
      ],
      [
        { maxSpans: 1_000_001 },
        "memorySink.maxSpans",
        "expected an integer from 1 to 1000000 (spans kept), received number 1000001",
      ],
      [{ maxSpans: 2.5 }, "memorySink.maxSpans", "received number 2.5"],
      [{ maxSpans: Number.NaN }, "memorySink.maxSpans", "received number NaN"],
      [{ maxSpans: Number.POSITIVE_INFINITY }, "memorySink.maxSpans", "received number Infinity"],
      [{ maxSpans: "100" }, "memorySink.maxSpans", 'received the string "100"'],
      [{ maxSpans: null }, "memorySink.maxSpans", "received null"],
    ];
    for (const [options, option, fragment] of cases) {
      let thrown: unknown;
      try {
        memorySink(options as MemorySinkOptions);
      } catch (error) {
        thrown = error;
      }
      expect(thrown, JSON.stringify(options)).toBeInstanceOf(InvalidOptionError);
      expect((thrown as InvalidOptionError).option).toBe(option);
      expect((thrown as Error).message).toContain(`\`${option}\``);
      expect((thrown as Error).message).toContain(fragment);
    }
  });
});
