/**
 * cdk-nag (AwsSolutions) findings this deployment acknowledges, each on the construct it concerns
 * and with the reason it is right there. Any other finding fails `npm run synth` and the tests.
 */
import { type CfnElement, type Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import type { AlertDelivery } from './constructs/alert-delivery.ts';
import type { BridgeService } from './constructs/bridge-service.ts';
import type { DeadLetterBucket } from './constructs/dead-letter-bucket.ts';
import type { MskCluster } from './constructs/msk-cluster.ts';
import type { PipelineFunction } from './constructs/pipeline-function.ts';
import type { TelemetryStore } from './constructs/telemetry-store.ts';

export interface Acknowledgement {
  readonly id: string;
  readonly reason: string;
}

function acknowledge(scope: IConstruct, findings: readonly Acknowledgement[]): void {
  for (const finding of findings) Validations.of(scope).acknowledge(finding);
}

export interface PipelineConstructs {
  readonly stack: Stack;
  readonly functions: readonly PipelineFunction[];
  readonly deadLetters: DeadLetterBucket;
  readonly store: TelemetryStore;
  readonly alerts: AlertDelivery;
  readonly kinesisMappings: boolean;
  readonly inVpc: boolean;
  readonly msk?: MskCluster | undefined;
  readonly bridge?: BridgeService | undefined;
}

export function acknowledgePipelineFindings(c: PipelineConstructs): void {
  const bucketId = c.stack.getLogicalId(c.deadLetters.bucket.node.defaultChild as CfnElement);
  acknowledge(c.deadLetters.bucket, [
    {
      id: 'AwsSolutions-S1',
      reason:
        "Holds only failed batches and Timestream rejection reports, written by this stack's roles; reads go through IAM " +
        'and CloudTrail. An access-log bucket would log rare writes into yet another bucket.',
    },
  ]);
  for (const fn of c.functions) {
    acknowledge(fn.function, [
      {
        id: 'AwsSolutions-L1',
        reason:
          'Node.js 22 on purpose: the runtime the bundles are built for (target node22) and measured on; upgrade with the project.',
      },
    ]);
    const findings: Acknowledgement[] = [];
    if (c.kinesisMappings) {
      findings.push({
        id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/aws/lambda/*]`,
        reason:
          'Lambda names on-failure objects itself (aws/lambda/<mapping>/<shard>/<date>/...): PutObject under that prefix only.',
      });
    }
    if (c.inVpc) {
      findings.push({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'A function in a VPC and its Kafka pollers manage ENIs and describe subnets and security groups: EC2 has no ' +
          'resource-level permissions for these actions (what AWSLambdaVPCAccessExecutionRole grants, inline).',
      });
    }
    acknowledge(fn.role, findings);
  }
  const detect = c.functions.find((f) => f.function.node.path.includes('/Detect/'));
  if (detect) {
    acknowledge(detect.role, [
      {
        id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>:topic/alerts/*]',
        reason:
          'Alerts go to one MQTT topic per device, alerts/{deviceId}: iot:Publish limited to the alerts/ prefix.',
      },
    ]);
  }
  const write = c.functions.find((f) => f.function.node.path.includes('/Write/'));
  if (write && c.store.table) {
    acknowledge(write.role, [
      {
        id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/timestream-rejected/*]`,
        reason:
          "Timestream writes rejected-record reports under this prefix with the writer's credentials; report names are its own.",
      },
      ...(c.inVpc
        ? []
        : [
            {
              id: 'AwsSolutions-IAM5[Resource::*]',
              reason:
                'timestream:DescribeEndpoints (endpoint discovery before WriteRecords) has no resource-level permission.',
            },
          ]),
    ]);
    acknowledge(c.store.table, [
      {
        id: 'CloudFormation-Validate::W3697',
        reason:
          'Timestream for LiveAnalytics takes no new customers since 2025-06-20; accounts that have it keep it. Others deploy ' +
          'with -c store=influxdb (README, Deploy to AWS).',
      },
    ]);
  }
  const database = c.store.node.tryFindChild('Database');
  if (database) {
    acknowledge(database, [
      {
        id: 'AwsSolutions-TS3',
        reason:
          'Encrypted at rest with the AWS-owned key; telemetry readings need no customer managed key here.',
      },
      {
        id: 'CloudFormation-Validate::W3697',
        reason: 'See the table: -c store=influxdb where Timestream is not available.',
      },
    ]);
  }
  // CDK's provider function for AwsCustomResource (one per stack; reads the IoT endpoint, MSK brokers).
  const provider = c.stack.node.tryFindChild('AWS679f53fac002430cb0da5b7982bd2287');
  if (provider) {
    acknowledge(provider, [
      {
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        reason:
          "CDK's own AwsCustomResource provider; it runs only during deployments and needs nothing but its logs.",
      },
    ]);
  }
  acknowledge(c.alerts, [
    {
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'iot:DescribeEndpoint has no resource-level permission.',
    },
  ]);
  if (c.msk) {
    acknowledge(c.msk.secret, [
      {
        id: 'AwsSolutions-SMG4',
        reason:
          'MSK SCRAM secrets have no managed rotation; a rotation needs the bridge and mappings restarted together. ' +
          'Rotate by hand (README) until a rotation function exists.',
      },
    ]);
  }
  if (c.bridge) {
    acknowledge(c.bridge.service.taskDefinition, [
      {
        id: 'AwsSolutions-ECS2',
        reason:
          'Only non-secret settings (brokers, endpoint, mechanism) are plain variables; passwords and keys come from Secrets Manager.',
      },
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'ecr:GetAuthorizationToken, added by CDK to pull the image, has no resource scope.',
      },
    ]);
  }
}
