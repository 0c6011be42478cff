/**
 * The detection engine: pure logic, no I/O, no wall clock. `observe` feeds one reading and appends
 * the alert events it caused (usually none); `tick(now)` runs what the clock decides (silence,
 * gateway silence, incidents gone quiet, eviction of idle devices). Time is passed in: `at` is the
 * engine's clock for a reading (when it arrived; by default its device time) and `now` for a tick,
 * so a bench can run a simulated day in seconds and a replay gives the same alerts.
 *
 * Per device and metric it runs the detectors under ./detectors on compact state (state.ts), and
 * the incident lifecycle (incidents.ts) per (device, metric, rule). `snapshot()` / `restore()`
 * carry the whole state across a restart.
 */
import type { Alert } from '../lib/codec/alert-codec.ts';
import type { Reading } from '../lib/reading.ts';
import { driftDuration, driftScore, learnFast } from './detectors/drift.ts';
import { flatFor } from './detectors/flatline.ts';
import { ratePerSecond } from './detectors/rate.ts';
import { deviceSilence, SilenceVerdict, silenceOpenedAt } from './detectors/silence.ts';
import { learnBaseline, rewarm, zScore } from './detectors/spike.ts';
import { thresholdExcess } from './detectors/threshold.ts';
import { type Incident, IncidentBook, type OpenFields } from './incidents.ts';
import { builtInProfiles, type DeviceProfile, type DeviceProfiles, type MetricRules } from './profiles.ts';
import { GATEWAY_SILENCE, METRIC_RULE_COUNT, METRIC_RULES, RULE, SILENCE, WHOLE_DEVICE } from './rules.ts';
import { decodeSnapshot, encodeSnapshot, IncidentScope, type SnapshotIncident } from './snapshot.ts';
import {
  D,
  DEVICE_STRIDE,
  DeviceTable,
  G,
  GATEWAY_STRIDE,
  GatewayTable,
  LIVE,
  M,
  METRIC_COUNT,
  METRIC_STRIDE,
  SILENT,
} from './state.ts';

export interface EngineOptions {
  /** Devices held at most; past it the least recently heard from leave memory (counted). Default 1,000,000. */
  maxDevices?: number;
  /** Evicted devices whose silence incident is still open, remembered to resolve it when they return. Default 100,000. */
  maxDeparted?: number;
}

export interface EngineStats {
  readings: number;
  /** Readings at or before the device's last (ts, seq): duplicates and replays, not counted twice. */
  stale: number;
  devices: number;
  gateways: number;
  openIncidents: number;
  /** Devices that left memory after evictAfterMs of silence. */
  evicted: number;
  /** Devices that left memory because maxDevices was reached. */
  evictedForCapacity: number;
  /** Evicted devices with an open silence incident, still remembered. */
  departed: number;
  /** Departed devices forgotten because maxDeparted was reached (their incidents can no longer resolve). */
  departedDropped: number;
}

/** Incident keys of metric rules: metric slot * RULE_KEYS + rule. */
const RULE_KEYS = 8;
const DEFAULT_MAX_DEVICES = 1_000_000;
const DEFAULT_MAX_DEPARTED = 100_000;

export class DetectEngine {
  readonly profiles: DeviceProfiles;
  readonly #maxDevices: number;
  readonly #maxDeparted: number;
  readonly #devices = new DeviceTable();
  readonly #gateways = new GatewayTable();
  readonly #metricIncidents = new IncidentBook();
  readonly #silenceIncidents = new IncidentBook();
  readonly #gatewayIncidents = new IncidentBook();
  /** Evicted devices with an open silence incident, by device id. */
  readonly #departed = new Map<string, Incident>();
  /** Scores of this reading's breaches, by RULE; reused so a reading allocates nothing. */
  readonly #scores = new Float64Array(METRIC_RULE_COUNT);
  #clock = Number.NEGATIVE_INFINITY;
  readonly #counters = { readings: 0, stale: 0, evicted: 0, evictedForCapacity: 0, departedDropped: 0 };

  constructor(profiles: DeviceProfiles = builtInProfiles(), options: EngineOptions = {}) {
    this.profiles = profiles;
    this.#maxDevices = options.maxDevices ?? DEFAULT_MAX_DEVICES;
    this.#maxDeparted = options.maxDeparted ?? DEFAULT_MAX_DEPARTED;
  }

  /** The engine's clock: the latest reading arrival or tick it has seen. */
  get clock(): number {
    return this.#clock;
  }

  get stats(): EngineStats {
    return {
      ...this.#counters,
      devices: this.#devices.size,
      gateways: this.#gateways.size,
      openIncidents:
        this.#metricIncidents.size +
        this.#silenceIncidents.size +
        this.#gatewayIncidents.size +
        this.#departed.size,
      departed: this.#departed.size,
    };
  }

  /** Typed-array bytes per device-metric at the current capacity (ids and index entries not included). */
  typedBytesPerDeviceMetric(): number {
    return this.#devices.typedBytesPerDeviceMetric();
  }

  /**
   * Feeds one reading; appends the alert events it caused to `out` and returns `out`.
   * `at`: engine time of arrival (default: the device time); `gatewayId`: the gateway it came through.
   */
  observe(reading: Reading, out: Alert[] = [], at: number = reading.ts, gatewayId?: string): Alert[] {
    const t = this.#devices;
    const id = reading.deviceId;
    const ts = reading.ts;
    let slot = t.index.get(id);
    if (slot === undefined) slot = this.#admit(id, out);
    const dev = t.device;
    const d = slot * DEVICE_STRIDE;
    const lastTs = dev[d + D.lastTs]!;
    if (ts < lastTs || (ts === lastTs && reading.seq <= dev[d + D.lastSeq]!)) {
      this.#counters.stale++;
      return out;
    }
    this.#counters.readings++;
    dev[d + D.lastTs] = ts;
    dev[d + D.lastSeq] = reading.seq;
    if (at > dev[d + D.lastAt]!) dev[d + D.lastAt] = at;
    if (at > this.#clock) this.#clock = at;
    if ((t.flags[slot]! & SILENT) !== 0) {
      t.flags[slot] = t.flags[slot]! & ~SILENT;
      this.#silenceIncidents.resolve(slot, null, ts, out, `resolved: ${id} is reporting again`);
    }
    const profile = this.profiles.profiles[t.profile[slot]!]!;
    t.gateway[slot] =
      gatewayId === undefined ? -1 : this.#heardFromGateway(gatewayId, id, ts, at, profile, out);

    const rules = profile.metrics;
    const base = slot * METRIC_COUNT;
    if (reading.temperature !== null)
      this.#metric(base, rules[0]!, reading.temperature, ts, at, profile, id, out);
    if (reading.humidity !== null)
      this.#metric(base + 1, rules[1]!, reading.humidity, ts, at, profile, id, out);
    if (reading.pressure !== null)
      this.#metric(base + 2, rules[2]!, reading.pressure, ts, at, profile, id, out);
    if (reading.vibration !== null)
      this.#metric(base + 3, rules[3]!, reading.vibration, ts, at, profile, id, out);
    if (reading.battery !== null)
      this.#metric(base + 4, rules[4]!, reading.battery, ts, at, profile, id, out);
    return out;
  }

  /**
   * The clock's work at engine time `now`: opens silence incidents (per device, or one per gateway
   * when a whole gateway went quiet), resolves incidents that have been quiet long enough, and lets
   * idle devices leave memory. Call it every second or so, whether or not readings arrive.
   */
  tick(now: number, out: Alert[] = []): Alert[] {
    if (now > this.#clock) this.#clock = now;
    now = this.#clock;
    this.#tickGateways(now, out);
    const t = this.#devices;
    const gw = this.#gateways;
    for (let slot = 0; slot < t.highWater; slot++) {
      const flags = t.flags[slot]!;
      if ((flags & LIVE) === 0) continue;
      const profile = this.profiles.profiles[t.profile[slot]!]!;
      const lastAt = t.device[slot * DEVICE_STRIDE + D.lastAt]!;
      if (now - lastAt > profile.evictAfterMs) {
        this.#evict(slot, out);
        continue;
      }
      if ((flags & SILENT) !== 0 || !profile.silence.enabled) continue;
      const g = t.gateway[slot]!;
      const verdict = deviceSilence(
        now,
        lastAt,
        profile.silence.afterMs,
        g < 0 ? Number.NaN : gw.state[g * GATEWAY_STRIDE + G.lastAt]!,
        g >= 0 && (gw.flags[g]! & SILENT) !== 0,
      );
      if (verdict === SilenceVerdict.silent) this.#openSilence(slot, profile, now, out);
    }
    if (this.#metricIncidents.size > 0) this.#resolveQuiet(now, out);
    return out;
  }

  /** The whole state, to carry across a restart (`DetectEngine.restore`). */
  snapshot(): Uint8Array {
    const t = this.#devices;
    const gw = this.#gateways;
    const n = t.highWater;
    const incidents: SnapshotIncident[] = [];
    const add = (scope: IncidentScope, book: IncidentBook) => {
      for (const [key, i] of book.entries())
        incidents.push({ scope, key, lastBreachAt: i.lastBreachAt, repeats: i.repeats, alert: i.alert });
    };
    add(IncidentScope.metric, this.#metricIncidents);
    add(IncidentScope.device, this.#silenceIncidents);
    add(IncidentScope.gateway, this.#gatewayIncidents);
    for (const i of this.#departed.values()) {
      incidents.push({
        scope: IncidentScope.departed,
        key: 0,
        lastBreachAt: i.lastBreachAt,
        repeats: i.repeats,
        alert: i.alert,
      });
    }
    return encodeSnapshot({
      clock: this.#clock,
      devices: {
        ids: t.ids.slice(0, n).map((id) => id ?? null),
        free: Int32Array.from(t.free),
        device: t.device.subarray(0, n * DEVICE_STRIDE),
        gateway: t.gateway.subarray(0, n),
        flags: t.flags.subarray(0, n),
        metric: t.metric.subarray(0, n * METRIC_COUNT * METRIC_STRIDE),
        openMask: t.openMask.subarray(0, n * METRIC_COUNT),
      },
      gateways: {
        ids: [...gw.ids],
        state: gw.state.subarray(0, gw.size * GATEWAY_STRIDE),
        flags: gw.flags.subarray(0, gw.size),
      },
      incidents,
      counters: { ...this.#counters },
    });
  }

  /**
   * An engine in the state `bytes` were taken in. Profiles are applied afresh by device id, so an
   * edited profile file takes effect on restart. Throws IngestError if the bytes are not a snapshot.
   */
  static restore(
    bytes: Uint8Array,
    profiles: DeviceProfiles = builtInProfiles(),
    options: EngineOptions = {},
  ): DetectEngine {
    const parts = decodeSnapshot(bytes);
    const engine = new DetectEngine(profiles, options);
    engine.#clock = parts.clock;
    const { devices } = parts;
    engine.#devices.load(
      devices.ids.map((id) => id ?? undefined),
      {
        device: devices.device,
        gateway: devices.gateway,
        flags: devices.flags,
        metric: devices.metric,
        openMask: devices.openMask,
      },
      [...devices.free],
      (id) => profiles.profileFor(id).index,
    );
    engine.#gateways.load(parts.gateways.ids, parts.gateways.state, parts.gateways.flags);
    for (const s of parts.incidents) {
      const incident: Incident = {
        alert: Object.freeze(s.alert),
        lastBreachAt: s.lastBreachAt,
        repeats: s.repeats,
      };
      if (s.scope === IncidentScope.metric) engine.#metricIncidents.restore(s.key, incident);
      else if (s.scope === IncidentScope.device) engine.#silenceIncidents.restore(s.key, incident);
      else if (s.scope === IncidentScope.gateway) engine.#gatewayIncidents.restore(s.key, incident);
      else engine.#departed.set(s.alert.deviceId, incident);
    }
    const c = engine.#counters;
    for (const key of Object.keys(c) as (keyof typeof c)[]) c[key] = parts.counters[key] ?? 0;
    return engine;
  }

  // -------------------------------------------------------------------------------------------
  // Per metric

  #metric(
    ms: number,
    rules: MetricRules,
    x: number,
    ts: number,
    at: number,
    profile: DeviceProfile,
    deviceId: string,
    out: Alert[],
  ): void {
    if (!Number.isFinite(x)) return;
    const st = this.#devices.metric;
    const o = ms * METRIC_STRIDE;
    const scores = this.#scores;
    let bits = 0;

    const excess = thresholdExcess(rules.threshold, x);
    if (excess > 0) {
      bits |= 1 << RULE.thresholdHigh;
      scores[RULE.thresholdHigh] = excess;
    } else if (excess < 0) {
      bits |= 1 << RULE.thresholdLow;
      scores[RULE.thresholdLow] = excess;
    }
    if (rules.rate.enabled) {
      const rate = ratePerSecond(st, o, rules, x, ts);
      if (rate > rules.rate.maxPerSecond || rate < -rules.rate.maxPerSecond) {
        bits |= 1 << RULE.rate;
        scores[RULE.rate] = rate;
      }
    }
    let flat = false;
    let wasFlat = false;
    if (rules.flatline.enabled) {
      wasFlat = st[o + M.lastTs]! - st[o + M.stuckSince]! >= rules.flatline.durationMs;
      const flatMs = flatFor(st, o, rules, x, ts);
      if (flatMs >= rules.flatline.durationMs) {
        flat = true;
        bits |= 1 << RULE.flatline;
        scores[RULE.flatline] = flatMs / 1000;
      }
    }
    const z = zScore(st, o, rules, x);
    if (rules.spike.enabled) {
      if (z > rules.spike.z) {
        bits |= 1 << RULE.spike;
        scores[RULE.spike] = z;
      } else if (z < -rules.spike.z) {
        bits |= 1 << RULE.dip;
        scores[RULE.dip] = z;
      }
    }
    // A stuck sensor says nothing about the signal: learning from it would shrink the variance and
    // make the first honest reading afterwards look like a spike. When it moves again, what was
    // learned before it is stale (the signal went on without it), so the baseline starts over.
    if (wasFlat && !flat) rewarm(st, o, x);
    else if (!flat && learnBaseline(st, o, rules, x, z)) learnFast(st, o, rules, x);
    if (rules.drift.enabled) {
      const score = driftScore(st, o, rules);
      const over = driftDuration(st, o, rules, score, ts);
      const driftOpen = (this.#devices.openMask[ms]! & (1 << RULE.drift)) !== 0;
      if (over >= rules.drift.minDurationMs || (over >= 0 && driftOpen)) {
        bits |= 1 << RULE.drift;
        scores[RULE.drift] = score;
      }
    }
    st[o + M.last] = x;
    st[o + M.lastTs] = ts;

    const open = this.#devices.openMask[ms]!;
    if ((bits | open) !== 0)
      this.#metricIncidentsFor(ms, bits, open, rules, x, ts, at, profile, deviceId, out);
  }

  #metricIncidentsFor(
    ms: number,
    bits: number,
    open: number,
    rules: MetricRules,
    x: number,
    ts: number,
    at: number,
    profile: DeviceProfile,
    deviceId: string,
    out: Alert[],
  ): void {
    const book = this.#metricIncidents;
    let mask = open;
    for (let rule = 0; rule < METRIC_RULE_COUNT; rule++) {
      const bit = 1 << rule;
      const key = ms * RULE_KEYS + rule;
      if ((bits & bit) !== 0) {
        if ((mask & bit) !== 0) {
          book.repeat(key, at);
        } else {
          book.open(key, metricAlert(rule, rules, x, this.#scores[rule]!, ts, deviceId), at, out);
          mask |= bit;
        }
      } else if ((mask & bit) !== 0 && book.resolveIfQuiet(key, at, profile.quietMs, x, ts, out)) {
        mask &= ~bit;
      }
    }
    this.#devices.openMask[ms] = mask;
  }

  // -------------------------------------------------------------------------------------------
  // Devices and gateways

  /** A slot for a device not in memory; resumes a departed device's silence incident. */
  #admit(id: string, out: Alert[]): number {
    const t = this.#devices;
    if (t.size >= this.#maxDevices) this.#evictOldest(Math.max(1, Math.ceil(this.#maxDevices / 100)), out);
    const slot = t.add(id, this.profiles.profileFor(id).index);
    if (this.#departed.size > 0) {
      const incident = this.#departed.get(id);
      if (incident !== undefined) {
        this.#departed.delete(id);
        this.#silenceIncidents.restore(slot, incident);
        t.flags[slot] = t.flags[slot]! | SILENT;
      }
    }
    return slot;
  }

  #heardFromGateway(
    gatewayId: string,
    deviceId: string,
    ts: number,
    at: number,
    profile: DeviceProfile,
    out: Alert[],
  ): number {
    const gw = this.#gateways;
    const g = gw.slotOf(gatewayId);
    const o = g * GATEWAY_STRIDE;
    if (at > gw.state[o + G.lastAt]!) gw.state[o + G.lastAt] = at;
    if (ts > gw.state[o + G.lastTs]!) gw.state[o + G.lastTs] = ts;
    if (profile.silence.afterMs > gw.state[o + G.afterMs]!) gw.state[o + G.afterMs] = profile.silence.afterMs;
    if ((gw.flags[g]! & SILENT) !== 0) {
      gw.flags[g] = gw.flags[g]! & ~SILENT;
      this.#gatewayIncidents.resolve(
        g,
        null,
        ts,
        out,
        `resolved: gateway ${gatewayId} is delivering again (${deviceId})`,
      );
    }
    return g;
  }

  #tickGateways(now: number, out: Alert[]): void {
    const gw = this.#gateways;
    const settings = this.profiles.defaults.gatewaySilence;
    if (!settings.enabled) return;
    for (let g = 0; g < gw.size; g++) {
      if ((gw.flags[g]! & SILENT) !== 0) continue;
      const o = g * GATEWAY_STRIDE;
      const afterMs = gw.state[o + G.afterMs]!;
      const lastAt = gw.state[o + G.lastAt]!;
      if (afterMs <= 0 || now - lastAt <= afterMs) continue;
      const devices = this.#devicesBehind(g);
      if (devices === 0) continue;
      const gatewayId = gw.ids[g]!;
      const lastTs = gw.state[o + G.lastTs]!;
      gw.flags[g] = gw.flags[g]! | SILENT;
      this.#gatewayIncidents.open(
        g,
        {
          deviceId: gatewayId,
          metric: WHOLE_DEVICE,
          rule: GATEWAY_SILENCE,
          severity: settings.severity,
          value: null,
          score: (now - lastAt) / afterMs,
          ts: lastTs,
          openedAt: silenceOpenedAt(lastTs, afterMs),
          message: `no reading through gateway ${gatewayId} for ${seconds(now - lastAt)}; its ${devices} device${devices === 1 ? '' : 's'} are not reporting`,
        },
        now,
        out,
      );
    }
  }

  #devicesBehind(g: number): number {
    const t = this.#devices;
    let count = 0;
    for (let slot = 0; slot < t.highWater; slot++)
      if ((t.flags[slot]! & LIVE) !== 0 && t.gateway[slot] === g) count++;
    return count;
  }

  #openSilence(slot: number, profile: DeviceProfile, now: number, out: Alert[]): void {
    const t = this.#devices;
    const id = t.ids[slot]!;
    const lastAt = t.device[slot * DEVICE_STRIDE + D.lastAt]!;
    const lastTs = t.device[slot * DEVICE_STRIDE + D.lastTs]!;
    t.flags[slot] = t.flags[slot]! | SILENT;
    this.#silenceIncidents.open(
      slot,
      {
        deviceId: id,
        metric: WHOLE_DEVICE,
        rule: SILENCE,
        severity: profile.silence.severity,
        value: null,
        score: (now - lastAt) / profile.expectedIntervalMs,
        ts: lastTs,
        openedAt: silenceOpenedAt(lastTs, profile.silence.afterMs),
        message: `no reading from ${id} for ${seconds(now - lastAt)} (expected every ${seconds(profile.expectedIntervalMs)})`,
      },
      now,
      out,
    );
  }

  /** Resolves metric incidents with no anomalous reading for quietMs, also for devices that went quiet. */
  #resolveQuiet(now: number, out: Alert[]): void {
    const t = this.#devices;
    for (const [key, incident] of this.#metricIncidents.entries()) {
      const ms = Math.floor(key / RULE_KEYS);
      const slot = Math.floor(ms / METRIC_COUNT);
      const profile = this.profiles.profiles[t.profile[slot]!]!;
      if (now - incident.lastBreachAt < profile.quietMs) continue;
      this.#metricIncidents.resolve(key, null, t.device[slot * DEVICE_STRIDE + D.lastTs]!, out);
      t.openMask[ms] = t.openMask[ms]! & ~(1 << (key % RULE_KEYS));
    }
  }

  /**
   * Lets a device leave memory. Its metric incidents resolve (they have been quiet at least
   * evictAfterMs); an open silence incident is remembered by id, so that it resolves when the device
   * is heard from again, however long that takes.
   */
  #evict(slot: number, out: Alert[], forCapacity = false): void {
    const t = this.#devices;
    const lastTs = t.device[slot * DEVICE_STRIDE + D.lastTs]!;
    for (let m = 0; m < METRIC_COUNT; m++) {
      const ms = slot * METRIC_COUNT + m;
      const mask = t.openMask[ms]!;
      if (mask === 0) continue;
      for (let rule = 0; rule < METRIC_RULE_COUNT; rule++) {
        if ((mask & (1 << rule)) !== 0)
          this.#metricIncidents.resolve(ms * RULE_KEYS + rule, null, lastTs, out);
      }
      t.openMask[ms] = 0;
    }
    const silence = this.#silenceIncidents.take(slot);
    if (silence !== undefined) {
      if (this.#departed.size >= this.#maxDeparted) {
        const oldest = this.#departed.keys().next().value as string;
        this.#departed.delete(oldest);
        this.#counters.departedDropped++;
      }
      this.#departed.set(t.ids[slot]!, silence);
    }
    if (forCapacity) this.#counters.evictedForCapacity++;
    else this.#counters.evicted++;
    t.remove(slot);
  }

  /** Evicts the `count` devices heard from least recently (maxDevices reached). */
  #evictOldest(count: number, out: Alert[]): void {
    const t = this.#devices;
    const live: number[] = [];
    for (let slot = 0; slot < t.highWater; slot++) if ((t.flags[slot]! & LIVE) !== 0) live.push(slot);
    live.sort((a, b) => t.device[a * DEVICE_STRIDE + D.lastAt]! - t.device[b * DEVICE_STRIDE + D.lastAt]!);
    for (const slot of live.slice(0, count)) this.#evict(slot, out, true);
  }
}

function metricAlert(
  rule: number,
  rules: MetricRules,
  x: number,
  score: number,
  ts: number,
  deviceId: string,
): OpenFields {
  const metric = rules.metric;
  const name = METRIC_RULES[rule]!;
  const fields = { deviceId, metric, rule: name, value: x, score, ts, openedAt: ts };
  switch (rule) {
    case RULE.thresholdHigh:
      return {
        ...fields,
        severity: rules.threshold.severity,
        message: `${metric} ${x} is above ${rules.threshold.high}`,
      };
    case RULE.thresholdLow:
      return {
        ...fields,
        severity: rules.threshold.severity,
        message: `${metric} ${x} is below ${rules.threshold.low}`,
      };
    case RULE.spike:
    case RULE.dip:
      return {
        ...fields,
        severity: rules.spike.severity,
        message: `${metric} ${x} is ${Math.abs(score).toFixed(1)} standard deviations ${score > 0 ? 'above' : 'below'} its baseline`,
      };
    case RULE.rate:
      return {
        ...fields,
        severity: rules.rate.severity,
        message: `${metric} changes by ${round(score)}/s, beyond the ${rules.rate.maxPerSecond}/s limit`,
      };
    case RULE.drift:
      return {
        ...fields,
        severity: rules.drift.severity,
        message: `${metric} is drifting ${score > 0 ? 'up' : 'down'} from its baseline (score ${score.toFixed(1)})`,
      };
    default:
      return {
        ...fields,
        severity: rules.flatline.severity,
        message: `${metric} stuck at ${x} for ${seconds(score * 1000)}`,
      };
  }
}

function seconds(ms: number): string {
  return ms >= 120_000 ? `${Math.round(ms / 60_000)} min` : `${Math.round(ms / 1000)} s`;
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}
