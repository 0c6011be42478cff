import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { ALARM_COUNT, BRIDGE_SIZING } from '../../../functions/cost/deployment.ts';
import { defaultMappings } from '../../../functions/runner/topology.ts';
import { actionsOf, allowing, logicalIdOf, type Synthesized, statementsOf, synthesize } from './synth.ts';

let synth: Synthesized;

beforeAll(async () => {
  synth = await synthesize();
});

describe('Kafka stack (MSK): event source mappings', () => {
  it.each(defaultMappings().map((m) => [m.FunctionName, m] as const))(
    '%s carries every setting of the local runner',
    (name, mapping) => {
      synth.kafka.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        FunctionName: { Ref: Match.stringLikeRegexp(`^${name[0]!.toUpperCase()}${name.slice(1)}Function`) },
        EventSourceArn: {
          'Fn::GetAtt': [logicalIdOf(synth.kafka, 'AWS::MSK::Cluster', 'KafkaCluster'), 'Arn'],
        },
        Topics: [mapping.EventSource],
        AmazonManagedKafkaEventSourceConfig: { ConsumerGroupId: `iot-ingest-${name}` },
        BatchSize: mapping.BatchSize,
        MaximumBatchingWindowInSeconds: Math.round(mapping.MaximumBatchingWindowInSeconds),
        StartingPosition: mapping.StartingPosition,
        BisectBatchOnFunctionError: mapping.BisectBatchOnFunctionError,
        MaximumRetryAttempts: mapping.MaximumRetryAttempts,
        MaximumRecordAgeInSeconds: mapping.MaximumRecordAgeInSeconds,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        // The runner's dead-letter stream, on the same cluster: Kafka mappings can target a topic.
        DestinationConfig: { OnFailure: { Destination: 'kafka://telemetry.dlq' } },
        ProvisionedPollerConfig: { MinimumPollers: 1, MaximumPollers: 3 },
        SourceAccessConfigurations: [
          { Type: 'SASL_SCRAM_512_AUTH', URI: { Ref: Match.stringLikeRegexp('^KafkaScramSecret') } },
        ],
      });
    },
  );
});

describe('Kafka stack (MSK): cluster, functions, bridge', () => {
  it('runs a TLS, SASL/SCRAM cluster with per-topic metrics', () => {
    synth.kafka.hasResourceProperties('AWS::MSK::Cluster', {
      ClientAuthentication: { Sasl: { Scram: { Enabled: true } } },
      EncryptionInfo: { EncryptionInTransit: { ClientBroker: 'TLS', InCluster: true } },
      EnhancedMonitoring: 'PER_TOPIC_PER_BROKER',
    });
    synth.kafka.hasResourceProperties('AWS::SecretsManager::Secret', {
      Name: 'AmazonMSK_iot-ingest',
      KmsKeyId: Match.anyValue(),
    });
  });

  it('puts the functions in the VPC with Kafka settings', () => {
    for (const name of ['validate', 'detect', 'write']) {
      synth.kafka.hasResourceProperties('AWS::Lambda::Function', {
        FunctionName: `iot-ingest-${name}`,
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        VpcConfig: Match.objectLike({ SubnetIds: Match.anyValue() }),
        Environment: {
          Variables: Match.objectLike({
            IOT_STREAM: 'kafka',
            KAFKA_SSL: 'true',
            KAFKA_SASL_MECHANISM: 'scram-sha-512',
          }),
        },
      });
    }
  });

  it('runs the bridge on Fargate Arm, two tasks, its Kafka password from Secrets Manager', () => {
    synth.kafka.hasResourceProperties('AWS::ECS::TaskDefinition', {
      RuntimePlatform: { CpuArchitecture: 'ARM64', OperatingSystemFamily: 'LINUX' },
      ContainerDefinitions: [
        Match.objectLike({
          Command: ['bridge'],
          Secrets: Match.arrayWith([Match.objectLike({ Name: 'KAFKA_SASL_PASSWORD' })]),
          Environment: Match.arrayWith([{ Name: 'MQTT_TOPICS', Value: '$share/iot-ingest/telemetry/+' }]),
        }),
      ],
    });
    synth.kafka.hasResourceProperties('AWS::ECS::Service', {
      DesiredCount: BRIDGE_SIZING.tasks,
      LaunchType: 'FARGATE',
    });
  });
});

describe('Kafka stack (MSK): least privilege', () => {
  it.each(['ValidateRole', 'DetectRole', 'WriteRole'])(
    '%s reaches the cluster and its secret only',
    (role) => {
      const statements = statementsOf(synth.kafka, role);
      const cluster = {
        'Fn::GetAtt': [logicalIdOf(synth.kafka, 'AWS::MSK::Cluster', 'KafkaCluster'), 'Arn'],
      };

      expect(allowing(statements, 'kafka:DescribeClusterV2').map((s) => s.Resource)).toEqual([cluster]);
      expect(allowing(statements, 'secretsmanager:GetSecretValue').map((s) => s.Resource)).toEqual([
        { Ref: logicalIdOf(synth.kafka, 'AWS::SecretsManager::Secret', 'KafkaScramSecret') },
      ]);
      expect(actionsOf(statements).filter((a) => a.includes('*'))).toEqual([]);
      const star = actionsOf(statements.filter((s) => s.Resource === '*'));
      expect(star.every((a) => a.startsWith('ec2:') || a === 'timestream:DescribeEndpoints')).toBe(true);
      expect(actionsOf(statements).filter((a) => a.startsWith('kinesis:'))).toEqual([]);
    },
  );
});

describe('Kafka stack (MSK): alarms', () => {
  it('has the alarms the cost estimate prices: lag, errors, throttles, dead letters, bridge, disks', () => {
    synth.kafka.resourceCountIs('AWS::CloudWatch::Alarm', ALARM_COUNT.kafka);
    for (const name of ['validate', 'detect', 'write']) {
      synth.kafka.hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: `iot-ingest-${name}-offset-lag`,
        MetricName: 'OffsetLag',
      });
    }
    synth.kafka.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'iot-ingest-dead-letters',
      Metrics: Match.anyValue(),
    });
    synth.kafka.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'iot-ingest-bridge-tasks',
      ComparisonOperator: 'LessThanThreshold',
    });
  });
});

describe('Kafka stack, self-managed brokers and InfluxDB', () => {
  let other: Synthesized;

  beforeAll(async () => {
    other = await synthesize({
      kafka: 'self-managed',
      kafkaBootstrapServers: 'kafka-1.internal:9096,kafka-2.internal:9096',
      kafkaCredentialsSecretArn: 'arn:aws:secretsmanager:us-east-1:111111111111:secret:kafka-scram-AbCdEf',
      store: 'influxdb',
      influxUrl: 'https://influx.example.internal:8086',
      influxOrg: 'plant',
      influxTokenSecretArn: 'arn:aws:secretsmanager:us-east-1:111111111111:secret:influx-token-AbCdEf',
      bridgeImage: 'public.ecr.aws/example/iot-ingest-bridge:1',
    });
  });

  it('maps the brokers it is given, inside the VPC, and creates no cluster', () => {
    other.kafka.resourceCountIs('AWS::MSK::Cluster', 0);
    other.kafka.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      SelfManagedEventSource: {
        Endpoints: { KafkaBootstrapServers: ['kafka-1.internal:9096', 'kafka-2.internal:9096'] },
      },
      SelfManagedKafkaEventSourceConfig: { ConsumerGroupId: 'iot-ingest-validate' },
      SourceAccessConfigurations: Match.arrayWith([
        {
          Type: 'SASL_SCRAM_512_AUTH',
          URI: 'arn:aws:secretsmanager:us-east-1:111111111111:secret:kafka-scram-AbCdEf',
        },
        Match.objectLike({ Type: 'VPC_SECURITY_GROUP' }),
      ]),
      DestinationConfig: { OnFailure: { Destination: 'kafka://telemetry.dlq' } },
    });
  });

  it('points write at InfluxDB, with only its token secret, and creates no Timestream', () => {
    other.kinesis.resourceCountIs('AWS::Timestream::Table', 0);
    other.kinesis.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: 'iot-ingest-write',
      Environment: {
        Variables: Match.objectLike({
          IOT_STORE: 'influxdb',
          INFLUXDB_URL: 'https://influx.example.internal:8086',
        }),
      },
    });
    const statements = statementsOf(other.kinesis, 'WriteRole');
    expect(allowing(statements, 'secretsmanager:GetSecretValue').map((s) => s.Resource)).toEqual([
      'arn:aws:secretsmanager:us-east-1:111111111111:secret:influx-token-AbCdEf',
    ]);
    expect(actionsOf(statements).filter((a) => a.startsWith('timestream:'))).toEqual([]);
  });

  it('uses the given bridge image', () => {
    other.kafka.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [Match.objectLike({ Image: 'public.ecr.aws/example/iot-ingest-bridge:1' })],
    });
  });
});
