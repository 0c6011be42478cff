import {
  Annotations,
  CfnOutput,
  aws_cloudwatch as cloudwatch,
  aws_ec2 as ec2,
  aws_iam as iam,
  aws_lambda as lambda,
  aws_logs as logs,
  Stack,
  aws_secretsmanager as secretsmanager,
} from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import {
  BRIDGE_SIZING,
  type PipelineFunction as FunctionName,
  MSK_SIZING,
} from '../../functions/cost/deployment.ts';
import { STREAMS } from '../../functions/lib/streams/types.ts';
import { AlertDelivery } from './constructs/alert-delivery.ts';
import { BridgeService } from './constructs/bridge-service.ts';
import { DeadLetterBucket } from './constructs/dead-letter-bucket.ts';
import { type MappingSource, translateMapping } from './constructs/event-source-mappings.ts';
import { addFunctionAlarms } from './constructs/function-alarms.ts';
import { FIVE_MINUTES, Monitoring } from './constructs/monitoring.ts';
import { MSK_SCRAM_USERNAME, MskCluster } from './constructs/msk-cluster.ts';
import { PipelineFunction } from './constructs/pipeline-function.ts';
import { TelemetryStore } from './constructs/telemetry-store.ts';
import type { PipelineStackProps } from './kinesis-stack.ts';
import { acknowledgePipelineFindings } from './nag.ts';

/**
 * The pipeline on AWS, Kafka variant: devices -> AWS IoT Core -> the bridge (ECS Fargate) -> Kafka
 * (an MSK cluster this stack creates, or self-managed brokers given by context) -> validate,
 * detect and write behind Kafka event source mappings, in a VPC with the brokers.
 */
export class KafkaPipelineStack extends Stack {
  readonly functions: Readonly<Record<FunctionName, PipelineFunction>>;
  readonly msk?: MskCluster;

  constructor(scope: Construct, id: string, props: PipelineStackProps) {
    super(scope, id, {
      description: 'iot-ingest: IoT Core -> bridge (Fargate) -> Kafka -> Lambda -> time-series store',
      ...props,
    });
    const { config } = props;
    const flowLogs = new logs.LogGroup(this, 'VpcFlowLogs', { retention: logs.RetentionDays.ONE_MONTH });
    const vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: MSK_SIZING.brokers,
      natGateways: 1,
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 22 },
      ],
      flowLogs: { all: { destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogs) } },
    });
    const clients = new ec2.SecurityGroup(this, 'ClientSecurityGroup', {
      vpc,
      description: 'iot-ingest bridge and functions: out to Kafka and AWS APIs',
      allowAllOutbound: true,
    });

    let kafkaBrokers: string;
    let kafkaUsername: string;
    let kafkaSecret: secretsmanager.ISecret;
    let source: MappingSource;
    let grantMapping: (role: iam.IRole) => void;
    if (config.kafka.kind === 'msk') {
      const cluster = new MskCluster(this, 'Kafka', { vpc, clients, partitions: config.shards });
      this.msk = cluster;
      kafkaBrokers = cluster.bootstrapBrokers;
      kafkaUsername = MSK_SCRAM_USERNAME;
      kafkaSecret = cluster.secret;
      source = {
        kind: 'msk',
        clusterArn: cluster.cluster.attrArn,
        scramSecretArn: cluster.secret.secretArn,
        minimumPollers: MSK_SIZING.minimumPollers,
      };
      grantMapping = (role) => cluster.grantMapping(role);
    } else {
      kafkaSecret = secretsmanager.Secret.fromSecretCompleteArn(
        this,
        'KafkaCredentials',
        config.kafka.credentialsSecretArn,
      );
      kafkaBrokers = config.kafka.bootstrapServers.join(',');
      kafkaUsername = kafkaSecret.secretValueFromJson('username').unsafeUnwrap();
      source = {
        kind: 'self-managed',
        bootstrapServers: config.kafka.bootstrapServers,
        scramSecretArn: config.kafka.credentialsSecretArn,
        subnetIds: vpc.selectSubnets({ subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }).subnetIds,
        securityGroupId: clients.securityGroupId,
        minimumPollers: MSK_SIZING.minimumPollers,
      };
      grantMapping = (role) => kafkaSecret.grantRead(role);
    }

    const deadLetters = new DeadLetterBucket(this, 'DeadLetters');
    const store = new TelemetryStore(this, 'Store', {
      config: config.store,
      rejectedDataBucket: deadLetters.bucket,
    });
    const alerts = new AlertDelivery(this, 'Alerts', { email: config.alertEmail });
    const common = {
      IOT_STREAM: 'kafka',
      KAFKA_BROKERS: kafkaBrokers,
      KAFKA_SSL: 'true',
      KAFKA_SASL_MECHANISM: 'scram-sha-512',
      KAFKA_SASL_USERNAME: kafkaUsername,
      // Resolved by CloudFormation at deploy time. config.ts reads the password only from the
      // environment; see the deployment notes for the change that lets functions fetch it instead.
      KAFKA_SASL_PASSWORD: kafkaSecret.secretValueFromJson('password').unsafeUnwrap(),
      LOG_LEVEL: config.logLevel,
    };
    const make = (name: FunctionName, environment: Record<string, string>) =>
      new PipelineFunction(this, `${name[0]!.toUpperCase()}${name.slice(1)}`, {
        name,
        bundleDir: props.bundles[name],
        environment: { ...common, ...environment },
        vpc,
        securityGroups: [clients],
      });
    this.functions = {
      validate: make('validate', {}),
      detect: make('detect', alerts.environment),
      write: make('write', store.environment),
    };
    alerts.grantDeliver(this.functions.detect.role);
    store.grantWrite(this.functions.write.role);

    for (const mapping of props.mappings) {
      const fn = this.functions[mapping.FunctionName as FunctionName];
      if (!fn) throw new Error(`mapping names no deployed function: ${mapping.FunctionName}`);
      const { props: cfn, adjustments } = translateMapping(mapping, source);
      grantMapping(fn.role);
      fn.role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          // Lambda's pollers find the subnets and security groups they run in. No resource-level scope exists.
          actions: ['ec2:DescribeVpcs', 'ec2:DescribeSubnets', 'ec2:DescribeSecurityGroups'],
          resources: ['*'],
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
      esm.node.addDependency(fn.role);
      if (this.msk) esm.node.addDependency(this.msk);
      for (const adjustment of adjustments) Annotations.of(esm).addInfo(adjustment);
    }

    const bridge = new BridgeService(this, 'Bridge', {
      vpc,
      securityGroup: clients,
      kafkaBrokers,
      kafkaUsername,
      kafkaSecret,
      mqttEndpoint: alerts.iotDataEndpoint,
      certificateSecret: config.bridgeCertificateSecretArn
        ? secretsmanager.Secret.fromSecretCompleteArn(
            this,
            'BridgeCertificate',
            config.bridgeCertificateSecretArn,
          )
        : undefined,
      image: config.bridgeImage,
    });

    const monitoring = new Monitoring(this, 'Monitoring', { email: props.operationsEmail });
    addFunctionAlarms(
      monitoring,
      Object.entries(this.functions).map(([name, f]) => ({ name, fn: f.function })),
      { metricName: 'OffsetLag', threshold: 10_000, unit: 'records' },
    );
    monitoring.alarm({
      name: 'bridge-tasks',
      metric: new cloudwatch.Metric({
        namespace: 'ECS/ContainerInsights',
        metricName: 'RunningTaskCount',
        dimensionsMap: { ClusterName: bridge.cluster.clusterName, ServiceName: bridge.service.serviceName },
        statistic: 'Minimum',
        period: FIVE_MINUTES,
      }),
      threshold: BRIDGE_SIZING.tasks,
      comparison: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      description:
        'Fewer bridge tasks than wanted: devices messages queue in IoT Core sessions. See the bridge log group.',
    });
    if (this.msk) {
      const brokerIds = Array.from({ length: MSK_SIZING.brokers }, (_, i) => String(i + 1));
      const perBroker = (metricName: string, broker: string, extra: Record<string, string> = {}) =>
        new cloudwatch.Metric({
          namespace: 'AWS/Kafka',
          metricName,
          dimensionsMap: { 'Cluster Name': 'iot-ingest', 'Broker ID': broker, ...extra },
          statistic: 'Maximum',
          period: FIVE_MINUTES,
        });
      monitoring.alarm({
        name: 'dead-letters',
        metric: new cloudwatch.MathExpression({
          expression: brokerIds.map((_, i) => `b${i}`).join(' + '),
          usingMetrics: Object.fromEntries(
            brokerIds.map((id, i) => [`b${i}`, perBroker('MessagesInPerSec', id, { Topic: STREAMS.dlq })]),
          ),
          label: `${STREAMS.dlq} messages/s`,
          period: FIVE_MINUTES,
        }),
        threshold: 0,
        description:
          'Records went to telemetry.dlq (rejected by validate, or batches that failed their retries). Inspect and replay.',
      });
      for (const id of brokerIds) {
        monitoring.alarm({
          name: `broker-${id}-disk`,
          metric: perBroker('KafkaDataLogsDiskUsed', id),
          threshold: 80,
          description: `MSK broker ${id} data disk above 80%: raise storage or shorten retention.`,
        });
      }
    }
    monitoring.finish();

    new CfnOutput(this, 'IotDataEndpoint', { value: alerts.iotDataEndpoint });
    new CfnOutput(this, 'KafkaBootstrapBrokers', { value: kafkaBrokers });
    new CfnOutput(this, 'BridgePolicyName', { value: bridge.devicePolicy.policyName ?? 'iot-ingest-bridge' });
    new CfnOutput(this, 'OperationsTopicArn', { value: monitoring.operationsTopic.topicArn });
    acknowledgePipelineFindings({
      stack: this,
      functions: Object.values(this.functions),
      deadLetters,
      store,
      alerts,
      kinesisMappings: false,
      inVpc: true,
      msk: this.msk,
      bridge,
    });
  }
}
