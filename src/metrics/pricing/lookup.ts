/*
 * Model lookup: which catalogue entry prices a model name, tried the way genai-prices' calcPrice does, then
 * through the name forms gateways and clouds use (`provider/` prefixes, Vertex `@`, `ft:`, Bedrock ids).
 */
import {
  never,
  providerIdsBySemconvName,
  type Catalog,
  type CompiledModel,
  type CompiledProvider,
} from "./catalogue.js";

export function findProvider(catalog: Catalog, providerName: string): CompiledProvider | undefined {
  const name = providerName.trim().toLowerCase();
  const mapped = providerIdsBySemconvName.get(name);
  if (mapped !== undefined) return catalog.byId.get(mapped);
  return catalog.byId.get(name) ?? catalog.providers.find((provider) => (provider.matchesProvider ?? never)(name));
}

/** The first matching model of a provider, then of its fallbacks (one level deep, as upstream does). */
function findInProvider(
  catalog: Catalog,
  provider: CompiledProvider,
  name: string,
  withFallbacks = true,
): CompiledModel | undefined {
  const own = provider.models.find((model) => model.matches(name));
  if (own || !withFallbacks) return own;
  for (const id of provider.fallbackIds) {
    const fallback = catalog.byId.get(id);
    const found = fallback && findInProvider(catalog, fallback, name, false);
    if (found) return found;
  }
  return undefined;
}

/** "-20240806" → "-2024-08-06" when it is a real date (the data spells most snapshots with dashes). */
function dashCompactDates(name: string): string {
  return name.replace(
    /-(20\d{2})(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])(?=-|:|$)/g,
    (whole, year: string, month: string, day: string) => {
      const date = new Date(Date.UTC(Number(year), Number(month) - 1, Number(day)));
      return date.getUTCMonth() === Number(month) - 1 ? `-${year}-${month}-${day}` : whole;
    },
  );
}

function findInProviderOrDashed(catalog: Catalog, provider: CompiledProvider, name: string): CompiledModel | undefined {
  const found = findInProvider(catalog, provider, name);
  if (found) return found;
  const dashed = dashCompactDates(name);
  return dashed === name ? undefined : findInProvider(catalog, provider, dashed);
}

// Name forms tried when the name as given matches nothing, each one applied to the forms before it.
const bedrockModelId =
  /^(?:[a-z]{2,7}(?:-[a-z]+)?\.)?(?:anthropic|openai|meta|mistral|amazon|cohere|deepseek|qwen|ai21|writer)\.(.+?)(?:-v\d+(?::\d+)?|-\d+:\d+)?$/;
const nameRewrites: readonly ((name: string) => string | undefined)[] = [
  // Vertex AI: "claude-opus-4@20250514" is "claude-opus-4-20250514"; also try without the version.
  (name) => (name.includes("@") ? name.replace("@", "-") : undefined),
  (name) => (name.includes("@") ? name.slice(0, name.indexOf("@")) : undefined),
  // OpenAI fine-tunes "ft:gpt-4o-mini-2024-07-18:org::id" → the base model (when the data has no ft: price).
  (name) => (name.startsWith("ft:") ? name.split(":")[1] : undefined),
  // Bedrock "us.anthropic.claude-sonnet-4-20250514-v1:0" → "claude-sonnet-4-20250514".
  (name) => bedrockModelId.exec(name)?.[1],
  // A dated snapshot the data does not list yet → its undated model.
  (name) => name.replace(/-(?:\d{4}-\d{2}-\d{2}|\d{8})$/, ""),
];

function nameForms(name: string): string[] {
  const forms = [name];
  for (const rewrite of nameRewrites) {
    for (const form of [...forms]) {
      const rewritten = rewrite(form);
      if (rewritten && !forms.includes(rewritten)) forms.push(rewritten);
    }
  }
  return forms;
}

/**
 * The price-data model for a name, or undefined. Tries the name as given exactly as genai-prices' calcPrice
 * does (first match in the provider, then its fallbacks, then with compact dates dashed), then `provider/`
 * prefixes, Vertex `@`, `ft:`, Bedrock ids and dated snapshots, then any provider whose rules claim the name.
 */
export function findModel(
  catalog: Catalog,
  provider: CompiledProvider | undefined,
  rawName: string,
): CompiledModel | undefined {
  const name = rawName.trim().toLowerCase();
  if (name === "") return undefined;
  const attempts: [CompiledProvider | undefined, string][] = [[provider, name]];
  const segments = name.split("/");
  if (segments.length > 1) {
    const base = segments[segments.length - 1] ?? "";
    const prefixProvider = findProvider(catalog, segments[segments.length - 2] ?? "");
    if (prefixProvider && prefixProvider !== provider) attempts.push([prefixProvider, base]);
    attempts.push([provider, base]);
  }
  const tried: [CompiledProvider | undefined, string][] = [];
  for (const [attemptProvider, attemptName] of attempts) {
    for (const form of nameForms(attemptName)) {
      tried.push([attemptProvider, form]);
      const owner = attemptProvider ?? catalog.providers.find((candidate) => (candidate.matchesModel ?? never)(form));
      const found = owner && findInProviderOrDashed(catalog, owner, form);
      if (found) return found;
    }
  }
  // Last resort: a provider whose own rules claim the name (an OpenAI-compatible gateway serving Claude).
  for (const [attemptProvider, form] of tried) {
    for (const candidate of catalog.providers) {
      if (candidate === attemptProvider || !(candidate.matchesModel ?? never)(form)) continue;
      const found = findInProviderOrDashed(catalog, candidate, form);
      if (found) return found;
    }
  }
  return undefined;
}
