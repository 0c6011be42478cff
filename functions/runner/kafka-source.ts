import type { Consumer, Kafka, KafkaMessage } from 'kafkajs';
import { deadLetter } from '../lib/dead-letter.ts';
import { type KafkaIn, kafkaEvent } from '../lib/events/build-events.ts';
import { kafkaItemIdentifier, sourceRecords } from '../lib/events/source-records.ts';
import type { StreamName, StreamProducer } from '../lib/streams/types.ts';
import { type BatchSource, invokeBatch } from './invoke.ts';
import { type MappingTarget, newStats, type RunningMapping } from './types.ts';

export interface KafkaSourceOptions {
  kafka: Kafka;
  brokers: readonly string[];
  producer: StreamProducer;
  /** Which Lambda Kafka event shape to deliver. */
  eventSource?: 'msk' | 'self-managed';
}

/**
 * Polls a Kafka topic through a consumer group and invokes the function like a Lambda MSK /
 * self-managed Kafka event source mapping. Offsets are committed only after a batch succeeded (or
 * its failures went to the on-failure destination), so a crash redelivers, never skips.
 * Several runner processes with the same group share the partitions.
 */
export async function startKafkaMapping(
  target: MappingTarget,
  options: KafkaSourceOptions,
): Promise<RunningMapping> {
  const { mapping, handler } = target;
  const stats = newStats();
  const groupId = mapping.ConsumerGroupId ?? `iot-ingest-${mapping.FunctionName}`;
  const consumer: Consumer = options.kafka.consumer({
    groupId,
    allowAutoTopicCreation: false,
    maxWaitTimeInMs: Math.max(50, Math.round(mapping.MaximumBatchingWindowInSeconds * 1000)),
    sessionTimeout: 10_000,
    heartbeatInterval: 1_000,
    rebalanceTimeout: 10_000,
  });
  const source: BatchSource<KafkaIn> = {
    toEvent: (records) => kafkaEvent(options.eventSource ?? 'self-managed', options.brokers, records),
    itemIdentifier: (r) => kafkaItemIdentifier(r.topic, r.partition, r.offset),
    onFailure: async (records, reason) => {
      const destination = mapping.DestinationConfig!.OnFailure.Destination as StreamName;
      const dead = sourceRecords(source.toEvent(records)).map((r) => deadLetter(r, 'HANDLER_FAILED', reason));
      await options.producer.send(destination, dead);
    },
  };
  let running = true;
  await consumer.connect();
  await consumer.subscribe({
    topic: mapping.EventSource,
    fromBeginning: mapping.StartingPosition === 'TRIM_HORIZON',
  });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: 4,
    eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
      const messages = batch.messages;
      for (let start = 0; start < messages.length; start += mapping.BatchSize) {
        if (!running || !isRunning() || isStale()) return;
        const chunk = messages
          .slice(start, start + mapping.BatchSize)
          .map((m) => toIn(batch.topic, batch.partition, m));
        const done = await invokeBatch(chunk, handler, mapping, source, stats, () => running && isRunning());
        if (!done) return;
        const last = chunk[chunk.length - 1]!.offset;
        resolveOffset(last);
        await consumer.commitOffsets([
          { topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() },
        ]);
        stats.records += chunk.length;
        stats.lag = Math.max(0, Number(BigInt(batch.highWatermark) - BigInt(last) - 1n));
        await heartbeat();
      }
    },
  });
  return {
    mapping,
    stats,
    async stop() {
      running = false;
      await consumer.disconnect();
    },
  };
}

function toIn(topic: string, partition: number, m: KafkaMessage): KafkaIn {
  return {
    topic,
    partition,
    offset: m.offset,
    timestamp: m.timestamp,
    key: m.key,
    value: m.value,
    headers: m.headers,
  };
}
