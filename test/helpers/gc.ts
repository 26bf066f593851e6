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
