import {
  type _Record,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
  ListShardsCommand,
  type Shard,
} from '@aws-sdk/client-kinesis';
import { isEnvelope, unwrapEnvelope } from '../lib/codec/envelope.ts';
import { type KinesisIn, kinesisEvent } from '../lib/events/build-events.ts';
import { fromKinesisIn } from '../lib/events/source-records.ts';
import { batchTarget, type SourceShape } from './batch-target.ts';
import { FileCheckpoints } from './checkpoints.ts';
import { compileFilterCriteria, jsonOrUndefined, type RecordFilter } from './filter-criteria.ts';
import { invokeWithRetries } from './invoke.ts';
import { effectiveRetryLimit } from './mapping.ts';
import { InOrderProgress, laneOf } from './shard-progress.ts';
import { type MappingTarget, newStats, type RunningMapping, type SourceOptions } from './types.ts';

export interface KinesisSourceOptions extends SourceOptions {
  client: KinesisClient;
  /** Where the per-shard checkpoints live (one JSON file per mapping). */
  checkpointDir: string;
  /** Pause between polls of an idle shard (Lambda polls each shard about once a second). */
  idlePollMs?: number;
}

/** GetRecords returns at most this many records (Kinesis API limit). */
const GET_RECORDS_LIMIT = 10_000;

const SHAPE: SourceShape<KinesisIn> = {
  toEvent: (records) => kinesisEvent(records),
  toSource: fromKinesisIn,
  key: (r) => r.sequenceNumber,
  arrivedAt: (r) => r.arrivedAt,
};

interface Lane {
  buffer: KinesisIn[];
  /** When the oldest buffered record arrived in the lane (batching window). */
  since: number;
  inFlight: Promise<void> | undefined;
}

/**
 * Polls every shard of a Kinesis stream and invokes the function like a Lambda Kinesis event source
 * mapping. Per shard, ParallelizationFactor lanes each have one batch in flight; a partition key
 * always maps to the same lane, so per-device order is kept. The shard's durable checkpoint moves
 * only over records that are done (processed, filtered out, or sent to the destination), so a crash
 * at any point redelivers, never skips. A shard closed by resharding is read to its end; the shards
 * that replace it are not picked up until the runner restarts.
 */
export async function startKinesisMapping(
  target: MappingTarget,
  options: KinesisSourceOptions,
): Promise<RunningMapping> {
  const { mapping } = target;
  const stats = newStats();
  const checkpoints = new FileCheckpoints(options.checkpointDir, mapping.FunctionName);
  const stream = mapping.EventSource;
  const shards = await listShards(options.client, stream);
  const filter = compileFilterCriteria(mapping.FilterCriteria);
  const invokeTarget = batchTarget(target, SHAPE, options.producer);
  const retryLimit = effectiveRetryLimit(mapping, 'kinesis');
  const idle = options.idlePollMs ?? 200;
  const windowMs = mapping.MaximumBatchingWindowInSeconds * 1000;
  const laneCount = mapping.ParallelizationFactor;
  const maxOutstanding = Math.max(2 * mapping.BatchSize * laneCount, 1_000);
  const lagByShard = new Map<string, number>();
  const wakers = new Set<() => void>();
  let running = true;
  const isRunning = () => running;

  /** Resolves true when the shard has ended (closed by a reshard and read to its end). */
  const consumeShard = async (shardId: string): Promise<boolean> => {
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
    const progress = new InOrderProgress();
    const lanes: Lane[] = Array.from({ length: laneCount }, () => ({
      buffer: [],
      since: 0,
      inFlight: undefined,
    }));
    let failure: unknown;
    let checkpointWrite: Promise<void> = Promise.resolve();
    let wakeUp: (() => void) | undefined;
    const wake = () => wakeUp?.();
    wakers.add(wake);

    const checkpoint = () => {
      const position = progress.advance();
      if (position !== undefined) checkpointWrite = checkpoints.set(shardId, position);
    };
    const dispatch = (lane: Lane, now: number) => {
      if (lane.inFlight || lane.buffer.length === 0) return;
      if (lane.buffer.length < mapping.BatchSize && now - lane.since < windowMs) return;
      const batch = lane.buffer.splice(0, mapping.BatchSize);
      lane.since = now;
      lane.inFlight = invokeWithRetries(batch, mapping, invokeTarget, {
        stats,
        retryLimit,
        isRunning,
        ...(options.retryDelayMs ? { retryDelayMs: options.retryDelayMs } : {}),
        onExhaustedWithoutDestination: (count, detail) =>
          options.log?.warn('records past the retry limit are retried: the mapping has no destination', {
            mapping: mapping.FunctionName,
            shardId,
            records: count,
            detail,
          }),
      })
        .then((done) => {
          for (let i = 0; i < done; i++) progress.complete(batch[i]!.sequenceNumber);
          stats.records += done;
          checkpoint();
        })
        .catch((error: unknown) => {
          failure ??= error;
        })
        .finally(() => {
          lane.inFlight = undefined;
          wake();
        });
    };

    try {
      while (running && iterator && failure === undefined) {
        let got = 0;
        if (progress.outstanding < maxOutstanding) {
          const result = await options.client.send(
            new GetRecordsCommand({
              ShardIterator: iterator,
              Limit: Math.min(GET_RECORDS_LIMIT, maxOutstanding - progress.outstanding),
            }),
          );
          iterator = result.NextShardIterator;
          lagByShard.set(shardId, result.MillisBehindLatest ?? 0);
          stats.lagMs = Math.max(...lagByShard.values());
          const now = Date.now();
          for (const raw of result.Records ?? []) {
            const record = toIn(stream, shardId, raw);
            progress.add(record.sequenceNumber);
            if (filter && !filter.matches(filterSubject(record, filter))) {
              progress.complete(record.sequenceNumber);
              stats.filtered++;
              stats.records++;
              continue;
            }
            const lane = lanes[laneOf(record.partitionKey, laneCount)]!;
            if (lane.buffer.length === 0) lane.since = now;
            lane.buffer.push(record);
          }
          got = result.Records?.length ?? 0;
          checkpoint();
        }
        const now = Date.now();
        for (const lane of lanes) dispatch(lane, now);
        if (got === 0 || progress.outstanding >= maxOutstanding) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, windowMs > 0 ? Math.min(idle, windowMs) : idle);
            wakeUp = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          wakeUp = undefined;
        }
      }
    } finally {
      wakers.delete(wake);
      // Records buffered but not dispatched are read again from the checkpoint next time.
      await Promise.all(lanes.map((lane) => lane.inFlight));
      await checkpointWrite;
    }
    if (failure !== undefined) throw failure;
    return running && !iterator;
  };

  // A failed poll (stream briefly unreachable, expired iterator) or a destination that cannot be
  // written restarts the shard from its checkpoint: unprocessed records are read again, never skipped.
  const keepConsuming = async (shardId: string): Promise<void> => {
    while (running) {
      try {
        if (await consumeShard(shardId)) return;
      } catch (error) {
        if (!running) return;
        stats.pollErrors++;
        options.onError?.(error);
        options.log?.error('shard consumer failed; restarting from the checkpoint', {
          mapping: mapping.FunctionName,
          shardId,
          error: (error as Error).message,
        });
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      }
    }
  };
  stats.assigned = shards.length;
  const all = Promise.all(shards.map((shard) => keepConsuming(shard.ShardId!)));
  return {
    mapping,
    stats,
    async stop() {
      running = false;
      for (const wake of wakers) wake();
      await all;
    },
  };
}

async function listShards(client: KinesisClient, stream: string): Promise<Shard[]> {
  const shards: Shard[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListShardsCommand(token ? { NextToken: token } : { StreamName: stream }),
    );
    shards.push(...(page.Shards ?? []));
    token = page.NextToken;
  } while (token);
  return shards;
}

/** What FilterCriteria patterns see of a Kinesis record: `partitionKey`, and `data` when it is JSON. */
function filterSubject(record: KinesisIn, filter: RecordFilter): Record<string, unknown> {
  const subject: Record<string, unknown> = { partitionKey: record.partitionKey };
  if (filter.fields.has('data')) {
    const bytes = Buffer.from(record.data.buffer, record.data.byteOffset, record.data.byteLength);
    const data = jsonOrUndefined(isEnvelope(bytes) ? unwrapEnvelope(bytes).payload : bytes);
    if (data !== undefined) subject.data = data;
  }
  return subject;
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
