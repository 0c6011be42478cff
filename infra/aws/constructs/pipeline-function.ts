import {
  Duration,
  aws_ec2 as ec2,
  aws_iam as iam,
  aws_lambda as lambda,
  aws_logs as logs,
  RemovalPolicy,
} from 'aws-cdk-lib';
import { Construct } from 'constructs';
import {
  FUNCTION_SIZING,
  type PipelineFunction as FunctionName,
} from '../../../functions/cost/deployment.ts';

export interface PipelineFunctionProps {
  readonly name: FunctionName;
  /** The esbuild bundle directory (infra/aws/bundle.ts). */
  readonly bundleDir: string;
  readonly environment: Record<string, string>;
  readonly vpc?: ec2.IVpc | undefined;
  readonly securityGroups?: ec2.ISecurityGroup[] | undefined;
}

/**
 * One batch function: Node.js 22 on Arm, its own log group and its own role. The role starts empty
 * (no managed policy): it can write its own logs and nothing else until the stack grants it
 * exactly the streams, store and topics this function uses.
 */
export class PipelineFunction extends Construct {
  readonly function: lambda.Function;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: PipelineFunctionProps) {
    super(scope, id);
    const sizing = FUNCTION_SIZING[props.name];
    const functionName = `iot-ingest-${props.name}`;
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      logGroupName: `/aws/lambda/${functionName}`,
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `${functionName}: its own logs, streams and store only`,
    });
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [this.logGroup.logGroupArn],
      }),
    );
    if (props.vpc) {
      // What AWSLambdaVPCAccessExecutionRole grants, inline: Lambda creates and removes its ENIs.
      // EC2 does not scope these actions to resources (Resource must be "*").
      this.role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: [
            'ec2:CreateNetworkInterface',
            'ec2:DescribeNetworkInterfaces',
            'ec2:DeleteNetworkInterface',
            'ec2:AssignPrivateIpAddresses',
            'ec2:UnassignPrivateIpAddresses',
          ],
          resources: ['*'],
        }),
      );
    }
    this.function = new lambda.Function(this, 'Function', {
      functionName,
      description: `iot-ingest ${props.name} (functions/${props.name}/handler.ts)`,
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      code: lambda.Code.fromAsset(props.bundleDir),
      handler: 'index.handler',
      memorySize: sizing.memoryMb,
      timeout: Duration.seconds(sizing.timeoutSeconds),
      role: this.role,
      logGroup: this.logGroup,
      environment: props.environment,
      ...(props.vpc
        ? {
            vpc: props.vpc,
            vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
            securityGroups: props.securityGroups,
          }
        : {}),
    });
  }
}
