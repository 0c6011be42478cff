import type {
  KinesisStreamEvent,
  KinesisStreamRecord,
  MSKEvent,
  MSKRecord,
  SelfManagedKafkaEvent,
} from 'aws-lambda';

/**
 * Builds the events Lambda event source mappings would deliver, so the local runner invokes the
 * handlers with exactly the shapes they receive on AWS.
 */
export interface KinesisIn {
  streamName: string;
  shardId: string;
  partitionKey: string;
  sequenceNumber: string;
  data: Uint8Array;
  arrivedAt: number;
}

export function kinesisEvent(
  records: readonly KinesisIn[],
  region = 'us-east-1',
  account = '000000000000',
): KinesisStreamEvent {
  const Records: KinesisStreamRecord[] = records.map((r) => ({
    kinesis: {
      kinesisSchemaVersion: '1.0',
      partitionKey: r.partitionKey,
      sequenceNumber: r.sequenceNumber,
      data: Buffer.from(r.data.buffer, r.data.byteOffset, r.data.byteLength).toString('base64'),
      approximateArrivalTimestamp: r.arrivedAt / 1000,
    },
    eventSource: 'aws:kinesis',
    eventVersion: '1.0',
    eventID: `${r.shardId}:${r.sequenceNumber}`,
    eventName: 'aws:kinesis:record',
    invokeIdentityArn: `arn:aws:iam::${account}:role/iot-ingest-local`,
    awsRegion: region,
    eventSourceARN: `arn:aws:kinesis:${region}:${account}:stream/${r.streamName}`,
  }));
  return { Records };
}

export interface KafkaIn {
  topic: string;
  partition: number;
  offset: string;
  timestamp: string;
  key: Buffer | null;
  value: Buffer | null;
  headers?: Record<string, Buffer | string | (Buffer | string)[] | undefined> | undefined;
}

export function kafkaEvent(
  source: 'msk' | 'self-managed',
  bootstrapServers: readonly string[],
  records: readonly KafkaIn[],
): MSKEvent | SelfManagedKafkaEvent {
  const grouped: Record<string, MSKRecord[]> = {};
  for (const r of records) {
    const headers: Record<string, number[]>[] = [];
    for (const [name, value] of Object.entries(r.headers ?? {})) {
      if (value === undefined) continue;
      for (const one of Array.isArray(value) ? value : [value])
        headers.push({ [name]: [...Buffer.from(one)] });
    }
    const group = `${r.topic}-${r.partition}`;
    (grouped[group] ??= []).push({
      topic: r.topic,
      partition: r.partition,
      offset: Number(r.offset),
      timestamp: Number(r.timestamp),
      timestampType: 'CREATE_TIME',
      key: r.key ? r.key.toString('base64') : '',
      value: r.value ? r.value.toString('base64') : '',
      headers,
    });
  }
  const bootstrap = bootstrapServers.join(',');
  if (source === 'msk') {
    return {
      eventSource: 'aws:kafka',
      eventSourceArn:
        'arn:aws:kafka:us-east-1:000000000000:cluster/iot-ingest-local/00000000-0000-0000-0000-000000000000-1',
      bootstrapServers: bootstrap,
      records: grouped,
    };
  }
  return { eventSource: 'SelfManagedKafka', bootstrapServers: bootstrap, records: grouped };
}
