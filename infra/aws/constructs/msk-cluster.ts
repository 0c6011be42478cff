import {
  custom_resources as cr,
  aws_ec2 as ec2,
  aws_iam as iam,
  aws_kms as kms,
  aws_logs as logs,
  aws_msk as msk,
  RemovalPolicy,
  aws_secretsmanager as secretsmanager,
} from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { MSK_SIZING } from '../../../functions/cost/deployment.ts';

/** SASL/SCRAM over TLS: https://docs.aws.amazon.com/msk/latest/developerguide/port-info.html */
export const MSK_SCRAM_PORT = 9096;
export const MSK_SCRAM_USERNAME = 'iot-ingest';

/**
 * An MSK provisioned cluster the pipeline's clients (bridge, functions, Lambda's pollers) reach with
 * SASL/SCRAM-SHA-512 over TLS. The SCRAM secret must be named AmazonMSK_* and encrypted with a
 * customer managed key (MSK's rule). Topics are created on first use, with as many partitions as
 * the Kinesis variant has shards, replicated to every broker.
 */
export class MskCluster extends Construct {
  readonly cluster: msk.CfnCluster;
  readonly securityGroup: ec2.SecurityGroup;
  readonly secret: secretsmanager.Secret;
  readonly key: kms.Key;
  readonly bootstrapBrokers: string;
  readonly logGroup: logs.LogGroup;

  constructor(
    scope: Construct,
    id: string,
    props: { vpc: ec2.IVpc; clients: ec2.ISecurityGroup; partitions: number },
  ) {
    super(scope, id);
    this.securityGroup = new ec2.SecurityGroup(this, 'BrokerSecurityGroup', {
      vpc: props.vpc,
      description: 'iot-ingest MSK brokers: SASL/SCRAM TLS from the pipeline clients and Lambda pollers',
      allowAllOutbound: false,
    });
    this.securityGroup.addIngressRule(props.clients, ec2.Port.tcp(MSK_SCRAM_PORT), 'bridge and functions');
    // Lambda's Kafka pollers run with the cluster's own security group.
    this.securityGroup.addIngressRule(
      this.securityGroup,
      ec2.Port.tcp(MSK_SCRAM_PORT),
      'Lambda event pollers',
    );
    this.securityGroup.addEgressRule(
      this.securityGroup,
      ec2.Port.tcp(MSK_SCRAM_PORT),
      'Lambda event pollers',
    );

    this.key = new kms.Key(this, 'ScramKey', {
      description: 'iot-ingest MSK SCRAM secret',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.secret = new secretsmanager.Secret(this, 'ScramSecret', {
      secretName: 'AmazonMSK_iot-ingest',
      encryptionKey: this.key,
      generateSecretString: {
        secretStringTemplate: JSON.stringify({ username: MSK_SCRAM_USERNAME }),
        generateStringKey: 'password',
        excludePunctuation: true,
        passwordLength: 32,
      },
    });
    this.logGroup = new logs.LogGroup(this, 'BrokerLogs', {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const brokers = MSK_SIZING.brokers;
    const configuration = new msk.CfnConfiguration(this, 'Configuration', {
      name: 'iot-ingest',
      serverProperties: [
        'auto.create.topics.enable=true',
        `num.partitions=${props.partitions}`,
        `default.replication.factor=${brokers}`,
        // acks=all waits for every in-sync replica; with two brokers one may be down for patching.
        'min.insync.replicas=1',
        'unclean.leader.election.enable=false',
      ].join('\n'),
    });
    const subnets = props.vpc.selectSubnets({ subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS });
    this.cluster = new msk.CfnCluster(this, 'Cluster', {
      clusterName: 'iot-ingest',
      kafkaVersion: '3.6.0',
      numberOfBrokerNodes: brokers,
      brokerNodeGroupInfo: {
        instanceType: MSK_SIZING.brokerType,
        clientSubnets: subnets.subnetIds.slice(0, brokers),
        securityGroups: [this.securityGroup.securityGroupId],
        storageInfo: { ebsStorageInfo: { volumeSize: MSK_SIZING.storageGbPerBroker } },
      },
      clientAuthentication: { sasl: { scram: { enabled: true } } },
      encryptionInfo: { encryptionInTransit: { clientBroker: 'TLS', inCluster: true } },
      loggingInfo: {
        brokerLogs: { cloudWatchLogs: { enabled: true, logGroup: this.logGroup.logGroupName } },
      },
      // Per-topic metrics, so the dead-letter topic can be alarmed on.
      enhancedMonitoring: 'PER_TOPIC_PER_BROKER',
      configurationInfo: { arn: configuration.attrArn, revision: 1 },
    });
    new msk.CfnBatchScramSecret(this, 'ScramAssociation', {
      clusterArn: this.cluster.attrArn,
      secretArnList: [this.secret.secretArn],
    });
    // The SCRAM bootstrap string is not a CloudFormation attribute: ask MSK at deploy time.
    const brokersLookup = new cr.AwsCustomResource(this, 'BootstrapBrokers', {
      onUpdate: {
        service: 'Kafka',
        action: 'getBootstrapBrokers',
        parameters: { ClusterArn: this.cluster.attrArn },
        physicalResourceId: cr.PhysicalResourceId.of('iot-ingest-msk-bootstrap'),
      },
      policy: cr.AwsCustomResourcePolicy.fromStatements([
        new iam.PolicyStatement({
          actions: ['kafka:GetBootstrapBrokers'],
          resources: [this.cluster.attrArn],
        }),
      ]),
      installLatestAwsSdk: false,
    });
    this.bootstrapBrokers = brokersLookup.getResponseField('BootstrapBrokerStringSaslScram');
  }

  /** What a Lambda execution role needs for an MSK mapping with SCRAM (and its Kafka on-failure topic). */
  grantMapping(role: iam.IRole): void {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['kafka:DescribeCluster', 'kafka:DescribeClusterV2', 'kafka:GetBootstrapBrokers'],
        resources: [this.cluster.attrArn],
      }),
    );
    this.grantCredentials(role);
  }

  grantCredentials(grantee: iam.IGrantable): void {
    this.secret.grantRead(grantee);
  }
}
