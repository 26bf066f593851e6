/**
 * Every attribute and metric name tokentrace emits, with units and bucket boundaries. Nothing else in the
 * code base spells these out.
 *
 * `gen_ai.*`, `server.*` and `error.type` follow the OpenTelemetry GenAI semantic conventions
 * (https://opentelemetry.io/docs/specs/semconv/gen-ai/); names the conventions do not (yet) define live
 * under `tokentrace.`.
 */

// --- gen_ai.* span attributes (GenAI semantic conventions) ---
export const ATTR_GEN_AI_OPERATION_NAME = "gen_ai.operation.name";
export const ATTR_GEN_AI_PROVIDER_NAME = "gen_ai.provider.name";
export const ATTR_GEN_AI_REQUEST_MODEL = "gen_ai.request.model";
export const ATTR_GEN_AI_REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens";
export const ATTR_GEN_AI_REQUEST_TEMPERATURE = "gen_ai.request.temperature";
export const ATTR_GEN_AI_REQUEST_TOP_P = "gen_ai.request.top_p";
export const ATTR_GEN_AI_REQUEST_TOP_K = "gen_ai.request.top_k";
export const ATTR_GEN_AI_REQUEST_FREQUENCY_PENALTY = "gen_ai.request.frequency_penalty";
export const ATTR_GEN_AI_REQUEST_PRESENCE_PENALTY = "gen_ai.request.presence_penalty";
export const ATTR_GEN_AI_REQUEST_STOP_SEQUENCES = "gen_ai.request.stop_sequences";
export const ATTR_GEN_AI_REQUEST_SEED = "gen_ai.request.seed";
export const ATTR_GEN_AI_REQUEST_CHOICE_COUNT = "gen_ai.request.choice.count";
export const ATTR_GEN_AI_REQUEST_STREAM = "gen_ai.request.stream";
export const ATTR_GEN_AI_OUTPUT_TYPE = "gen_ai.output.type";
export const ATTR_GEN_AI_RESPONSE_ID = "gen_ai.response.id";
export const ATTR_GEN_AI_RESPONSE_MODEL = "gen_ai.response.model";
export const ATTR_GEN_AI_RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons";
export const ATTR_GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK = "gen_ai.response.time_to_first_chunk";
export const ATTR_GEN_AI_USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens";
export const ATTR_GEN_AI_USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens";
export const ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS = "gen_ai.usage.cache_read.input_tokens";
export const ATTR_GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS = "gen_ai.usage.cache_write.input_tokens";
export const ATTR_GEN_AI_USAGE_REASONING_OUTPUT_TOKENS = "gen_ai.usage.reasoning.output_tokens";
export const ATTR_GEN_AI_USAGE_COST = "gen_ai.usage.cost";
export const ATTR_GEN_AI_INPUT_MESSAGES = "gen_ai.input.messages";
export const ATTR_GEN_AI_OUTPUT_MESSAGES = "gen_ai.output.messages";
export const ATTR_GEN_AI_SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions";
export const ATTR_GEN_AI_TOOL_DEFINITIONS = "gen_ai.tool.definitions";

// --- general semantic conventions ---
export const ATTR_SERVER_ADDRESS = "server.address";
export const ATTR_SERVER_PORT = "server.port";
export const ATTR_ERROR_TYPE = "error.type";
export const ATTR_HTTP_RESPONSE_STATUS_CODE = "http.response.status_code";

// --- OpenAI-specific conventions (semconv registry: openai.*) ---
export const ATTR_OPENAI_REQUEST_SERVICE_TIER = "openai.request.service_tier";
export const ATTR_OPENAI_RESPONSE_SERVICE_TIER = "openai.response.service_tier";
export const ATTR_OPENAI_RESPONSE_SYSTEM_FINGERPRINT = "openai.response.system_fingerprint";

// --- tokentrace.* (no convention exists yet) ---
/** The provider's request id (OpenAI `x-request-id`, Anthropic `request-id`). */
export const ATTR_TOKENTRACE_REQUEST_ID = "tokentrace.request.id";
/** True when a token count is tokentrace's estimate rather than the provider's report. */
export const ATTR_TOKENTRACE_USAGE_ESTIMATED = "tokentrace.usage.estimated";
/** How estimated counts were made: `tokenizer` (OpenAI's encoding) or `characters` (about four per token). */
export const ATTR_TOKENTRACE_USAGE_ESTIMATE_METHOD = "tokentrace.usage.estimate_method";
/** Number of stream chunks received from the provider. */
export const ATTR_TOKENTRACE_STREAM_CHUNK_COUNT = "tokentrace.stream.chunk_count";
/** Mean time between consecutive stream chunks, in seconds. */
export const ATTR_TOKENTRACE_STREAM_MEAN_CHUNK_GAP = "tokentrace.stream.mean_chunk_gap";
/** Longest time between consecutive stream chunks, in seconds. */
export const ATTR_TOKENTRACE_STREAM_MAX_CHUNK_GAP = "tokentrace.stream.max_chunk_gap";
/** Seconds from issuing the request to the first chunk that carried output content (text, tool input). */
export const ATTR_TOKENTRACE_RESPONSE_TIME_TO_FIRST_CONTENT = "tokentrace.response.time_to_first_content";
/** Output tokens divided by the time from the first to the last chunk. */
export const ATTR_TOKENTRACE_STREAM_OUTPUT_TOKENS_PER_SECOND = "tokentrace.stream.output_tokens_per_second";
/** How a stream ended: `completed`, `cancelled` (break/return), `aborted` (controller.abort), `error`, `abandoned`. */
export const ATTR_TOKENTRACE_STREAM_END = "tokentrace.stream.end";
/** True when tokentrace added `stream_options.include_usage` to the request (the usage chunk is hidden from the app). */
export const ATTR_TOKENTRACE_STREAM_USAGE_INJECTED = "tokentrace.stream.usage_injected";
/** Names of content attributes that were truncated to `maxContentLength`. */
export const ATTR_TOKENTRACE_CONTENT_TRUNCATED = "tokentrace.content.truncated";
/**
 * Number of provider payload entries (choices, tool calls, output items, content blocks, parts) left out of
 * the record because their index was invalid or beyond tokentrace's bounds (the app still got them).
 */
export const ATTR_TOKENTRACE_PAYLOAD_IGNORED_ENTRIES = "tokentrace.payload.ignored_entries";

// --- cost (tokentrace.cost.*; the total goes in gen_ai.usage.cost, the name dashboards already read) ---
/** USD for uncached input tokens. */
export const ATTR_TOKENTRACE_COST_INPUT = "tokentrace.cost.input";
/** USD for input tokens read from the prompt cache. */
export const ATTR_TOKENTRACE_COST_CACHED_INPUT = "tokentrace.cost.cached_input";
/** USD for input tokens written to the prompt cache. */
export const ATTR_TOKENTRACE_COST_CACHE_WRITE = "tokentrace.cost.cache_write";
/** USD for output tokens (reasoning included). */
export const ATTR_TOKENTRACE_COST_OUTPUT = "tokentrace.cost.output";
/** Where the price came from: `snapshot` (bundled price data) or `override` (the app's pricing options). */
export const ATTR_TOKENTRACE_COST_SOURCE = "tokentrace.cost.source";
/** Generation date of the bundled price snapshot (YYYY-MM-DD). */
export const ATTR_TOKENTRACE_COST_SNAPSHOT_DATE = "tokentrace.cost.snapshot_date";
/** The price entry used (a snapshot model id or an override name). */
export const ATTR_TOKENTRACE_COST_MODEL = "tokentrace.cost.model";
/** Set to the model name when no price is known for it: the call then carries no cost (never 0). */
export const ATTR_TOKENTRACE_COST_UNPRICED_MODEL = "tokentrace.cost.unpriced_model";
/** True when cache tokens exceeded the total input, so uncached input was clamped to 0. */
export const ATTR_TOKENTRACE_COST_INPUT_CLAMPED = "tokentrace.cost.input_clamped";

// --- finish reasons tokentrace records where the provider sent none ---
export const FINISH_REASON_ERROR = "error";
export const FINISH_REASON_CANCELLED = "cancelled";

// --- metrics (GenAI semantic conventions) ---
export const METRIC_GEN_AI_CLIENT_TOKEN_USAGE = "gen_ai.client.token.usage";
export const METRIC_GEN_AI_CLIENT_OPERATION_DURATION = "gen_ai.client.operation.duration";
export const METRIC_GEN_AI_CLIENT_TIME_TO_FIRST_CHUNK = "gen_ai.client.operation.time_to_first_chunk";
export const METRIC_GEN_AI_CLIENT_TIME_PER_OUTPUT_CHUNK = "gen_ai.client.operation.time_per_output_chunk";
/** Counter of input tokens read from the provider's prompt cache (part of the input token usage). */
export const METRIC_TOKENTRACE_CLIENT_TOKEN_CACHE_READ = "tokentrace.client.token.cache_read";
/** Counter of calls, by `tokentrace.call.outcome`. */
export const METRIC_TOKENTRACE_CLIENT_CALLS = "tokentrace.client.calls";
/** How a call ended: `completed`, `error`, `cancelled`, `aborted`, `abandoned` (metric attribute). */
export const ATTR_TOKENTRACE_CALL_OUTCOME = "tokentrace.call.outcome";
export const UNIT_CALL = "{call}";
export const ATTR_GEN_AI_TOKEN_TYPE = "gen_ai.token.type";
/** Counter of USD spent, by the same low-cardinality attributes as the other metrics. */
export const METRIC_TOKENTRACE_CLIENT_COST = "tokentrace.client.cost";
export const UNIT_USD = "{USD}";
export const TOKEN_TYPE_INPUT = "input";
export const TOKEN_TYPE_OUTPUT = "output";
export const UNIT_TOKEN = "{token}";
export const UNIT_SECONDS = "s";

/** Bucket boundaries the conventions recommend for `gen_ai.client.token.usage`. */
export const TOKEN_USAGE_BUCKETS: readonly number[] = [
  1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
];
/** Bucket boundaries the conventions recommend for durations in seconds. */
export const DURATION_BUCKETS_SECONDS: readonly number[] = [
  0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];

// --- well-known values ---
export const OPERATION_CHAT = "chat";
export const PROVIDER_OPENAI = "openai";
export const OUTPUT_TYPE_TEXT = "text";
export const OUTPUT_TYPE_JSON = "json";

/** `gen_ai.operation.name` of a run of several model requests (a tool-calling loop such as `runTools()`). */
export const OPERATION_INVOKE_AGENT = "invoke_agent";
/** The SDK helper a run span stands for, e.g. `chat.completions.runTools`. */
export const ATTR_TOKENTRACE_HELPER = "tokentrace.helper";

/** The instrumentation scope name of tokentrace's tracer and meter. */
export const INSTRUMENTATION_SCOPE = "tokentrace";

// --- Anthropic ---
export const PROVIDER_ANTHROPIC = "anthropic";
/** `gen_ai.provider.name` of Anthropic models served by Amazon Bedrock (`AnthropicBedrock`). */
export const PROVIDER_AWS_BEDROCK = "aws.bedrock";
/** `gen_ai.provider.name` of Anthropic models served by Google Vertex AI (`AnthropicVertex`). */
export const PROVIDER_GCP_VERTEX_AI = "gcp.vertex_ai";
/**
 * The older conventions' name for `gen_ai.usage.cache_write.input_tokens`. Emitted beside it only when
 * asked for (`TOKENTRACE_EMIT_LEGACY_CACHE_CREATION=true`), for dashboards built on the old name.
 */
export const ATTR_GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS = "gen_ai.usage.cache_creation.input_tokens";
/** Part of `gen_ai.usage.cache_write.input_tokens` written to the cache with the 5-minute TTL. */
export const ATTR_TOKENTRACE_USAGE_CACHE_WRITE_5M_INPUT_TOKENS = "tokentrace.usage.cache_write_5m.input_tokens";
/** Part of `gen_ai.usage.cache_write.input_tokens` written to the cache with the 1-hour TTL. */
export const ATTR_TOKENTRACE_USAGE_CACHE_WRITE_1H_INPUT_TOKENS = "tokentrace.usage.cache_write_1h.input_tokens";
// Named as the Anthropic SDK's own spans name them, so dashboards work on either kind of span.
export const ATTR_ANTHROPIC_REQUEST_SERVICE_TIER = "anthropic.request.service_tier";
export const ATTR_ANTHROPIC_RESPONSE_SERVICE_TIER = "anthropic.response.service_tier";
export const ATTR_ANTHROPIC_THINKING_TYPE = "anthropic.thinking.type";
export const ATTR_ANTHROPIC_THINKING_BUDGET_TOKENS = "anthropic.thinking.budget_tokens";
/**
 * Attributes of the HTTP attempts that `@anthropic-ai/sdk` (0.134 and later) records on a call span it is
 * handed (see `src/providers/anthropic.ts`): the only ones tokentrace lets it add to its span.
 */
export const ATTR_HTTP_REQUEST_METHOD = "http.request.method";
export const ATTR_HTTP_REQUEST_RESEND_COUNT = "http.request.resend_count";
export const ATTR_URL_SCHEME = "url.scheme";
export const ATTR_URL_PATH = "url.path";
export const ATTR_URL_QUERY = "url.query";
export const ATTR_URL_FULL = "url.full";

// --- OpenAI surfaces ---
export const OPERATION_EMBEDDINGS = "embeddings";
export const OPERATION_TEXT_COMPLETION = "text_completion";
/** Which OpenAI API a span used (semconv registry: `openai.api.type`). */
export const ATTR_OPENAI_API_TYPE = "openai.api.type";
export const OPENAI_API_TYPE_CHAT_COMPLETIONS = "chat_completions";
export const OPENAI_API_TYPE_RESPONSES = "responses";
/** Responses API `previous_response_id`. */
export const ATTR_GEN_AI_REQUEST_PREVIOUS_RESPONSE_ID = "gen_ai.request.previous_response.id";
/** Responses API `reasoning.effort`. */
export const ATTR_GEN_AI_REQUEST_REASONING_LEVEL = "gen_ai.request.reasoning.level";
/** Responses API `conversation` (its id), or `withContext({ conversationId })`. */
export const ATTR_GEN_AI_CONVERSATION_ID = "gen_ai.conversation.id";
// Application context (issue 12): `withContext()`. `user.id` and `session.id` are the general conventions' names.
export const ATTR_USER_ID = "user.id";
export const ATTR_SESSION_ID = "session.id";
/** `hashUserId`: the user id's keyed hash (the conventions' `user.hash`), written instead of `user.id`. */
export const ATTR_USER_HASH = "user.hash";
/** `withContext({ tags })`: a string array. */
export const ATTR_TOKENTRACE_TAGS = "tokentrace.tags";
/** `withContext({ metadata })`: one attribute per key. */
export const ATTR_TOKENTRACE_METADATA_PREFIX = "tokentrace.metadata.";
/** `withContext({ messageId })`: the app's own id of the answer, by which feedback can name the call (issue 14). */
export const ATTR_TOKENTRACE_MESSAGE_ID = "tokentrace.message.id";
/** Context values `withContext()` dropped as invalid (their keys, e.g. `userId`, `tags[2]`, `metadata.plan`). */
export const ATTR_TOKENTRACE_CONTEXT_DROPPED = "tokentrace.context.dropped";
/** The request's own `metadata` (OpenAI): one attribute per key. */
export const ATTR_TOKENTRACE_REQUEST_METADATA_PREFIX = "tokentrace.request.metadata.";
export const ATTR_GEN_AI_EMBEDDINGS_DIMENSION_COUNT = "gen_ai.embeddings.dimension.count";
export const ATTR_GEN_AI_REQUEST_ENCODING_FORMATS = "gen_ai.request.encoding_formats";
/** The `api-version` an Azure OpenAI client sends (no convention names it). */
export const ATTR_TOKENTRACE_AZURE_API_VERSION = "tokentrace.azure.api_version";
export const FINISH_REASON_STOP = "stop";
export const FINISH_REASON_TOOL_CALLS = "tool_calls";
// `gen_ai.provider.name` values of endpoints behind the OpenAI client: the conventions' well-known values...
export const PROVIDER_AZURE_AI_OPENAI = "azure.ai.openai";
export const PROVIDER_AZURE_AI_INFERENCE = "azure.ai.inference";
export const PROVIDER_GROQ = "groq";
export const PROVIDER_DEEPSEEK = "deepseek";
export const PROVIDER_X_AI = "x_ai";
export const PROVIDER_MISTRAL_AI = "mistral_ai";
export const PROVIDER_PERPLEXITY = "perplexity";
export const PROVIDER_GCP_GEMINI = "gcp.gemini";
// ...and tokentrace's own where the conventions have none yet (documented in the README's provider table).
export const PROVIDER_TOKENTRACE_OPENROUTER = "tokentrace.openrouter";
export const PROVIDER_TOKENTRACE_TOGETHER_AI = "tokentrace.together_ai";
export const PROVIDER_TOKENTRACE_FIREWORKS_AI = "tokentrace.fireworks_ai";
export const PROVIDER_TOKENTRACE_OLLAMA = "tokentrace.ollama";
export const PROVIDER_TOKENTRACE_VLLM = "tokentrace.vllm";
export const PROVIDER_TOKENTRACE_LM_STUDIO = "tokentrace.lm_studio";

// --- hardening (issue 10) ---
/** Usage counts the provider reported but tokentrace left out as impossible (their attribute names). */
export const ATTR_TOKENTRACE_USAGE_INVALID_FIELDS = "tokentrace.usage.invalid_fields";
/** The OpenTelemetry SDK's overflow attribute: the series of calls past the cap on distinct attribute sets. */
export const ATTR_OTEL_METRIC_OVERFLOW = "otel.metric.overflow";
/** What replaces a credential of the client's in recorded error text. */
export const REDACTED_MARKER = "[REDACTED]";

// Stages (issue 12): the GenAI conventions' agent, workflow, tool and retrieval spans, and tokentrace's steps.
export const OPERATION_INVOKE_WORKFLOW = "invoke_workflow";
export const OPERATION_EXECUTE_TOOL = "execute_tool";
export const OPERATION_RETRIEVAL = "retrieval";
export const ATTR_GEN_AI_AGENT_NAME = "gen_ai.agent.name";
export const ATTR_GEN_AI_AGENT_DESCRIPTION = "gen_ai.agent.description";
export const ATTR_GEN_AI_WORKFLOW_NAME = "gen_ai.workflow.name";
export const ATTR_GEN_AI_TOOL_NAME = "gen_ai.tool.name";
export const ATTR_GEN_AI_TOOL_TYPE = "gen_ai.tool.type";
export const ATTR_GEN_AI_TOOL_CALL_ID = "gen_ai.tool.call.id";
/** Tool stages with `capture` (content, opt-in per the conventions): the arguments and the result, JSON. */
export const ATTR_GEN_AI_TOOL_CALL_ARGUMENTS = "gen_ai.tool.call.arguments";
export const ATTR_GEN_AI_TOOL_CALL_RESULT = "gen_ai.tool.call.result";
export const ATTR_GEN_AI_TOOL_DESCRIPTION = "gen_ai.tool.description";
export const ATTR_GEN_AI_DATA_SOURCE_ID = "gen_ai.data_source.id";
export const ATTR_GEN_AI_RETRIEVAL_TOP_K = "gen_ai.retrieval.top_k";
/** Every stage span: `workflow`, `agent`, `tool`, `retrieval` or `step`. */
export const ATTR_TOKENTRACE_STAGE_KIND = "tokentrace.stage.kind";
export const ATTR_EXCEPTION_TYPE = "exception.type";
/** `abandoned`: a generator stage garbage-collected before it finished (not an error). */
export const ATTR_TOKENTRACE_STAGE_END = "tokentrace.stage.end";
/** A step's name (the other kinds use the conventions' name attributes). */
export const ATTR_TOKENTRACE_STAGE_NAME = "tokentrace.stage.name";
/** Other stages with `capture`: their input and output, JSON (the conventions name none for these). */
export const ATTR_TOKENTRACE_STAGE_INPUT = "tokentrace.stage.input";
export const ATTR_TOKENTRACE_STAGE_OUTPUT = "tokentrace.stage.output";
/** Retrieval: the documents found, by id, their scores (when every one has a score), and how many. */
export const ATTR_TOKENTRACE_RETRIEVAL_DOCUMENT_IDS = "tokentrace.retrieval.document.ids";
export const ATTR_TOKENTRACE_RETRIEVAL_DOCUMENT_SCORES = "tokentrace.retrieval.document.scores";
export const ATTR_TOKENTRACE_RETRIEVAL_DOCUMENT_COUNT = "tokentrace.retrieval.document.count";
// Roll-ups: on a stage's span when it ends, the sums over everything that ran under it.
export const ATTR_TOKENTRACE_ROLLUP_INPUT_TOKENS = "tokentrace.rollup.input_tokens";
export const ATTR_TOKENTRACE_ROLLUP_OUTPUT_TOKENS = "tokentrace.rollup.output_tokens";
export const ATTR_TOKENTRACE_ROLLUP_CACHE_READ_INPUT_TOKENS = "tokentrace.rollup.cache_read.input_tokens";
export const ATTR_TOKENTRACE_ROLLUP_REASONING_OUTPUT_TOKENS = "tokentrace.rollup.reasoning.output_tokens";
/** USD. */
export const ATTR_TOKENTRACE_ROLLUP_COST = "tokentrace.rollup.cost";
export const ATTR_TOKENTRACE_ROLLUP_MODEL_CALLS = "tokentrace.rollup.model_calls";
export const ATTR_TOKENTRACE_ROLLUP_TOOL_CALLS = "tokentrace.rollup.tool_calls";
export const ATTR_TOKENTRACE_ROLLUP_ERRORS = "tokentrace.rollup.errors";
/** Children that ended after a stage below this one had ended, counted here instead. */
export const ATTR_TOKENTRACE_ROLLUP_LATE_CHILDREN = "tokentrace.rollup.late_children";
/** On a call or stage that ended after its enclosing stage: it is counted in the nearest stage still open. */
export const ATTR_TOKENTRACE_ROLLUP_LATE = "tokentrace.rollup.late";
export const METRIC_GEN_AI_WORKFLOW_DURATION = "gen_ai.workflow.duration";
export const METRIC_GEN_AI_INVOKE_AGENT_DURATION = "gen_ai.invoke_agent.duration";
export const METRIC_GEN_AI_EXECUTE_TOOL_DURATION = "gen_ai.execute_tool.duration";
export const METRIC_TOKENTRACE_STEP_DURATION = "tokentrace.step.duration";
/**
 * Counter of USD spent under a workflow, added when it ends (its `tokentrace.rollup.cost`), by `gen_ai.workflow.name`:
 * the cost per workflow. A workflow nested in another counts in both.
 */
export const METRIC_TOKENTRACE_WORKFLOW_COST = "tokentrace.workflow.cost";

// Privacy (issue 13): the one redaction pipeline every content-bearing attribute goes through.
export const ATTR_EXCEPTION_MESSAGE = "exception.message";
export const ATTR_EXCEPTION_STACKTRACE = "exception.stacktrace";
/** The kinds the redaction pipeline replaced on this span (`email`, `api_key`, `client_secret`, ...), never values. */
export const ATTR_TOKENTRACE_REDACTION_KINDS = "tokentrace.redaction.kinds";
/** True on a span that carries content (messages, tool data, stage input or output, error text from the app or the server). */
export const ATTR_TOKENTRACE_CONTENT_PRESENT = "tokentrace.content.present";
/** With `contentSampling`: whether this span's content was recorded, and why (`rate`, an outcome, `not_sampled`). */
export const ATTR_TOKENTRACE_CONTENT_SAMPLED = "tokentrace.content.sampled";
export const ATTR_TOKENTRACE_CONTENT_SAMPLING_REASON = "tokentrace.content.sampling_reason";
/** Replacements the redaction pipeline made, by `tokentrace.redaction.kind`. */
export const METRIC_TOKENTRACE_REDACTION_MATCHES = "tokentrace.redaction.matches";
export const ATTR_TOKENTRACE_REDACTION_KIND = "tokentrace.redaction.kind";
export const UNIT_MATCH = "{match}";

// Feedback and evaluations (issue 14): the conventions' `gen_ai.evaluation.result` event and its attributes.
export const EVENT_GEN_AI_EVALUATION_RESULT = "gen_ai.evaluation.result";
export const ATTR_GEN_AI_EVALUATION_NAME = "gen_ai.evaluation.name";
export const ATTR_GEN_AI_EVALUATION_SCORE_VALUE = "gen_ai.evaluation.score.value";
export const ATTR_GEN_AI_EVALUATION_SCORE_LABEL = "gen_ai.evaluation.score.label";
/** Free text (a user's comment, an evaluator's reasoning): content, recorded only with capture on, redacted. */
export const ATTR_GEN_AI_EVALUATION_EXPLANATION = "gen_ai.evaluation.explanation";
/** Who gave it: `human`, `llm` or `code`. */
export const ATTR_TOKENTRACE_EVALUATION_SOURCE = "tokentrace.evaluation.source";
/** The evaluator's name (a built-in's, an LLM judge's model, the app's own). */
export const ATTR_TOKENTRACE_EVALUATION_EVALUATOR = "tokentrace.evaluation.evaluator";
/** The app's id of this piece of feedback, so a backend can de-duplicate a resubmission. */
export const ATTR_TOKENTRACE_FEEDBACK_ID = "tokentrace.feedback.id";
/** Evaluation scores, by name, label, source, model and agent. */
export const METRIC_TOKENTRACE_EVALUATION_SCORE = "tokentrace.evaluation.score";
/** Evaluation results (with or without a score), by the same labels. */
export const METRIC_TOKENTRACE_EVALUATION_RESULTS = "tokentrace.evaluation.results";
/** Feedback `recordFeedback()` refused, by `tokentrace.feedback.rejection_reason`. */
export const METRIC_TOKENTRACE_FEEDBACK_REJECTIONS = "tokentrace.feedback.rejections";
export const ATTR_TOKENTRACE_FEEDBACK_REJECTION_REASON = "tokentrace.feedback.rejection_reason";
export const UNIT_SCORE = "{score}";
export const UNIT_RESULT = "{result}";
export const UNIT_FEEDBACK = "{feedback}";
/** Evaluations that failed, by `tokentrace.evaluation.evaluator` and `error.type` (exception, timeout, invalid_result). */
export const METRIC_TOKENTRACE_EVALUATION_FAILURES = "tokentrace.evaluation.failures";
export const UNIT_EVALUATION = "{evaluation}";

// Signals (issue 15): what changed, from fields every call reads anyway.
/** Choices by finish reason (`tokentrace.finish_reason`, capped), by the call's metric attributes. */
export const METRIC_TOKENTRACE_CLIENT_FINISH_REASONS = "tokentrace.client.finish_reasons";
export const ATTR_TOKENTRACE_FINISH_REASON = "tokentrace.finish_reason";
export const UNIT_CHOICE = "{choice}";
/** Calls the provider refused: its refusal field (OpenAI's `refusal`) or a refusal finish reason. */
export const METRIC_TOKENTRACE_CLIENT_REFUSALS = "tokentrace.client.refusals";
/** A request model answered by a response model or `system_fingerprint` not seen for it before. */
export const METRIC_TOKENTRACE_CLIENT_MODEL_CHANGES = "tokentrace.client.model_changes";
export const UNIT_CHANGE = "{change}";
/** The span event on the first call that saw the new one; its attributes: the kind, the value before and now. */
export const EVENT_TOKENTRACE_MODEL_CHANGE = "tokentrace.model_change";
export const ATTR_TOKENTRACE_MODEL_CHANGE_KIND = "tokentrace.model_change.kind";
export const ATTR_TOKENTRACE_MODEL_CHANGE_PREVIOUS = "tokentrace.model_change.previous";
export const ATTR_TOKENTRACE_MODEL_CHANGE_CURRENT = "tokentrace.model_change.current";
export const MODEL_CHANGE_RESPONSE_MODEL = "response_model";
export const MODEL_CHANGE_SYSTEM_FINGERPRINT = "system_fingerprint";
/**
 * The providers' rate-limit headers, by `tokentrace.ratelimit.kind` (`requests`, `tokens`, `input_tokens`,
 * `output_tokens`): what is left, the limit, and the seconds until the window resets. On the span as
 * `tokentrace.ratelimit.{kind}.remaining` / `.limit` / `.reset` (seconds, as the response said).
 */
export const METRIC_TOKENTRACE_RATELIMIT_REMAINING = "tokentrace.ratelimit.remaining";
export const METRIC_TOKENTRACE_RATELIMIT_LIMIT = "tokentrace.ratelimit.limit";
export const METRIC_TOKENTRACE_RATELIMIT_RESET = "tokentrace.ratelimit.reset";
export const ATTR_TOKENTRACE_RATELIMIT_KIND = "tokentrace.ratelimit.kind";
export const ATTR_TOKENTRACE_RATELIMIT_PREFIX = "tokentrace.ratelimit.";
export const UNIT_QUOTA = "{quota}";
/** The signals' stores (issue 15): series held by `tokentrace.signals.store`, and lookups past a store's bound. */
export const METRIC_TOKENTRACE_SIGNALS_SERIES = "tokentrace.signals.series";
export const METRIC_TOKENTRACE_SIGNALS_UNTRACKED = "tokentrace.signals.untracked";
export const ATTR_TOKENTRACE_SIGNALS_STORE = "tokentrace.signals.store";
export const UNIT_SERIES = "{series}";
/** The SDK retried the request before the response that answered it (openai 5+ and @anthropic-ai/sdk say so). */
export const ATTR_TOKENTRACE_REQUEST_RETRIED = "tokentrace.request.retried";
/** An anomaly flag (opt-in `anomalies`): the span event, its attributes, the span's mark and the count. */
export const EVENT_TOKENTRACE_ANOMALY = "tokentrace.anomaly";
/** On a flagged span: `.flagged`, not `tokentrace.anomaly` itself, which is the namespace of the event's attributes. */
export const ATTR_TOKENTRACE_ANOMALY_FLAGGED = "tokentrace.anomaly.flagged";
export const ATTR_TOKENTRACE_ANOMALY_SIGNAL = "tokentrace.anomaly.signal";
export const ATTR_TOKENTRACE_ANOMALY_VALUE = "tokentrace.anomaly.value";
export const ATTR_TOKENTRACE_ANOMALY_EXPECTED = "tokentrace.anomaly.expected";
export const ATTR_TOKENTRACE_ANOMALY_Z_SCORE = "tokentrace.anomaly.z_score";
export const ATTR_TOKENTRACE_ANOMALY_DIRECTION = "tokentrace.anomaly.direction";
export const ATTR_TOKENTRACE_ANOMALY_METHOD = "tokentrace.anomaly.method";
/** Flags by signal and direction, with the series' operation, provider and request model. */
export const METRIC_TOKENTRACE_ANOMALIES = "tokentrace.anomalies";
/** Output drift (opt-in `drift`): PSI of the sliding window against the reference, per series and feature. */
export const METRIC_TOKENTRACE_DRIFT_PSI = "tokentrace.drift.psi";
export const UNIT_PSI = "{psi}";
/** The span event on the call that took a feature's PSI over the threshold, and its attributes. */
export const EVENT_TOKENTRACE_DRIFT = "tokentrace.drift";
export const ATTR_TOKENTRACE_DRIFT_FEATURE = "tokentrace.drift.feature";
export const ATTR_TOKENTRACE_DRIFT_PSI = "tokentrace.drift.psi";
export const ATTR_TOKENTRACE_DRIFT_THRESHOLD = "tokentrace.drift.threshold";
/** Embedding drift: the distance of a model's current centroid from its reference one. */
export const METRIC_TOKENTRACE_DRIFT_EMBEDDING_COSINE = "tokentrace.drift.embedding.cosine_distance";
export const METRIC_TOKENTRACE_DRIFT_EMBEDDING_EUCLIDEAN = "tokentrace.drift.embedding.euclidean_distance";
export const UNIT_DISTANCE = "{distance}";
export const UNIT_ANOMALY = "{anomaly}";

/**
 * Every attribute that can carry user or model text (and the status message, which repeats
 * `exception.message`). Each is written only through the redaction pipeline (src/redaction/pipeline.ts);
 * test/content-attributes.test.ts puts secrets in each and checks none leaves, and fails when this list and
 * its scenarios differ. A new content attribute belongs here.
 */
export const CONTENT_ATTRIBUTES: readonly string[] = Object.freeze([
  ATTR_GEN_AI_SYSTEM_INSTRUCTIONS,
  ATTR_GEN_AI_INPUT_MESSAGES,
  ATTR_GEN_AI_OUTPUT_MESSAGES,
  ATTR_GEN_AI_TOOL_DEFINITIONS,
  ATTR_GEN_AI_TOOL_CALL_ARGUMENTS,
  ATTR_GEN_AI_TOOL_CALL_RESULT,
  ATTR_TOKENTRACE_STAGE_INPUT,
  ATTR_TOKENTRACE_STAGE_OUTPUT,
  ATTR_EXCEPTION_MESSAGE,
  ATTR_EXCEPTION_STACKTRACE,
  "otel.status_description",
  ATTR_TOKENTRACE_TAGS,
  // The app's stop sequences: written whatever the capture mode, redacted before the span starts.
  ATTR_GEN_AI_REQUEST_STOP_SEQUENCES,
  ATTR_GEN_AI_EVALUATION_EXPLANATION,
]);

/** Attribute families whose values come from the app as free text: `withContext()` and request metadata. */
export const CONTENT_ATTRIBUTE_PREFIXES: readonly string[] = Object.freeze([
  ATTR_TOKENTRACE_METADATA_PREFIX,
  ATTR_TOKENTRACE_REQUEST_METADATA_PREFIX,
]);
