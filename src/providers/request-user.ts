/*
 * Request fields that name the end user or tag the request (issue 12): OpenAI's `safety_identifier` / `user`
 * and `metadata`, Anthropic's `metadata.user_id`. A `withContext()` value of the same name wins: the recorder
 * writes the context's attributes over these at span start.
 */
import type { AttributeValue } from "@opentelemetry/api";
import { MAX_METADATA_KEYS, MAX_METADATA_VALUE_LENGTH, isValidId } from "../app-context.js";
import { METADATA_KEY } from "../config.js";
import * as names from "../semconv.js";
import { isObject } from "./json.js";
import type { Json } from "./json.js";

const userId = (value: unknown): string | undefined => (isValidId(value) ? value : undefined);

/**
 * OpenAI chat completions and Responses: `user.id` from `safety_identifier` (or the older `user`), and `metadata`.
 * Returns whether it wrote metadata, free text the recorder then passes through the redaction pipeline.
 */
export function setOpenAIRequestUser(attributes: Record<string, AttributeValue>, body: Json): boolean {
  const id = userId(body["safety_identifier"]) ?? userId(body["user"]);
  if (id !== undefined) attributes[names.ATTR_USER_ID] = id;
  const metadata = body["metadata"];
  if (!isObject(metadata) || Array.isArray(metadata)) return false;
  // OpenAI accepts 16 keys; at most MAX_METADATA_KEYS are recorded, and 4 × that many looked at, whatever was sent.
  let count = 0;
  let read = 0;
  for (const key in metadata) {
    if (count >= MAX_METADATA_KEYS || read++ >= 4 * MAX_METADATA_KEYS) break;
    if (!Object.prototype.hasOwnProperty.call(metadata, key)) continue;
    const value = metadata[key];
    if (!METADATA_KEY.test(key) || typeof value !== "string" || value.length > MAX_METADATA_VALUE_LENGTH) continue;
    attributes[`${names.ATTR_TOKENTRACE_REQUEST_METADATA_PREFIX}${key}`] = value;
    count++;
  }
  return count > 0;
}

/** Anthropic messages: `user.id` from `metadata.user_id`. */
export function setAnthropicRequestUser(attributes: Record<string, AttributeValue>, body: Json): void {
  const metadata = body["metadata"];
  if (!isObject(metadata)) return;
  const id = userId(metadata["user_id"]);
  if (id !== undefined) attributes[names.ATTR_USER_ID] = id;
}
