/**
 * Stream positions of source records, from SourceRecord.origin (`topic-partition@offset` on Kafka,
 * `stream/shardId@sequenceNumber` on Kinesis): which partition a record is in, and whether one
 * position comes after another. Offsets and sequence numbers are non-negative decimal integers
 * (Kinesis' run to 56 digits, past Number's precision), compared by length, then digit by digit.
 */

export interface RecordPosition {
  partition: string;
  position: string;
}

export function recordPosition(origin: string): RecordPosition {
  const at = origin.lastIndexOf('@');
  if (at <= 0 || at === origin.length - 1)
    throw new TypeError(`record origin "${origin}" is not partition@position`);
  return { partition: origin.slice(0, at), position: origin.slice(at + 1) };
}

/** Negative when `a` comes before `b`, 0 when equal, positive after. */
export function comparePositions(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}
