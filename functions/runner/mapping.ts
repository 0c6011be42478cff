import { ConfigError } from '../lib/errors.ts';
import type { StreamName } from '../lib/streams/types.ts';
import { compileFilterCriteria, type FilterCriteria } from './filter-criteria.ts';

/**
 * A local event source mapping: the settings AWS Lambda's CreateEventSourceMapping takes, with the
 * same names and defaults, so one config describes the local run and the AWS deployment.
 * https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html
 *
 * Where the runner departs from AWS (each on purpose, each documented where it is implemented):
 *  - With no DestinationConfig, records that exhausted MaximumRetryAttempts or outlived
 *    MaximumRecordAgeInSeconds are not discarded: they are retried until they succeed (invoke.ts).
 *  - MaximumRecordAgeInSeconds accepts 1..59 locally (AWS: 60..604800) so tests can expire records.
 *  - MaximumBatchingWindowInSeconds accepts fractions (AWS: whole seconds).
 *  - FilterCriteria also matches `partitionKey` (Kinesis) and `key` (Kafka); AWS only `data`/`value`.
 */
export interface EventSourceMapping {
  readonly FunctionName: string;
  readonly EventSource: StreamName;
  /** Records per invocation at most. AWS default 100. */
  readonly BatchSize: number;
  /** How long to gather records before invoking. AWS default 0 (Kinesis), 0.5 s for Kafka. */
  readonly MaximumBatchingWindowInSeconds: number;
  readonly StartingPosition: 'TRIM_HORIZON' | 'LATEST';
  /** Kinesis: batches in flight per shard, 1..10; records of one partition key stay in order. */
  readonly ParallelizationFactor: number;
  /** On a function error, split the failing batch in two and retry each half (does not count as a retry). */
  readonly BisectBatchOnFunctionError: boolean;
  /** -1 = retry until the record expires (AWS default). */
  readonly MaximumRetryAttempts: number;
  /** -1 = records never expire (AWS default). */
  readonly MaximumRecordAgeInSeconds: number;
  readonly FunctionResponseTypes: readonly 'ReportBatchItemFailures'[];
  /** Where records go that exhausted their retries or expired: our dead-letter stream. */
  readonly DestinationConfig?: { readonly OnFailure: { readonly Destination: StreamName } } | undefined;
  /** Only records matching one of the filters are sent to the function; the others are skipped. */
  readonly FilterCriteria?: FilterCriteria | undefined;
  /** Kafka only: the consumer group (AWS uses the mapping's UUID unless given). */
  readonly ConsumerGroupId?: string | undefined;
}

export type MappingInput = Pick<EventSourceMapping, 'FunctionName' | 'EventSource'> &
  Partial<EventSourceMapping>;

/** Lambda applies at most this many retries to a Kafka mapping with infinite retries and a destination. */
export const KAFKA_RETRIES_WITH_DESTINATION = 10;

/** Fills AWS defaults and checks ranges once, at start. */
export function defineMapping(input: MappingInput): EventSourceMapping {
  const mapping: EventSourceMapping = {
    BatchSize: 100,
    MaximumBatchingWindowInSeconds: 0,
    StartingPosition: 'TRIM_HORIZON',
    ParallelizationFactor: 1,
    BisectBatchOnFunctionError: false,
    MaximumRetryAttempts: -1,
    MaximumRecordAgeInSeconds: -1,
    FunctionResponseTypes: [],
    ...input,
  };
  const where = `mapping ${mapping.FunctionName} <- ${mapping.EventSource}`;
  const check = (ok: boolean, message: string) => {
    if (!ok) throw new ConfigError(`${where}: ${message}`);
  };
  check(
    Number.isInteger(mapping.BatchSize) && mapping.BatchSize >= 1 && mapping.BatchSize <= 10_000,
    `BatchSize ${mapping.BatchSize} must be a whole number from 1 to 10000`,
  );
  check(
    mapping.MaximumBatchingWindowInSeconds >= 0 && mapping.MaximumBatchingWindowInSeconds <= 300,
    `MaximumBatchingWindowInSeconds ${mapping.MaximumBatchingWindowInSeconds} must be 0..300`,
  );
  check(
    mapping.StartingPosition === 'TRIM_HORIZON' || mapping.StartingPosition === 'LATEST',
    `StartingPosition "${mapping.StartingPosition}" must be TRIM_HORIZON or LATEST`,
  );
  check(
    Number.isInteger(mapping.ParallelizationFactor) &&
      mapping.ParallelizationFactor >= 1 &&
      mapping.ParallelizationFactor <= 10,
    `ParallelizationFactor ${mapping.ParallelizationFactor} must be a whole number from 1 to 10`,
  );
  check(
    Number.isInteger(mapping.MaximumRetryAttempts) &&
      mapping.MaximumRetryAttempts >= -1 &&
      mapping.MaximumRetryAttempts <= 10_000,
    `MaximumRetryAttempts ${mapping.MaximumRetryAttempts} must be -1 (infinite) or 0..10000`,
  );
  const age = mapping.MaximumRecordAgeInSeconds;
  check(
    age === -1 || (Number.isInteger(age) && age >= 1 && age <= 604_800),
    `MaximumRecordAgeInSeconds ${age} must be -1 (never expire) or 1..604800 (AWS takes 60..604800)`,
  );
  for (const type of mapping.FunctionResponseTypes) {
    check(
      type === 'ReportBatchItemFailures',
      `FunctionResponseTypes entry "${type}" is not ReportBatchItemFailures`,
    );
  }
  try {
    compileFilterCriteria(mapping.FilterCriteria);
  } catch (error) {
    throw new ConfigError(`${where}: ${(error as Error).message}`, error);
  }
  return Object.freeze(mapping);
}

export function reportsBatchItemFailures(mapping: EventSourceMapping): boolean {
  return mapping.FunctionResponseTypes.includes('ReportBatchItemFailures');
}

/**
 * Retries after which records go to the destination; -1 = none. Kafka mappings with infinite
 * retries and a destination get 10, as Lambda applies
 * (https://docs.aws.amazon.com/lambda/latest/dg/kafka-retry-configurations.html).
 */
export function effectiveRetryLimit(mapping: EventSourceMapping, source: 'kafka' | 'kinesis'): number {
  if (source === 'kafka' && mapping.MaximumRetryAttempts === -1 && mapping.DestinationConfig)
    return KAFKA_RETRIES_WITH_DESTINATION;
  return mapping.MaximumRetryAttempts;
}
