// Module resolution hooks for record-loads.mjs.
import { appendFileSync } from "node:fs";

const file = process.env["RECORD_LOADS_FILE"];

export async function resolve(specifier, context, nextResolve) {
  const result = await nextResolve(specifier, context);
  if (file !== undefined) appendFileSync(file, `${result.url}\n`);
  return result;
}
