import { clientSecretsReader } from "./credentials.js";
import * as names from "../semconv.js";
import { endpointOf, isLoopback } from "./endpoint.js";
import type { ClientDescription, DescribeOptions } from "./types.js";
import { isObject } from "./json.js";
import { OPENAI_RATE_LIMIT_HEADERS } from "../signals/rate-limits.js";

/**
 * The endpoints an `openai` client may be talking to, in one table: which `gen_ai.provider.name` a client
 * gets, and whether tokentrace may add `stream_options: { include_usage: true }` to a streamed request so
 * that its token counts are exact. `server.address` and `server.port` always come from the real `baseURL`.
 *
 * Provider names are the GenAI conventions' well-known values where one exists
 * (https://opentelemetry.io/docs/specs/semconv/registry/attributes/gen-ai/#gen-ai-provider-name), otherwise
 * a `tokentrace.` value. An endpoint is only asked for stream usage where its documentation says it accepts
 * `stream_options` (issue 4): a server that rejects unknown fields would otherwise fail the app's call.
 */

/** What is known of a client's endpoint when it is observed. */
export interface EndpointFacts {
  /** Host of `baseURL`, without brackets. */
  address: string | undefined;
  port: number | undefined;
  /** Path of `baseURL`, e.g. `/openai/v1`. */
  path: string;
  /** The client is an `AzureOpenAI` (by class or shape). */
  azureClient: boolean;
  /** The `api-version` query parameter the client sends, if any. */
  apiVersion: string | undefined;
}

export interface OpenAIEndpoint {
  /** Shown in the README's provider table. */
  readonly name: string;
  readonly providerName: string;
  readonly matches: (facts: EndpointFacts) => boolean;
  /** Whether the endpoint accepts `stream_options.include_usage`. */
  readonly acceptsStreamUsageOption: (facts: EndpointFacts) => boolean;
}

const host =
  (...hosts: string[]) =>
  (facts: EndpointFacts): boolean =>
    facts.address !== undefined && hosts.includes(facts.address.toLowerCase());
const hostSuffix =
  (...suffixes: string[]) =>
  (facts: EndpointFacts): boolean => {
    const address = facts.address?.toLowerCase();
    return address !== undefined && suffixes.some((suffix) => address.endsWith(suffix));
  };
const loopbackPort =
  (port: number) =>
  (facts: EndpointFacts): boolean =>
    isLoopback(facts.address) && facts.port === port;
const yes = (): boolean => true;
const no = (): boolean => false;

/**
 * Azure OpenAI accepts `stream_options` from api-version 2024-09-01-preview (GA 2024-10-21) on; older dated
 * versions reject it as an unrecognized argument. The v1 API (`/openai/v1`, no dated version) accepts it.
 */
function azureAcceptsStreamOptions(facts: EndpointFacts): boolean {
  const version = facts.apiVersion;
  if (version === undefined || !/^\d{4}-\d{2}-\d{2}/.test(version)) return true;
  return version.slice(0, 10) >= "2024-09-01";
}

const isAzureOpenAIHost = (facts: EndpointFacts): boolean =>
  hostSuffix(".openai.azure.com", ".cognitiveservices.azure.com")(facts) ||
  (hostSuffix(".services.ai.azure.com")(facts) && facts.path.startsWith("/openai"));

/** The table, first match wins. Keep the README's provider table in step with it. */
export const OPENAI_ENDPOINTS: readonly OpenAIEndpoint[] = [
  {
    name: "OpenAI",
    providerName: names.PROVIDER_OPENAI,
    matches: host("api.openai.com"),
    acceptsStreamUsageOption: yes,
  },
  {
    name: "Azure OpenAI (`AzureOpenAI`, or a base URL on `*.openai.azure.com`, `*.cognitiveservices.azure.com`, `*.services.ai.azure.com/openai`)",
    providerName: names.PROVIDER_AZURE_AI_OPENAI,
    matches: (facts) => facts.azureClient || isAzureOpenAIHost(facts),
    acceptsStreamUsageOption: azureAcceptsStreamOptions,
  },
  {
    name: "Azure AI model inference (`*.services.ai.azure.com/models`, `*.models.ai.azure.com`)",
    providerName: names.PROVIDER_AZURE_AI_INFERENCE,
    matches: hostSuffix(".services.ai.azure.com", ".models.ai.azure.com"),
    acceptsStreamUsageOption: no,
  },
  { name: "Groq", providerName: names.PROVIDER_GROQ, matches: host("api.groq.com"), acceptsStreamUsageOption: yes },
  {
    name: "DeepSeek",
    providerName: names.PROVIDER_DEEPSEEK,
    matches: host("api.deepseek.com"),
    acceptsStreamUsageOption: yes,
  },
  { name: "xAI", providerName: names.PROVIDER_X_AI, matches: host("api.x.ai"), acceptsStreamUsageOption: no },
  // Mistral rejects fields it does not know, and sends usage in a stream's last chunk anyway.
  {
    name: "Mistral AI",
    providerName: names.PROVIDER_MISTRAL_AI,
    matches: host("api.mistral.ai"),
    acceptsStreamUsageOption: no,
  },
  {
    name: "Perplexity",
    providerName: names.PROVIDER_PERPLEXITY,
    matches: host("api.perplexity.ai"),
    acceptsStreamUsageOption: no,
  },
  {
    name: "Gemini (OpenAI compatibility)",
    providerName: names.PROVIDER_GCP_GEMINI,
    matches: host("generativelanguage.googleapis.com"),
    acceptsStreamUsageOption: no,
  },
  // OpenRouter always streams usage; its `stream_options.include_usage` is a documented no-op.
  {
    name: "OpenRouter",
    providerName: names.PROVIDER_TOKENTRACE_OPENROUTER,
    matches: host("openrouter.ai"),
    acceptsStreamUsageOption: no,
  },
  {
    name: "Together AI",
    providerName: names.PROVIDER_TOKENTRACE_TOGETHER_AI,
    matches: host("api.together.xyz", "api.together.ai"),
    acceptsStreamUsageOption: no,
  },
  {
    name: "Fireworks AI",
    providerName: names.PROVIDER_TOKENTRACE_FIREWORKS_AI,
    matches: host("api.fireworks.ai"),
    acceptsStreamUsageOption: no,
  },
  // Ollama documents stream_options.include_usage in its OpenAI compatibility; its port is its own, on any host.
  {
    name: "Ollama (port 11434)",
    providerName: names.PROVIDER_TOKENTRACE_OLLAMA,
    matches: (facts) => facts.port === 11434,
    acceptsStreamUsageOption: yes,
  },
  {
    name: "vLLM (loopback, port 8000)",
    providerName: names.PROVIDER_TOKENTRACE_VLLM,
    matches: loopbackPort(8000),
    acceptsStreamUsageOption: yes,
  },
  {
    name: "LM Studio (loopback, port 1234)",
    providerName: names.PROVIDER_TOKENTRACE_LM_STUDIO,
    matches: loopbackPort(1234),
    acceptsStreamUsageOption: yes,
  },
  {
    // Other local OpenAI-compatible servers (llama.cpp's server, LocalAI, tokentrace's own mock server, which
    // the test suites drive) accept stream_options; an app whose local server does not can turn injection off.
    name: "Any other loopback server (`localhost`, `127.*`, `::1`)",
    providerName: names.PROVIDER_OPENAI,
    matches: (facts) => isLoopback(facts.address),
    acceptsStreamUsageOption: yes,
  },
];

/** An endpoint the table does not know: named after the client, and never asked for stream usage. */
const unknownEndpoint: OpenAIEndpoint = {
  name: "Anything else",
  providerName: names.PROVIDER_OPENAI,
  matches: yes,
  acceptsStreamUsageOption: no,
};

/** Which row of the table an endpoint is. */
export function endpointFor(facts: EndpointFacts): OpenAIEndpoint {
  return OPENAI_ENDPOINTS.find((endpoint) => endpoint.matches(facts)) ?? unknownEndpoint;
}

/** What the OpenAI adapter knows of a client beyond its ClientDescription, decided once. */
export interface OpenAIClientTraits {
  /** The Azure deployment the client sends deployment-routed calls to (chat, completions, embeddings). */
  deployment: string | undefined;
  /** The Azure `api-version`, recorded on every span of an Azure OpenAI client. */
  apiVersion: string | undefined;
}

const noTraits: OpenAIClientTraits = Object.freeze({ deployment: undefined, apiVersion: undefined });

/** `AzureOpenAI` by class name, then by shape (bundlers may rename classes). */
function isAzureClient(client: object): boolean {
  for (let proto: unknown = Object.getPrototypeOf(client); isObject(proto); proto = Object.getPrototypeOf(proto)) {
    const name = (proto as { constructor?: { name?: unknown } }).constructor?.name;
    if (typeof name === "string" && name.startsWith("AzureOpenAI")) return true;
  }
  const candidate = client as { apiVersion?: unknown };
  return typeof candidate.apiVersion === "string" && "deploymentName" in client;
}

function apiVersionOf(client: object): string | undefined {
  const declared = (client as { apiVersion?: unknown }).apiVersion;
  if (typeof declared === "string" && declared !== "") return declared;
  // A plain OpenAI client pointed at Azure carries it as a default query parameter.
  const options = (client as { _options?: unknown })._options;
  const query = isObject(options) && isObject(options["defaultQuery"]) ? options["defaultQuery"] : undefined;
  const version = query?.["api-version"];
  return typeof version === "string" && version !== "" ? version : undefined;
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function pathOf(baseURL: unknown): string {
  if (typeof baseURL !== "string") return "";
  try {
    return new URL(baseURL).pathname;
  } catch {
    return "";
  }
}

export function describeOpenAIClient(
  client: object,
  options: DescribeOptions = {},
): ClientDescription<OpenAIClientTraits> {
  const baseURL = (client as { baseURL?: unknown }).baseURL;
  const { address, port } = endpointOf(baseURL);
  const azureClient = isAzureClient(client);
  const path = pathOf(baseURL);
  const apiVersion = apiVersionOf(client);
  const facts: EndpointFacts = { address, port, path, azureClient, apiVersion };
  const detected = endpointFor(facts);
  // A provider named by the user brings that provider's rules, when the table knows it.
  const named =
    options.providerName !== undefined
      ? OPENAI_ENDPOINTS.find((endpoint) => endpoint.providerName === options.providerName)
      : undefined;
  const endpoint = named ?? detected;
  return {
    providerName: options.providerName ?? endpoint.providerName,
    serverAddress: address,
    serverPort: port,
    acceptsStreamUsageOption: endpoint.acceptsStreamUsageOption(facts),
    requestIdHeader: "x-request-id",
    // OpenAI's names, which Azure OpenAI and most compatible providers (Groq, Together's) send too.
    rateLimitHeaders: OPENAI_RATE_LIMIT_HEADERS,
    secrets: clientSecretsReader(client),
    traits: traitsOf(client, detected, path, apiVersion),
  };
}

/** Deployment routing is the client's, whatever name the user gives its provider. */
function traitsOf(
  client: object,
  detected: OpenAIEndpoint,
  path: string,
  apiVersion: string | undefined,
): OpenAIClientTraits {
  if (detected.providerName !== names.PROVIDER_AZURE_AI_OPENAI) return noTraits;
  const declared = (client as { deploymentName?: unknown }).deploymentName;
  const fromPath = /\/deployments\/([^/]+)/.exec(path)?.[1];
  return {
    deployment: typeof declared === "string" && declared !== "" ? declared : fromPath && safeDecode(fromPath),
    apiVersion,
  };
}
