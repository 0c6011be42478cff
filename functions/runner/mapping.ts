import { ConfigError } from '../lib/errors.ts';
import type { StreamName } from '../lib/streams/types.ts';

/**
 * A local event source mapping: the settings AWS Lambda's CreateEventSourceMapping takes, with the
 * same names and defaults, so one config describes the local run and the AWS deployment.
 * https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html
 */
export interface EventSourceMapping {
  readonly FunctionName: string;
  readonly EventSource: StreamName;
  readonly BatchSize: number;
  readonly MaximumBatchingWindowInSeconds: number;
  readonly StartingPosition: 'TRIM_HORIZON' | 'LATEST';
  readonly BisectBatchOnFunctionError: boolean;
  /** -1 = retry until the record expires (AWS default). */
  readonly MaximumRetryAttempts: number;
  /** -1 = records never expire (AWS default). */
  readonly MaximumRecordAgeInSeconds: number;
  readonly FunctionResponseTypes: readonly 'ReportBatchItemFailures'[];
  readonly DestinationConfig?: { readonly OnFailure: { readonly Destination: StreamName } } | undefined;
  /** Kafka only: the consumer group (AWS uses the mapping's UUID unless given). */
  readonly ConsumerGroupId?: string | undefined;
}

export type MappingInput = Pick<EventSourceMapping, 'FunctionName' | 'EventSource'> &
  Partial<EventSourceMapping>;

/** Fills AWS defaults and checks ranges once, at start. */
export function defineMapping(input: MappingInput): EventSourceMapping {
  const mapping: EventSourceMapping = {
    BatchSize: 100,
    MaximumBatchingWindowInSeconds: 0,
    StartingPosition: 'TRIM_HORIZON',
    BisectBatchOnFunctionError: false,
    MaximumRetryAttempts: -1,
    MaximumRecordAgeInSeconds: -1,
    FunctionResponseTypes: [],
    ...input,
  };
  const where = `mapping ${mapping.FunctionName} <- ${mapping.EventSource}`;
  if (!Number.isInteger(mapping.BatchSize) || mapping.BatchSize < 1 || mapping.BatchSize > 10_000) {
    throw new ConfigError(`${where}: BatchSize ${mapping.BatchSize} must be 1..10000`);
  }
  if (mapping.MaximumBatchingWindowInSeconds < 0 || mapping.MaximumBatchingWindowInSeconds > 300) {
    throw new ConfigError(`${where}: MaximumBatchingWindowInSeconds must be 0..300`);
  }
  if (
    !Number.isInteger(mapping.MaximumRetryAttempts) ||
    mapping.MaximumRetryAttempts < -1 ||
    mapping.MaximumRetryAttempts > 10_000
  ) {
    throw new ConfigError(`${where}: MaximumRetryAttempts must be -1 (infinite) or 0..10000`);
  }
  return Object.freeze(mapping);
}

export function reportsBatchItemFailures(mapping: EventSourceMapping): boolean {
  return mapping.FunctionResponseTypes.includes('ReportBatchItemFailures');
}
