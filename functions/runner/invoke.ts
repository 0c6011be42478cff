import { errorMessage } from '../lib/errors.ts';
import type { BatchHandler, StreamEvent } from '../lib/events/types.ts';
import { type EventSourceMapping, reportsBatchItemFailures } from './mapping.ts';

/** What a source hands to the invoker: records in stream order and how to turn them into an event. */
export interface BatchSource<R> {
  toEvent(records: readonly R[]): StreamEvent;
  itemIdentifier(record: R): string;
  /** Sends records that exhausted their retries to the mapping's on-failure destination. */
  onFailure(records: readonly R[], reason: string): Promise<void>;
}

export interface InvokeStats {
  invocations: number;
  errors: number;
  retries: number;
  sentToDestination: number;
}

/**
 * Invokes `handler` on one batch with event source mapping semantics: a thrown error fails the
 * batch; with ReportBatchItemFailures the batch is retried from the lowest failed record (records
 * before it are done). After MaximumRetryAttempts the rest goes to the on-failure destination
 * (or, with none, is retried until it succeeds, as Lambda does with an infinite retry count).
 * Resolves once every record is processed or dead-lettered, so the caller can checkpoint.
 */
export async function invokeBatch<R>(
  batch: readonly R[],
  handler: BatchHandler,
  mapping: EventSourceMapping,
  source: BatchSource<R>,
  stats: InvokeStats,
  isRunning: () => boolean = () => true,
): Promise<boolean> {
  let pending = batch;
  let attempt = 0;
  while (pending.length > 0) {
    let failedFrom = 0;
    let reason = '';
    stats.invocations++;
    try {
      const response = await handler(source.toEvent(pending));
      const failures = reportsBatchItemFailures(mapping) ? (response?.batchItemFailures ?? []) : [];
      if (failures.length === 0) return true;
      const ids = new Set(failures.map((f) => f.itemIdentifier));
      failedFrom = pending.findIndex((r) => ids.has(source.itemIdentifier(r)));
      // An identifier that names no record in the batch fails the whole batch (as on AWS).
      if (failedFrom < 0) failedFrom = 0;
      reason = `function reported ${failures.length} failed item(s)`;
    } catch (error) {
      reason = `function error: ${errorMessage(error)}`;
    }
    stats.errors++;
    pending = pending.slice(failedFrom);
    attempt++;
    const limit = mapping.MaximumRetryAttempts;
    if (limit >= 0 && attempt > limit && mapping.DestinationConfig) {
      await source.onFailure(pending, `${reason} (after ${attempt} attempts)`);
      stats.sentToDestination += pending.length;
      return true;
    }
    if (!isRunning()) return false;
    stats.retries++;
    await new Promise((resolve) => setTimeout(resolve, Math.min(100 * 2 ** Math.min(attempt, 6), 5_000)));
  }
  return true;
}
