/**
 * How many times the event source mappings invoke each function, with how many records, and for
 * how long: the inputs to Lambda's request and duration charges.
 */
import type { EventSourceMapping } from '../runner/mapping.ts';
import type { PipelineFunction } from './deployment.ts';

/** CPU time of one batch at one full vCPU: fixed + per record. */
export interface BatchCpu {
  readonly fixedMs: number;
  readonly perRecordMs: number;
}

/**
 * Measured with `npx tsx bench/bundles.ts --records N` (warm invocations, N = 1, 100, 500, one
 * process per run, Node 20, x86-64 at one core): validate 2.6 ms + 0.053 ms/record (decode, check,
 * re-encode, base64 and JSON for PutRecords); detect 0.1 ms + 0.010 ms/record. write is priced as
 * detect's decode, the store's own cost is in WRITE_CALLS.
 */
export const MEASURED_BATCH_CPU: Readonly<Record<PipelineFunction, BatchCpu>> = Object.freeze({
  validate: { fixedMs: 2.6, perRecordMs: 0.053 },
  detect: { fixedMs: 0.1, perRecordMs: 0.01 },
  write: { fixedMs: 0.1, perRecordMs: 0.01 },
});

/** Calls to other services per batch, waited for one after another. Assumed, not measured. */
export interface BatchCalls {
  readonly recordsPerCall: number;
  readonly msPerCall: number;
}

export const BATCH_CALLS: Readonly<Record<PipelineFunction, BatchCalls | undefined>> = Object.freeze({
  // PutRecords to telemetry.valid: up to 500 records a call, ~20 ms in-region.
  validate: { recordsPerCall: 500, msPerCall: 20 },
  // Alerts are rare: no call in the steady state.
  detect: undefined,
  // Timestream WriteRecords takes at most 100 records a call, ~30 ms each.
  write: { recordsPerCall: 100, msPerCall: 30 },
});

/** Lambda gives a function CPU in proportion to memory; 1,769 MB is one vCPU. */
const MB_PER_VCPU = 1769;

export function batchDurationMs(fn: PipelineFunction, records: number, memoryMb: number): number {
  const cpu = MEASURED_BATCH_CPU[fn];
  const calls = BATCH_CALLS[fn];
  const cpuMs = (cpu.fixedMs + cpu.perRecordMs * records) * Math.max(1, MB_PER_VCPU / memoryMb);
  const ioMs = calls ? Math.ceil(records / calls.recordsPerCall) * calls.msPerCall : 0;
  return cpuMs + ioMs;
}

export interface Invocations {
  /** Invocations per second over all shards or partitions. */
  readonly perSecond: number;
  /** Mean records per invocation. */
  readonly meanBatch: number;
}

/**
 * Lambda polls each shard about once a second (Kinesis, standard iterator) and invokes with what it
 * found, up to BatchSize; when a poll fills a batch it polls again at once. So a shard receiving r
 * records a second costs r invocations (r < 1), one (1 <= r <= BatchSize), or r / BatchSize.
 * https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html#kinesis-polling-and-batching
 */
export function invocations(
  recordsPerSecond: number,
  shards: number,
  mapping: Pick<EventSourceMapping, 'BatchSize'>,
): Invocations {
  if (recordsPerSecond <= 0) return { perSecond: 0, meanBatch: 0 };
  const perShard = recordsPerSecond / shards;
  const perShardInvocations = perShard <= 1 ? perShard : Math.max(1, perShard / mapping.BatchSize);
  return { perSecond: perShardInvocations * shards, meanBatch: perShard / perShardInvocations };
}
