import * as names from "../semconv.js";
import { noResponseFacts } from "../call-record.js";
import type { ResponseFacts } from "../call-record.js";
import type { OpenAIClientTraits } from "./openai-endpoints.js";
import type { Json, OpenAIContext } from "./openai-payload.js";
import { isObject, numberOr, readResponseMetadata, setNumber, startRecord, stringOr } from "./openai-payload.js";
import { estimateTexts } from "./openai-token-estimate.js";
import type { OperationAdapter, PreparedCall, StreamAccumulator } from "./types.js";
import type { Usage } from "../usage.js";

/**
 * `embeddings.create`: span `embeddings {model}` with the requested (or returned) dimension count, the
 * encoding formats the app asked for, and input tokens. The vectors themselves are never recorded, and the
 * input texts are not content the conventions define for embeddings spans, so they are not recorded either.
 * https://opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-spans/#embeddings
 */

/** Length of the first vector: an array of numbers, or base64 of little-endian float32s. */
function dimensionsOf(data: unknown): number | undefined {
  const first: unknown = Array.isArray(data) ? data[0] : undefined;
  const embedding = isObject(first) ? first["embedding"] : undefined;
  if (Array.isArray(embedding)) return embedding.length;
  if (typeof embedding === "string") {
    const padding = embedding.endsWith("==") ? 2 : embedding.endsWith("=") ? 1 : 0;
    return Math.floor(((embedding.length * 3) / 4 - padding) / 4);
  }
  // ArrayLike of numbers (a Float32Array, should an SDK decode to one).
  const length = (embedding as { length?: unknown } | undefined)?.length;
  return typeof length === "number" ? length : undefined;
}

/** Input tokens where the endpoint reports none: strings are counted, token arrays are their own count. */
function estimateInput(input: unknown, model: string | undefined): Usage {
  const items = Array.isArray(input) && !input.every((item) => typeof item === "number") ? input : [input];
  const texts: string[] = [];
  let counted = 0;
  for (const item of items) {
    if (typeof item === "string") texts.push(item);
    else if (Array.isArray(item)) counted += item.length;
  }
  const text = estimateTexts(texts, model);
  return { inputTokens: text.tokens + counted, estimated: true, estimateMethod: text.method };
}

export const embeddingsCreate: OperationAdapter<OpenAIClientTraits> = {
  path: ["embeddings", "create"],

  prepare(body: unknown, context: OpenAIContext): PreparedCall {
    const request = isObject(body) ? body : {};
    const facts = startRecord(names.OPERATION_EMBEDDINGS, request, context, true);
    setNumber(facts.requestAttributes, names.ATTR_GEN_AI_EMBEDDINGS_DIMENSION_COUNT, request["dimensions"]);
    // Only what the app asked for: the SDK asks for base64 on its own and decodes it back to floats.
    const format = stringOr(request["encoding_format"]);
    if (format !== undefined) facts.requestAttributes[names.ATTR_GEN_AI_REQUEST_ENCODING_FORMATS] = [format];
    return { facts, body, request: body, injectedStreamUsage: false };
  },

  readResponse(data: unknown, prepared: PreparedCall): ResponseFacts {
    const model = prepared.facts.requestModel;
    const request: Json = isObject(prepared.request) ? prepared.request : {};
    if (!isObject(data)) return { usage: estimateInput(request["input"], model), responseAttributes: {} };
    const facts: ResponseFacts = { usage: {}, responseAttributes: {} };
    readResponseMetadata(facts, data);
    if (prepared.facts.requestAttributes[names.ATTR_GEN_AI_EMBEDDINGS_DIMENSION_COUNT] === undefined) {
      const dimensions = dimensionsOf(data["data"]);
      if (dimensions !== undefined) facts.responseAttributes[names.ATTR_GEN_AI_EMBEDDINGS_DIMENSION_COUNT] = dimensions;
    }
    if (Array.isArray(data["data"])) facts.embeddings = data["data"];
    const usage = isObject(data["usage"]) ? data["usage"] : undefined;
    const inputTokens = numberOr(usage?.["prompt_tokens"]);
    facts.usage = inputTokens !== undefined ? { inputTokens } : estimateInput(request["input"], model);
    return facts;
  },

  createStreamAccumulator(): StreamAccumulator {
    // Not reachable: the embeddings API has no streaming.
    return { add: () => true, mayHideChunks: false, finish: noResponseFacts };
  },
};
