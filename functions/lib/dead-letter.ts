import type { SourceRecord } from './events/types.ts';
import { HEADER } from './reading.ts';
import type { OutRecord } from './streams/types.ts';

/**
 * A dead letter: the original bytes, untouched, with why they were rejected (a stable reason code
 * and a human detail) and where they were read from, so `iot-ingest dlq` can show and replay them.
 */
export function deadLetter(record: SourceRecord, code: string, detail: string): OutRecord {
  return {
    key: record.key || 'unknown',
    value: record.value,
    headers: {
      ...record.headers,
      [HEADER.reason]: code,
      [HEADER.detail]: detail,
      [HEADER.origin]: record.origin,
    },
  };
}
