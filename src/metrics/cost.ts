/*
 * Pricing, one concern per file under `./pricing/`: the public types (`types.ts`), the compiled catalogue and
 * its hand-kept tables (`catalogue.ts`), model lookup (`lookup.ts`), arithmetic (`arithmetic.ts`), validation
 * of the `pricing` option (`validation.ts`) and the pricer (`pricer.ts`). This module is the entry the rest of
 * tokentrace imports from.
 */
export type { CostBreakdown, ModelPrice, PriceQuery, Pricer, PricingOptions } from "./pricing/types.js";
export { createPricer } from "./pricing/pricer.js";
export { validatePricingOptions } from "./pricing/validation.js";
