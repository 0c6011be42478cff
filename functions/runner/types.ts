import type { BatchHandler, BatchResponse, SourceRecord } from '../lib/events/types.ts';
import type { Log } from '../lib/log.ts';
import type { StreamProducer } from '../lib/streams/types.ts';
import type { InvokeStats } from './invoke.ts';
import type { EventSourceMapping } from './mapping.ts';

export interface MappingStats extends InvokeStats {
  /** Records done: processed, filtered out or sent to the destination. */
  records: number;
  /** Records FilterCriteria kept from the function. */
  filtered: number;
  /** Kafka: offsets behind the partition's high watermark at the last batch (largest partition). */
  lag: number;
  /** Kinesis: millisBehindLatest at the last poll (largest shard). */
  lagMs: number;
  /** Polls that failed and were retried from the checkpoint. */
  pollErrors: number;
  /** Partitions (Kafka: this member's share of the group's) or shards this mapping consumes now. */
  assigned: number;
  /**
   * Kafka: offsets the broker never delivered, although this runner was reading the partition:
   * deleted by retention before they were read (the consumer fell that far behind), or
   * transaction markers. Logged as errors when seen.
   */
  skippedOffsets: number;
}

export interface RunningMapping {
  readonly mapping: EventSourceMapping;
  readonly stats: MappingStats;
  /** Stops polling after the batch in flight; resolves once what was done is checkpointed. */
  stop(): Promise<void>;
}

/**
 * The function a mapping invokes: a Lambda handler, invoked with the event AWS would send, or (the
 * fused mode) an in-process function given the records directly, with the same runner semantics.
 */
export type MappingFunction =
  | { readonly handler: BatchHandler; readonly process?: undefined }
  | { readonly process: (records: SourceRecord[]) => Promise<BatchResponse>; readonly handler?: undefined };

export type MappingTarget = MappingFunction & {
  readonly mapping: EventSourceMapping;
  /** Why the function reported the record with this itemKey() as failed, when it told us. */
  readonly failureDetail?: ((key: string) => string | undefined) | undefined;
};

/** What both sources need besides their client. */
export interface SourceOptions {
  /** Writes the on-failure destination (our dead-letter stream). */
  producer: StreamProducer;
  /** Pause before retry `attempt`; tests shorten it. Default: 100 ms doubling to 5 s. */
  retryDelayMs?: (attempt: number) => number;
  log?: Log;
  onError?: (error: unknown) => void;
}

export function newStats(): MappingStats {
  return {
    invocations: 0,
    errors: 0,
    retries: 0,
    bisections: 0,
    sentToDestination: 0,
    expired: 0,
    records: 0,
    filtered: 0,
    lag: 0,
    lagMs: 0,
    pollErrors: 0,
    assigned: 0,
    skippedOffsets: 0,
  };
}
