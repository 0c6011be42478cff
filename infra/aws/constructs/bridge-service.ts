import {
  aws_ec2 as ec2,
  aws_ecr_assets as ecrAssets,
  aws_ecs as ecs,
  aws_iot as iot,
  aws_logs as logs,
  RemovalPolicy,
  Stack,
  type aws_secretsmanager as secretsmanager,
} from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { BRIDGE_SIZING } from '../../../functions/cost/deployment.ts';
import { REPO_ROOT } from '../bundle.ts';

export const BRIDGE_CLIENT_ID_PREFIX = 'iot-ingest-bridge';
/** MQTT 5 shared subscription: the tasks split the devices' messages between them. */
export const BRIDGE_SUBSCRIPTION = '$share/iot-ingest/telemetry/+';

export interface BridgeServiceProps {
  readonly vpc: ec2.IVpc;
  readonly securityGroup: ec2.ISecurityGroup;
  /** `host:port,...` of the Kafka brokers (SASL/SCRAM over TLS). */
  readonly kafkaBrokers: string;
  readonly kafkaUsername: string;
  /** A secret whose `password` field is the SCRAM password. */
  readonly kafkaSecret: secretsmanager.ISecret;
  readonly mqttEndpoint: string;
  /** A secret `{"cert": PEM, "key": PEM}`: the bridge's IoT client certificate. */
  readonly certificateSecret?: secretsmanager.ISecret | undefined;
  /** A registry image instead of building infra/aws/bridge/Dockerfile. */
  readonly image?: string | undefined;
}

/**
 * The bridge as an ECS Fargate service (Arm): subscribes to AWS IoT Core with a shared
 * subscription and produces to Kafka, acknowledging a QoS 1 message only once Kafka has it.
 * The image is built from infra/aws/bridge/Dockerfile at deploy time (cdk deploy needs Docker);
 * synth only stages the build context. `-c bridgeImage=...` uses a prebuilt image instead.
 */
export class BridgeService extends Construct {
  readonly service: ecs.FargateService;
  readonly cluster: ecs.Cluster;
  readonly devicePolicy: iot.CfnPolicy;

  constructor(scope: Construct, id: string, props: BridgeServiceProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.cluster = new ecs.Cluster(this, 'Cluster', {
      vpc: props.vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });
    const task = new ecs.FargateTaskDefinition(this, 'Task', {
      cpu: BRIDGE_SIZING.vcpu * 1024,
      memoryLimitMiB: BRIDGE_SIZING.memoryGb * 1024,
      runtimePlatform: {
        cpuArchitecture: ecs.CpuArchitecture.ARM64,
        operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
      },
    });
    const logGroup = new logs.LogGroup(this, 'Logs', {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const image = props.image
      ? ecs.ContainerImage.fromRegistry(props.image)
      : ecs.ContainerImage.fromAsset(REPO_ROOT, {
          file: 'infra/aws/bridge/Dockerfile',
          platform: ecrAssets.Platform.LINUX_ARM64,
          // Only what the image copies: the fingerprint and the staged context stay small.
          exclude: [
            '**',
            '!package.json',
            '!package-lock.json',
            '!tsconfig.json',
            '!bin/**',
            '!functions/**',
            '!schemas/**',
            '!infra/aws/bridge/**',
            '!infra/patches/**',
          ],
        });
    const secrets: Record<string, ecs.Secret> = {
      KAFKA_SASL_PASSWORD: ecs.Secret.fromSecretsManager(props.kafkaSecret, 'password'),
    };
    if (props.certificateSecret) {
      secrets.MQTT_TLS_CERT = ecs.Secret.fromSecretsManager(props.certificateSecret, 'cert');
      secrets.MQTT_TLS_KEY = ecs.Secret.fromSecretsManager(props.certificateSecret, 'key');
    }
    task.addContainer('bridge', {
      image,
      command: ['bridge'],
      logging: ecs.LogDrivers.awsLogs({ logGroup, streamPrefix: 'bridge' }),
      environment: {
        IOT_STREAM: 'kafka',
        KAFKA_BROKERS: props.kafkaBrokers,
        KAFKA_SSL: 'true',
        KAFKA_SASL_MECHANISM: 'scram-sha-512',
        KAFKA_SASL_USERNAME: props.kafkaUsername,
        MQTT_URL: `mqtts://${props.mqttEndpoint}:8883`,
        MQTT_CLIENT_ID_PREFIX: BRIDGE_CLIENT_ID_PREFIX,
        MQTT_TOPICS: BRIDGE_SUBSCRIPTION,
      },
      secrets,
    });
    this.service = new ecs.FargateService(this, 'Service', {
      cluster: this.cluster,
      taskDefinition: task,
      desiredCount: BRIDGE_SIZING.tasks,
      securityGroups: [props.securityGroup],
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      circuitBreaker: { rollback: true },
      // Never fewer than one bridge while a deployment replaces tasks.
      minHealthyPercent: 50,
    });
    // The policy to attach to the bridge's IoT certificate: connect as a bridge, read telemetry.
    const arn = (resource: string) =>
      `arn:${stack.partition}:iot:${stack.region}:${stack.account}:${resource}`;
    this.devicePolicy = new iot.CfnPolicy(this, 'BridgePolicy', {
      policyName: 'iot-ingest-bridge',
      policyDocument: {
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow', Action: 'iot:Connect', Resource: arn(`client/${BRIDGE_CLIENT_ID_PREFIX}-*`) },
          {
            Effect: 'Allow',
            Action: 'iot:Subscribe',
            Resource: arn('topicfilter/$share/iot-ingest/telemetry/+'),
          },
          { Effect: 'Allow', Action: 'iot:Receive', Resource: arn('topic/telemetry/*') },
        ],
      },
    });
  }
}
