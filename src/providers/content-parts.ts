import { createHash } from "node:crypto";
import type { MessagePart } from "../call-record.js";

/**
 * Helpers shared by provider adapters to build the GenAI conventions' message parts. Binary data (base64
 * images, audio, files, `data:` URLs) is never copied into an attribute: a `blob` part carries its modality,
 * MIME type, size and a short hash instead (built at span end, with content capture on).
 */
export function textPart(content: string): MessagePart {
  return { type: "text", content };
}

/** Tool-call arguments as the conventions want them: parsed JSON when it parses, else the raw string. */
export function parseArguments(raw: unknown): unknown {
  if (typeof raw !== "string") return raw;
  if (raw === "") return {};
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw;
  }
}

/** A `data:` URL or plain reference turned into a `blob` (size only) or `uri` part. */
export function mediaPart(url: string, modality: string): MessagePart {
  const match = /^data:([^;,]*)(;base64)?,/.exec(url);
  if (match) {
    const payloadLength = url.length - match[0].length;
    const bytes = match[2] ? Math.floor((payloadLength * 3) / 4) : payloadLength;
    const content = omitted(bytes, url.slice(match[0].length));
    return { type: "blob", modality, mime_type: match[1] || undefined, content };
  }
  return { type: "uri", modality, uri: url };
}

/** A base64 payload given on its own (no data URL). */
export function base64BlobPart(data: unknown, modality: string, mimeType: string | undefined): MessagePart {
  const bytes = typeof data === "string" ? Math.floor((data.length * 3) / 4) : 0;
  return { type: "blob", modality, mime_type: mimeType, content: omitted(bytes, typeof data === "string" ? data : "") };
}

/**
 * What stands for binary data: its size, and the first 12 hex digits of the SHA-256 of its text as sent, so the
 * same image can be recognised across calls without being exported.
 */
function omitted(bytes: number, payload: string): string {
  return `[${bytes} bytes omitted, sha256:${createHash("sha256").update(payload).digest("hex").slice(0, 12)}]`;
}

/**
 * Rough token estimate where a provider reports none and no text is at hand to count: about four characters
 * per token. The OpenAI adapters count text with OpenAI's tokenizer instead (`openai-token-estimate.ts`) and
 * use this only for output they did not keep (content capture off).
 */
export function estimateTokens(characters: number): number {
  return Math.ceil(characters / 4);
}
