import type { MessagePart } from "../call-record.js";

/**
 * Helpers shared by provider adapters to build the GenAI conventions' message parts. Large binary data
 * (base64 images, audio) is never copied into an attribute: a `blob` part carries its size instead.
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
    return { type: "blob", modality, mime_type: match[1] || undefined, content: `[${bytes} bytes omitted]` };
  }
  return { type: "uri", modality, uri: url };
}

/** A base64 payload given on its own (no data URL). */
export function base64BlobPart(data: unknown, modality: string, mimeType: string | undefined): MessagePart {
  const bytes = typeof data === "string" ? Math.floor((data.length * 3) / 4) : 0;
  return { type: "blob", modality, mime_type: mimeType, content: `[${bytes} bytes omitted]` };
}

/**
 * Rough token estimate where a provider reports none and no text is at hand to count: about four characters
 * per token. The OpenAI adapters count text with OpenAI's tokenizer instead (`openai-token-estimate.ts`) and
 * use this only for output they did not keep (content capture off).
 */
export function estimateTokens(characters: number): number {
  return Math.ceil(characters / 4);
}
