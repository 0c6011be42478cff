import type { Consumer, Kafka, KafkaMessage } from 'kafkajs';
import { ConfigError } from '../lib/errors.ts';
import { type KafkaIn, kafkaEvent } from '../lib/events/build-events.ts';
import { fromKafkaIn, itemKey, kafkaItemIdentifier } from '../lib/events/source-records.ts';
import { batchTarget, type SourceShape } from './batch-target.ts';
import { compileFilterCriteria, jsonOrUndefined, type RecordFilter } from './filter-criteria.ts';
import { invokeWithRetries } from './invoke.ts';
import { effectiveRetryLimit } from './mapping.ts';
import { type MappingTarget, newStats, type RunningMapping, type SourceOptions } from './types.ts';

export interface KafkaSourceOptions extends SourceOptions {
  kafka: Kafka;
  brokers: readonly string[];
  /** Which Lambda Kafka event shape to deliver. */
  eventSource?: 'msk' | 'self-managed';
  /** Partitions this process works on at once (one batch in flight per partition). Default 8. */
  partitionsConsumedConcurrently?: number;
  /**
   * How long the group waits for a silent member before handing its partitions to others: after a
   * crash, the partitions of the dead process resume this much later. Default 10 s.
   */
  sessionTimeoutMs?: number;
}

/**
 * Polls a Kafka topic through a consumer group and invokes the function like a Lambda MSK /
 * self-managed Kafka event source mapping. One batch is in flight per partition, so per-key order is
 * kept. The group's offset moves only over records that are done (processed, filtered out, or sent
 * to the destination), committed after the batch, so a crash redelivers, never skips. Several
 * runner processes with the same ConsumerGroupId share the partitions (Kafka's group protocol).
 *
 * MaximumBatchingWindowInSeconds becomes the fetch's maxWaitTimeInMs: a batch holds what one fetch
 * of a partition returned, up to BatchSize, rather than records gathered across fetches. A broker
 * answers a fetch as soon as it has a record, so the wait only bounds how long an idle fetch is held;
 * it is at least 10 ms so an idle topic is not polled in a busy loop.
 */
export async function startKafkaMapping(
  target: MappingTarget,
  options: KafkaSourceOptions,
): Promise<RunningMapping> {
  const { mapping } = target;
  if (mapping.ParallelizationFactor !== 1) {
    throw new ConfigError(
      `mapping ${mapping.FunctionName}: ParallelizationFactor is for Kinesis; on Kafka add partitions or runner processes`,
    );
  }
  const stats = newStats();
  const groupId = mapping.ConsumerGroupId ?? `iot-ingest-${mapping.FunctionName}`;
  const filter = compileFilterCriteria(mapping.FilterCriteria);
  const retryLimit = effectiveRetryLimit(mapping, 'kafka');
  const eventSource = options.eventSource ?? 'self-managed';
  const shape: SourceShape<KafkaIn> = {
    toEvent: (records) => kafkaEvent(eventSource, options.brokers, records),
    toSource: fromKafkaIn,
    key: (r) => itemKey(kafkaItemIdentifier(r.topic, r.partition, r.offset))!,
    arrivedAt: (r) => Number(r.timestamp),
  };
  const invokeTarget = batchTarget(target, shape, options.producer);
  const consumer: Consumer = options.kafka.consumer({
    groupId,
    allowAutoTopicCreation: false,
    maxWaitTimeInMs: Math.max(10, Math.round(mapping.MaximumBatchingWindowInSeconds * 1000)),
    sessionTimeout: options.sessionTimeoutMs ?? 10_000,
    heartbeatInterval: Math.min(1_000, Math.floor((options.sessionTimeoutMs ?? 10_000) / 3)),
    rebalanceTimeout: 10_000,
  });
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    options.onError?.(payload.error);
    options.log?.error('Kafka consumer crashed', {
      mapping: mapping.FunctionName,
      restart: payload.restart,
      error: payload.error.message,
    });
  });
  const gaps = new OffsetGaps(
    (skipped) => {
      stats.skippedOffsets += skipped;
    },
    (partition, gap) =>
      options.log?.error(
        'offsets skipped: the broker no longer had them when this runner asked (deleted by retention: the runner fell that far behind; or transaction markers)',
        { mapping: mapping.FunctionName, topic: mapping.EventSource, partition, ...gap },
      ),
  );
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    stats.assigned = payload.memberAssignment[mapping.EventSource]?.length ?? 0;
    gaps.forget();
  });
  let running = true;
  await consumer.connect();
  await consumer.subscribe({
    topic: mapping.EventSource,
    fromBeginning: mapping.StartingPosition === 'TRIM_HORIZON',
  });
  await consumer.run({
    // Only offsets resolved after a batch succeeded (or was dead-lettered) are ever committed;
    // kafkajs commits them at most once a second and on rebalance or disconnect, instead of one
    // blocking commit round trip per batch. A crash replays at most that second: the store and the
    // detector drop what they have already seen.
    autoCommit: true,
    autoCommitInterval: 1_000,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: options.partitionsConsumedConcurrently ?? 8,
    eachBatch: async ({ batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale }) => {
      const { topic, partition } = batch;
      const active = () => running && isRunning() && !isStale();
      if (batch.messages.length > 0) gaps.delivered(partition, BigInt(batch.messages[0]!.offset));
      for (let start = 0; start < batch.messages.length; start += mapping.BatchSize) {
        if (!active()) return;
        const chunk = batch.messages
          .slice(start, start + mapping.BatchSize)
          .map((m) => toIn(topic, partition, m));
        const selected = filter ? chunk.filter((r) => filter.matches(filterSubject(r, filter))) : chunk;
        const done = await invokeWithRetries(selected, mapping, invokeTarget, {
          stats,
          retryLimit,
          isRunning: active,
          beforeRetry: heartbeat,
          ...(options.retryDelayMs ? { retryDelayMs: options.retryDelayMs } : {}),
          onExhaustedWithoutDestination: (count, detail) =>
            options.log?.warn('records past the retry limit are retried: the mapping has no destination', {
              mapping: mapping.FunctionName,
              topic,
              partition,
              records: count,
              detail,
            }),
        });
        // The next offset to read: past the chunk when all is done, else the first record not done
        // (records filtered out before it are done too).
        const complete = done === selected.length;
        const next = complete ? BigInt(chunk[chunk.length - 1]!.offset) + 1n : BigInt(selected[done]!.offset);
        const finished = Number(next - BigInt(chunk[0]!.offset));
        gaps.done(partition, next);
        if (finished > 0) {
          resolveOffset((next - 1n).toString());
          await commitOffsetsIfNecessary();
        }
        stats.records += finished;
        stats.filtered += chunk.length - selected.length;
        if (!complete) return;
        stats.lag = Math.max(0, Number(BigInt(batch.highWatermark) - next));
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
      gaps.flush();
    },
  };
}

/** What FilterCriteria patterns see of a Kafka record: `key`, and `value` when it is JSON. */
function filterSubject(record: KafkaIn, filter: RecordFilter): Record<string, unknown> {
  const subject: Record<string, unknown> = { key: record.key?.toString('utf8') ?? null };
  if (filter.fields.has('value') && record.value) {
    const value = jsonOrUndefined(record.value);
    if (value !== undefined) subject.value = value;
  }
  return subject;
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

interface Gap {
  /** First and last offset not delivered (decimal strings), and how many. */
  from: string;
  to: string;
  skipped: number;
}

/** The first gap of a partition is reported at once; later ones summed, at most this often. */
const GAP_REPORT_INTERVAL_MS = 10_000;

/**
 * Notices offsets a partition never delivered: kafkajs moves a position that fell out of the log
 * (OFFSET_OUT_OF_RANGE, the records deleted by retention) to the oldest offset left, in silence.
 * Each partition's next expected offset is the one after the last record done; a batch that starts
 * past it skipped the difference. Forgotten on every rebalance, since a new assignment starts from
 * the group's committed offsets. A runner that stays behind retention would skip on every fetch, so
 * after a partition's first report the rest are summed into one every GAP_REPORT_INTERVAL_MS.
 */
export class OffsetGaps {
  readonly #expected = new Map<number, bigint>();
  readonly #pending = new Map<number, { from: bigint; to: bigint; skipped: number }>();
  readonly #lastReport = new Map<number, number>();
  readonly #count: (skipped: number) => void;
  readonly #report: (partition: number, gap: Gap) => void;

  constructor(count: (skipped: number) => void, report: (partition: number, gap: Gap) => void) {
    this.#count = count;
    this.#report = report;
  }

  /** A batch of `partition` starts at `first`. */
  delivered(partition: number, first: bigint): void {
    const want = this.#expected.get(partition);
    if (want !== undefined && first > want) {
      const skipped = Number(first - want);
      this.#count(skipped);
      const pending = this.#pending.get(partition);
      if (pending === undefined) this.#pending.set(partition, { from: want, to: first - 1n, skipped });
      else {
        pending.to = first - 1n;
        pending.skipped += skipped;
      }
    }
    const last = this.#lastReport.get(partition);
    if (this.#pending.has(partition) && (last === undefined || Date.now() - last >= GAP_REPORT_INTERVAL_MS))
      this.#reportPending(partition);
  }

  /** Records of `partition` are done up to `next` (exclusive). */
  done(partition: number, next: bigint): void {
    this.#expected.set(partition, next);
  }

  forget(): void {
    this.#expected.clear();
  }

  /** Reports what is still pending (at stop). */
  flush(): void {
    for (const partition of [...this.#pending.keys()]) this.#reportPending(partition);
  }

  #reportPending(partition: number): void {
    const gap = this.#pending.get(partition)!;
    this.#pending.delete(partition);
    this.#lastReport.set(partition, Date.now());
    this.#report(partition, { from: gap.from.toString(), to: gap.to.toString(), skipped: gap.skipped });
  }
}
