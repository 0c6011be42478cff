/**
 * Readings as InfluxDB line protocol, one point per reading:
 *
 *   readings,device_id=<id> seq=<n>i[,temperature=<x>]...[,tags="<json>"][,received_at=<ms>i] <time ns>
 *
 * Idempotency: a point is identified by measurement, tag set and timestamp; writing the same point
 * again overwrites it with itself, so a redelivery is stored once. The reading's identity is
 * (device, ts, seq); seq cannot be a tag without a new series for every reading (it grows without
 * end, and series cardinality is what InfluxDB's memory and index pay for), and two readings of a
 * device in the same millisecond must not share a timestamp, or the second would overwrite the
 * first. So the timestamp is the device time in ms plus seq mod 10^6 in the nanoseconds below it:
 * one series per device, buckets of a millisecond or more unaffected, and only readings of one
 * device in one millisecond whose seq differ by a multiple of a million could collide.
 * seq is also a field (exact, and the field every point has: a point needs one).
 * The reading's tags are one string field holding JSON, not InfluxDB tags: they then round-trip
 * exactly (empty values, `{}` versus none) and a device that changes its tags keeps its series.
 *
 * https://docs.influxdata.com/influxdb/v1/write_protocols/line_protocol_reference/
 * https://docs.influxdata.com/influxdb/v1/troubleshooting/frequently-asked-questions/#how-does-influxdb-handle-duplicate-points
 */
import { METRICS } from '../reading.ts';
import type { StoredReading } from './types.ts';

export const MEASUREMENT = 'readings';
const SEQ_SLOTS = 1_000_000;

/** The point's timestamp in ns, as text (it exceeds 2^53). */
export function pointTime(ts: number, seq: number): string {
  const slot = ((seq % SEQ_SLOTS) + SEQ_SLOTS) % SEQ_SLOTS;
  if (ts > 0) return `${ts}${String(slot).padStart(6, '0')}`;
  return String(BigInt(ts) * 1_000_000n + BigInt(slot));
}

/** The line for a reading, or why the reading cannot be one (InfluxDB would refuse it). */
export function toLine(r: StoredReading): { line: string } | { reason: string } {
  if (r.deviceId === '' || /[\r\n]|\\$/.test(r.deviceId)) {
    return {
      reason: `device id ${JSON.stringify(r.deviceId)} cannot be an InfluxDB tag value (empty, a line break or a trailing backslash)`,
    };
  }
  if (!Number.isSafeInteger(r.ts) || !Number.isSafeInteger(r.seq)) {
    return { reason: `ts ${r.ts} and seq ${r.seq} must be whole numbers for an InfluxDB point` };
  }
  let fields = `seq=${r.seq}i`;
  for (const metric of METRICS) {
    const value = r[metric];
    if (value === null) continue;
    if (!Number.isFinite(value))
      return { reason: `${metric} is ${value}: InfluxDB line protocol has no NaN or Infinity` };
    fields += `,${metric}=${value}`;
  }
  if (r.tags !== null)
    fields += `,tags="${JSON.stringify(r.tags).replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
  if (r.receivedAt !== undefined && Number.isSafeInteger(r.receivedAt))
    fields += `,received_at=${r.receivedAt}i`;
  return { line: `${MEASUREMENT},device_id=${escapeTag(r.deviceId)} ${fields} ${pointTime(r.ts, r.seq)}` };
}

/** Tag values escape commas, equals signs and spaces. */
function escapeTag(value: string): string {
  return value.replace(/[,= ]/g, '\\$&');
}
