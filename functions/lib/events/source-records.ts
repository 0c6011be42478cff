import type { KinesisStreamEvent, KinesisStreamRecord, MSKRecord } from 'aws-lambda';
import { isEnvelope, unwrapEnvelope } from '../codec/envelope.ts';
import { HEADER } from '../reading.ts';
import type { KafkaIn, KinesisIn } from './build-events.ts';
import type { ItemIdentifier, KafkaEvent, KafkaItemIdentifier, SourceRecord, StreamEvent } from './types.ts';

/**
 * Normalises a Lambda stream event into SourceRecords, in the order the event lists them.
 * Kinesis: https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html (data is base64).
 * Kafka: https://docs.aws.amazon.com/lambda/latest/dg/with-msk.html and with-kafka.html — records
 * grouped under "topic-partition", key and value base64, headers as [{name: [byte, ...]}] (bytes may
 * arrive signed, as Java writes them; Buffer.from keeps the low 8 bits either way).
 */
export function sourceRecords(event: StreamEvent): SourceRecord[] {
  if ('Records' in event) return kinesisRecords(event);
  const source = (event as { eventSource?: string }).eventSource;
  // "SelfManagedKafka" is what Lambda sends; "aws:SelfManagedKafka" appears in older samples.
  if (source === 'aws:kafka' || source === 'SelfManagedKafka' || source === 'aws:SelfManagedKafka')
    return kafkaRecords(event as KafkaEvent);
  throw new TypeError(
    `Unsupported event (eventSource ${JSON.stringify(source)}): expected a Kinesis, MSK or self-managed Kafka event`,
  );
}

function kinesisRecords(event: KinesisStreamEvent): SourceRecord[] {
  const out: SourceRecord[] = new Array(event.Records.length);
  for (let i = 0; i < event.Records.length; i++) out[i] = kinesisRecord(event.Records[i]!);
  return out;
}

function kinesisRecord(record: KinesisStreamRecord): SourceRecord {
  const k = record.kinesis;
  const arn = record.eventSourceARN;
  return fromKinesisData(
    arn.slice(arn.lastIndexOf('/') + 1),
    record.eventID.slice(0, record.eventID.indexOf(':')),
    k.partitionKey,
    k.sequenceNumber,
    Buffer.from(k.data, 'base64'),
    Math.round(k.approximateArrivalTimestamp * 1000),
  );
}

/** A record as the runner read it from Kinesis, without the detour through a Lambda event. */
export function fromKinesisIn(r: KinesisIn): SourceRecord {
  return fromKinesisData(
    r.streamName,
    r.shardId,
    r.partitionKey,
    r.sequenceNumber,
    Buffer.from(r.data.buffer, r.data.byteOffset, r.data.byteLength),
    r.arrivedAt,
  );
}

function fromKinesisData(
  stream: string,
  shard: string,
  partitionKey: string,
  sequenceNumber: string,
  data: Buffer,
  arrivedAt: number,
): SourceRecord {
  let value = data;
  let headers: Record<string, string>;
  if (isEnvelope(data)) {
    const envelope = unwrapEnvelope(data);
    value = envelope.payload;
    headers = envelope.headers;
  } else {
    // Written by something other than our bridge (an AWS IoT rule's Kinesis action puts the raw
    // payload with the partition key it was given): the key is the device id.
    headers = { [HEADER.mqttTopic]: `telemetry/${partitionKey}` };
  }
  return {
    itemIdentifier: sequenceNumber,
    key: partitionKey,
    value,
    headers,
    origin: `${stream}/${shard}@${sequenceNumber}`,
    arrivedAt,
  };
}

function kafkaRecords(event: KafkaEvent): SourceRecord[] {
  const out: SourceRecord[] = [];
  for (const records of Object.values(event.records)) {
    for (const record of records) out.push(kafkaRecord(record));
  }
  return out;
}

function kafkaRecord(record: MSKRecord): SourceRecord {
  const headers: Record<string, string> = {};
  for (const header of record.headers ?? []) {
    // A name given twice keeps its first value, as fromKafkaIn does.
    for (const name in header) headers[name] ??= Buffer.from(header[name]!).toString('utf8');
  }
  // Some published samples carry the partition as a string; the identifier wants the number.
  const partition = Number(record.partition);
  return {
    itemIdentifier: kafkaItemIdentifier(record.topic, partition, record.offset),
    key: record.key ? Buffer.from(record.key, 'base64').toString('utf8') : '',
    value: record.value ? Buffer.from(record.value, 'base64') : Buffer.alloc(0),
    headers,
    origin: `${record.topic}-${partition}@${record.offset}`,
    arrivedAt: record.timestamp,
  };
}

/** A record as the runner read it from Kafka, without the detour through a Lambda event. */
export function fromKafkaIn(r: KafkaIn): SourceRecord {
  const headers: Record<string, string> = {};
  for (const name in r.headers ?? {}) {
    const value = r.headers![name];
    if (value === undefined) continue;
    const first = Array.isArray(value) ? value[0] : value;
    if (first !== undefined) headers[name] = typeof first === 'string' ? first : first.toString('utf8');
  }
  return {
    itemIdentifier: kafkaItemIdentifier(r.topic, r.partition, r.offset),
    key: r.key ? r.key.toString('utf8') : '',
    value: r.value ?? Buffer.alloc(0),
    headers,
    origin: `${r.topic}-${r.partition}@${r.offset}`,
    arrivedAt: Number(r.timestamp),
  };
}

/** The partial batch response identifier of a Kafka record (see KafkaItemIdentifier). */
export function kafkaItemIdentifier(
  topic: string,
  partition: number,
  offset: number | string,
): KafkaItemIdentifier {
  return { 'topic-partition': `${topic}-${partition}`, offset: Number(offset) };
}

/**
 * A string that names the same record as `identifier`, so a runner can match reported failures
 * against the records it sent (a Kafka identifier is an object, compared by value).
 */
export function itemKey(identifier: ItemIdentifier | null | undefined): string | undefined {
  if (typeof identifier === 'string') return identifier === '' ? undefined : identifier;
  if (identifier === null || typeof identifier !== 'object') return undefined;
  const tp = identifier['topic-partition'];
  const offset = identifier.offset;
  if (typeof tp !== 'string' || tp === '' || offset === null || offset === undefined) return undefined;
  return `${tp}@${Number(offset)}`;
}
