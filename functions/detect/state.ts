/**
 * Detector state, kept compact: numbers in typed arrays indexed by slot, no object per device or
 * per reading. A device owns one device slot and METRIC_COUNT consecutive metric slots
 * (`slot * METRIC_COUNT + metric`). Freed slots are reused; arrays grow by doubling.
 *
 * Per device-metric: METRIC_STRIDE float64s (80 bytes) and one byte of open-incident bits, plus a
 * fifth of the device's share (4 float64s, 2 int32s, 1 flag byte, its id and index entry).
 */
import { METRICS } from '../lib/reading.ts';
import { M, METRIC_STRIDE } from './detectors/metric-loop.ts';

export const METRIC_COUNT = METRICS.length;

/** Offsets within a device slot (Float64Array, DEVICE_STRIDE per slot). */
export const D = {
  /** Engine time (arrival) of the last reading: silence. */
  lastAt: 0,
  /** Device time and sequence number of the last reading: duplicates and replays are skipped. */
  lastTs: 1,
  lastSeq: 2,
} as const;
export const DEVICE_STRIDE = 3;

/** Device flag bits. */
export const LIVE = 1;
export const SILENT = 2;

/** Gateway slot offsets (Float64Array, GATEWAY_STRIDE per slot). */
export const G = {
  lastAt: 0,
  lastTs: 1,
  /** Longest silence threshold of the devices seen through it. */
  afterMs: 2,
} as const;
export const GATEWAY_STRIDE = 3;

const INITIAL_CAPACITY = 64;

/** Devices and their per-metric detector state. */
export class DeviceTable {
  ids: (string | undefined)[] = [];
  readonly index = new Map<string, number>();
  device: Float64Array = new Float64Array(INITIAL_CAPACITY * DEVICE_STRIDE);
  /** Learned reporting interval, device ms (detectors/silence.ts learnInterval); NaN until known. */
  interval: Float64Array = new Float64Array(INITIAL_CAPACITY);
  profile: Int32Array = new Int32Array(INITIAL_CAPACITY);
  gateway: Int32Array = new Int32Array(INITIAL_CAPACITY);
  flags: Uint8Array = new Uint8Array(INITIAL_CAPACITY);
  metric: Float64Array = new Float64Array(INITIAL_CAPACITY * METRIC_COUNT * METRIC_STRIDE);
  /** Open-incident bits per metric slot (bit = RULE). */
  openMask: Uint8Array = new Uint8Array(INITIAL_CAPACITY * METRIC_COUNT);
  /** Slots below this have been used. */
  highWater = 0;
  free: number[] = [];

  get size(): number {
    return this.index.size;
  }

  get capacity(): number {
    return this.flags.length;
  }

  /** A fresh slot for `id`, all state reset. */
  add(id: string, profileIndex: number): number {
    const slot = this.free.length > 0 ? this.free.pop()! : this.highWater++;
    if (slot >= this.capacity) this.#grow(Math.max(INITIAL_CAPACITY, this.capacity * 2));
    this.ids[slot] = id;
    this.index.set(id, slot);
    this.profile[slot] = profileIndex;
    this.gateway[slot] = -1;
    this.flags[slot] = LIVE;
    this.device.fill(Number.NEGATIVE_INFINITY, slot * DEVICE_STRIDE, (slot + 1) * DEVICE_STRIDE);
    this.interval[slot] = Number.NaN;
    for (let m = 0; m < METRIC_COUNT; m++)
      resetMetric(this.metric, (slot * METRIC_COUNT + m) * METRIC_STRIDE);
    this.openMask.fill(0, slot * METRIC_COUNT, (slot + 1) * METRIC_COUNT);
    return slot;
  }

  remove(slot: number): void {
    const id = this.ids[slot];
    if (id === undefined) return;
    this.index.delete(id);
    this.ids[slot] = undefined;
    this.flags[slot] = 0;
    this.free.push(slot);
  }

  /** Bytes held by the typed arrays per device-metric at the current capacity. */
  typedBytesPerDeviceMetric(): number {
    const bytes =
      this.device.byteLength +
      this.interval.byteLength +
      this.profile.byteLength +
      this.gateway.byteLength +
      this.flags.byteLength +
      this.metric.byteLength +
      this.openMask.byteLength;
    return bytes / (this.capacity * METRIC_COUNT);
  }

  #grow(capacity: number): void {
    this.device = grown(this.device, capacity * DEVICE_STRIDE);
    this.interval = grown(this.interval, capacity);
    this.profile = grown(this.profile, capacity);
    this.gateway = grown(this.gateway, capacity);
    this.flags = grown(this.flags, capacity);
    this.metric = grown(this.metric, capacity * METRIC_COUNT * METRIC_STRIDE);
    this.openMask = grown(this.openMask, capacity * METRIC_COUNT);
  }

  /** Replaces the state with restored arrays (snapshot.ts); `ids` has undefined for free slots. */
  load(
    ids: (string | undefined)[],
    arrays: TableArrays,
    free: number[],
    profileFor: (id: string) => number,
  ): void {
    const capacity = Math.max(INITIAL_CAPACITY, ids.length);
    this.ids = ids;
    this.highWater = ids.length;
    this.free = free;
    this.index.clear();
    this.device = grown(arrays.device, capacity * DEVICE_STRIDE);
    this.interval = grown(arrays.interval, capacity);
    this.gateway = grown(arrays.gateway, capacity);
    this.flags = grown(arrays.flags, capacity);
    this.metric = grown(arrays.metric, capacity * METRIC_COUNT * METRIC_STRIDE);
    this.openMask = grown(arrays.openMask, capacity * METRIC_COUNT);
    this.profile = new Int32Array(capacity);
    ids.forEach((id, slot) => {
      if (id === undefined) return;
      this.index.set(id, slot);
      this.profile[slot] = profileFor(id);
    });
  }
}

export interface TableArrays {
  device: Float64Array;
  interval: Float64Array;
  gateway: Int32Array;
  flags: Uint8Array;
  metric: Float64Array;
  openMask: Uint8Array;
}

/** Gateways seen in device readings: when each was last heard from. */
export class GatewayTable {
  ids: string[] = [];
  readonly index = new Map<string, number>();
  state: Float64Array = new Float64Array(16 * GATEWAY_STRIDE);
  /** SILENT when a gateway-silence incident is open. */
  flags: Uint8Array = new Uint8Array(16);

  get size(): number {
    return this.ids.length;
  }

  /** The slot of `id`, added if new. Gateways are few and stay (they are not evicted). */
  slotOf(id: string): number {
    const known = this.index.get(id);
    if (known !== undefined) return known;
    const slot = this.ids.length;
    if (slot >= this.flags.length) {
      this.state = grown(this.state, this.flags.length * 2 * GATEWAY_STRIDE);
      this.flags = grown(this.flags, this.flags.length * 2);
    }
    this.ids.push(id);
    this.index.set(id, slot);
    this.state.fill(Number.NEGATIVE_INFINITY, slot * GATEWAY_STRIDE, (slot + 1) * GATEWAY_STRIDE);
    this.state[slot * GATEWAY_STRIDE + G.afterMs] = 0;
    this.flags[slot] = 0;
    return slot;
  }

  load(ids: string[], state: Float64Array, flags: Uint8Array): void {
    const capacity = Math.max(16, ids.length);
    this.ids = ids;
    this.index.clear();
    for (const [slot, id] of ids.entries()) this.index.set(id, slot);
    this.state = grown(state, capacity * GATEWAY_STRIDE);
    this.flags = grown(flags, capacity);
  }
}

export function resetMetric(st: Float64Array, o: number): void {
  st[o + M.mean] = 0;
  st[o + M.variance] = 0;
  st[o + M.fast] = 0;
  st[o + M.count] = 0;
  st[o + M.last] = Number.NaN;
  st[o + M.lastTs] = Number.NaN;
  st[o + M.stuckRef] = Number.NaN;
  st[o + M.stuckSince] = Number.NaN;
  st[o + M.driftSince] = Number.NaN;
  st[o + M.outlierRun] = 0;
}

type Typed = Float64Array | Int32Array | Uint8Array;

function grown<T extends Typed>(array: T, length: number): T {
  if (array.length >= length) return array;
  const next = new (array.constructor as new (n: number) => T)(length);
  next.set(array);
  return next;
}
