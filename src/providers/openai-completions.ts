import type { AttributeValue } from "@opentelemetry/api";
import type { Message, ResponseFacts } from "../call-record.js";
import * as names from "../semconv.js";
import type { Usage } from "../usage.js";
import { estimateTokens, textPart } from "./content-parts.js";
import type { OpenAIClientTraits } from "./openai-endpoints.js";
import type { ChoiceSlot, Json, OpenAIContext } from "./openai-payload.js";
import {
  ChoiceStreamAccumulator,
  isObject,
  numberOr,
  readResponseMetadata,
  setNumber,
  setSamplingAttributes,
  shouldInjectStreamUsage,
  startRecord,
  stringOr,
  withoutInjectedUsageEvent,
} from "./openai-payload.js";
import { estimatedUsageOf, estimateTexts } from "./openai-token-estimate.js";
import type { TokenEstimate } from "./openai-token-estimate.js";
import { IgnoredEntries, MAX_CHOICES } from "./payload-bounds.js";
import type { OperationAdapter, PreparedCall, StreamAccumulator } from "./types.js";

/**
 * Legacy `completions.create` (operation `text_completion`), streamed and not. The prompt is recorded as a
 * user message, each choice's text as an assistant message.
 * https://platform.openai.com/docs/api-reference/completions
 */

function requestAttributes(body: Json, attributes: Record<string, AttributeValue>): void {
  setNumber(attributes, names.ATTR_GEN_AI_REQUEST_MAX_TOKENS, body["max_tokens"]);
  setSamplingAttributes(attributes, body);
}

/** The prompt's texts: a string, strings, or token arrays (which have no text to show). */
function promptTexts(prompt: unknown): string[] {
  if (typeof prompt === "string") return [prompt];
  if (Array.isArray(prompt) && prompt.every((item) => typeof item === "string")) return prompt;
  return [];
}

function estimatePromptTokens(prompt: unknown, model: string | undefined): TokenEstimate {
  // Token arrays are counted exactly, whatever the tokenizer's state.
  if (Array.isArray(prompt) && prompt.length > 0 && prompt.every((item) => typeof item === "number")) {
    return { tokens: prompt.length, method: "tokenizer" };
  }
  if (Array.isArray(prompt) && prompt.length > 0 && prompt.every(Array.isArray)) {
    return { tokens: prompt.reduce((sum: number, item: unknown[]) => sum + item.length, 0), method: "tokenizer" };
  }
  return estimateTexts(promptTexts(prompt), model);
}

function normaliseUsage(usage: Json): Usage {
  const promptDetails = isObject(usage["prompt_tokens_details"]) ? usage["prompt_tokens_details"] : {};
  return {
    inputTokens: numberOr(usage["prompt_tokens"]),
    outputTokens: numberOr(usage["completion_tokens"]),
    cacheReadInputTokens: numberOr(promptDetails["cached_tokens"]),
  };
}

/** `output`: the output's estimate, or a plain count for streamed output (estimated from its length). */
function estimatedUsage(prepared: PreparedCall, output: TokenEstimate | number): Usage {
  const request = isObject(prepared.request) ? prepared.request : {};
  const input = estimatePromptTokens(request["prompt"], prepared.facts.requestModel);
  return estimatedUsageOf(input, output);
}

function outputMessages(texts: readonly (string | undefined)[], reasons: readonly (string | undefined)[]): Message[] {
  const count = Math.max(texts.length, reasons.length);
  const messages: Message[] = [];
  for (let index = 0; index < count; index++) {
    const text = texts[index];
    const message: Message = { role: "assistant", parts: text ? [textPart(text)] : [] };
    const reason = reasons[index];
    if (reason !== undefined) message.finish_reason = reason;
    messages.push(message);
  }
  return messages;
}

export const completionsCreate: OperationAdapter<OpenAIClientTraits> = {
  path: ["completions", "create"],

  prepare(body: unknown, context: OpenAIContext): PreparedCall {
    const request = isObject(body) ? body : {};
    const facts = startRecord(names.OPERATION_TEXT_COMPLETION, request, context, true);
    requestAttributes(request, facts.requestAttributes);
    if (context.captureContent) {
      const texts = promptTexts(request["prompt"]).slice();
      facts.inputMessages = () => texts.map((text) => ({ role: "user", parts: [textPart(text)] }));
    }
    let sent: unknown = body;
    let injectedStreamUsage = false;
    if (shouldInjectStreamUsage(request, context)) {
      sent = { ...request, stream_options: { include_usage: true } };
      injectedStreamUsage = true;
      facts.requestAttributes[names.ATTR_TOKENTRACE_STREAM_USAGE_INJECTED] = true;
    }
    return { facts, body: sent, request: body, injectedStreamUsage };
  },

  readResponse(data: unknown, prepared: PreparedCall, context: OpenAIContext): ResponseFacts {
    if (!isObject(data)) return { usage: estimatedUsage(prepared, 0), responseAttributes: {} };
    const facts: ResponseFacts = { usage: {}, responseAttributes: {} };
    readResponseMetadata(facts, data);
    const ignored = new IgnoredEntries();
    const choices = ignored.list(Array.isArray(data["choices"]) ? data["choices"].filter(isObject) : [], MAX_CHOICES);
    ignored.writeTo(facts);
    const texts = choices.map((choice) => stringOr(choice["text"]));
    const finishReasons = choices.map((choice) => stringOr(choice["finish_reason"]));
    facts.finishReasons = finishReasons;
    if (context.captureContent) facts.outputMessages = outputMessages(texts, finishReasons);
    if (isObject(data["usage"])) facts.usage = normaliseUsage(data["usage"]);
    else {
      facts.usage = estimatedUsage(
        prepared,
        estimateTexts(
          texts.map((text) => text ?? ""),
          prepared.facts.requestModel,
        ),
      );
    }
    return facts;
  },

  // The usage chunk tokentrace asked for, kept out of a raw body the app reads too.
  rawStreamEvent: withoutInjectedUsageEvent,

  createStreamAccumulator(prepared: PreparedCall, context: OpenAIContext): StreamAccumulator {
    // Decided once per stream: keep the texts, or only count them.
    return context.captureContent
      ? new CapturingCompletionsStreamAccumulator(prepared)
      : new CompletionsStreamAccumulator(prepared);
  },
};

/** Per choice index: its finish reason and, in the capturing variant, its text. */
interface CompletionChoice extends ChoiceSlot {
  text: string;
}

const newCompletionChoice = (): CompletionChoice => ({ finishReason: undefined, text: "" });

/** Counts the streamed text (content capture off). */
class CompletionsStreamAccumulator extends ChoiceStreamAccumulator<CompletionChoice> {
  protected readonly newSlot = newCompletionChoice;

  protected addChoice(_slot: CompletionChoice, choice: Json): void {
    const text = choice["text"];
    if (typeof text === "string") this.outputCharacters += text.length;
  }

  finish(): ResponseFacts {
    this.finishFacts();
    return this.facts;
  }

  /** Finish reasons and usage, and the choices in index order. */
  protected finishFacts(): CompletionChoice[] {
    const choices = this.finishChoices();
    if (this.usage !== undefined) this.facts.usage = normaliseUsage(this.usage);
    // Streamed output is estimated from its length, capture on or off alike (issue 10).
    else this.facts.usage = estimatedUsage(this.prepared, estimateTokens(this.outputCharacters));
    return choices;
  }
}

/** Counts and keeps the streamed text (content capture on). */
class CapturingCompletionsStreamAccumulator extends CompletionsStreamAccumulator {
  protected override addChoice(slot: CompletionChoice, choice: Json): void {
    const text = choice["text"];
    if (typeof text !== "string") return;
    this.outputCharacters += text.length;
    slot.text += text;
  }

  override finish(): ResponseFacts {
    const choices = this.finishFacts();
    this.facts.outputMessages = outputMessages(
      choices.map((choice) => choice.text),
      choices.map((choice) => choice.finishReason),
    );
    return this.facts;
  }
}
