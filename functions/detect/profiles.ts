/**
 * Device profiles: which detectors run for a device and how they are tuned, per metric. Read and
 * checked once, at start, from a JSON file (config/device-profiles.json) into a frozen object; a bad
 * field stops the start with a message naming the field and what it expects.
 *
 * File shape (every field optional; what is left out comes from `defaults`, then from BUILT_IN):
 *
 *   { "defaults": Body, "profiles": [{ "name": "...", "devices": ["glob*", ...], ...Body }] }
 *   Body = { expectedIntervalMs, quietMs, evictAfterMs, silence: {...}, gatewaySilence: {...},
 *            metrics: { "*": Rules, temperature: Rules, ... } }
 *   Rules = { baseline, spike, drift, rate, flatline, threshold }
 *
 * A device gets the first profile whose `devices` globs match its id (`*` matches any run of
 * characters), else the defaults. Per metric, settings merge field by field: built-in <
 * defaults."*" < defaults.<metric> < profile."*" < profile.<metric>.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Severity } from '../lib/codec/alert-codec.ts';
import { ConfigError, errorMessage } from '../lib/errors.ts';
import { METRICS, type Metric } from '../lib/reading.ts';
import { normalQuantile } from './normal.ts';
import {
  allowKeys,
  bool,
  deepFreeze,
  type Json,
  merge,
  nullableNum,
  num,
  object,
  severity,
  show,
} from './settings-readers.ts';

export const DEFAULT_PROFILES_PATH = fileURLToPath(
  new URL('../../config/device-profiles.json', import.meta.url),
);

export interface BaselineSettings {
  /** EWMA mean and variance: readings after which an old reading weighs half. */
  readonly alpha: number;
  /** Floor of the standard deviation (about the sensor's resolution), so a constant signal has finite z-scores. */
  readonly minStdDev: number;
  /** Readings learned before spike, dip and drift may fire. */
  readonly warmup: number;
  /** Consecutive outliers (net of inliers) after which they are taken as the new level. */
  readonly relearnAfter: number;
}

export interface MetricRules {
  readonly metric: Metric;
  readonly baseline: BaselineSettings;
  /** Spikes and dips: one-sided z-score of a reading against the baseline over `z`. */
  readonly spike: { readonly enabled: boolean; readonly z: number; readonly severity: Severity };
  /**
   * Drift: a fast EWMA (`beta`) pulling away from the baseline for `minDurationMs`. `scale` is the
   * standard deviation of (fast - baseline) on white noise, in units of the noise, so `z` means the
   * same as for spikes.
   */
  readonly drift: {
    readonly enabled: boolean;
    readonly beta: number;
    readonly z: number;
    readonly scale: number;
    readonly minDurationMs: number;
    readonly severity: Severity;
  };
  readonly rate: {
    readonly enabled: boolean;
    readonly maxPerSecond: number;
    /** Time step floor, so two readings a few ms apart do not make an absurd rate. */
    readonly minDtMs: number;
    readonly severity: Severity;
  };
  readonly flatline: {
    readonly enabled: boolean;
    readonly tolerance: number;
    readonly durationMs: number;
    /** A gap longer than the profile's silence time breaks a run: "unchanged" needs readings. */
    readonly maxGapMs: number;
    readonly severity: Severity;
  };
  /** Static limits; -Infinity / Infinity when not set. */
  readonly threshold: { readonly low: number; readonly high: number; readonly severity: Severity };
}

export interface DeviceProfile {
  readonly name: string;
  /** Position in DeviceProfiles.profiles; 0 is the defaults. */
  readonly index: number;
  /**
   * How often a device reports, at least: each device's own interval is learned from its readings
   * and silence counts from the longer of the two (detectors/silence.ts).
   */
  readonly expectedIntervalMs: number;
  /** An incident resolves after this long without an anomalous reading. */
  readonly quietMs: number;
  /** A device not heard from for this long leaves memory (an open silence incident is kept). */
  readonly evictAfterMs: number;
  readonly silence: {
    readonly enabled: boolean;
    readonly graceFactor: number;
    /** expectedIntervalMs * graceFactor: the least silence time; a device's learned interval raises it. */
    readonly afterMs: number;
    readonly severity: Severity;
  };
  readonly gatewaySilence: { readonly enabled: boolean; readonly severity: Severity };
  /** In METRICS order. */
  readonly metrics: readonly MetricRules[];
}

export class DeviceProfiles {
  /** Where the settings came from, for messages. */
  readonly source: string;
  /** [defaults, ...named profiles] */
  readonly profiles: readonly DeviceProfile[];
  readonly #matchers: readonly { readonly pattern: RegExp; readonly profile: DeviceProfile }[];

  constructor(
    source: string,
    profiles: readonly DeviceProfile[],
    matchers: readonly { pattern: RegExp; profile: DeviceProfile }[],
  ) {
    this.source = source;
    this.profiles = Object.freeze([...profiles]);
    this.#matchers = Object.freeze(matchers.map((m) => Object.freeze({ ...m })));
    Object.freeze(this);
  }

  get defaults(): DeviceProfile {
    return this.profiles[0]!;
  }

  /** The first profile whose globs match `deviceId`, else the defaults. Called once per new device. */
  profileFor(deviceId: string): DeviceProfile {
    for (const { pattern, profile } of this.#matchers) if (pattern.test(deviceId)) return profile;
    return this.defaults;
  }
}

// ---------------------------------------------------------------------------------------------
// Raw (file) shape and built-in defaults

/**
 * Settings for any device and metric when the file says nothing. Generic on purpose: no thresholds
 * or rate limits (they depend on the sensor), statistical detectors on, one reading a second.
 */
export const BUILT_IN: Readonly<Json> = deepFreeze({
  expectedIntervalMs: 1_000,
  quietMs: 60_000,
  evictAfterMs: 86_400_000,
  silence: { enabled: true, graceFactor: 10, severity: 'warning' },
  gatewaySilence: { enabled: true, severity: 'critical' },
  metrics: {
    '*': {
      baseline: { halfLife: 200, minStdDev: 0.001, warmup: 120, relearnAfter: 120 },
      spike: { enabled: true, confidence: 0.99999999, severity: 'warning' },
      drift: {
        enabled: true,
        halfLife: 20,
        confidence: 0.9999999,
        minDurationMs: 60_000,
        severity: 'warning',
      },
      rate: { maxPerSecond: null, severity: 'warning' },
      flatline: { enabled: true, tolerance: 0, durationMs: 60_000, severity: 'warning' },
      threshold: { low: null, high: null, severity: 'warning' },
    },
  },
});

const BODY_KEYS = ['expectedIntervalMs', 'quietMs', 'evictAfterMs', 'silence', 'gatewaySilence', 'metrics'];
const RULE_KEYS: Record<string, readonly string[]> = {
  baseline: ['halfLife', 'minStdDev', 'warmup', 'relearnAfter'],
  spike: ['enabled', 'confidence', 'severity'],
  drift: ['enabled', 'halfLife', 'confidence', 'minDurationMs', 'severity'],
  rate: ['maxPerSecond', 'severity'],
  flatline: ['enabled', 'tolerance', 'durationMs', 'severity'],
  threshold: ['low', 'high', 'severity'],
};

/** Reads and checks the profile file once; throws ConfigError naming the file and the bad field. */
export function loadDeviceProfiles(path: string = DEFAULT_PROFILES_PATH): DeviceProfiles {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`device profiles: cannot read ${path}: ${errorMessage(error)}`, error);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`device profiles: ${path} is not valid JSON: ${errorMessage(error)}`, error);
  }
  return parseDeviceProfiles(json, path);
}

/** Checks a parsed profile document (see the file comment for its shape) into frozen DeviceProfiles. */
export function parseDeviceProfiles(json: unknown, source = 'device profiles'): DeviceProfiles {
  const where = (path: string) => `${source}: ${path}`;
  const root = object(json, where('the document'));
  allowKeys(root, ['defaults', 'profiles'], source, '');
  const defaultsBody = root.defaults === undefined ? {} : object(root.defaults, where('defaults'));
  checkBody(defaultsBody, source, 'defaults');
  const profiles: DeviceProfile[] = [resolve('default', 0, [BUILT_IN, defaultsBody], source, 'defaults')];
  const matchers: { pattern: RegExp; profile: DeviceProfile }[] = [];
  const list = root.profiles === undefined ? [] : root.profiles;
  if (!Array.isArray(list)) throw new ConfigError(`${where('profiles')} must be an array of profiles`);
  const names = new Set(['default']);
  list.forEach((item: unknown, i: number) => {
    const path = `profiles[${i}]`;
    const raw = object(item, where(path));
    const { name, devices, ...body } = raw;
    if (typeof name !== 'string' || !/^[\w.-]{1,64}$/.test(name)) {
      throw new ConfigError(
        `${where(`${path}.name`)} must be 1-64 letters, digits, '.', '_' or '-', got ${show(name)}`,
      );
    }
    if (names.has(name)) throw new ConfigError(`${where(`${path}.name`)} "${name}" is used twice`);
    names.add(name);
    if (
      !Array.isArray(devices) ||
      devices.length === 0 ||
      !devices.every((d) => typeof d === 'string' && d.length > 0)
    ) {
      throw new ConfigError(
        `${where(`${path}.devices`)} must be a non-empty array of device id globs such as "pump-*"`,
      );
    }
    checkBody(body, source, path);
    const profile = resolve(name, profiles.length, [BUILT_IN, defaultsBody, body], source, path);
    profiles.push(profile);
    for (const glob of devices as string[]) matchers.push({ pattern: globToRegExp(glob), profile });
  });
  return new DeviceProfiles(source, profiles, matchers);
}

/** The built-in settings only, for tests and for a function started without a profile file. */
export function builtInProfiles(): DeviceProfiles {
  return parseDeviceProfiles({}, 'built-in device profiles');
}

function checkBody(body: Json, source: string, path: string): void {
  allowKeys(body, BODY_KEYS, source, path);
  for (const key of ['silence', 'gatewaySilence'] as const) {
    if (body[key] !== undefined) object(body[key], `${source}: ${path}.${key}`);
  }
  if (body.metrics === undefined) return;
  const metrics = object(body.metrics, `${source}: ${path}.metrics`);
  allowKeys(metrics, ['*', ...METRICS], source, `${path}.metrics`);
  for (const [metric, rules] of Object.entries(metrics)) {
    const rulesPath = `${path}.metrics.${metric}`;
    const r = object(rules, `${source}: ${rulesPath}`);
    allowKeys(r, Object.keys(RULE_KEYS), source, rulesPath);
    for (const [rule, settings] of Object.entries(r)) {
      allowKeys(
        object(settings, `${source}: ${rulesPath}.${rule}`),
        RULE_KEYS[rule]!,
        source,
        `${rulesPath}.${rule}`,
      );
    }
  }
}

/** `layers` from least to most specific: built-in, the file's defaults, the profile. */
function resolve(
  name: string,
  index: number,
  layers: readonly Readonly<Json>[],
  source: string,
  path: string,
): DeviceProfile {
  const at = (field: string) => `${source}: ${path}.${field}`;
  const body = layers.reduce<Json>((merged, layer) => merge(merged, layer), {});
  const expectedIntervalMs = num(body.expectedIntervalMs, at('expectedIntervalMs'), { gt: 0 });
  const silence = object(body.silence, at('silence'));
  allowKeys(silence, ['enabled', 'graceFactor', 'severity'], source, `${path}.silence`);
  const graceFactor = num(silence.graceFactor, at('silence.graceFactor'), { min: 1 });
  const gateway = object(body.gatewaySilence, at('gatewaySilence'));
  allowKeys(gateway, ['enabled', 'severity'], source, `${path}.gatewaySilence`);
  const quietMs = num(body.quietMs, at('quietMs'), { min: 0 });
  const afterMs = expectedIntervalMs * graceFactor;
  const evictAfterMs = num(body.evictAfterMs, at('evictAfterMs'), { min: 0 });
  // Evicting a device before its silence could be noticed (or its incidents resolved) would lose alerts.
  if (evictAfterMs < 2 * Math.max(afterMs, quietMs)) {
    throw new ConfigError(
      `${at('evictAfterMs')} is ${evictAfterMs}: it must be at least twice the silence time (${afterMs} ms) and quietMs (${quietMs} ms)`,
    );
  }
  // Per metric: each layer's "*" then that layer's own metric, so a profile's "*" beats a default's metric.
  const rules = METRICS.map((metric) => {
    let merged: Json = {};
    for (const layer of layers) {
      const metrics = (layer.metrics ?? {}) as Json;
      merged = merge(merge(merged, (metrics['*'] ?? {}) as Json), (metrics[metric] ?? {}) as Json);
    }
    return resolveMetric(metric, merged, expectedIntervalMs, afterMs, `${path}.metrics.${metric}`, source);
  });
  return deepFreeze({
    name,
    index,
    expectedIntervalMs,
    quietMs,
    evictAfterMs,
    silence: {
      enabled: bool(silence.enabled, at('silence.enabled')),
      graceFactor,
      afterMs,
      severity: severity(silence.severity, at('silence.severity')),
    },
    gatewaySilence: {
      enabled: bool(gateway.enabled, at('gatewaySilence.enabled')),
      severity: severity(gateway.severity, at('gatewaySilence.severity')),
    },
    metrics: rules,
  });
}

function resolveMetric(
  metric: Metric,
  r: Json,
  expectedIntervalMs: number,
  silenceMs: number,
  path: string,
  source: string,
): MetricRules {
  const at = (field: string) => `${source}: ${path}.${field}`;
  const baseline = object(r.baseline, at('baseline'));
  const spike = object(r.spike, at('spike'));
  const drift = object(r.drift, at('drift'));
  const rate = object(r.rate, at('rate'));
  const flatline = object(r.flatline, at('flatline'));
  const threshold = object(r.threshold, at('threshold'));
  const alpha = halfLifeToAlpha(num(baseline.halfLife, at('baseline.halfLife'), { min: 1 }));
  const beta = halfLifeToAlpha(num(drift.halfLife, at('drift.halfLife'), { min: 1 }));
  if (beta <= alpha) throw new ConfigError(`${at('drift.halfLife')} must be shorter than baseline.halfLife`);
  const maxPerSecond = nullableNum(rate.maxPerSecond, at('rate.maxPerSecond'), { gt: 0 });
  const low = nullableNum(threshold.low, at('threshold.low'), {});
  const high = nullableNum(threshold.high, at('threshold.high'), {});
  if (low !== null && high !== null && low >= high) {
    throw new ConfigError(`${at('threshold')}: low (${low}) must be below high (${high})`);
  }
  return {
    metric,
    baseline: {
      alpha,
      minStdDev: num(baseline.minStdDev, at('baseline.minStdDev'), { gt: 0 }),
      warmup: num(baseline.warmup, at('baseline.warmup'), { min: 2, integer: true }),
      relearnAfter: num(baseline.relearnAfter, at('baseline.relearnAfter'), { min: 1, integer: true }),
    },
    spike: {
      enabled: bool(spike.enabled, at('spike.enabled')),
      z: confidenceToZ(spike.confidence, at('spike.confidence')),
      severity: severity(spike.severity, at('spike.severity')),
    },
    drift: {
      enabled: bool(drift.enabled, at('drift.enabled')),
      beta,
      z: confidenceToZ(drift.confidence, at('drift.confidence')),
      scale: ewmaDifferenceScale(alpha, beta),
      minDurationMs: num(drift.minDurationMs, at('drift.minDurationMs'), { min: 0 }),
      severity: severity(drift.severity, at('drift.severity')),
    },
    rate: {
      enabled: maxPerSecond !== null,
      maxPerSecond: maxPerSecond ?? Number.POSITIVE_INFINITY,
      // Rate over at least one expected interval: faster sampling must not turn noise into alerts.
      minDtMs: expectedIntervalMs,
      severity: severity(rate.severity, at('rate.severity')),
    },
    flatline: {
      enabled: bool(flatline.enabled, at('flatline.enabled')),
      tolerance: num(flatline.tolerance, at('flatline.tolerance'), { min: 0 }),
      durationMs: num(flatline.durationMs, at('flatline.durationMs'), { gt: 0 }),
      maxGapMs: silenceMs,
      severity: severity(flatline.severity, at('flatline.severity')),
    },
    threshold: {
      low: low ?? Number.NEGATIVE_INFINITY,
      high: high ?? Number.POSITIVE_INFINITY,
      severity: severity(threshold.severity, at('threshold.severity')),
    },
  };
}

/** EWMA weight whose memory halves after `halfLife` readings. */
export function halfLifeToAlpha(halfLife: number): number {
  return 1 - 2 ** (-1 / halfLife);
}

/**
 * Standard deviation of (fast EWMA - slow EWMA) of unit white noise: var = b/(2-b) + a/(2-a) -
 * 2ab/(a+b-ab) (the two averages are correlated; the last term is their covariance).
 */
export function ewmaDifferenceScale(alpha: number, beta: number): number {
  return Math.sqrt(
    beta / (2 - beta) + alpha / (2 - alpha) - (2 * alpha * beta) / (alpha + beta - alpha * beta),
  );
}

function confidenceToZ(value: unknown, where: string): number {
  const c = num(value, where, {});
  if (!(c >= 0.5 && c < 1))
    throw new ConfigError(`${where} must be a probability in [0.5, 1), such as 0.9999999, got ${c}`);
  return normalQuantile(c);
}

function globToRegExp(glob: string): RegExp {
  const escaped = glob.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${escaped.join('.*')}$`);
}
