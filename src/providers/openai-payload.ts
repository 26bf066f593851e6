import type { AttributeValue } from "@opentelemetry/api";
import type { RequestFacts, ResponseFacts } from "../call-record.js";
import * as names from "../semconv.js";
import type { CallContext, PreparedCall, StreamAccumulator } from "./types.js";
import type { OpenAIClientTraits } from "./openai-endpoints.js";
import { isObject, numberOr, stringOr } from "./json.js";
import type { Json } from "./json.js";
import { IgnoredEntries, MAX_CHOICES, SlotTable, stopSequences } from "./payload-bounds.js";

/**
 * Helpers shared by the OpenAI operation adapters (chat completions, Responses, embeddings, legacy
 * completions). Payloads are read defensively: a field of the wrong type is skipped, never trusted.
 */

export { isObject, numberOr, stringOr } from "./json.js";
export type { Json } from "./json.js";

/** The context of an OpenAI operation: the client's traits are the OpenAI adapter's. */
export type OpenAIContext = CallContext<OpenAIClientTraits>;

/** Set a numeric attribute when the value is a finite number. */
export function setNumber(attributes: Record<string, AttributeValue>, name: string, value: unknown): void {
  const parsed = numberOr(value);
  if (parsed !== undefined) attributes[name] = parsed;
}

/**
 * A request's structured-output format (chat's `response_format`, Responses' `text.format`): `gen_ai.output.type`,
 * and with `json_schema` the schema the evaluators check the answer against (`schema`, where the API keeps it).
 */
export function readOutputFormat(record: RequestFacts, format: Json, schema: unknown): void {
  const type = format["type"];
  if (type === "json_object" || type === "json_schema") {
    record.requestAttributes[names.ATTR_GEN_AI_OUTPUT_TYPE] = names.OUTPUT_TYPE_JSON;
  } else if (type === "text") record.requestAttributes[names.ATTR_GEN_AI_OUTPUT_TYPE] = names.OUTPUT_TYPE_TEXT;
  if (type === "json_schema" && schema !== undefined) record.outputSchema = schema;
}

/**
 * The request facts every OpenAI operation starts from. `deploymentPath`: the SDK sends this operation to an Azure
 * deployment (`/deployments/{name}/...`), so the deployment, not the body's `model`, is what was requested.
 */
export function startRecord(
  operationName: string,
  request: Json,
  context: OpenAIContext,
  deploymentPath: boolean,
): RequestFacts {
  const traits = context.client.traits;
  const requestAttributes: Record<string, AttributeValue> = {};
  if (traits.apiVersion !== undefined) requestAttributes[names.ATTR_TOKENTRACE_AZURE_API_VERSION] = traits.apiVersion;
  return {
    operationName,
    providerName: context.client.providerName,
    requestModel: (deploymentPath ? traits.deployment : undefined) ?? stringOr(request["model"]),
    serverAddress: context.client.serverAddress,
    serverPort: context.client.serverPort,
    stream: request["stream"] === true,
    requestAttributes,
  };
}

/** `id`, `model` and service tier of a response (or of a stream's first chunk). */
export function readResponseMetadata(facts: ResponseFacts, data: Json): void {
  facts.responseId ??= stringOr(data["id"]);
  facts.responseModel ??= stringOr(data["model"]);
  const tier = stringOr(data["service_tier"]);
  if (tier !== undefined) {
    facts.serviceTier = tier;
    facts.responseAttributes[names.ATTR_OPENAI_RESPONSE_SERVICE_TIER] = tier;
  }
  const fingerprint = stringOr(data["system_fingerprint"]);
  if (fingerprint !== undefined) facts.responseAttributes[names.ATTR_OPENAI_RESPONSE_SYSTEM_FINGERPRINT] = fingerprint;
}

/**
 * Whether tokentrace may add `stream_options.include_usage` to a streamed request the app sent without
 * `stream_options` (chat completions and legacy completions accept it where the endpoint does).
 */
export function shouldInjectStreamUsage(request: Json, context: OpenAIContext): boolean {
  return (
    request["stream"] === true &&
    context.injectStreamUsage &&
    context.client.acceptsStreamUsageOption &&
    request["stream_options"] == null
  );
}

/**
 * The request parameters chat and legacy completions share: sampling, seed, choices, stop sequences, stream.
 * The conventions ask for the choice count only when it is not 1.
 */
export function setSamplingAttributes(attributes: Record<string, AttributeValue>, body: Json): void {
  setNumber(attributes, names.ATTR_GEN_AI_REQUEST_TEMPERATURE, body["temperature"]);
  setNumber(attributes, names.ATTR_GEN_AI_REQUEST_TOP_P, body["top_p"]);
  setNumber(attributes, names.ATTR_GEN_AI_REQUEST_FREQUENCY_PENALTY, body["frequency_penalty"]);
  setNumber(attributes, names.ATTR_GEN_AI_REQUEST_PRESENCE_PENALTY, body["presence_penalty"]);
  setNumber(attributes, names.ATTR_GEN_AI_REQUEST_SEED, body["seed"]);
  const choices = numberOr(body["n"]);
  if (choices !== undefined && choices !== 1) attributes[names.ATTR_GEN_AI_REQUEST_CHOICE_COUNT] = choices;
  const stop = stopSequences(body["stop"]);
  if (stop !== undefined) attributes[names.ATTR_GEN_AI_REQUEST_STOP_SEQUENCES] = stop;
  attributes[names.ATTR_GEN_AI_REQUEST_STREAM] = body["stream"] === true;
}

/** The text of a message's content: the string itself, or its text and refusal parts joined. */
export function contentText(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  let text = "";
  for (const part of content) {
    if (!isObject(part)) continue;
    if (typeof part["text"] === "string") text += part["text"];
    else if (typeof part["refusal"] === "string") text += part["refusal"];
  }
  return text;
}

/** Per choice of a stream: its finish reason (kept always), and what a subclass keeps of it. */
export interface ChoiceSlot {
  finishReason: string | undefined;
}

/**
 * What chat and legacy completions streams share: the response metadata of the first chunk, usage (OpenAI's
 * usage chunk, Groq's `x_groq.usage`), finish reasons per choice, and hiding the usage chunk tokentrace asked
 * for. Choices are kept per `index` in a bounded table (`payload-bounds.ts`). Subclasses read each choice's own
 * payload (`addChoice`) and finish the facts. Whether content is kept is decided once, when the stream starts,
 * by the subclass chosen (a counting one or a capturing one), never per chunk.
 */
export abstract class ChoiceStreamAccumulator<Slot extends ChoiceSlot> implements StreamAccumulator {
  /** What the stream says; returned by `finish`. */
  protected readonly facts: ResponseFacts = { usage: {}, responseAttributes: {} };
  protected usage: Json | undefined;
  protected readonly ignored = new IgnoredEntries();
  protected readonly choices = new SlotTable<Slot>(MAX_CHOICES, this.ignored);
  protected outputCharacters = 0;
  private metadataSeen = false;
  /**
   * Whether tokentrace asked for the usage chunk. Then, and only then, a chunk with no choices and a usage
   * that is not null is hidden wherever it comes (before a finish reason, several times, whatever the usage's
   * type), and the `usage: null` field include_usage adds to every other chunk is removed. Decided from each
   * chunk's shape alone, so it costs every chunk of such a stream the wrapper's one `then` (issue 10): the
   * earlier rule (hide only after a finish reason, read the chunks before on a side branch) showed the app
   * a usage chunk that came early. Without injection nothing is ever hidden or changed.
   */
  readonly mayHideChunks: boolean;

  constructor(protected readonly prepared: PreparedCall) {
    this.mayHideChunks = prepared.injectedStreamUsage;
  }

  add(chunk: unknown): boolean {
    if (!isObject(chunk)) return true;
    if (!this.metadataSeen && typeof chunk["id"] === "string") {
      this.metadataSeen = true;
      readResponseMetadata(this.facts, chunk);
    }
    const usage = chunk["usage"];
    // The last usage object wins: usage chunks carry totals so far, never increments. An array is no usage.
    if (isObject(usage) && !Array.isArray(usage)) this.usage = usage;
    else {
      // Groq reports a stream's usage in its own `x_groq` field of the last chunk.
      const groq = chunk["x_groq"];
      if (isObject(groq) && isObject(groq["usage"])) this.usage = groq["usage"];
    }

    const choices = chunk["choices"];
    if (this.mayHideChunks && usage !== undefined) {
      const choiceless = !Array.isArray(choices) || choices.length === 0;
      // The usage chunk tokentrace asked for is not the app's to see.
      if (choiceless && usage !== null) return false;
      // With include_usage every other chunk carries `usage: null`; the app did not ask for it.
      if (usage === null) delete chunk["usage"];
    }
    if (!Array.isArray(choices)) return true;
    for (const choice of choices) {
      if (!isObject(choice)) continue;
      const reason = choice["finish_reason"];
      // A choice without an index is the first (some compatible servers leave it out).
      const slot = this.choices.slot(choice["index"], this.newSlot, 0);
      if (slot === undefined) continue;
      this.addChoice(slot, choice);
      if (typeof reason === "string") slot.finishReason = reason;
    }
    return true;
  }

  /** A new choice's slot (a field holding one function, so that `add` allocates no closure). */
  protected abstract readonly newSlot: () => Slot;

  /** One choice of a chunk: count its output, and keep its content in a capturing variant. */
  protected abstract addChoice(slot: Slot, choice: Json): void;

  /** The choices in index order, after writing their finish reasons and the ignored count into the facts. */
  protected finishChoices(): Slot[] {
    const slots = this.choices.values();
    this.facts.finishReasons = slots.map((slot) => slot.finishReason);
    this.ignored.writeTo(this.facts);
    return slots;
  }

  abstract finish(): ResponseFacts;
}

/** The top-level field as the API writes it (`,"usage":null` after `choices`), or first in its object. */
const NULL_USAGE_FIELD = /,[ \t]*"usage"[ \t]*:[ \t]*null(?=[ \t]*[,}])|(?<=\{[ \t]*)"usage"[ \t]*:[ \t]*null[ \t]*,/g;

/**
 * One raw SSE event of a stream whose usage chunk tokentrace asked for (`stream_options.include_usage`), as the
 * server would have sent it without the option (issue 10): the usage event is dropped (`""`) and the
 * `"usage":null` field the API adds to every other event is cut out, byte for byte. The same rule as the stream
 * accumulator's: an event whose JSON has no choices (absent or empty) and a `usage` that is not null is the usage
 * event; `usage: null` elsewhere is the added field. An event it cannot read as JSON, or whose `"usage":null` it
 * cannot place unambiguously, is kept as it came. `event` is latin1 text, one character per byte.
 */
export function withoutInjectedUsageEvent(event: string): string {
  if (!event.includes('"usage"')) return event;
  let data: unknown;
  try {
    data = JSON.parse(Buffer.from(sseData(event), "latin1").toString("utf8"));
  } catch {
    return event;
  }
  if (data === null || typeof data !== "object" || Array.isArray(data) || !("usage" in data)) return event;
  const { usage, choices } = data as { usage: unknown; choices?: unknown };
  if (usage !== null) return !Array.isArray(choices) || choices.length === 0 ? "" : event;
  const matches = event.match(NULL_USAGE_FIELD);
  if (matches?.length !== 1) return event;
  return event.replace(NULL_USAGE_FIELD, "");
}

/** An SSE event's data: its `data:` lines' values joined by newlines (the SSE rule). */
function sseData(event: string): string {
  const values: string[] = [];
  for (const line of event.split(/\r\n|\n|\r/)) {
    if (!line.startsWith("data:")) continue;
    values.push(line.startsWith("data: ") ? line.slice(6) : line.slice(5));
  }
  return values.join("\n");
}
