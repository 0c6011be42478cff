import type { BatchHandler } from '../lib/events/types.ts';
import type { InvokeStats } from './invoke.ts';
import type { EventSourceMapping } from './mapping.ts';

export interface MappingStats extends InvokeStats {
  records: number;
  /** Records behind the head of the stream at the last poll (Kafka: offsets; Kinesis: from millisBehindLatest is ms, see lagMs). */
  lag: number;
  lagMs: number;
  /** Polls that failed and were retried from the checkpoint. */
  pollErrors: number;
}

export interface RunningMapping {
  readonly mapping: EventSourceMapping;
  readonly stats: MappingStats;
  /** Stops polling after the batch in flight; resolves once it is checkpointed. */
  stop(): Promise<void>;
}

export interface MappingTarget {
  mapping: EventSourceMapping;
  handler: BatchHandler;
}

export function newStats(): MappingStats {
  return {
    invocations: 0,
    errors: 0,
    retries: 0,
    sentToDestination: 0,
    records: 0,
    lag: 0,
    lagMs: 0,
    pollErrors: 0,
  };
}
