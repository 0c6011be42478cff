import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
  ListShardsCommand,
} from '@aws-sdk/client-kinesis';
import type { Kafka } from 'kafkajs';
import { isEnvelope, unwrapEnvelope } from '../codec/envelope.ts';
import type { PipelineConfig } from '../config.ts';
import type { StreamName } from './types.ts';

/** A record read back from a stream, with where it sits. */
export interface StoredRecord {
  key: string;
  value: Buffer;
  headers: Record<string, string>;
  /** `partition@offset` (Kafka) or `shard@sequence` (Kinesis). */
  position: string;
  timestamp: number;
}

/**
 * Reads a whole stream of the configured kind from the beginning up to its current end, without
 * moving any checkpoint or committed offset. For inspection (`iot-ingest dlq`) and tests, not the
 * hot path.
 */
export async function readStream(
  config: PipelineConfig,
  stream: StreamName,
  limit = 100_000,
  kafkaTimeoutMs = 60_000,
): Promise<StoredRecord[]> {
  if (config.stream === 'kafka') {
    const { createKafka } = await import('./kafka-client.ts');
    return readKafkaStream(createKafka(config.kafka, '-reader'), stream, limit, kafkaTimeoutMs);
  }
  const { createKinesisClient } = await import('./kinesis-client.ts');
  const client = createKinesisClient({
    ...(config.kinesis.endpoint ? { endpoint: config.kinesis.endpoint } : {}),
    region: config.kinesis.region,
    local: config.kinesis.local,
  });
  try {
    return await readKinesisStream(client, stream, limit);
  } finally {
    client.destroy();
  }
}

/**
 * Reads a whole topic from the beginning up to its current end, through a throwaway consumer group
 * that commits nothing (so no other group's offsets move). With `timeoutMs` it gives up after that
 * long with what it has, so an offset that never arrives (a transaction marker at the end) cannot
 * hang an operator's command.
 */
export async function readKafkaStream(
  kafka: Kafka,
  topic: StreamName,
  limit = 100_000,
  timeoutMs?: number,
): Promise<StoredRecord[]> {
  const admin = kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const remaining = new Map(ends.filter((p) => p.high !== p.low).map((p) => [p.partition, BigInt(p.high)]));
  const out: StoredRecord[] = [];
  if (remaining.size === 0) return out;
  const consumer = kafka.consumer({
    groupId: `iot-ingest-reader-${process.pid}-${Date.now()}`,
    maxWaitTimeInMs: 100,
  });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await new Promise<void>((resolve, reject) => {
    if (timeoutMs !== undefined) setTimeout(resolve, timeoutMs).unref();
    consumer
      .run({
        autoCommit: false,
        eachMessage: async ({ partition, message }) => {
          const headers: Record<string, string> = {};
          for (const [name, value] of Object.entries(message.headers ?? {})) {
            if (value !== undefined) headers[name] = String(Array.isArray(value) ? value[0] : value);
          }
          out.push({
            key: message.key?.toString('utf8') ?? '',
            value: message.value ?? Buffer.alloc(0),
            headers,
            position: `${partition}@${message.offset}`,
            timestamp: Number(message.timestamp),
          });
          const end = remaining.get(partition);
          if (end !== undefined && BigInt(message.offset) + 1n >= end) remaining.delete(partition);
          if (remaining.size === 0 || out.length >= limit) resolve();
        },
      })
      .catch(reject);
  });
  await consumer.disconnect();
  return out;
}

export async function readKinesisStream(
  client: KinesisClient,
  stream: StreamName,
  limit = 100_000,
): Promise<StoredRecord[]> {
  const { Shards = [] } = await client.send(new ListShardsCommand({ StreamName: stream }));
  const out: StoredRecord[] = [];
  for (const shard of Shards) {
    let iterator = (
      await client.send(
        new GetShardIteratorCommand({
          StreamName: stream,
          ShardId: shard.ShardId!,
          ShardIteratorType: 'TRIM_HORIZON',
        }),
      )
    ).ShardIterator;
    while (iterator && out.length < limit) {
      const result = await client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1_000 }));
      for (const r of result.Records ?? []) {
        const data = Buffer.from(r.Data!);
        const envelope = isEnvelope(data) ? unwrapEnvelope(data) : { headers: {}, payload: data };
        out.push({
          key: r.PartitionKey!,
          value: Buffer.from(envelope.payload),
          headers: envelope.headers,
          position: `${shard.ShardId}@${r.SequenceNumber}`,
          timestamp: r.ApproximateArrivalTimestamp?.getTime() ?? 0,
        });
      }
      if ((result.Records ?? []).length === 0 && (result.MillisBehindLatest ?? 0) === 0) break;
      iterator = result.NextShardIterator;
    }
  }
  return out;
}
