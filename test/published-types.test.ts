import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";

// The published declarations (dist/*.d.ts, built by tsup; `npm test` builds before vitest runs). Their
// types are checked by test-types/ (`npm run typecheck:dist`); this file checks what a reader sees in them.
const dist = fileURLToPath(new URL("../dist/", import.meta.url));
const entries = ["index", "setup", "otlp", "prometheus", "testing"];

beforeAll(() => {
  const missing = entries.filter((entry) => !existsSync(join(dist, `${entry}.d.ts`)));
  if (missing.length > 0) {
    throw new Error(
      `dist/ has no ${missing.map((entry) => `${entry}.d.ts`).join(", ")}: these tests read the build. Run \`npm run build\` first (\`npm test\` builds before vitest).`,
    );
  }
});

function declarationFiles(): string[] {
  return readdirSync(dist).filter((file) => file.endsWith(".d.ts") || file.endsWith(".d.cts"));
}

/** Names in `export { a, type B, c as C }` statements (the exported names). */
function exportedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const match of text.matchAll(/^export (?:type )?\{([^}]*)\}/gm)) {
    for (const part of (match[1] ?? "").split(",")) {
      const name = part
        .trim()
        .replace(/^type /, "")
        .split(" as ")
        .pop()
        ?.trim();
      if (name !== undefined && name !== "") names.add(name);
    }
  }
  return names;
}

/** Module header comments that dts bundling leaves in: a doc comment followed by a blank line or another one. */
function detachedDocComments(text: string): string[] {
  const found: string[] = [];
  for (const match of text.matchAll(/\/\*\*((?:(?!\*\/)[\s\S])*)\*\/\n(?=\n|\/\*\*)/g)) {
    const firstLine = (match[1] ?? "").split("\n").find((line) => line.replace(/^\s*\*?\s*/, "") !== "");
    found.push((firstLine ?? "").replace(/^\s*\*?\s*/, ""));
  }
  return found;
}

describe("the published .d.ts", () => {
  it("exports from each entry every type that entry declares or imports for its signatures", () => {
    const unexported: Record<string, string[]> = {};
    for (const entry of entries) {
      const text = readFileSync(join(dist, `${entry}.d.ts`), "utf8");
      const exported = exportedNames(text);
      const declared = [...text.matchAll(/^(?:declare )?(?:interface|type|class|declare class|enum) (\w+)/gm)].map(
        (match) => match[1] ?? "",
      );
      // Types that come from tokentrace's own shared chunks (`import { O as ObserveOptions } from './config-...'`).
      const fromChunks = [...text.matchAll(/^import \{([^}]*)\} from '\.\/[^']*';$/gm)].flatMap((match) =>
        (match[1] ?? "").split(",").map((part) => part.split(" as ").pop()?.trim() ?? ""),
      );
      const missing = [...declared, ...fromChunks].filter((name) => name !== "" && !exported.has(name));
      if (missing.length > 0) unexported[entry] = missing;
    }
    expect(unexported).toEqual({});
  });

  it("carries no module header comments of the source files", () => {
    const leaks = declarationFiles()
      .filter((file) => file.endsWith(".d.ts"))
      .flatMap((file) => detachedDocComments(readFileSync(join(dist, file), "utf8")));
    expect(leaks).toEqual([]);
  });
});
