/* `hashUserId` (issue 12): `user.hash`, HMAC-SHA256 of a user id under the app's key, hex. */
import { createHmac } from "node:crypto";

/** Hashes remembered per key (a request's user makes many calls), up to this many ids; keys up to MAX_KEYS. */
const MAX_REMEMBERED = 1_000;
const MAX_KEYS = 16;
const byKey = new Map<string, Map<string, string>>();

/** The id's keyed hash, remembered in bounded maps. */
export function hashUserId(key: string, id: string): string {
  let remembered = byKey.get(key);
  if (remembered === undefined) {
    if (byKey.size >= MAX_KEYS) byKey.clear();
    remembered = new Map();
    byKey.set(key, remembered);
  }
  let hash = remembered.get(id);
  if (hash === undefined) {
    hash = createHmac("sha256", key).update(id).digest("hex");
    if (remembered.size >= MAX_REMEMBERED) remembered.clear();
    remembered.set(id, hash);
  }
  return hash;
}
