/**
 * The binary form of a DetectEngine's state (DetectEngine.snapshot / restore): a 4-byte marker,
 * then one Avro record (avsc, compiled once). The typed arrays go in as `bytes` columns, copied as
 * they are (little-endian: every platform we run on, x86-64 and ARM64, is), so a snapshot of a
 * million device-metrics is a handful of memcpys, not a million objects. Incidents carry their
 * open alert in the alert stream's own encoding (alert-codec.ts), so it evolves with that schema.
 */
import { endianness } from 'node:os';
import avro from 'avsc';
import { type Alert, decodeAlert, encodeAlert } from '../lib/codec/alert-codec.ts';
import { IngestError } from '../lib/errors.ts';
import { METRIC_STRIDE } from './detectors/metric-loop.ts';
import type { Incident, IncidentBook } from './incidents.ts';
import {
  DEVICE_STRIDE,
  type DeviceTable,
  GATEWAY_STRIDE,
  type GatewayTable,
  METRIC_COUNT,
  type TableArrays,
} from './state.ts';

/** IDS2 added devices.interval (learned reporting intervals); IDS1 snapshots are read with NaN there. */
const MAGIC = Buffer.from('IDS2', 'latin1');
const MAGIC_V1 = Buffer.from('IDS1', 'latin1');

export const IncidentScope = { metric: 0, device: 1, gateway: 2, departed: 3 } as const;
export type IncidentScope = (typeof IncidentScope)[keyof typeof IncidentScope];

export interface SnapshotIncident {
  scope: IncidentScope;
  /** The book's key (metric slot * 8 + rule, device slot, gateway slot); 0 for departed devices. */
  key: number;
  lastBreachAt: number;
  repeats: number;
  alert: Alert;
}

export interface SnapshotParts {
  clock: number;
  /** The device table's columns up to its high-water mark. */
  devices: TableArrays & {
    /** Per slot up to the high-water mark; null for a free slot. */
    ids: (string | null)[];
    free: Int32Array;
  };
  gateways: { ids: string[]; state: Float64Array; flags: Uint8Array };
  incidents: SnapshotIncident[];
  counters: Record<string, number>;
}

const SCHEMA_V1 = {
  type: 'record',
  name: 'DetectorSnapshot',
  namespace: 'io.iotingest.detect',
  fields: [
    { name: 'clock', type: 'double' },
    {
      name: 'devices',
      type: {
        type: 'record',
        name: 'DeviceColumns',
        fields: [
          { name: 'ids', type: { type: 'array', items: ['null', 'string'] } },
          { name: 'free', type: 'bytes' },
          { name: 'device', type: 'bytes' },
          { name: 'gateway', type: 'bytes' },
          { name: 'flags', type: 'bytes' },
          { name: 'metric', type: 'bytes' },
          { name: 'openMask', type: 'bytes' },
        ],
      },
    },
    {
      name: 'gateways',
      type: {
        type: 'record',
        name: 'GatewayColumns',
        fields: [
          { name: 'ids', type: { type: 'array', items: 'string' } },
          { name: 'state', type: 'bytes' },
          { name: 'flags', type: 'bytes' },
        ],
      },
    },
    {
      name: 'incidents',
      type: {
        type: 'array',
        items: {
          type: 'record',
          name: 'OpenIncident',
          fields: [
            { name: 'scope', type: 'int' },
            { name: 'key', type: 'double' },
            { name: 'lastBreachAt', type: 'double' },
            { name: 'repeats', type: 'long' },
            {
              name: 'alert',
              type: 'bytes',
              doc: 'the open alert, single-object encoded (schemas/alert.avsc)',
            },
          ],
        },
      },
    },
    { name: 'counters', type: { type: 'map', values: 'double' } },
  ],
};

/** IDS2: DeviceColumns gains `interval` (Float64 per slot); an IDS1 snapshot resolves it to empty. */
const TYPE = avro.Type.forSchema({
  ...SCHEMA_V1,
  fields: SCHEMA_V1.fields.map((field) =>
    field.name === 'devices'
      ? {
          ...field,
          type: {
            ...(field.type as { fields: object[] }),
            fields: [
              ...(field.type as { fields: object[] }).fields,
              { name: 'interval', type: 'bytes', default: '' },
            ],
          },
        }
      : field,
  ),
} as avro.Schema);
const FROM_V1 = TYPE.createResolver(avro.Type.forSchema(SCHEMA_V1 as avro.Schema));

interface Encoded {
  clock: number;
  devices: {
    ids: (string | null)[];
    free: Buffer;
    device: Buffer;
    interval: Buffer;
    gateway: Buffer;
    flags: Buffer;
    metric: Buffer;
    openMask: Buffer;
  };
  gateways: { ids: string[]; state: Buffer; flags: Buffer };
  incidents: { scope: number; key: number; lastBreachAt: number; repeats: number; alert: Buffer }[];
  counters: Record<string, number>;
}

export function encodeSnapshot(parts: SnapshotParts): Uint8Array {
  assertLittleEndian();
  const { devices, gateways } = parts;
  const encoded: Encoded = {
    clock: parts.clock,
    devices: {
      ids: devices.ids,
      free: bytesOf(devices.free),
      device: bytesOf(devices.device),
      interval: bytesOf(devices.interval),
      gateway: bytesOf(devices.gateway),
      flags: bytesOf(devices.flags),
      metric: bytesOf(devices.metric),
      openMask: bytesOf(devices.openMask),
    },
    gateways: { ids: gateways.ids, state: bytesOf(gateways.state), flags: bytesOf(gateways.flags) },
    incidents: parts.incidents.map((i) => ({
      scope: i.scope,
      key: i.key,
      lastBreachAt: i.lastBreachAt,
      repeats: i.repeats,
      alert: encodeAlert(i.alert),
    })),
    counters: parts.counters,
  };
  return Buffer.concat([MAGIC, TYPE.toBuffer(encoded)]);
}

/** Throws IngestError (CONFIG_INVALID) when `bytes` are not a snapshot this version can read. */
export function decodeSnapshot(bytes: Uint8Array): SnapshotParts {
  assertLittleEndian();
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const head = buf.subarray(0, MAGIC.length);
  const v1 = head.equals(MAGIC_V1);
  if (buf.length < MAGIC.length || !(v1 || head.equals(MAGIC))) {
    throw new IngestError(
      'CONFIG_INVALID',
      `not a detector snapshot (starts with ${buf.subarray(0, 4).toString('hex') || 'nothing'})`,
    );
  }
  let decoded: Encoded;
  try {
    decoded = TYPE.fromBuffer(buf.subarray(MAGIC.length), v1 ? FROM_V1 : undefined) as Encoded;
  } catch (error) {
    throw new IngestError('CONFIG_INVALID', 'detector snapshot is damaged or from an incompatible version', {
      cause: error,
    });
  }
  const { devices, gateways } = decoded;
  return {
    clock: decoded.clock,
    devices: {
      ids: devices.ids,
      free: new Int32Array(copy(devices.free)),
      device: new Float64Array(copy(devices.device)),
      // IDS1 had no intervals: not learned yet, for every slot
      interval:
        devices.interval.length === 0
          ? new Float64Array(devices.ids.length).fill(Number.NaN)
          : new Float64Array(copy(devices.interval)),
      gateway: new Int32Array(copy(devices.gateway)),
      flags: new Uint8Array(copy(devices.flags)),
      metric: new Float64Array(copy(devices.metric)),
      openMask: new Uint8Array(copy(devices.openMask)),
    },
    gateways: {
      ids: gateways.ids,
      state: new Float64Array(copy(gateways.state)),
      flags: new Uint8Array(copy(gateways.flags)),
    },
    incidents: decoded.incidents.map((i) => ({
      scope: i.scope as IncidentScope,
      key: i.key,
      lastBreachAt: i.lastBreachAt,
      repeats: i.repeats,
      alert: decodeAlert(i.alert),
    })),
    counters: decoded.counters,
  };
}

function bytesOf(array: Float64Array | Int32Array | Uint8Array): Buffer {
  return Buffer.from(array.buffer, array.byteOffset, array.byteLength);
}

/** An aligned copy (Avro bytes may sit at any offset; a Float64Array view needs a multiple of 8). */
function copy(buf: Buffer): ArrayBuffer {
  const out = new ArrayBuffer(buf.length);
  new Uint8Array(out).set(buf);
  return out;
}

function assertLittleEndian(): void {
  if (endianness() !== 'LE')
    throw new IngestError(
      'CONFIG_INVALID',
      'detector snapshots are written little-endian; this host is big-endian',
    );
}

/** Everything a DetectEngine holds, as snapshot() takes it and restore() fills it. */
export interface EngineParts {
  clock: number;
  readonly devices: DeviceTable;
  readonly gateways: GatewayTable;
  readonly metricIncidents: IncidentBook;
  readonly silenceIncidents: IncidentBook;
  readonly gatewayIncidents: IncidentBook;
  /** Evicted devices with an open silence incident, by device id. */
  readonly departed: Map<string, Incident>;
  readonly counters: Record<string, number>;
}

export function captureSnapshot(p: EngineParts): Uint8Array {
  const t = p.devices;
  const gw = p.gateways;
  const n = t.highWater;
  const incidents: SnapshotIncident[] = [];
  const add = (scope: IncidentScope, entries: Iterable<[number, Incident]>) => {
    for (const [key, i] of entries)
      incidents.push({ scope, key, lastBreachAt: i.lastBreachAt, repeats: i.repeats, alert: i.alert });
  };
  add(IncidentScope.metric, p.metricIncidents.entries());
  add(IncidentScope.device, p.silenceIncidents.entries());
  add(IncidentScope.gateway, p.gatewayIncidents.entries());
  add(
    IncidentScope.departed,
    [...p.departed.values()].map((i): [number, Incident] => [0, i]),
  );
  return encodeSnapshot({
    clock: p.clock,
    devices: {
      ids: t.ids.slice(0, n).map((id) => id ?? null),
      free: Int32Array.from(t.free),
      device: t.device.subarray(0, n * DEVICE_STRIDE),
      interval: t.interval.subarray(0, n),
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
    counters: { ...p.counters },
  });
}

/**
 * Fills freshly made parts from a snapshot. Slots keep their numbers (free ones included), so the
 * restored engine goes on exactly as the original would have. `profileIndexOf` assigns profiles
 * anew, so an edited profile file takes effect on restart.
 */
export function restoreSnapshot(
  bytes: Uint8Array,
  p: EngineParts,
  profileIndexOf: (deviceId: string) => number,
): void {
  const parts = decodeSnapshot(bytes);
  const { devices } = parts;
  p.clock = parts.clock;
  p.devices.load(
    devices.ids.map((id) => id ?? undefined),
    devices,
    [...devices.free],
    profileIndexOf,
  );
  p.gateways.load(parts.gateways.ids, parts.gateways.state, parts.gateways.flags);
  for (const s of parts.incidents) {
    const incident: Incident = {
      alert: Object.freeze(s.alert),
      lastBreachAt: s.lastBreachAt,
      repeats: s.repeats,
    };
    if (s.scope === IncidentScope.metric) p.metricIncidents.restore(s.key, incident);
    else if (s.scope === IncidentScope.device) p.silenceIncidents.restore(s.key, incident);
    else if (s.scope === IncidentScope.gateway) p.gatewayIncidents.restore(s.key, incident);
    else p.departed.set(s.alert.deviceId, incident);
  }
  for (const key of Object.keys(p.counters)) p.counters[key] = parts.counters[key] ?? 0;
}
