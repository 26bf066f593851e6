// The main entry: `observe()` and what its signature and errors need. It loads `@opentelemetry/api` and
// `@opentelemetry/core` (its environment readers), never the OpenTelemetry SDK: an app with its own NodeSDK pays for nothing it did not ask for (issue 11).
// Whatever builds providers (`setup()`, the console and memory sinks) is in `tokentrace/setup`.
export { observe } from "./observe.js";
export { contextFromBaggage, currentContext, withContext } from "./app-context.js";
export type { AppContext, ContextBaggageKey, ResolvedAppContext, WithContextOptions } from "./app-context.js";
export { currentStage, traced, withAgent, withRetrieval, withStep, withTool, withWorkflow } from "./stages.js";
export type { StageHandle, StageKind, StageOptions } from "./stages.js";
export type { ObserveOptions } from "./config.js";
export { callInfo, currentRef } from "./feedback/call-info.js";
export type { CallInfo } from "./feedback/call-info.js";
export { recordFeedback } from "./feedback/record.js";
export type { Feedback, FeedbackRejection, FeedbackResult, FeedbackSource, FeedbackTarget } from "./feedback/record.js";
export { defineFeedback } from "./feedback/definitions.js";
export {
  builtInEvaluators,
  emptyAnswerEvaluator,
  jsonEvaluator,
  lengthRatioEvaluator,
  refusalEvaluator,
  truncationEvaluator,
} from "./feedback/evaluators.js";
export type { EvaluatedCall, EvaluationResult, Evaluator, EvaluatorOutput } from "./feedback/evaluators.js";
export { ANOMALY_SIGNALS } from "./signals/anomalies.js";
export type { Anomaly, AnomalyOptions, AnomalySignal } from "./signals/anomalies.js";
export { DRIFT_FEATURES } from "./signals/drift.js";
export type { DriftFeature, DriftOptions } from "./signals/drift.js";
export type { FeedbackDefinition, FeedbackType } from "./feedback/definitions.js";
export { redactingSpanProcessor } from "./redaction/span-processor.js";
export type { RedactingSpanProcessorOptions } from "./redaction/span-processor.js";
export type { RedactField, RedactFunction } from "./redaction/pipeline.js";
export type { CustomPattern, PresetName } from "./redaction/detectors.js";
export type { CostBreakdown, ModelPrice, PriceQuery, PricingOptions } from "./metrics/pricing/types.js";
export { TokentraceError, UnsupportedClientError, InvalidOptionError, isTokentraceError } from "./errors.js";
export type { Usage } from "./usage.js";
export { preloadTokenizer } from "./providers/openai-token-estimate.js";
export { VERSION } from "./version.js";
