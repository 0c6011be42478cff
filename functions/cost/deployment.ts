/**
 * The shape of the AWS deployment that `infra/aws` builds and `iot-ingest cost` prices: one source
 * for both, so the estimate describes what is deployed. Sizes here are defaults; the CDK app takes
 * overrides from context (see infra/aws/README section in the project README).
 */
import type { MskBrokerType } from './prices.ts';

/** AWS bills a month as 730 hours. */
export const HOURS_PER_MONTH = 730;
export const SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600;

export type PipelineFunction = 'validate' | 'detect' | 'write';

export interface FunctionSizing {
  readonly memoryMb: number;
  readonly timeoutSeconds: number;
}

/** Lambda memory and timeout. Memory buys CPU: 1,769 MB is one full vCPU. */
export const FUNCTION_SIZING: Readonly<Record<PipelineFunction, FunctionSizing>> = Object.freeze({
  validate: { memoryMb: 1024, timeoutSeconds: 60 },
  detect: { memoryMb: 512, timeoutSeconds: 60 },
  write: { memoryMb: 1024, timeoutSeconds: 120 },
});

/** Kinesis Data Streams, provisioned mode. Limits: https://docs.aws.amazon.com/streams/latest/dev/service-sizes-and-limits.html */
export const KINESIS_SIZING = Object.freeze({
  shardWriteRecordsPerSecond: 1_000,
  shardWriteBytesPerSecond: 1024 * 1024,
  retentionHours: 24,
  /** Dead letters wait for inspection and replay: a week. */
  deadLetterRetentionHours: 168,
});

/** Shards a stream needs for a steady write load (at least one). */
export function shardsFor(recordsPerSecond: number, bytesPerSecond: number): number {
  return Math.max(
    1,
    Math.ceil(recordsPerSecond / KINESIS_SIZING.shardWriteRecordsPerSecond),
    Math.ceil(bytesPerSecond / KINESIS_SIZING.shardWriteBytesPerSecond),
  );
}

export const TIMESTREAM_SIZING = Object.freeze({
  memoryStoreRetentionHours: 24,
  magneticStoreRetentionDays: 365,
});

export const MSK_SIZING = Object.freeze({
  brokerType: 'kafka.t3.small' satisfies MskBrokerType as MskBrokerType,
  /** One per availability zone; the stack spreads them over two. */
  brokers: 2,
  storageGbPerBroker: 100,
  /** Event pollers per Kafka mapping in provisioned mode (needed for retries, bisect and the DLQ topic). */
  minimumPollers: 1,
});

/** The bridge on ECS Fargate (Arm): two tasks so one can restart while the other carries the load. */
export const BRIDGE_SIZING = Object.freeze({ vcpu: 0.5, memoryGb: 1, tasks: 2 });

/** Alarms each stack creates (infra tests hold the stacks to these counts). */
export const ALARM_COUNT = Object.freeze({ kinesis: 13, kafka: 13 });
export const DASHBOARDS = 1;
