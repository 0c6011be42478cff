import type { ErrorCode } from './errors.ts';
import type { SourceRecord } from './events/types.ts';
import { HEADER } from './reading.ts';
import type { OutRecord } from './streams/types.ts';

/**
 * Why a record is a dead letter: a per-record rejection from validate (ErrorCode), or one the event
 * source runner gave up on: RETRIES_EXHAUSTED after MaximumRetryAttempts, RECORD_EXPIRED past
 * MaximumRecordAgeInSeconds.
 */
export type DeadLetterReason = ErrorCode | 'RETRIES_EXHAUSTED' | 'RECORD_EXPIRED';

const DLQ_PREFIX = 'dlq-';

/**
 * A dead letter: the original bytes, untouched, with why they were rejected (a stable reason code
 * and a human detail) and where they were read from, so `iot-ingest dlq` can show and replay them.
 * The record's own headers (mqtt-topic, received-at, gateway-id) travel along, so a replay into
 * telemetry.raw looks exactly like the bridge's original write.
 */
export function deadLetter(record: SourceRecord, code: DeadLetterReason, detail: string): OutRecord {
  return {
    key: record.key || 'unknown',
    value: record.value,
    headers: {
      ...withoutDeadLetterHeaders(record.headers),
      [HEADER.reason]: code,
      [HEADER.detail]: detail,
      [HEADER.origin]: record.origin,
    },
  };
}

/** What a dead letter says about itself, read back from its headers. */
export interface DeadLetterInfo {
  reason: string;
  detail: string;
  origin: string;
  /** The record's headers as they were before it was dead-lettered. */
  originalHeaders: Record<string, string>;
}

export function deadLetterInfo(headers: Readonly<Record<string, string>>): DeadLetterInfo {
  return {
    reason: headers[HEADER.reason] ?? 'UNKNOWN',
    detail: headers[HEADER.detail] ?? '',
    origin: headers[HEADER.origin] ?? '',
    originalHeaders: withoutDeadLetterHeaders(headers),
  };
}

/**
 * The record to write back to telemetry.raw: the original key, bytes and headers, minus dlq-*.
 * Replaying twice is safe: the store drops readings it already holds by (deviceId, ts, seq).
 */
export function replayRecord(dead: {
  key: string;
  value: Uint8Array;
  headers: Record<string, string>;
}): OutRecord {
  return { key: dead.key, value: dead.value, headers: withoutDeadLetterHeaders(dead.headers) };
}

function withoutDeadLetterHeaders(headers: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name in headers) if (!name.startsWith(DLQ_PREFIX)) out[name] = headers[name]!;
  return out;
}
