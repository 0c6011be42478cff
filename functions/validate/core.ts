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

/**
 * Where validation puts its verdicts, one call per reading or rejected record. The handler turns
 * them into stream records; the fused path hands readings straight to detect and the store.
 */
export interface ValidationSink {
  /** A reading that passed, with the record it came in (a gateway record yields many). */
  accept(reading: Reading, record: SourceRecord): void;
  /** A record that cannot be used as it is: it belongs in the dead-letter stream. */
  reject(record: SourceRecord, code: ErrorCode, detail: string): void;
}

const TELEMETRY_PREFIX = 'telemetry/';
const GATEWAY_TOPIC = /^gateways\/([^/]+)\/telemetry$/;

/**
 * validate's logic: every input record ends up either as one or more readings in the current schema
 * or as a rejection that says why. Nothing is dropped. Decoding resolves the writer schema (by
 * fingerprint, Confluent id, or the container's embedded schema) to the reader schema; the checks
 * here are what a schema cannot say: finite metrics, a plausible timestamp, a sane sequence number,
 * and a payload that claims the device its topic names.
 */
export function validateEach(
  records: readonly SourceRecord[],
  registry: SchemaRegistry,
  options: ValidateOptions,
  sink: ValidationSink,
): void {
  const now = options.now();
  const bounds: TimeBounds = {
    now,
    earliest: now - options.maxPastMs,
    latest: now + options.maxFutureMs,
    options,
  };
  for (let i = 0; i < records.length; i++) {
    const record = records[i]!;
    try {
      const topic = record.headers[HEADER.mqttTopic] ?? '';
      if (topic.charCodeAt(0) === T) {
        // Only telemetry/{deviceId} may start with 't'; decodeDevicePayload says which when not.
        const reading = decodeDevicePayload(record.value, topic, registry, options.maxPayloadBytes);
        if (topic !== expectedTopic(reading.deviceId)) throw wrongTopic(topic, reading.deviceId);
        checkReading(reading, bounds);
        sink.accept(reading, record);
        continue;
      }
      if (GATEWAY_TOPIC.test(topic)) {
        const readings = decodeReadingContainer(record.value, registry, options.maxPayloadBytes);
        // A gateway batch is accepted or rejected whole, so one dead letter carries its bytes.
        for (const reading of readings) checkReading(reading, bounds);
        for (const reading of readings) sink.accept(reading, record);
        continue;
      }
      throw topicInvalid(topic);
    } catch (error) {
      if (error instanceof RejectedRecordError) sink.reject(record, error.code, error.message);
      // Not a rejection the codec knows: still the record's bytes that broke it, so it is a dead
      // letter (replayable once fixed) rather than a batch that fails forever.
      else sink.reject(record, 'AVRO_INVALID', `unexpected decoder error: ${errorMessage(error)}`);
    }
  }
}

interface TimeBounds {
  now: number;
  earliest: number;
  latest: number;
  options: ValidateOptions;
}

/*
 * The topic check runs once per reading. A device id decoded through the string table is the same
 * string object in every reading of its device, so the one topic it may arrive on is kept per id and
 * compared whole: a Map lookup (the id's hash is kept on the string) and one string comparison,
 * instead of loops over the topic's characters before and after decoding. validate's checks went
 * from 81 to 40-48 ns a reading (bench/hot-path.ts, `nsPerRecord.validateChecks`). The cache is
 * bounded; past MAX_EXPECTED_TOPICS ids it starts over.
 */
const T = 0x74; // 't'
const MAX_EXPECTED_TOPICS = 65_536;
/** Never equal to a topic that starts with 't': the expected topic of an id that cannot have one. */
const NO_TOPIC = '';
const expectedTopics = new Map<string, string>();

/** How many ids' expected topics are kept (at most MAX_EXPECTED_TOPICS); for tests. */
export function expectedTopicsKept(): number {
  return expectedTopics.size;
}

/** `telemetry/{id}`, or NO_TOPIC when `id` has a '/', which no device topic can carry. */
function expectedTopic(id: string): string {
  let topic = expectedTopics.get(id);
  if (topic === undefined) {
    if (expectedTopics.size >= MAX_EXPECTED_TOPICS) expectedTopics.clear();
    // Flattened (a concatenation is a rope until first read), so comparisons read it in one run.
    topic = id.includes('/') ? NO_TOPIC : Buffer.from(TELEMETRY_PREFIX + id, 'utf8').toString('utf8');
    expectedTopics.set(id, topic);
  }
  return topic;
}

/** `telemetry/{deviceId}`: the prefix, then no further '/'. */
function isDeviceTopic(topic: string): boolean {
  return topic.startsWith(TELEMETRY_PREFIX) && topic.indexOf('/', TELEMETRY_PREFIX.length) === -1;
}

function topicInvalid(topic: string): RejectedRecordError {
  return new RejectedRecordError(
    'TOPIC_INVALID',
    topic === ''
      ? 'record has no mqtt-topic header; it did not come through the bridge'
      : `topic "${topic}" is neither telemetry/{deviceId} nor gateways/{gatewayId}/telemetry`,
  );
}

/**
 * The reading of a record whose topic starts with 't'. A topic that is no device topic is rejected
 * as such even when its payload is bad too, as it would be had it been checked first.
 */
function decodeDevicePayload(
  bytes: Uint8Array,
  topic: string,
  registry: SchemaRegistry,
  maxPayloadBytes: number,
): Reading {
  try {
    return decodeReading(bytes, registry, maxPayloadBytes);
  } catch (error) {
    throw isDeviceTopic(topic) ? error : topicInvalid(topic);
  }
}

/** Why a reading's topic is not `telemetry/` + its device id. */
function wrongTopic(topic: string, id: string): RejectedRecordError {
  if (!isDeviceTopic(topic)) return topicInvalid(topic);
  return new RejectedRecordError(
    'DEVICE_MISMATCH',
    `payload claims device "${id}" but arrived on ${topic}; a device may only publish as itself`,
  );
}

/** Hot path: plain comparisons first; the slow path works out which check failed and says so. */
function checkReading(r: Reading, bounds: TimeBounds): void {
  const idLength = r.deviceId.length;
  const ts = r.ts;
  const seq = r.seq;
  if (
    idLength > 0 &&
    idLength <= 128 &&
    !r.deviceId.includes('\u0000') &&
    ts >= bounds.earliest &&
    ts <= bounds.latest &&
    Number.isSafeInteger(ts) &&
    seq >= 0 &&
    Number.isSafeInteger(seq) &&
    finiteOrNull(r.temperature) &&
    finiteOrNull(r.humidity) &&
    finiteOrNull(r.pressure) &&
    finiteOrNull(r.vibration) &&
    finiteOrNull(r.battery)
  ) {
    return;
  }
  throw whyInvalid(r, bounds);
}

function finiteOrNull(value: number | null): boolean {
  return value === null || value - value === 0; // NaN and ±Infinity give NaN
}

function whyInvalid(r: Reading, { now, earliest, latest, options }: TimeBounds): RejectedRecordError {
  const invalid = (message: string) => new RejectedRecordError('READING_INVALID', message);
  if (r.deviceId.length === 0 || r.deviceId.length > 128)
    return invalid('deviceId must be 1 to 128 characters');
  // A store's C interface (DuckDB's among them) ends a string at NUL: two ids would become one.
  if (r.deviceId.includes('\u0000')) return invalid('deviceId must not contain a NUL character (U+0000)');
  if (!Number.isSafeInteger(r.ts) || r.ts > latest) {
    return invalid(
      `ts ${r.ts} is more than ${options.maxFutureMs} ms ahead of the clock (${now}); check the device's clock`,
    );
  }
  if (r.ts < earliest)
    return invalid(`ts ${r.ts} is more than ${options.maxPastMs} ms in the past (clock ${now})`);
  if (!Number.isSafeInteger(r.seq) || r.seq < 0)
    return invalid(`seq ${r.seq} must be a non-negative integer`);
  for (const metric of METRICS) {
    const value = r[metric];
    if (!finiteOrNull(value)) return invalid(`${metric} is ${value}; metrics must be finite numbers`);
  }
  return invalid('reading is invalid');
}

export interface ValidateResult {
  /** Canonical records for telemetry.valid: current-schema single-object Avro, keyed by device id. */
  valid: OutRecord[];
  /** Dead letters for telemetry.dlq: the original bytes with reason, detail and origin headers. */
  rejected: OutRecord[];
  /** The records rejected, in the order of `rejected`. */
  rejectedRecords: SourceRecord[];
  /** Reason code -> count, for metrics. */
  reasons: Partial<Record<ErrorCode, number>>;
}

/** validateEach, collected into the records the validate function writes. */
export function validateRecords(
  records: readonly SourceRecord[],
  registry: SchemaRegistry,
  options: ValidateOptions = DEFAULT_VALIDATE_OPTIONS,
): ValidateResult {
  const result: ValidateResult = { valid: [], rejected: [], rejectedRecords: [], reasons: {} };
  validateEach(records, registry, options, {
    accept(reading, record) {
      result.valid.push({
        key: reading.deviceId,
        value: encodeReading(reading, registry),
        headers: record.headers,
      });
    },
    reject(record, code, detail) {
      result.reasons[code] = (result.reasons[code] ?? 0) + 1;
      result.rejected.push(deadLetter(record, code, detail));
      result.rejectedRecords.push(record);
    },
  });
  return result;
}
