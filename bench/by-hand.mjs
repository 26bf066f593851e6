/**
 * The bench's reference point: a raw OpenAI client with the telemetry tokentrace records for a
 * non-streaming chat call written out by hand against the OpenTelemetry SDK, and nothing else — one CLIENT
 * span with the same 28 attributes (content included, as JSON), and the same three histogram points with
 * the same attribute sets. Its added CPU is what the OpenTelemetry SDK itself costs to record that
 * telemetry, which no instrumentation built on it can go below.
 *
 * It is no instrumentation to use: the values it cannot know without reading more of the response are
 * fixed, and it handles neither errors nor streams.
 */
import { SpanKind } from "@opentelemetry/api";

export function instrumentByHand(client, { tracerProvider, meterProvider }) {
  const tracer = tracerProvider.getTracer("bench-by-hand");
  const meter = meterProvider.getMeter("bench-by-hand");
  const duration = meter.createHistogram("bench.by_hand.operation.duration", { unit: "s" });
  const tokens = meter.createHistogram("bench.by_hand.token.usage", { unit: "{token}" });
  const { hostname, port } = new URL(client.baseURL);
  const create = client.chat.completions.create.bind(client.chat.completions);

  async function instrumentedCreate(body) {
    const startMs = performance.now();
    const span = tracer.startSpan(`chat ${body.model}`, {
      kind: SpanKind.CLIENT,
      attributes: {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "openai.api.type": "chat_completions",
        "gen_ai.request.stream": false,
        "gen_ai.request.model": body.model,
        "server.address": hostname,
        "server.port": Number(port),
      },
    });
    // The SDK's own request id, and a status that is 200 when no error was thrown: nothing extra to read.
    const completion = await create(body);
    const choice = completion.choices[0];
    const usage = completion.usage;
    span.setAttributes({
      "gen_ai.response.id": completion.id,
      "gen_ai.response.model": completion.model,
      "gen_ai.response.finish_reasons": [choice.finish_reason],
      "gen_ai.usage.input_tokens": usage.prompt_tokens,
      "gen_ai.usage.output_tokens": usage.completion_tokens,
      "gen_ai.usage.cache_read.input_tokens": usage.prompt_tokens_details?.cached_tokens ?? 0,
      "gen_ai.usage.reasoning.output_tokens": usage.completion_tokens_details?.reasoning_tokens ?? 0,
      "gen_ai.usage.cost": (usage.prompt_tokens * 0.15 + usage.completion_tokens * 0.6) / 1e6,
      "tokentrace.cost.input": (usage.prompt_tokens * 0.15) / 1e6,
      "tokentrace.cost.cached_input": 0,
      "tokentrace.cost.cache_write": 0,
      "tokentrace.cost.output": (usage.completion_tokens * 0.6) / 1e6,
      "tokentrace.cost.source": "snapshot",
      "tokentrace.cost.snapshot_date": "2026-11-27",
      "tokentrace.cost.model": body.model,
      "tokentrace.request.id": completion._request_id ?? "",
      "http.response.status_code": 200,
      "openai.response.service_tier": completion.service_tier ?? "",
      "openai.response.system_fingerprint": completion.system_fingerprint ?? "",
      "gen_ai.input.messages": JSON.stringify(
        body.messages.map((message) => ({ role: message.role, parts: [{ type: "text", content: message.content }] })),
      ),
      "gen_ai.output.messages": JSON.stringify([
        {
          role: "assistant",
          parts: [{ type: "text", content: choice.message.content }],
          finish_reason: choice.finish_reason,
        },
      ]),
    });
    const base = {
      "gen_ai.operation.name": "chat",
      "gen_ai.provider.name": "openai",
      "gen_ai.request.model": body.model,
      "gen_ai.response.model": completion.model,
      "server.address": hostname,
      "server.port": Number(port),
    };
    duration.record((performance.now() - startMs) / 1000, base);
    tokens.record(usage.prompt_tokens, { ...base, "gen_ai.token.type": "input" });
    tokens.record(usage.completion_tokens, { ...base, "gen_ai.token.type": "output" });
    span.end();
    return completion;
  }

  return { chat: { completions: { create: instrumentedCreate } } };
}
