import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { ALARM_COUNT, FUNCTION_SIZING, type PipelineFunction } from '../../../functions/cost/deployment.ts';
import { defaultMappings } from '../../../functions/runner/topology.ts';
import { actionsOf, allowing, logicalIdOf, type Synthesized, statementsOf, synthesize } from './synth.ts';

let synth: Synthesized;

beforeAll(async () => {
  synth = await synthesize();
});

const STREAM_IDS = {
  'telemetry.raw': 'StreamsRaw',
  'telemetry.valid': 'StreamsValid',
  'telemetry.dlq': 'StreamsDeadLetters',
  alerts: 'StreamsAlerts',
};
const FUNCTION_IDS: Record<PipelineFunction, string> = {
  validate: 'ValidateFunction',
  detect: 'DetectFunction',
  write: 'WriteFunction',
};
const ROLE_IDS: Record<PipelineFunction, string> = {
  validate: 'ValidateRole',
  detect: 'DetectRole',
  write: 'WriteRole',
};

function arnOf(prefix: string, type = 'AWS::Kinesis::Stream') {
  return { 'Fn::GetAtt': [logicalIdOf(synth.kinesis, type, prefix), 'Arn'] };
}

describe('Kinesis stack: event source mappings', () => {
  it.each(defaultMappings().map((m) => [m.FunctionName, m] as const))(
    '%s carries every setting of the local runner',
    (name, mapping) => {
      synth.kinesis.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        FunctionName: {
          Ref: logicalIdOf(synth.kinesis, 'AWS::Lambda::Function', FUNCTION_IDS[name as PipelineFunction]),
        },
        EventSourceArn: arnOf(STREAM_IDS[mapping.EventSource]),
        BatchSize: mapping.BatchSize,
        // Lambda takes whole seconds: the runner's 0.05 s is deployed as 0 (an Info annotation says so).
        MaximumBatchingWindowInSeconds: Math.round(mapping.MaximumBatchingWindowInSeconds),
        StartingPosition: mapping.StartingPosition,
        BisectBatchOnFunctionError: mapping.BisectBatchOnFunctionError,
        MaximumRetryAttempts: mapping.MaximumRetryAttempts,
        MaximumRecordAgeInSeconds: mapping.MaximumRecordAgeInSeconds,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        ParallelizationFactor: 1,
        DestinationConfig: { OnFailure: { Destination: arnOf('DeadLettersBucket', 'AWS::S3::Bucket') } },
      });
    },
  );

  it('has exactly one mapping per runner mapping', () => {
    synth.kinesis.resourceCountIs('AWS::Lambda::EventSourceMapping', defaultMappings().length);
  });
});

describe('Kinesis stack: functions', () => {
  it.each(Object.entries(FUNCTION_IDS))('%s runs Node.js 22 on Arm with its sizing', (name, id) => {
    const sizing = FUNCTION_SIZING[name as PipelineFunction];
    const [resource] = Object.values(
      synth.kinesis.findResources('AWS::Lambda::Function', {
        Properties: { FunctionName: `iot-ingest-${name}` },
      }),
    );
    expect(resource).toBeDefined();
    expect(logicalIdOf(synth.kinesis, 'AWS::Lambda::Function', id)).toMatch(/^\w+Function/);
    expect(resource).toMatchObject({
      Properties: {
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        MemorySize: sizing.memoryMb,
        Timeout: sizing.timeoutSeconds,
        Environment: { Variables: { IOT_STREAM: 'kinesis', LOG_LEVEL: 'info' } },
      },
    });
  });

  it('tells write which store to use, and detect where alerts go', () => {
    synth.kinesis.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: 'iot-ingest-write',
      Environment: {
        Variables: {
          IOT_STORE: 'timestream',
          TIMESTREAM_DATABASE: 'iot_ingest',
          TIMESTREAM_TABLE: 'readings',
        },
      },
    });
    synth.kinesis.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: 'iot-ingest-detect',
      Environment: {
        Variables: {
          ALERTS_SNS_TOPIC_ARN: Match.anyValue(),
          ALERTS_MQTT_ENDPOINT: Match.anyValue(),
          ALERTS_MQTT_TOPIC_PREFIX: 'alerts',
        },
      },
    });
  });
});

describe('Kinesis stack: least privilege', () => {
  it('validate reads telemetry.raw and writes only telemetry.valid and telemetry.dlq', () => {
    const statements = statementsOf(synth.kinesis, ROLE_IDS.validate);

    expect(allowing(statements, 'kinesis:PutRecords').map((s) => s.Resource)).toEqual([
      [arnOf('StreamsValid'), arnOf('StreamsDeadLetters')],
    ]);
    expect(allowing(statements, 'kinesis:GetRecords').map((s) => s.Resource)).toEqual([arnOf('StreamsRaw')]);
    expect(actionsOf(statements).filter((a) => /^(timestream|sns|iot|secretsmanager):/.test(a))).toEqual([]);
  });

  it('detect reads telemetry.valid, writes alerts, publishes to its topic and alerts/*', () => {
    const statements = statementsOf(synth.kinesis, ROLE_IDS.detect);

    expect(allowing(statements, 'kinesis:PutRecords').map((s) => s.Resource)).toEqual([
      arnOf('StreamsAlerts'),
    ]);
    expect(allowing(statements, 'kinesis:GetRecords').map((s) => s.Resource)).toEqual([
      arnOf('StreamsValid'),
    ]);
    expect(allowing(statements, 'sns:Publish').map((s) => s.Resource)).toEqual([
      { Ref: logicalIdOf(synth.kinesis, 'AWS::SNS::Topic', 'AlertsTopic') },
    ]);
    expect(JSON.stringify(allowing(statements, 'iot:Publish')[0]!.Resource)).toContain(':topic/alerts/*');
    expect(actionsOf(statements).filter((a) => a.startsWith('timestream:'))).toEqual([]);
  });

  it('write reads telemetry.valid and writes only the Timestream table', () => {
    const statements = statementsOf(synth.kinesis, ROLE_IDS.write);

    expect(allowing(statements, 'kinesis:PutRecords')).toEqual([]);
    expect(allowing(statements, 'kinesis:GetRecords').map((s) => s.Resource)).toEqual([
      arnOf('StreamsValid'),
    ]);
    expect(allowing(statements, 'timestream:WriteRecords').map((s) => s.Resource)).toEqual([
      arnOf('StoreTable', 'AWS::Timestream::Table'),
    ]);
  });

  it.each(Object.entries(ROLE_IDS))(
    '%s has no wildcard action and "*" only where IAM has no resource',
    (_name, role) => {
      const statements = statementsOf(synth.kinesis, role);

      expect(actionsOf(statements).filter((a) => a.includes('*'))).toEqual([]);
      const starActions = actionsOf(statements.filter((s) => s.Resource === '*'));
      expect(starActions.every((a) => a === 'timestream:DescribeEndpoints')).toBe(true);
    },
  );

  it('lets each role write only its own log group', () => {
    for (const [name, role] of Object.entries(ROLE_IDS)) {
      const logs = allowing(statementsOf(synth.kinesis, role), 'logs:PutLogEvents');
      expect(logs.map((s) => s.Resource)).toEqual([
        arnOf(`${name[0]!.toUpperCase()}${name.slice(1)}Logs`, 'AWS::Logs::LogGroup'),
      ]);
    }
  });

  it('attaches no managed policy to a pipeline role', () => {
    const roles = synth.kinesis.findResources('AWS::IAM::Role');
    for (const prefix of Object.values(ROLE_IDS)) {
      const [id] = Object.keys(roles).filter((logicalId) => logicalId.startsWith(prefix));
      expect(roles[id!]!.Properties.ManagedPolicyArns).toBeUndefined();
    }
  });
});

describe('Kinesis stack: ingress, streams and store', () => {
  it('routes telemetry/+ into telemetry.raw keyed by the device id, with an error action', () => {
    synth.kinesis.hasResourceProperties('AWS::IoT::TopicRule', {
      TopicRulePayload: {
        Sql: "SELECT * FROM 'telemetry/+'",
        Actions: [
          {
            Kinesis: {
              StreamName: { Ref: logicalIdOf(synth.kinesis, 'AWS::Kinesis::Stream', 'StreamsRaw') },
              // biome-ignore lint/suspicious/noTemplateCurlyInString: the IoT rule substitution template, as deployed
              PartitionKey: '${topic(2)}',
            },
          },
        ],
        ErrorAction: { CloudwatchLogs: Match.objectLike({ LogGroupName: Match.anyValue() }) },
      },
    });
  });

  it('names the streams as the code does, encrypted, the dead letters kept a week', () => {
    for (const name of ['telemetry.raw', 'telemetry.valid', 'alerts']) {
      synth.kinesis.hasResourceProperties('AWS::Kinesis::Stream', {
        Name: name,
        RetentionPeriodHours: 24,
        StreamEncryption: { EncryptionType: 'KMS' },
      });
    }
    synth.kinesis.hasResourceProperties('AWS::Kinesis::Stream', {
      Name: 'telemetry.dlq',
      RetentionPeriodHours: 168,
    });
  });

  it('creates the Timestream table with magnetic writes and a rejected-data location', () => {
    synth.kinesis.hasResourceProperties('AWS::Timestream::Table', {
      DatabaseName: 'iot_ingest',
      TableName: 'readings',
      MagneticStoreWriteProperties: {
        EnableMagneticStoreWrites: true,
        MagneticStoreRejectedDataLocation: {
          S3Configuration: Match.objectLike({ ObjectKeyPrefix: 'timestream-rejected/' }),
        },
      },
    });
  });
});

describe('Kinesis stack: alarms', () => {
  it('has the alarms the cost estimate prices', () => {
    synth.kinesis.resourceCountIs('AWS::CloudWatch::Alarm', ALARM_COUNT.kinesis);
  });

  it.each(['validate', 'detect', 'write'])('watches %s: iterator age, errors, throttles', (name) => {
    for (const [suffix, metric] of [
      ['iterator-age', 'IteratorAge'],
      ['errors', 'Errors'],
      ['throttles', 'Throttles'],
    ]) {
      synth.kinesis.hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: `iot-ingest-${name}-${suffix}`,
        MetricName: metric,
        Namespace: 'AWS/Lambda',
        AlarmActions: [{ Ref: Match.stringLikeRegexp('^MonitoringOperationsTopic') }],
      });
    }
  });

  it('watches dead letters, stream write throttling and the IoT rule', () => {
    synth.kinesis.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'iot-ingest-dead-letters',
      MetricName: 'IncomingRecords',
      Dimensions: [{ Name: 'StreamName', Value: 'telemetry.dlq' }],
    });
    synth.kinesis.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'iot-ingest-telemetry-raw-write-throttled',
    });
    synth.kinesis.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'iot-ingest-iot-rule-failures',
      Namespace: 'AWS/IoT',
    });
    synth.kinesis.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
  });
});
