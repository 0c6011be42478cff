import {
  type _Record,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
  ListShardsCommand,
} from '@aws-sdk/client-kinesis';
import { deadLetter } from '../lib/dead-letter.ts';
import { type KinesisIn, kinesisEvent } from '../lib/events/build-events.ts';
import { sourceRecords } from '../lib/events/source-records.ts';
import type { StreamName, StreamProducer } from '../lib/streams/types.ts';
import { FileCheckpoints } from './checkpoints.ts';
import { type BatchSource, invokeBatch } from './invoke.ts';
import { type MappingTarget, newStats, type RunningMapping } from './types.ts';

export interface KinesisSourceOptions {
  client: KinesisClient;
  producer: StreamProducer;
  checkpointDir: string;
  /** Pause between polls of an idle shard (Lambda polls each shard about once a second). */
  idlePollMs?: number;
  onError?: (error: unknown) => void;
}

/**
 * Polls every shard of a Kinesis stream and invokes the function like a Lambda Kinesis event source
 * mapping: one batch in flight per shard (per-shard order kept), a durable checkpoint per shard
 * written only after the batch succeeded or was sent to the on-failure destination.
 */
export async function startKinesisMapping(
  target: MappingTarget,
  options: KinesisSourceOptions,
): Promise<RunningMapping> {
  const { mapping, handler } = target;
  const stats = newStats();
  const checkpoints = new FileCheckpoints(options.checkpointDir, mapping.FunctionName);
  const stream = mapping.EventSource;
  const { Shards = [] } = await options.client.send(new ListShardsCommand({ StreamName: stream }));
  const source: BatchSource<KinesisIn> = {
    toEvent: (records) => kinesisEvent(records),
    itemIdentifier: (r) => r.sequenceNumber,
    onFailure: async (records, reason) => {
      const destination = mapping.DestinationConfig!.OnFailure.Destination as StreamName;
      const dead = sourceRecords(kinesisEvent(records)).map((r) => deadLetter(r, 'HANDLER_FAILED', reason));
      await options.producer.send(destination, dead);
    },
  };
  let running = true;
  const lagByShard = new Map<string, number>();
  const idle = options.idlePollMs ?? 200;
  const windowMs = mapping.MaximumBatchingWindowInSeconds * 1000;

  const pollShard = async (shardId: string): Promise<void> => {
    const after = checkpoints.get(shardId);
    let iterator = (
      await options.client.send(
        new GetShardIteratorCommand({
          StreamName: stream,
          ShardId: shardId,
          ...(after
            ? { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', StartingSequenceNumber: after }
            : { ShardIteratorType: mapping.StartingPosition }),
        }),
      )
    ).ShardIterator;
    let buffered: KinesisIn[] = [];
    let windowStart = 0;
    while (running && iterator) {
      const result = await options.client.send(
        new GetRecordsCommand({ ShardIterator: iterator, Limit: mapping.BatchSize - buffered.length }),
      );
      iterator = result.NextShardIterator;
      lagByShard.set(shardId, result.MillisBehindLatest ?? 0);
      stats.lagMs = Math.max(...lagByShard.values());
      const records = result.Records ?? [];
      if (buffered.length === 0 && records.length > 0) windowStart = Date.now();
      for (const r of records) buffered.push(toIn(stream, shardId, r));
      const full = buffered.length >= mapping.BatchSize;
      const windowOver = Date.now() - windowStart >= windowMs;
      if (buffered.length > 0 && (full || windowOver || !running)) {
        const done = await invokeBatch(buffered, handler, mapping, source, stats, () => running);
        if (!done) return;
        await checkpoints.set(shardId, buffered[buffered.length - 1]!.sequenceNumber);
        stats.records += buffered.length;
        buffered = [];
      }
      if (records.length === 0) await sleep(idle);
    }
  };

  // A failed poll (stream briefly unreachable, expired iterator) restarts the shard from its
  // checkpoint: unprocessed records are read again, never skipped.
  const keepPolling = async (shardId: string): Promise<void> => {
    while (running) {
      try {
        await pollShard(shardId);
      } catch (error) {
        if (!running) return;
        stats.pollErrors++;
        options.onError?.(error);
        await sleep(1_000);
      }
    }
  };
  const all = Promise.all(Shards.map((shard) => keepPolling(shard.ShardId!)));
  return {
    mapping,
    stats,
    async stop() {
      running = false;
      await all;
    },
  };
}

function toIn(streamName: string, shardId: string, r: _Record): KinesisIn {
  return {
    streamName,
    shardId,
    partitionKey: r.PartitionKey!,
    sequenceNumber: r.SequenceNumber!,
    data: r.Data!,
    arrivedAt: r.ApproximateArrivalTimestamp?.getTime() ?? Date.now(),
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
