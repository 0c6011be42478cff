import {
  Annotations,
  CfnOutput,
  aws_cloudwatch as cloudwatch,
  aws_iam as iam,
  aws_lambda as lambda,
  Stack,
  type StackProps,
} from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { PipelineFunction as FunctionName } from '../../functions/cost/deployment.ts';
import { STREAMS, type StreamName } from '../../functions/lib/streams/types.ts';
import type { EventSourceMapping } from '../../functions/runner/mapping.ts';
import type { DeploymentConfig } from './config.ts';
import { AlertDelivery } from './constructs/alert-delivery.ts';
import { DeadLetterBucket } from './constructs/dead-letter-bucket.ts';
import { translateMapping } from './constructs/event-source-mappings.ts';
import { addFunctionAlarms } from './constructs/function-alarms.ts';
import { IotIngress, TELEMETRY_RULE_NAME } from './constructs/iot-ingress.ts';
import { KinesisStreams } from './constructs/kinesis-streams.ts';
import { FIVE_MINUTES, Monitoring } from './constructs/monitoring.ts';
import { PipelineFunction } from './constructs/pipeline-function.ts';
import { TelemetryStore } from './constructs/telemetry-store.ts';
import { acknowledgePipelineFindings } from './nag.ts';

export interface PipelineStackProps extends StackProps {
  readonly config: DeploymentConfig;
  /** Bundle directory per function (infra/aws/bundle.ts). */
  readonly bundles: Readonly<Record<FunctionName, string>>;
  /** The runner's mappings (defaultMappings()), deployed as they are. */
  readonly mappings: readonly EventSourceMapping[];
  /** Operators' alarm e-mail. */
  readonly operationsEmail?: string | undefined;
}

/** What each function writes to. Everything else it is not allowed to reach. */
const PRODUCES: Readonly<Record<FunctionName, readonly StreamName[]>> = {
  validate: [STREAMS.valid, STREAMS.dlq],
  detect: [STREAMS.alerts],
  write: [],
};

/**
 * The pipeline on AWS, Kinesis variant: IoT Core rule -> telemetry.raw -> validate ->
 * telemetry.valid (+ telemetry.dlq) -> detect (-> alerts, SNS, MQTT) and write (-> Timestream or
 * InfluxDB), with alarms and a dashboard.
 */
export class KinesisPipelineStack extends Stack {
  readonly functions: Readonly<Record<FunctionName, PipelineFunction>>;

  constructor(scope: Construct, id: string, props: PipelineStackProps) {
    super(scope, id, {
      description: 'iot-ingest: IoT Core -> Kinesis -> Lambda -> time-series store',
      ...props,
    });
    const { config } = props;
    const streams = new KinesisStreams(this, 'Streams', { shards: config.shards });
    const deadLetters = new DeadLetterBucket(this, 'DeadLetters');
    const store = new TelemetryStore(this, 'Store', {
      config: config.store,
      rejectedDataBucket: deadLetters.bucket,
    });
    const alerts = new AlertDelivery(this, 'Alerts', { email: config.alertEmail });
    const ingress = new IotIngress(this, 'Ingress', { rawStream: streams.get(STREAMS.raw) });

    const common = { IOT_STREAM: 'kinesis', LOG_LEVEL: config.logLevel };
    const make = (name: FunctionName, environment: Record<string, string>) =>
      new PipelineFunction(this, `${name[0]!.toUpperCase()}${name.slice(1)}`, {
        name,
        bundleDir: props.bundles[name],
        environment: { ...common, ...environment },
      });
    this.functions = {
      validate: make('validate', {}),
      detect: make('detect', alerts.environment),
      write: make('write', store.environment),
    };
    for (const [name, fn] of Object.entries(this.functions) as [FunctionName, PipelineFunction][]) {
      const targets = PRODUCES[name].map((stream) => streams.get(stream).streamArn);
      if (targets.length > 0) {
        fn.role.addToPrincipalPolicy(
          new iam.PolicyStatement({ actions: ['kinesis:PutRecords'], resources: targets }),
        );
      }
    }
    alerts.grantDeliver(this.functions.detect.role);
    store.grantWrite(this.functions.write.role);

    for (const mapping of props.mappings) {
      const fn = this.functions[mapping.FunctionName as FunctionName];
      if (!fn) throw new Error(`mapping names no deployed function: ${mapping.FunctionName}`);
      const { props: cfn, adjustments } = translateMapping(mapping, {
        kind: 'kinesis',
        streamArn: (stream) => streams.get(stream).streamArn,
        onFailureArn: () => deadLetters.bucket.bucketArn,
      });
      const source = streams.get(mapping.EventSource);
      // What the mapping does as the function's role: read the source stream, and on failure put
      // the batch into the bucket (Lambda needs ListBucket too).
      fn.role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: [
            'kinesis:DescribeStream',
            'kinesis:DescribeStreamSummary',
            'kinesis:GetRecords',
            'kinesis:GetShardIterator',
            'kinesis:ListShards',
          ],
          resources: [source.streamArn],
        }),
      );
      fn.role.addToPrincipalPolicy(
        new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [deadLetters.bucket.bucketArn] }),
      );
      fn.role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: ['s3:PutObject'],
          resources: [deadLetters.bucket.arnForObjects('aws/lambda/*')],
        }),
      );
      const esm = new lambda.CfnEventSourceMapping(
        this,
        `${mapping.FunctionName}-from-${mapping.EventSource}`,
        {
          functionName: fn.function.functionName,
          ...cfn,
        },
      );
      // Lambda checks the role when it creates the mapping: the policies must exist first.
      esm.node.addDependency(fn.role);
      for (const adjustment of adjustments) Annotations.of(esm).addInfo(adjustment);
    }

    const monitoring = new Monitoring(this, 'Monitoring', { email: props.operationsEmail });
    addFunctionAlarms(
      monitoring,
      Object.entries(this.functions).map(([name, f]) => ({ name, fn: f.function })),
      { metricName: 'IteratorAge', threshold: 60_000, unit: 'ms' },
    );
    const streamMetric = (stream: StreamName, metricName: string) =>
      new cloudwatch.Metric({
        namespace: 'AWS/Kinesis',
        metricName,
        dimensionsMap: { StreamName: stream },
        statistic: 'Sum',
        period: FIVE_MINUTES,
      });
    monitoring.alarm({
      name: 'dead-letters',
      metric: streamMetric(STREAMS.dlq, 'IncomingRecords'),
      threshold: 0,
      description:
        'validate rejected records: they are in telemetry.dlq with their reason (kept 7 days). Inspect and replay them.',
    });
    for (const stream of [STREAMS.raw, STREAMS.valid]) {
      monitoring.alarm({
        name: `${stream.replace('.', '-')}-write-throttled`,
        metric: streamMetric(stream, 'WriteProvisionedThroughputExceeded'),
        threshold: 0,
        description: `${stream} refused writes for lack of shards: raise the shards context (iot-ingest cost prints what the fleet needs).`,
      });
    }
    monitoring.alarm({
      name: 'iot-rule-failures',
      metric: new cloudwatch.Metric({
        namespace: 'AWS/IoT',
        metricName: 'Failure',
        dimensionsMap: { RuleName: TELEMETRY_RULE_NAME, ActionType: 'Kinesis' },
        statistic: 'Sum',
        period: FIVE_MINUTES,
      }),
      threshold: 0,
      description: `The IoT rule could not put messages into telemetry.raw; they are in ${ingress.errorLogGroup.logGroupName} with their payload.`,
    });
    monitoring.row(
      new cloudwatch.GraphWidget({
        title: 'streams: incoming records',
        left: [STREAMS.raw, STREAMS.valid, STREAMS.dlq, STREAMS.alerts].map((s) =>
          streamMetric(s, 'IncomingRecords'),
        ),
        width: 24,
      }),
    );
    monitoring.finish();

    new CfnOutput(this, 'IotDataEndpoint', {
      value: alerts.iotDataEndpoint,
      description: 'MQTT endpoint for devices (port 8883, X.509 client certificates)',
    });
    new CfnOutput(this, 'DevicePolicyName', {
      value: ingress.devicePolicy.policyName ?? 'iot-ingest-device',
    });
    new CfnOutput(this, 'AlertsTopicArn', { value: alerts.topic.topicArn });
    new CfnOutput(this, 'OperationsTopicArn', { value: monitoring.operationsTopic.topicArn });
    new CfnOutput(this, 'DeadLetterBucketName', { value: deadLetters.bucket.bucketName });
    acknowledgePipelineFindings({
      stack: this,
      functions: Object.values(this.functions),
      deadLetters,
      store,
      alerts,
      kinesisMappings: true,
      inVpc: false,
    });
  }
}
