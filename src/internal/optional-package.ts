// Loading the optional peer dependencies (the OTLP and Prometheus exporters): installed only by apps that use
// them (issue 11), loaded only when a sink that needs them is created, and named with the command that installs
// them when they are missing. Synchronous (`require`), so sink factories stay synchronous; `createRequire` of
// this module's URL works in the ES module build and in the CommonJS one (tsup's `shims` gives it
// `import.meta.url`).
import { createRequire } from "node:module";
import { TokentraceError } from "../errors.js";

const load = createRequire(import.meta.url);

/** True when `error` says that `packageName` itself (not something it needs) could not be found. */
function isMissing(error: unknown, packageName: string): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  return (code === "MODULE_NOT_FOUND" || code === "ERR_MODULE_NOT_FOUND") && error.message.includes(`'${packageName}'`);
}

/**
 * Loads each of `packageNames` for `usedBy` (e.g. `otlpSink()`). Throws one `TokentraceError` that names every
 * package missing and the command that installs them all; any other load failure is rethrown unchanged.
 */
export function requireOptional(usedBy: string, packageNames: readonly string[]): unknown[] {
  const modules: unknown[] = [];
  const missing: string[] = [];
  let firstError: unknown;
  for (const packageName of packageNames) {
    try {
      modules.push(load(packageName));
    } catch (error) {
      if (!isMissing(error, packageName)) throw error;
      missing.push(packageName);
      firstError ??= error;
    }
  }
  if (missing.length > 0) {
    const list = missing.join(" and ");
    throw new TokentraceError(
      `${usedBy} needs ${missing.length === 1 ? "the optional package" : "the optional packages"} ${list}, ` +
        `which ${missing.length === 1 ? "is" : "are"} not installed. Install ${missing.length === 1 ? "it" : "them"}: ` +
        `npm install ${missing.join(" ")}`,
      { cause: firstError },
    );
  }
  return modules;
}
