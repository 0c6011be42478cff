import { decodeReading, decodeReadingContainer, encodeReading } from '../lib/codec/reading-codec.ts';
import type { SchemaRegistry } from '../lib/codec/schema-registry.ts';
import { deadLetter } from '../lib/dead-letter.ts';
import { type ErrorCode, errorMessage, RejectedRecordError } from '../lib/errors.ts';
import type { SourceRecord } from '../lib/events/types.ts';
import { HEADER, METRICS, type Reading } from '../lib/reading.ts';
import type { OutRecord } from '../lib/streams/types.ts';

export interface ValidateOptions {
  maxPayloadBytes: number;
  /** Readings stamped further ahead of the clock than this are rejected. */
  maxFutureMs: number;
  /** Readings older than this are rejected. */
  maxPastMs: number;
  now: () => number;
}

export const DEFAULT_VALIDATE_OPTIONS: Readonly<ValidateOptions> = Object.freeze({
  maxPayloadBytes: 256 * 1024,
  maxFutureMs: 5 * 60_000,
  maxPastMs: 30 * 24 * 3_600_000,
  now: Date.now,
});

export interface ValidateResult {
  /** Canonical records for telemetry.valid, keyed by device id. */
  valid: OutRecord[];
  /** Dead letters for telemetry.dlq: the original bytes with reason, detail and origin headers. */
  rejected: OutRecord[];
  /** Reason code -> count, for metrics. */
  reasons: Partial<Record<ErrorCode, number>>;
}

const GATEWAY_TOPIC = /^gateways\/([^/]+)\/telemetry$/;
const TELEMETRY_TOPIC = /^telemetry\/([^/]+)$/;

/**
 * validate's logic: every input record ends up either as one or more canonical readings or as a
 * dead letter that says why. Nothing is dropped.
 */
export function validateRecords(
  records: readonly SourceRecord[],
  registry: SchemaRegistry,
  options: ValidateOptions = DEFAULT_VALIDATE_OPTIONS,
): ValidateResult {
  const result: ValidateResult = { valid: [], rejected: [], reasons: {} };
  const now = options.now();
  for (const record of records) {
    try {
      const topic = record.headers[HEADER.mqttTopic] ?? '';
      const single = TELEMETRY_TOPIC.exec(topic);
      if (single) {
        const reading = decodeReading(record.value, registry, options.maxPayloadBytes);
        checkReading(reading, single[1]!, now, options);
        result.valid.push(canonical(reading, record, registry));
        continue;
      }
      const gateway = GATEWAY_TOPIC.exec(topic);
      if (gateway) {
        const readings = decodeReadingContainer(record.value, registry, options.maxPayloadBytes);
        // A gateway batch is accepted or rejected whole, so one dead letter carries its bytes.
        for (const reading of readings) checkReading(reading, undefined, now, options);
        for (const reading of readings) result.valid.push(canonical(reading, record, registry));
        continue;
      }
      throw new RejectedRecordError(
        'TOPIC_INVALID',
        topic === ''
          ? 'record has no mqtt-topic header; it did not come through the bridge'
          : `topic "${topic}" is neither telemetry/{deviceId} nor gateways/{gatewayId}/telemetry`,
      );
    } catch (error) {
      const code: ErrorCode = error instanceof RejectedRecordError ? error.code : 'AVRO_INVALID';
      result.reasons[code] = (result.reasons[code] ?? 0) + 1;
      result.rejected.push(deadLetter(record, code, errorMessage(error)));
    }
  }
  return result;
}

function checkReading(
  reading: Reading,
  topicDevice: string | undefined,
  now: number,
  options: ValidateOptions,
): void {
  if (topicDevice !== undefined && reading.deviceId !== topicDevice) {
    throw new RejectedRecordError(
      'DEVICE_MISMATCH',
      `payload claims device "${reading.deviceId}" but arrived on telemetry/${topicDevice}`,
    );
  }
  if (reading.deviceId.length === 0 || reading.deviceId.length > 128) {
    throw new RejectedRecordError('READING_INVALID', 'deviceId must be 1 to 128 characters');
  }
  if (!Number.isSafeInteger(reading.ts) || reading.ts > now + options.maxFutureMs) {
    throw new RejectedRecordError('READING_INVALID', `ts ${reading.ts} is in the future (clock now ${now})`);
  }
  if (reading.ts < now - options.maxPastMs) {
    throw new RejectedRecordError(
      'READING_INVALID',
      `ts ${reading.ts} is older than the ${options.maxPastMs} ms allowed`,
    );
  }
  if (!Number.isSafeInteger(reading.seq) || reading.seq < 0) {
    throw new RejectedRecordError('READING_INVALID', `seq ${reading.seq} must be a non-negative integer`);
  }
  for (const metric of METRICS) {
    const value = reading[metric];
    if (value !== null && !Number.isFinite(value)) {
      throw new RejectedRecordError(
        'READING_INVALID',
        `${metric} is ${value}; metrics must be finite numbers`,
      );
    }
  }
}

function canonical(reading: Reading, record: SourceRecord, registry: SchemaRegistry): OutRecord {
  return { key: reading.deviceId, value: encodeReading(reading, registry), headers: record.headers };
}
