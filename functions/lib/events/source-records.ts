import type { KinesisStreamEvent, MSKEvent, SelfManagedKafkaEvent } from 'aws-lambda';
import { isEnvelope, unwrapEnvelope } from '../codec/envelope.ts';
import { HEADER } from '../reading.ts';
import type { SourceRecord, StreamEvent } from './types.ts';

/**
 * Normalises a Lambda stream event into SourceRecords.
 * Kinesis: https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html (data is base64).
 * Kafka: https://docs.aws.amazon.com/lambda/latest/dg/with-msk.html and with-kafka.html — records
 * grouped under "topic-partition", key and value base64, headers as [{name: [byte, ...]}].
 */
export function sourceRecords(event: StreamEvent): SourceRecord[] {
  if ('Records' in event) return kinesisRecords(event);
  if (event.eventSource === 'aws:kafka' || event.eventSource === 'SelfManagedKafka')
    return kafkaRecords(event);
  throw new TypeError('Unsupported event: expected a Kinesis, MSK or self-managed Kafka event');
}

function kinesisRecords(event: KinesisStreamEvent): SourceRecord[] {
  const out: SourceRecord[] = new Array(event.Records.length);
  for (let i = 0; i < event.Records.length; i++) {
    const record = event.Records[i]!;
    const k = record.kinesis;
    const data = Buffer.from(k.data, 'base64');
    const stream = record.eventSourceARN.slice(record.eventSourceARN.lastIndexOf('/') + 1);
    const shard = record.eventID.slice(0, record.eventID.indexOf(':'));
    let value = data;
    let headers: Record<string, string>;
    if (isEnvelope(data)) {
      const envelope = unwrapEnvelope(data);
      value = envelope.payload;
      headers = envelope.headers;
    } else {
      // Written by something other than our bridge (an AWS IoT rule's Kinesis action puts the raw
      // payload with the partition key it was given): the key is the device id.
      headers = { [HEADER.mqttTopic]: `telemetry/${k.partitionKey}` };
    }
    out[i] = {
      itemIdentifier: k.sequenceNumber,
      key: k.partitionKey,
      value,
      headers,
      origin: `${stream}/${shard}@${k.sequenceNumber}`,
      arrivedAt: Math.round(k.approximateArrivalTimestamp * 1000),
    };
  }
  return out;
}

function kafkaRecords(event: MSKEvent | SelfManagedKafkaEvent): SourceRecord[] {
  const out: SourceRecord[] = [];
  for (const records of Object.values(event.records)) {
    for (const record of records) {
      const headers: Record<string, string> = {};
      for (const header of record.headers ?? []) {
        for (const name in header) headers[name] = Buffer.from(header[name]!).toString('utf8');
      }
      const position = `${record.topic}-${record.partition}@${record.offset}`;
      out.push({
        itemIdentifier: kafkaItemIdentifier(record.topic, record.partition, record.offset),
        key: record.key ? Buffer.from(record.key, 'base64').toString('utf8') : '',
        value: record.value ? Buffer.from(record.value, 'base64') : Buffer.alloc(0),
        headers,
        origin: position,
        arrivedAt: record.timestamp,
      });
    }
  }
  return out;
}

/** Partial batch response identifier for a Kafka record. */
export function kafkaItemIdentifier(topic: string, partition: number, offset: number | string): string {
  return `${topic}-${partition}@${offset}`;
}
