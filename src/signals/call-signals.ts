/*
 * Always-on signals (issue 15), from fields every call reads anyway: a silently changed model, and the latest
 * rate-limit headroom. One of each store per meter (with the instruments), each bounded.
 */
import type { Attributes, ObservableResult } from "@opentelemetry/api";
import * as names from "../semconv.js";
import type { RunningTotals, Total } from "../metrics/instruments.js";
import type { RateLimitReading } from "./rate-limits.js";

/** A value seen for a request model that was not seen for it before. */
export interface ModelChange {
  readonly kind: string;
  readonly previous: string;
  readonly current: string;
}

/** Request models watched per meter; calls of others are not watched. */
export const MAX_WATCHED_MODELS = 500;
/** Values remembered per request model and kind: a provider alternating among a few is no change. */
const MAX_VALUES_PER_MODEL = 16;
/** Longer response models or fingerprints than this are not watched (no provider sends one). */
const MAX_VALUE_LENGTH = 256;

/** What one kind (response model, system fingerprint) of one request model has answered with. */
class SeenValues {
  private readonly values: string[] = [];
  private last: string | undefined = undefined;
  /** Its `tokentrace.client.model_changes` total: opened (at 0) with the first value, so a first change shows as an increase. */
  private total: Total | undefined = undefined;

  constructor(
    private readonly kind: string,
    private readonly openTotal: (kind: string) => Total,
  ) {}

  /** The change `value` is, if it is new (the first value ever is none); counted. */
  see(value: string): ModelChange | undefined {
    if (value === this.last || value.length > MAX_VALUE_LENGTH) return undefined;
    const previous = this.last;
    this.last = value;
    if (this.values.includes(value)) return undefined;
    this.values.push(value);
    if (this.values.length > MAX_VALUES_PER_MODEL) this.values.shift();
    this.total ??= this.openTotal(this.kind);
    if (previous === undefined) return undefined;
    this.total.add(1);
    return { kind: this.kind, previous, current: value };
  }
}

interface WatchedModel {
  readonly responseModels: SeenValues;
  readonly fingerprints: SeenValues;
}

/**
 * Which response models and `system_fingerprint`s each request model has been answered with: a value not seen
 * before for it, after a first, is a change (the model behind an alias moved, the provider's backend changed),
 * counted in `changes` by provider, request model and kind.
 */
export class ModelWatch {
  private readonly models = new Map<string, WatchedModel>();

  /** Request models watched now (at most MAX_WATCHED_MODELS). */
  get size(): number {
    return this.models.size;
  }
  /** The request model seen last: most calls of a process ask for the one before them. */
  private last: { provider: string; requestModel: string; watched: WatchedModel } | undefined;

  constructor(private readonly changes: RunningTotals) {}

  /** The changes this answer makes; undefined for none (the common case costs a lookup and two comparisons). */
  see(
    provider: string,
    requestModel: string | undefined,
    responseModel: string | undefined,
    fingerprint: string | undefined,
  ): ModelChange[] | undefined {
    if (requestModel === undefined || (responseModel === undefined && fingerprint === undefined)) return undefined;
    const last = this.last;
    const watched =
      last !== undefined && last.provider === provider && last.requestModel === requestModel
        ? last.watched
        : this.watch(provider, requestModel);
    if (watched === undefined) return undefined;
    let changes: ModelChange[] | undefined;
    const model = responseModel === undefined ? undefined : watched.responseModels.see(responseModel);
    if (model !== undefined) (changes ??= []).push(model);
    const print = fingerprint === undefined ? undefined : watched.fingerprints.see(fingerprint);
    if (print !== undefined) (changes ??= []).push(print);
    return changes;
  }

  /** The request model's record, made on its first answer (none past the bound). */
  private watch(provider: string, requestModel: string): WatchedModel | undefined {
    const key = `${provider}\u0000${requestModel}`;
    let watched = this.models.get(key);
    if (watched === undefined) {
      if (this.models.size >= MAX_WATCHED_MODELS) return undefined;
      const openTotal = (kind: string): Total =>
        this.changes.totalFor(`${key}\u0000${kind}`, {
          [names.ATTR_GEN_AI_PROVIDER_NAME]: provider,
          [names.ATTR_GEN_AI_REQUEST_MODEL]: requestModel,
          [names.ATTR_TOKENTRACE_MODEL_CHANGE_KIND]: kind,
        });
      watched = {
        responseModels: new SeenValues(names.MODEL_CHANGE_RESPONSE_MODEL, openTotal),
        fingerprints: new SeenValues(names.MODEL_CHANGE_SYSTEM_FINGERPRINT, openTotal),
      };
      this.models.set(key, watched);
    }
    this.last = { provider, requestModel, watched };
    return watched;
  }
}

/** Rate-limit series per meter (provider × server × model × kind); readings for more are not kept. */
export const MAX_RATE_LIMIT_SERIES = 256;

interface RateLimitSeries {
  readonly attributes: Attributes;
  limit: number | undefined;
  remaining: number | undefined;
  /** When the window resets (epoch ms), as the latest response said. */
  resetAtEpochMs: number | undefined;
  /** When that response arrived: a reading older than it (a long stream ending late) is not taken. */
  receivedAtEpochMs: number;
}

/**
 * The latest rate-limit reading per series, reported by the gauges at collection. Once the reset the provider
 * announced has passed, the window has started again: the limit is reported as what remains, and 0 as the
 * reset, until a response says otherwise (an app that stops calling does not keep an alert on stale headroom).
 */
export class RateLimitStore {
  private readonly series = new Map<string, RateLimitSeries>();

  /** Series held now (at most MAX_RATE_LIMIT_SERIES). */
  get size(): number {
    return this.series.size;
  }

  constructor(private readonly now: () => number = Date.now) {}

  note(
    provider: string,
    serverAddress: string | undefined,
    requestModel: string | undefined,
    readings: readonly RateLimitReading[],
    receivedAtEpochMs: number,
  ): void {
    for (const reading of readings) {
      const key = `${provider}\u0000${serverAddress ?? ""}\u0000${requestModel ?? ""}\u0000${reading.kind}`;
      let series = this.series.get(key);
      if (series === undefined) {
        if (this.series.size >= MAX_RATE_LIMIT_SERIES) continue;
        const attributes: Attributes = {
          [names.ATTR_GEN_AI_PROVIDER_NAME]: provider,
          [names.ATTR_TOKENTRACE_RATELIMIT_KIND]: reading.kind,
        };
        if (requestModel !== undefined) attributes[names.ATTR_GEN_AI_REQUEST_MODEL] = requestModel;
        if (serverAddress !== undefined) attributes[names.ATTR_SERVER_ADDRESS] = serverAddress;
        series = {
          attributes,
          limit: undefined,
          remaining: undefined,
          resetAtEpochMs: undefined,
          receivedAtEpochMs: 0,
        };
        this.series.set(key, series);
      }
      if (receivedAtEpochMs < series.receivedAtEpochMs) continue;
      series.receivedAtEpochMs = receivedAtEpochMs;
      // A reading replaces the series' values: a header missing from it leaves its value unknown.
      series.limit = reading.limit;
      series.remaining = reading.remaining;
      series.resetAtEpochMs =
        reading.resetSeconds === undefined ? undefined : receivedAtEpochMs + reading.resetSeconds * 1000;
    }
  }

  reportRemaining = (result: ObservableResult): void => {
    const now = this.now();
    for (const series of this.series.values()) {
      const remaining = reset(series, now) && series.limit !== undefined ? series.limit : series.remaining;
      if (remaining !== undefined) result.observe(remaining, series.attributes);
    }
  };

  reportLimit = (result: ObservableResult): void => {
    for (const series of this.series.values()) {
      if (series.limit !== undefined) result.observe(series.limit, series.attributes);
    }
  };

  reportReset = (result: ObservableResult): void => {
    const now = this.now();
    for (const series of this.series.values()) {
      const at = series.resetAtEpochMs;
      if (at !== undefined) result.observe(Math.max(0, (at - now) / 1000), series.attributes);
    }
  };
}

/** Whether the window the series' reading described has reset by `now`. */
function reset(series: RateLimitSeries, now: number): boolean {
  return series.resetAtEpochMs !== undefined && now >= series.resetAtEpochMs;
}

/** Distinct finish reasons counted per meter as they are; the rest (and any over 64 characters) as `_other`. */
const MAX_FINISH_REASONS = 32;
const MAX_FINISH_REASON_LENGTH = 64;
const OTHER_FINISH_REASON = "_other";

/** The finish reasons a meter labels its counts with: the providers' few, capped against a payload's many. */
export class FinishReasonCap {
  private readonly seen = new Set<string>();

  of(reason: string): string {
    if (this.seen.has(reason)) return reason;
    if (this.seen.size >= MAX_FINISH_REASONS || reason.length > MAX_FINISH_REASON_LENGTH) return OTHER_FINISH_REASON;
    this.seen.add(reason);
    return reason;
  }
}
