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
import { compileRules } from './compiled-rules.ts';
import { detectMetrics } from './detectors/metric-loop.ts';
import {
  deviceSilence,
  learnInterval,
  SilenceVerdict,
  silenceAfterMs,
  silenceOpenedAt,
} from './detectors/silence.ts';
import { GatewayWatch } from './gateways.ts';
import { type Incident, IncidentBook } from './incidents.ts';
import { builtInProfiles, type DeviceProfile, type DeviceProfiles, type MetricRules } from './profiles.ts';
import { METRIC_RULE_COUNT, SILENCE, WHOLE_DEVICE } from './rules.ts';
import { captureSnapshot, type EngineParts, restoreSnapshot } from './snapshot.ts';
import { D, DEVICE_STRIDE, DeviceTable, LIVE, METRIC_COUNT, SILENT } from './state.ts';

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
  /** This reading's device time, then its metric values in METRICS order, NaN for none; reused. */
  readonly #frame = new Float64Array(1 + METRIC_COUNT);
  /** The slot of the last reading observed: see `observe`. */
  #lastSlot = -1;
  /** Rules each metric of this reading breaks (bits by RULE) and their scores; reused so a reading allocates nothing. */
  readonly #bits = new Uint8Array(METRIC_COUNT);
  readonly #scores = new Float64Array(METRIC_COUNT * METRIC_RULE_COUNT);

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
    // A gateway's sensors arrive in the same order in every message, and were given consecutive
    // slots by their first message: the slot after the last one is worth a look before the index
    // (a hash lookup that misses the CPU cache once a fleet is tens of thousands of devices).
    const guess = this.#lastSlot + 1;
    let slot = t.ids[guess] === id ? guess : t.index.get(id);
    if (slot === undefined) slot = this.#admit(id, out);
    this.#lastSlot = slot;
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

    const frame = this.#frame;
    frame[0] = ts;
    frame[1] = reading.temperature ?? Number.NaN;
    frame[2] = reading.humidity ?? Number.NaN;
    frame[3] = reading.pressure ?? Number.NaN;
    frame[4] = reading.vibration ?? Number.NaN;
    frame[5] = reading.battery ?? Number.NaN;
    const bits = this.#bits;
    const attention = detectMetrics(
      frame,
      slot,
      this.#settings[profileIndex]!,
      t.metric,
      t.openMask,
      bits,
      this.#scores,
    );
    if (attention !== 0) {
      for (let m = 0; m < METRIC_COUNT; m++) {
        if ((attention & (1 << m)) === 0) continue;
        const ms = slot * METRIC_COUNT + m;
        this.#metricIncidentsFor(
          ms,
          m,
          bits[m]!,
          profile.metrics[m]!,
          frame[1 + m]!,
          ts,
          at,
          profile,
          id,
          out,
        );
      }
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
    m: number,
    bits: number,
    rules: MetricRules,
    x: number,
    ts: number,
    at: number,
    profile: DeviceProfile,
    deviceId: string,
    out: Alert[],
  ): void {
    const book = this.#p.metricIncidents;
    const openMask = this.#p.devices.openMask;
    let mask = openMask[ms]!;
    for (let rule = 0; rule < METRIC_RULE_COUNT; rule++) {
      const bit = 1 << rule;
      const key = ms * RULE_KEYS + rule;
      if ((bits & bit) !== 0) {
        if ((mask & bit) !== 0) {
          book.repeat(key, at);
        } else {
          book.open(
            key,
            metricAlertFields(rule, rules, x, this.#scores[m * METRIC_RULE_COUNT + rule]!, ts, deviceId),
            at,
            out,
          );
          mask |= bit;
        }
      } else if ((mask & bit) !== 0 && book.resolveIfQuiet(key, at, profile.quietMs, x, ts, out)) {
        mask &= ~bit;
      }
    }
    openMask[ms] = mask;
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
