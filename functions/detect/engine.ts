/**
 * The detection engine: pure logic, no I/O, no wall clock. `observe` feeds one reading and appends
 * the alert events it caused (usually none); `tick(now)` runs what the clock decides (silence,
 * gateway silence, incidents gone quiet, eviction of idle devices). Time is passed in: `at` is the
 * engine's clock for a reading (when it arrived; by default its device time) and `now` for a tick,
 * so a bench can run a simulated day in seconds and a replay gives the same alerts.
 *
 * Per device and metric it runs the detectors under ./detectors on compact state (state.ts), and
 * the incident lifecycle (incidents.ts) per (device, metric, rule). `snapshot()` / `restore()`
 * carry the whole state across a restart (snapshot.ts).
 */
import type { Alert } from '../lib/codec/alert-codec.ts';
import type { Reading } from '../lib/reading.ts';
import { metricAlertFields, seconds } from './alert-text.ts';
import { compileRules, RULE_STRIDE, S } from './compiled-rules.ts';
import { driftDuration, learnFast } from './detectors/drift.ts';
import {
  deviceSilence,
  learnInterval,
  SilenceVerdict,
  silenceAfterMs,
  silenceOpenedAt,
} from './detectors/silence.ts';
import { rewarm } from './detectors/spike.ts';
import { GatewayWatch } from './gateways.ts';
import { type Incident, IncidentBook } from './incidents.ts';
import { builtInProfiles, type DeviceProfile, type DeviceProfiles, type MetricRules } from './profiles.ts';
import { METRIC_RULE_COUNT, RULE, SILENCE, WHOLE_DEVICE } from './rules.ts';
import { captureSnapshot, type EngineParts, restoreSnapshot } from './snapshot.ts';
import { D, DEVICE_STRIDE, DeviceTable, LIVE, M, METRIC_COUNT, METRIC_STRIDE, SILENT } from './state.ts';

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
  readonly #gateways = new GatewayWatch();
  readonly #p: EngineParts & {
    counters: {
      readings: number;
      stale: number;
      evicted: number;
      evictedForCapacity: number;
      departedDropped: number;
    };
  } = {
    clock: Number.NEGATIVE_INFINITY,
    devices: new DeviceTable(),
    gateways: this.#gateways.table,
    metricIncidents: new IncidentBook(),
    silenceIncidents: new IncidentBook(),
    gatewayIncidents: this.#gateways.incidents,
    departed: new Map<string, Incident>(),
    counters: { readings: 0, stale: 0, evicted: 0, evictedForCapacity: 0, departedDropped: 0 },
  };
  /** Each profile's metric settings as numbers (compiled-rules.ts), by profile index. */
  readonly #settings: Float64Array[];
  /** This reading's metric values in METRICS order, NaN for none; reused. */
  readonly #values = new Float64Array(METRIC_COUNT);
  /** Scores of this reading's breaches, by RULE; reused so a reading allocates nothing. */
  readonly #scores = new Float64Array(METRIC_RULE_COUNT);

  constructor(profiles: DeviceProfiles = builtInProfiles(), options: EngineOptions = {}) {
    this.profiles = profiles;
    this.#settings = profiles.profiles.map(compileRules);
    this.#maxDevices = options.maxDevices ?? DEFAULT_MAX_DEVICES;
    this.#maxDeparted = options.maxDeparted ?? DEFAULT_MAX_DEPARTED;
  }

  /** The engine's clock: the latest reading arrival or tick it has seen. */
  get clock(): number {
    return this.#p.clock;
  }

  get stats(): EngineStats {
    const p = this.#p;
    return {
      ...p.counters,
      devices: p.devices.size,
      gateways: p.gateways.size,
      openIncidents:
        p.metricIncidents.size + p.silenceIncidents.size + p.gatewayIncidents.size + p.departed.size,
      departed: p.departed.size,
    };
  }

  /** Typed-array bytes per device-metric at the current capacity (ids and index entries not included). */
  typedBytesPerDeviceMetric(): number {
    return this.#p.devices.typedBytesPerDeviceMetric();
  }

  /**
   * Feeds one reading; appends the alert events it caused to `out` and returns `out`.
   * `at`: engine time of arrival (default: the device time); `gatewayId`: the gateway it came through.
   */
  observe(reading: Reading, out: Alert[] = [], at: number = reading.ts, gatewayId?: string): Alert[] {
    const p = this.#p;
    const t = p.devices;
    const id = reading.deviceId;
    const ts = reading.ts;
    let slot = t.index.get(id);
    if (slot === undefined) slot = this.#admit(id, out);
    const dev = t.device;
    const d = slot * DEVICE_STRIDE;
    const lastTs = dev[d + D.lastTs]!;
    if (ts < lastTs || (ts === lastTs && reading.seq <= dev[d + D.lastSeq]!)) {
      p.counters.stale++;
      return out;
    }
    p.counters.readings++;
    learnInterval(t.interval, slot, ts - lastTs);
    dev[d + D.lastTs] = ts;
    dev[d + D.lastSeq] = reading.seq;
    if (at > dev[d + D.lastAt]!) dev[d + D.lastAt] = at;
    if (at > p.clock) p.clock = at;
    if ((t.flags[slot]! & SILENT) !== 0) {
      t.flags[slot] = t.flags[slot]! & ~SILENT;
      p.silenceIncidents.resolve(slot, null, ts, out, `resolved: ${id} is reporting again`);
    }
    const profileIndex = t.profile[slot]!;
    const profile = this.profiles.profiles[profileIndex]!;
    t.gateway[slot] =
      gatewayId === undefined
        ? -1
        : this.#gateways.heard(gatewayId, id, ts, at, silenceAfterMs(profile, t.interval[slot]!), out);

    // Each metric in turn. Every detector's arithmetic is spelled out in this one loop rather than
    // called, so the baseline's count, mean and variance stay in local variables from the z-score
    // through learning to the drift score instead of being stored and read back from the typed
    // array between calls, and no call is made per metric: detection went from about 360 to 240 ns
    // a reading (bench/hot-path.ts; alerts and snapshots unchanged). What each rule means:
    //  - threshold: static limits, the score is how far outside;
    //  - rate: change since the last reading per second of device time, the time step floored at
    //    minDtMs so two readings a few ms apart do not make an absurd rate;
    //  - flatline (stuck sensor): the value has stayed within `tolerance` of the first value of the
    //    current run, so a slow creep within tolerance per step still breaks the run. A gap longer
    //    than the profile's silence time (maxGapMs) breaks it too: "unchanged for ten minutes"
    //    needs readings that say so. (That is the profile's time, not the device's learned one: on
    //    a device slower than its profile expects, two equal readings a minute apart would
    //    otherwise be "stuck for a minute". Such a device needs expectedIntervalMs in its profile.)
    //  - spike and dip: detectors/spike.ts;
    //  - drift: detectors/drift.ts.
    const s = this.#settings[profileIndex]!;
    const values = this.#values;
    values[0] = reading.temperature ?? Number.NaN;
    values[1] = reading.humidity ?? Number.NaN;
    values[2] = reading.pressure ?? Number.NaN;
    values[3] = reading.vibration ?? Number.NaN;
    values[4] = reading.battery ?? Number.NaN;
    const st = t.metric;
    const scores = this.#scores;
    for (let m = 0; m < METRIC_COUNT; m++) {
      const x = values[m]!;
      if (x - x !== 0) continue; // null (NaN here) or not finite
      const ms = slot * METRIC_COUNT + m;
      const o = ms * METRIC_STRIDE;
      const r = m * RULE_STRIDE;
      let bits = 0;

      const lastTs = st[o + M.lastTs]!;
      const high = s[r + S.thresholdHigh]!;
      const low = s[r + S.thresholdLow]!;
      if (x > high) {
        bits |= 1 << RULE.thresholdHigh;
        scores[RULE.thresholdHigh] = x - high;
      } else if (x < low) {
        bits |= 1 << RULE.thresholdLow;
        scores[RULE.thresholdLow] = x - low;
      }
      if (s[r + S.rateEnabled] !== 0) {
        const rate = Number.isNaN(lastTs)
          ? 0
          : ((x - st[o + M.last]!) * 1000) / Math.max(ts - lastTs, s[r + S.rateMinDtMs]!);
        const max = s[r + S.rateMaxPerSecond]!;
        if (rate > max || rate < -max) {
          bits |= 1 << RULE.rate;
          scores[RULE.rate] = rate;
        }
      }
      let flat = false;
      let wasFlat = false;
      if (s[r + S.flatlineEnabled] !== 0) {
        const durationMs = s[r + S.flatlineDurationMs]!;
        const since = st[o + M.stuckSince]!;
        wasFlat = lastTs - since >= durationMs;
        const ref = st[o + M.stuckRef]!;
        const d = x - ref;
        const tolerance = s[r + S.flatlineTolerance]!;
        let flatMs = 0;
        if (
          Number.isNaN(ref) ||
          d > tolerance ||
          d < -tolerance ||
          ts - lastTs > s[r + S.flatlineMaxGapMs]!
        ) {
          st[o + M.stuckRef] = x;
          st[o + M.stuckSince] = ts;
        } else flatMs = ts - since;
        if (flatMs >= durationMs) {
          flat = true;
          bits |= 1 << RULE.flatline;
          scores[RULE.flatline] = flatMs / 1000;
        }
      }
      const warmup = s[r + S.warmup]!;
      const minStdDev = s[r + S.minStdDev]!;
      const spikeZ = s[r + S.spikeZ]!;
      let count = st[o + M.count]!;
      let mean = st[o + M.mean]!;
      let variance = st[o + M.variance]!;
      const z = count < warmup ? 0 : (x - mean) / Math.max(Math.sqrt(variance), minStdDev);
      if (s[r + S.spikeEnabled] !== 0) {
        if (z > spikeZ) {
          bits |= 1 << RULE.spike;
          scores[RULE.spike] = z;
        } else if (z < -spikeZ) {
          bits |= 1 << RULE.dip;
          scores[RULE.dip] = z;
        }
      }
      // A stuck sensor says nothing about the signal: learning from it would shrink the variance
      // and make the first honest reading afterwards look like a spike. When it moves again, what
      // was learned before it is stale (the signal went on without it), so the baseline starts
      // over. An outlier is not learned; relearnAfter of them (net of inliers) are the new level.
      if (wasFlat && !flat) {
        rewarm(st, o, x);
        count = 1;
        mean = x;
        variance = 0;
      } else if (!flat) {
        if (z > spikeZ || z < -spikeZ) {
          const run = st[o + M.outlierRun]! + 1;
          if (run >= s[r + S.relearnAfter]!) {
            rewarm(st, o, x);
            count = 1;
            mean = x;
            variance = 0;
            learnFast(st, o, s, r, x);
          } else st[o + M.outlierRun] = run;
        } else {
          const run = st[o + M.outlierRun]!;
          if (run > 0) st[o + M.outlierRun] = run - 1;
          count += 1;
          const a = Math.max(1 / count, s[r + S.alpha]!);
          const d = x - mean;
          mean += a * d;
          variance = (1 - a) * (variance + a * d * d);
          st[o + M.count] = count;
          st[o + M.mean] = mean;
          st[o + M.variance] = variance;
          learnFast(st, o, s, r, x);
        }
      }
      if (s[r + S.driftEnabled] !== 0) {
        const score =
          count < warmup
            ? 0
            : (st[o + M.fast]! - mean) / (Math.max(Math.sqrt(variance), minStdDev) * s[r + S.driftScale]!);
        const over = driftDuration(st, o, s, r, score, ts);
        // The duration guards opening; once open, every reading over the threshold counts into it.
        const open = (t.openMask[ms]! & (1 << RULE.drift)) !== 0;
        if (over >= s[r + S.driftMinDurationMs]! || (over >= 0 && open)) {
          bits |= 1 << RULE.drift;
          scores[RULE.drift] = score;
        }
      }
      st[o + M.last] = x;
      st[o + M.lastTs] = ts;

      const open = t.openMask[ms]!;
      if ((bits | open) !== 0)
        this.#metricIncidentsFor(ms, bits, open, profile.metrics[m]!, x, ts, at, profile, id, out);
    }
    return out;
  }

  /**
   * The clock's work at engine time `now`: opens silence incidents (per device, or one per gateway
   * when a whole gateway went quiet), resolves incidents that have been quiet long enough, and lets
   * idle devices leave memory. Call it every second or so, whether or not readings arrive.
   */
  tick(now: number, out: Alert[] = []): Alert[] {
    const p = this.#p;
    if (now > p.clock) p.clock = now;
    now = p.clock;
    const t = p.devices;
    const gw = this.#gateways;
    gw.tick(now, this.profiles.defaults.gatewaySilence, t, out);
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
        silenceAfterMs(profile, t.interval[slot]!),
        g < 0 ? Number.NaN : gw.lastAt(g),
        g >= 0 && gw.isSilent(g),
      );
      if (verdict === SilenceVerdict.silent) this.#openSilence(slot, profile, now, out);
    }
    if (p.metricIncidents.size > 0) this.#resolveQuiet(now, out);
    return out;
  }

  /** The whole state, to carry across a restart (`DetectEngine.restore`). */
  snapshot(): Uint8Array {
    return captureSnapshot(this.#p);
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
    const engine = new DetectEngine(profiles, options);
    restoreSnapshot(bytes, engine.#p, (id) => profiles.profileFor(id).index);
    return engine;
  }

  // -------------------------------------------------------------------------------------------
  // Per metric

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
    const book = this.#p.metricIncidents;
    let mask = open;
    for (let rule = 0; rule < METRIC_RULE_COUNT; rule++) {
      const bit = 1 << rule;
      const key = ms * RULE_KEYS + rule;
      if ((bits & bit) !== 0) {
        if ((mask & bit) !== 0) {
          book.repeat(key, at);
        } else {
          book.open(key, metricAlertFields(rule, rules, x, this.#scores[rule]!, ts, deviceId), at, out);
          mask |= bit;
        }
      } else if ((mask & bit) !== 0 && book.resolveIfQuiet(key, at, profile.quietMs, x, ts, out)) {
        mask &= ~bit;
      }
    }
    this.#p.devices.openMask[ms] = mask;
  }

  // -------------------------------------------------------------------------------------------
  // Devices: admission, silence, quiet incidents, eviction

  /** A slot for a device not in memory; resumes a departed device's silence incident. */
  #admit(id: string, out: Alert[]): number {
    const p = this.#p;
    const t = p.devices;
    if (t.size >= this.#maxDevices) this.#evictOldest(Math.max(1, Math.ceil(this.#maxDevices / 100)), out);
    const slot = t.add(id, this.profiles.profileFor(id).index);
    if (p.departed.size > 0) {
      const incident = p.departed.get(id);
      if (incident !== undefined) {
        p.departed.delete(id);
        p.silenceIncidents.restore(slot, incident);
        t.flags[slot] = t.flags[slot]! | SILENT;
      }
    }
    return slot;
  }

  #openSilence(slot: number, profile: DeviceProfile, now: number, out: Alert[]): void {
    const t = this.#p.devices;
    const id = t.ids[slot]!;
    const lastAt = t.device[slot * DEVICE_STRIDE + D.lastAt]!;
    const lastTs = t.device[slot * DEVICE_STRIDE + D.lastTs]!;
    const afterMs = silenceAfterMs(profile, t.interval[slot]!);
    const expectedMs = afterMs / profile.silence.graceFactor;
    t.flags[slot] = t.flags[slot]! | SILENT;
    this.#p.silenceIncidents.open(
      slot,
      {
        deviceId: id,
        metric: WHOLE_DEVICE,
        rule: SILENCE,
        severity: profile.silence.severity,
        value: null,
        score: (now - lastAt) / expectedMs,
        ts: lastTs,
        openedAt: silenceOpenedAt(lastTs, afterMs),
        message: `no reading from ${id} for ${seconds(now - lastAt)} (expected every ${seconds(expectedMs)})`,
      },
      now,
      out,
    );
  }

  /** Resolves metric incidents with no anomalous reading for quietMs, also for devices that went quiet. */
  #resolveQuiet(now: number, out: Alert[]): void {
    const { devices: t, metricIncidents: book } = this.#p;
    for (const [key, incident] of book.entries()) {
      const ms = Math.floor(key / RULE_KEYS);
      const slot = Math.floor(ms / METRIC_COUNT);
      const profile = this.profiles.profiles[t.profile[slot]!]!;
      if (now - incident.lastBreachAt < profile.quietMs) continue;
      book.resolve(key, null, t.device[slot * DEVICE_STRIDE + D.lastTs]!, out);
      t.openMask[ms] = t.openMask[ms]! & ~(1 << (key % RULE_KEYS));
    }
  }

  /**
   * Lets a device leave memory. Its metric incidents resolve (they have been quiet at least
   * evictAfterMs); an open silence incident is remembered by id, so that it resolves when the device
   * is heard from again, however long that takes.
   */
  #evict(slot: number, out: Alert[], forCapacity = false): void {
    const p = this.#p;
    const t = p.devices;
    const lastTs = t.device[slot * DEVICE_STRIDE + D.lastTs]!;
    for (let m = 0; m < METRIC_COUNT; m++) {
      const ms = slot * METRIC_COUNT + m;
      const mask = t.openMask[ms]!;
      if (mask === 0) continue;
      for (let rule = 0; rule < METRIC_RULE_COUNT; rule++) {
        if ((mask & (1 << rule)) !== 0) p.metricIncidents.resolve(ms * RULE_KEYS + rule, null, lastTs, out);
      }
      t.openMask[ms] = 0;
    }
    const silence = p.silenceIncidents.take(slot);
    if (silence !== undefined) {
      if (p.departed.size >= this.#maxDeparted) {
        const oldest = p.departed.keys().next().value as string;
        p.departed.delete(oldest);
        p.counters.departedDropped++;
      }
      p.departed.set(t.ids[slot]!, silence);
    }
    if (forCapacity) p.counters.evictedForCapacity++;
    else p.counters.evicted++;
    t.remove(slot);
  }

  /** Evicts the `count` devices heard from least recently (maxDevices reached). */
  #evictOldest(count: number, out: Alert[]): void {
    const t = this.#p.devices;
    const live: number[] = [];
    for (let slot = 0; slot < t.highWater; slot++) if ((t.flags[slot]! & LIVE) !== 0) live.push(slot);
    live.sort((a, b) => t.device[a * DEVICE_STRIDE + D.lastAt]! - t.device[b * DEVICE_STRIDE + D.lastAt]!);
    for (const slot of live.slice(0, count)) this.#evict(slot, out, true);
  }
}
