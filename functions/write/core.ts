import { decodeReading } from '../lib/codec/reading-codec.ts';
import type { SchemaRegistry } from '../lib/codec/schema-registry.ts';
import { errorMessage, IngestError } from '../lib/errors.ts';
import type { BatchItemFailure, SourceRecord } from '../lib/events/types.ts';
import { HEADER, type Reading } from '../lib/reading.ts';
import type { StoredReading } from '../lib/store/types.ts';

export interface RecordFailure {
  record: SourceRecord;
  /** A stable code (the codec's rejection code) and what was wrong. */
  code: string;
  detail: string;
}

export interface StoreBatch {
  /** Readings to write, with the bridge receive time the record carried. */
  readings: StoredReading[];
  /** Records that could not be decoded: reported to the event source, never skipped silently. */
  failures: RecordFailure[];
}

/**
 * write's logic: canonical records -> readings for the store. A record that does not decode is not
 * written and not dropped: it is reported as a batch item failure, so the event source retries it,
 * bisects around it and, past the retry limit, sends it to the dead-letter stream. The others in
 * the batch are written; redelivered ones are dropped by the store's (deviceId, ts, seq) key.
 */
export function toStoreBatch(records: readonly SourceRecord[], registry: SchemaRegistry): StoreBatch {
  const readings: StoredReading[] = [];
  const failures: RecordFailure[] = [];
  for (let i = 0; i < records.length; i++) {
    const record = records[i]!;
    let reading: Reading;
    try {
      reading = decodeReading(record.value, registry);
    } catch (error) {
      const code = error instanceof IngestError ? error.code : 'AVRO_INVALID';
      failures.push({ record, code, detail: errorMessage(error) });
      continue;
    }
    readings.push(withReceivedAt(reading, record.headers[HEADER.receivedAt]));
  }
  return { readings, failures };
}

/** The reading, with the bridge's receive time when the record carries a valid one. */
export function withReceivedAt(reading: Reading, receivedAt: string | undefined): StoredReading {
  const stored = reading as StoredReading;
  if (receivedAt !== undefined) {
    const ms = parseMillis(receivedAt);
    if (ms > 0) stored.receivedAt = ms;
  }
  return stored;
}

/**
 * A decimal ms timestamp (the bridge writes `String(Date.now())`), or -1. By hand because it runs
 * once per reading on the hot path, where Number() plus the checks it then needs cost twice as much.
 */
function parseMillis(text: string): number {
  const length = text.length;
  if (length === 0 || length > 15) return -1;
  let value = 0;
  for (let i = 0; i < length; i++) {
    const digit = text.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}

export function batchItemFailures(failures: readonly RecordFailure[]): BatchItemFailure[] {
  return failures.map((f) => ({ itemIdentifier: f.record.itemIdentifier }));
}
