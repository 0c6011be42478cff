/**
 * Turns the local runner's event source mappings (functions/runner/topology.ts defaultMappings)
 * into CloudFormation ones, setting for setting, so the AWS deployment behaves as the local run.
 * https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-lambda-eventsourcemapping.html
 */
import type { aws_lambda as lambda } from 'aws-cdk-lib';
import type { StreamName } from '../../../functions/lib/streams/types.ts';
import type { EventSourceMapping } from '../../../functions/runner/mapping.ts';

export type MappingSource =
  | {
      readonly kind: 'kinesis';
      readonly streamArn: (stream: StreamName) => string;
      /**
       * Kinesis mappings cannot send failed batches to a stream: Lambda takes an SQS queue, an SNS
       * topic or an S3 bucket. S3 is the one that keeps the records themselves (the whole
       * invocation record, base64 data included), not only their shard and sequence range.
       */
      readonly onFailureArn: (stream: StreamName) => string;
    }
  | {
      readonly kind: 'msk';
      readonly clusterArn: string;
      readonly scramSecretArn: string;
      readonly minimumPollers: number;
    }
  | {
      readonly kind: 'self-managed';
      readonly bootstrapServers: readonly string[];
      readonly scramSecretArn: string;
      readonly subnetIds: readonly string[];
      readonly securityGroupId: string;
      readonly minimumPollers: number;
    };

export interface TranslatedMapping {
  readonly props: Omit<lambda.CfnEventSourceMappingProps, 'functionName'>;
  /** Settings Lambda cannot take as the runner has them, and what was deployed instead. */
  readonly adjustments: readonly string[];
}

export function translateMapping(mapping: EventSourceMapping, source: MappingSource): TranslatedMapping {
  const adjustments: string[] = [];
  // Lambda takes whole seconds (0..300); the runner allows fractions. Nearest second.
  const window = Math.round(mapping.MaximumBatchingWindowInSeconds);
  if (window !== mapping.MaximumBatchingWindowInSeconds) {
    adjustments.push(
      `MaximumBatchingWindowInSeconds ${mapping.MaximumBatchingWindowInSeconds} -> ${window}: Lambda takes whole seconds`,
    );
  }
  const destination = mapping.DestinationConfig?.OnFailure.Destination;
  const common = {
    batchSize: mapping.BatchSize,
    maximumBatchingWindowInSeconds: window,
    startingPosition: mapping.StartingPosition,
    bisectBatchOnFunctionError: mapping.BisectBatchOnFunctionError,
    maximumRetryAttempts: mapping.MaximumRetryAttempts,
    maximumRecordAgeInSeconds: mapping.MaximumRecordAgeInSeconds,
    functionResponseTypes: [...mapping.FunctionResponseTypes],
  };
  if (source.kind === 'kinesis') {
    if (destination !== undefined) {
      adjustments.push(
        `on-failure destination ${destination} -> S3 bucket: a Kinesis mapping cannot target a stream`,
      );
    }
    return {
      props: {
        ...common,
        eventSourceArn: source.streamArn(mapping.EventSource),
        // One batch in flight per shard keeps per-device order.
        parallelizationFactor: 1,
        ...(destination === undefined
          ? {}
          : { destinationConfig: { onFailure: { destination: source.onFailureArn(destination) } } }),
      },
      adjustments,
    };
  }
  const consumerGroupId = mapping.ConsumerGroupId ?? `iot-ingest-${mapping.FunctionName}`;
  const kafka = {
    ...common,
    topics: [mapping.EventSource],
    // Retries, bisect, partial batch response and a Kafka on-failure topic need provisioned pollers.
    // https://docs.aws.amazon.com/lambda/latest/dg/kafka-retry-configurations.html
    provisionedPollerConfig: {
      minimumPollers: source.minimumPollers,
      maximumPollers: Math.max(source.minimumPollers, 3),
    },
    // The same cluster's dead-letter topic receives the failed records themselves.
    // https://docs.aws.amazon.com/lambda/latest/dg/kafka-on-failure-destination.html
    ...(destination === undefined
      ? {}
      : { destinationConfig: { onFailure: { destination: `kafka://${destination}` } } }),
  };
  if (source.kind === 'msk') {
    return {
      props: {
        ...kafka,
        eventSourceArn: source.clusterArn,
        amazonManagedKafkaEventSourceConfig: { consumerGroupId },
        sourceAccessConfigurations: [{ type: 'SASL_SCRAM_512_AUTH', uri: source.scramSecretArn }],
      },
      adjustments,
    };
  }
  return {
    props: {
      ...kafka,
      selfManagedEventSource: { endpoints: { kafkaBootstrapServers: [...source.bootstrapServers] } },
      selfManagedKafkaEventSourceConfig: { consumerGroupId },
      sourceAccessConfigurations: [
        { type: 'SASL_SCRAM_512_AUTH', uri: source.scramSecretArn },
        ...source.subnetIds.map((id) => ({ type: 'VPC_SUBNET', uri: `subnet:${id}` })),
        { type: 'VPC_SECURITY_GROUP', uri: `security_group:${source.securityGroupId}` },
      ],
    },
    adjustments,
  };
}
