import type { DeadLetterReason } from '../lib/dead-letter.ts';
import { errorMessage } from '../lib/errors.ts';
import { itemKey } from '../lib/events/source-records.ts';
import type { BatchResponse } from '../lib/events/types.ts';
import { type EventSourceMapping, reportsBatchItemFailures } from './mapping.ts';

/** How the invoker reaches the function and the destination for one source's records. */
export interface BatchTarget<R> {
  /** Invokes the function once with these records, in stream order. */
  invoke(records: readonly R[]): Promise<BatchResponse | null | undefined>;
  /** The record's identifier as itemKey() spells it, to match reported failures against. */
  key(record: R): string;
  /** When the stream received the record, ms since epoch (for MaximumRecordAgeInSeconds). */
  arrivedAt(record: R): number;
  /** Writes records to the on-failure destination, with why. */
  sendToDestination(records: readonly R[], reason: DeadLetterReason, detail: string): Promise<void>;
  /** What is known about why the function reported this record as failed, if anything. */
  failureDetail?(record: R): string | undefined;
}

export interface InvokeStats {
  invocations: number;
  /** Invocations that threw or reported failed records. */
  errors: number;
  retries: number;
  bisections: number;
  /** Records sent to the on-failure destination (retries exhausted or expired). */
  sentToDestination: number;
  expired: number;
}

export function newInvokeStats(): InvokeStats {
  return { invocations: 0, errors: 0, retries: 0, bisections: 0, sentToDestination: 0, expired: 0 };
}

export interface InvokeOptions {
  stats: InvokeStats;
  /** Retries after which records go to the destination; -1 = never (effectiveRetryLimit()). */
  retryLimit: number;
  /** False once the runner is stopping: no new retry starts, the caller checkpoints what is done. */
  isRunning?: () => boolean;
  now?: () => number;
  /** Pause before retry number `attempt` (1, 2, ...). Default 100 ms doubling to 5 s. */
  retryDelayMs?: (attempt: number) => number;
  /** Called between attempts: Kafka consumers must heartbeat while a partition is retried. */
  beforeRetry?: () => Promise<void>;
  /** Told when records are kept retrying past the limit because there is no destination. */
  onExhaustedWithoutDestination?: (records: number, detail: string) => void;
}

export function defaultRetryDelayMs(attempt: number): number {
  return Math.min(100 * 2 ** Math.min(attempt - 1, 6), 5_000);
}

interface Pending {
  start: number;
  end: number;
  attempts: number;
}

/**
 * Runs one batch through the function with Lambda event source mapping semantics and resolves with
 * how many records, from the start of the batch, are done (processed, or sent to the destination).
 * That is `batch.length` unless the runner is stopping; the caller checkpoints exactly that far.
 *
 *  - A batch succeeds when the function returns without reported failures.
 *  - ReportBatchItemFailures: the records before the lowest reported one are done; the rest is
 *    retried. An identifier that names no record of the batch fails the whole batch (as on AWS).
 *  - BisectBatchOnFunctionError: a failing batch of two or more records is split in halves, each
 *    retried on its own, in order; a split does not count as a retry. With partial failures the
 *    batch is split at the failed record. A poison record is so isolated in log2(n) invocations,
 *    and only it exhausts its retries; the records behind it go on, in order.
 *  - MaximumRetryAttempts: after that many retries the records go to the destination with reason
 *    RETRIES_EXHAUSTED and the last error.
 *  - MaximumRecordAgeInSeconds: records older than that are sent to the destination (reason
 *    RECORD_EXPIRED) without invoking the function.
 *  - Our policy differs from AWS in one place, on purpose: with no destination configured, records
 *    are never discarded. Past the retry limit or the age they are retried until they succeed
 *    (backing off, and reported through onExhaustedWithoutDestination), so nothing is lost silently.
 */
export async function invokeWithRetries<R>(
  batch: readonly R[],
  mapping: EventSourceMapping,
  target: BatchTarget<R>,
  options: InvokeOptions,
): Promise<number> {
  const { stats } = options;
  const isRunning = options.isRunning ?? (() => true);
  const now = options.now ?? Date.now;
  const delay = options.retryDelayMs ?? defaultRetryDelayMs;
  const reportsFailures = reportsBatchItemFailures(mapping);
  const hasDestination = mapping.DestinationConfig !== undefined;
  const maxAgeMs = mapping.MaximumRecordAgeInSeconds >= 0 ? mapping.MaximumRecordAgeInSeconds * 1000 : -1;
  const queue: Pending[] = batch.length > 0 ? [{ start: 0, end: batch.length, attempts: 0 }] : [];

  while (queue.length > 0) {
    const item = queue[0]!;
    // Stopping: no new invocation; what is not done is read again after the restart.
    if (!isRunning()) return item.start;
    if (maxAgeMs >= 0 && hasDestination) {
      const cutoff = now() - maxAgeMs;
      let expired = item.start;
      while (expired < item.end && target.arrivedAt(batch[expired]!) < cutoff) expired++;
      if (expired > item.start) {
        const records = batch.slice(item.start, expired);
        await target.sendToDestination(
          records,
          'RECORD_EXPIRED',
          `older than MaximumRecordAgeInSeconds ${mapping.MaximumRecordAgeInSeconds} when ${mapping.FunctionName} was to be invoked`,
        );
        stats.expired += records.length;
        stats.sentToDestination += records.length;
        item.start = expired;
        if (item.start === item.end) {
          queue.shift();
          continue;
        }
      }
    }

    const records = batch.slice(item.start, item.end);
    stats.invocations++;
    let failedAt = 0;
    let split = false;
    let detail: string;
    try {
      const response = await target.invoke(records);
      const failures = reportsFailures ? response?.batchItemFailures : undefined;
      if (!failures || failures.length === 0) {
        queue.shift();
        continue;
      }
      failedAt = lowestFailed(records, failures, target);
      const named = records[failedAt];
      const known = named === undefined ? undefined : target.failureDetail?.(named);
      detail = `${mapping.FunctionName} reported ${failures.length} failed record(s)${known ? `; first: ${known}` : ''}`;
      split = failedAt > 0;
    } catch (error) {
      detail = `${mapping.FunctionName} failed: ${errorMessage(error)}`;
    }
    stats.errors++;
    item.start += failedAt;
    const size = item.end - item.start;

    if (mapping.BisectBatchOnFunctionError && (split || size > 1)) {
      // Split at the reported record, or in halves; the halves keep the attempts made so far.
      stats.bisections++;
      if (!split) {
        const mid = item.start + Math.ceil(size / 2);
        queue.splice(
          0,
          1,
          { start: item.start, end: mid, attempts: item.attempts },
          {
            start: mid,
            end: item.end,
            attempts: item.attempts,
          },
        );
      }
      continue;
    }

    item.attempts++;
    const limit = options.retryLimit;
    if (limit >= 0 && item.attempts > limit) {
      const exhausted = `${detail} (${item.attempts} attempts)`;
      if (hasDestination) {
        const failed = batch.slice(item.start, item.end);
        await target.sendToDestination(failed, 'RETRIES_EXHAUSTED', exhausted);
        stats.sentToDestination += failed.length;
        queue.shift();
        continue;
      }
      options.onExhaustedWithoutDestination?.(size, exhausted);
    }
    if (!isRunning()) return item.start;
    stats.retries++;
    await options.beforeRetry?.();
    await sleep(delay(item.attempts));
    if (!isRunning()) return item.start;
  }
  return batch.length;
}

/** Index of the first record a partial batch response names; 0 (the whole batch) if any is invalid. */
function lowestFailed<R>(
  records: readonly R[],
  failures: readonly { itemIdentifier: unknown }[],
  target: BatchTarget<R>,
): number {
  const keys = new Set<string>();
  for (const failure of failures) {
    const key = itemKey(failure?.itemIdentifier as Parameters<typeof itemKey>[0]);
    if (key === undefined) return 0; // empty, null or malformed identifier: the whole batch failed
    keys.add(key);
  }
  for (let i = 0; i < records.length; i++) if (keys.has(target.key(records[i]!))) return i;
  return 0; // names no record of this batch: the whole batch failed
}

function sleep(ms: number): Promise<void> {
  return ms <= 0 ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, ms));
}
