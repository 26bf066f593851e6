import { readFileSync, readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { CONTENT_ATTRIBUTES, CONTENT_ATTRIBUTE_PREFIXES } from "../src/semconv.js";

/**
 * Issue 13: content attributes are written only where the redaction pipeline runs. test/content-attributes.test.ts
 * proves each listed attribute is redacted on real calls; this test keeps the list of source files that name
 * a content attribute exact, so a new writer (which might skip the pipeline) fails here until someone has
 * looked at it and added it below.
 */

const SRC = join(import.meta.dirname, "..", "src");

function sourceFiles(directory: string): string[] {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith(".ts") ? [path] : [];
  });
}

/** The constant semconv.ts names each attribute with. */
function constantsOf(names: readonly string[]): Map<string, string> {
  const semconv = readFileSync(join(SRC, "semconv.ts"), "utf8");
  const constants = new Map<string, string>();
  for (const match of semconv.matchAll(/export const (\w+) = "([^"]+)";/g)) {
    if (names.includes(match[2]!)) constants.set(match[1]!, match[2]!);
  }
  return constants;
}

/** Why each file may name content attributes: each passes the values through the pipeline, or only reads them. */
const WRITERS: Record<string, string[]> = {
  // Calls' messages, instructions and tools (writeContent) and their error text (writeError via errorText).
  "recorder/span-attributes.ts": [
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.tool.definitions",
  ],
  "error-facts.ts": ["exception.message", "exception.stacktrace"],
  // Stage inputs, outputs and error text (recordContent, end), and reading withContext() metadata for metrics.
  "stages.ts": [
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
    "tokentrace.stage.input",
    "tokentrace.stage.output",
    "exception.message",
    "exception.stacktrace",
    "tokentrace.metadata.",
  ],
  // withContext() tags and metadata, redacted when the scope begins.
  "app-context.ts": ["tokentrace.tags", "tokentrace.metadata."],
  // The request's own metadata: written by the adapters, redacted by the recorder before the span starts.
  "providers/request-user.ts": ["tokentrace.request.metadata."],
  "recorder/call.ts": ["gen_ai.request.stop_sequences", "tokentrace.request.metadata."],
  // The request's stop sequences, bounded; redacted by the recorder before the span starts.
  "providers/openai-payload.ts": ["gen_ai.request.stop_sequences"],
  "providers/anthropic.ts": ["gen_ai.request.stop_sequences"],
  // A feedback comment: with content capture on, redacted and cut before it is recorded.
  "feedback/record.ts": ["gen_ai.evaluation.explanation"],
  // Reads the metadata key a metric carries (already redacted in the scope).
  "recorder/metric-points.ts": ["tokentrace.metadata."],
  // The pipeline itself (message attributes are shaped), and the processor that runs it on others' spans.
  "redaction/pipeline.ts": [
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.tool.definitions",
  ],
  "redaction/span-processor.ts": ["otel.status_description"],
};

describe("content attribute writers", () => {
  it("are exactly the files reviewed to pass content through the redaction pipeline", () => {
    const names = [...CONTENT_ATTRIBUTES, ...CONTENT_ATTRIBUTE_PREFIXES];
    const constants = constantsOf(names);
    const found: Record<string, string[]> = {};
    for (const file of sourceFiles(SRC)) {
      const path = relative(SRC, file).replaceAll("\\", "/");
      if (path === "semconv.ts") continue;
      // Code only: comments and TSDoc name attributes without writing them.
      const text = readFileSync(file, "utf8")
        .replace(/\/\*[\s\S]*?\*\//g, "")
        .replace(/(^|[^:"'`\\])\/\/.*$/gm, "$1");
      const named = new Set<string>();
      for (const [constant, name] of constants) if (new RegExp(`\\b${constant}\\b`).test(text)) named.add(name);
      for (const name of names) if (text.includes(`"${name}"`) || text.includes(`\`${name}`)) named.add(name);
      if (named.size > 0) found[path] = names.filter((name) => named.has(name));
    }
    const expected = Object.fromEntries(
      Object.entries(WRITERS).map(([path, listed]) => [path, names.filter((name) => listed.includes(name))]),
    );
    expect(found).toEqual(expected);
  });
});
