import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

setFlagsFromString("--expose-gc");
const collectGarbage = runInNewContext("gc") as () => void;

/** Run the garbage collector (and let FinalizationRegistry callbacks run) a few times. */
export async function forceGarbageCollection(rounds = 3): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    collectGarbage();
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Collect garbage until `done()` holds, for up to `timeoutMs`: finalizers run when the collector decides. */
export async function collectGarbageUntil(done: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done() && Date.now() < deadline) await forceGarbageCollection(1);
}
