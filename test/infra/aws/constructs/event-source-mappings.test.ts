import { describe, expect, it } from 'vitest';
import { defineMapping } from '../../../../functions/runner/mapping.ts';
import { translateMapping } from '../../../../infra/aws/constructs/event-source-mappings.ts';

const kinesis = {
  kind: 'kinesis' as const,
  streamArn: (stream: string) => `arn:stream/${stream}`,
  onFailureArn: () => 'arn:aws:s3:::dead-letters',
};

describe('translateMapping', () => {
  it('keeps whole-second windows and says when it rounds one', () => {
    // Prepare
    const whole = defineMapping({
      FunctionName: 'validate',
      EventSource: 'telemetry.raw',
      MaximumBatchingWindowInSeconds: 2,
    });
    const fraction = defineMapping({
      FunctionName: 'validate',
      EventSource: 'telemetry.raw',
      MaximumBatchingWindowInSeconds: 0.05,
    });

    // Act
    const a = translateMapping(whole, kinesis);
    const b = translateMapping(fraction, kinesis);

    // Assess
    expect(a.props.maximumBatchingWindowInSeconds).toBe(2);
    expect(a.adjustments).toEqual([]);
    expect(b.props.maximumBatchingWindowInSeconds).toBe(0);
    expect(b.adjustments).toEqual(['MaximumBatchingWindowInSeconds 0.05 -> 0: Lambda takes whole seconds']);
  });

  it("sends a Kinesis mapping's failures to S3, and says so", () => {
    const mapping = defineMapping({
      FunctionName: 'write',
      EventSource: 'telemetry.valid',
      BisectBatchOnFunctionError: true,
      MaximumRecordAgeInSeconds: 3600,
      DestinationConfig: { OnFailure: { Destination: 'telemetry.dlq' } },
    });

    const { props, adjustments } = translateMapping(mapping, kinesis);

    expect(props).toMatchObject({
      eventSourceArn: 'arn:stream/telemetry.valid',
      bisectBatchOnFunctionError: true,
      maximumRecordAgeInSeconds: 3600,
      parallelizationFactor: 1,
      destinationConfig: { onFailure: { destination: 'arn:aws:s3:::dead-letters' } },
    });
    expect(adjustments).toEqual([
      'on-failure destination telemetry.dlq -> S3 bucket: a Kinesis mapping cannot target a stream',
    ]);
  });

  it('leaves out the destination when the runner has none', () => {
    const { props } = translateMapping(
      defineMapping({ FunctionName: 'detect', EventSource: 'telemetry.valid' }),
      kinesis,
    );

    expect(props.destinationConfig).toBeUndefined();
  });

  it("uses the runner's consumer group on Kafka when it names one", () => {
    const mapping = defineMapping({
      FunctionName: 'detect',
      EventSource: 'telemetry.valid',
      ConsumerGroupId: 'detectors',
    });

    const { props } = translateMapping(mapping, {
      kind: 'msk',
      clusterArn: 'arn:cluster',
      scramSecretArn: 'arn:secret',
      minimumPollers: 2,
    });

    expect(props).toMatchObject({
      topics: ['telemetry.valid'],
      amazonManagedKafkaEventSourceConfig: { consumerGroupId: 'detectors' },
      provisionedPollerConfig: { minimumPollers: 2, maximumPollers: 3 },
    });
  });
});
