// Preloaded with `node --import` by test/package-loading.test.ts: records every URL that ES module resolution
// returns into the file named by RECORD_LOADS_FILE (the hooks run on Node's loader thread, hence a file).
import { register } from "node:module";

register(new URL("./record-loads-hooks.mjs", import.meta.url));
