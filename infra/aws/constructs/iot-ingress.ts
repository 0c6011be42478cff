import {
  aws_iam as iam,
  aws_iot as iot,
  type aws_kinesis as kinesis,
  aws_logs as logs,
  RemovalPolicy,
  Stack,
} from 'aws-cdk-lib';
import { Construct } from 'constructs';

export const TELEMETRY_RULE_NAME = 'iot_ingest_telemetry';

/**
 * AWS IoT Core in front of telemetry.raw: a topic rule that puts every `telemetry/{deviceId}`
 * message into the raw stream, keyed by the device id from the topic (per-device order), and a
 * device policy that lets a thing publish only as itself.
 *
 * `SELECT *` passes a binary (Avro) payload through untouched; the Kinesis record then carries the
 * device's bytes with no envelope, which functions/lib/events/source-records.ts expects from an IoT
 * rule. A put the rule cannot make goes to the error action: a log group that keeps the original
 * payload (base64) with the failure, for replay.
 * https://docs.aws.amazon.com/iot/latest/developerguide/kinesis-rule-action.html
 * https://docs.aws.amazon.com/iot/latest/developerguide/rule-error-handling.html
 */
export class IotIngress extends Construct {
  readonly rule: iot.CfnTopicRule;
  readonly errorLogGroup: logs.LogGroup;
  readonly devicePolicy: iot.CfnPolicy;

  constructor(scope: Construct, id: string, props: { rawStream: kinesis.IStream }) {
    super(scope, id);
    const stack = Stack.of(this);
    this.errorLogGroup = new logs.LogGroup(this, 'RuleErrors', {
      logGroupName: '/iot-ingest/iot-rule-errors',
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const role = new iam.Role(this, 'RuleRole', {
      assumedBy: new iam.ServicePrincipal('iot.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
      description: 'iot-ingest topic rule: put into telemetry.raw, log its own errors',
    });
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['kinesis:PutRecord'], resources: [props.rawStream.streamArn] }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'],
        resources: [this.errorLogGroup.logGroupArn],
      }),
    );
    this.rule = new iot.CfnTopicRule(this, 'TelemetryRule', {
      ruleName: TELEMETRY_RULE_NAME,
      topicRulePayload: {
        description: 'telemetry/{deviceId} -> Kinesis telemetry.raw, partition key = deviceId',
        sql: "SELECT * FROM 'telemetry/+'",
        awsIotSqlVersion: '2016-03-23',
        ruleDisabled: false,
        actions: [
          {
            kinesis: {
              streamName: props.rawStream.streamName,
              // biome-ignore lint/suspicious/noTemplateCurlyInString: an IoT rule substitution template, filled in by IoT Core
              partitionKey: '${topic(2)}',
              roleArn: role.roleArn,
            },
          },
        ],
        errorAction: {
          cloudwatchLogs: {
            logGroupName: this.errorLogGroup.logGroupName,
            roleArn: role.roleArn,
            batchMode: false,
          },
        },
      },
    });
    // A device connects as its thing name, publishes its own telemetry, reads its own alerts.
    const arn = (resource: string) =>
      `arn:${stack.partition}:iot:${stack.region}:${stack.account}:${resource}`;
    // biome-ignore lint/suspicious/noTemplateCurlyInString: an IoT policy variable, filled in by IoT Core
    const thing = '${iot:Connection.Thing.ThingName}';
    this.devicePolicy = new iot.CfnPolicy(this, 'DevicePolicy', {
      policyName: 'iot-ingest-device',
      policyDocument: {
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow', Action: 'iot:Connect', Resource: arn(`client/${thing}`) },
          { Effect: 'Allow', Action: 'iot:Publish', Resource: arn(`topic/telemetry/${thing}`) },
          { Effect: 'Allow', Action: 'iot:Subscribe', Resource: arn(`topicfilter/alerts/${thing}`) },
          { Effect: 'Allow', Action: 'iot:Receive', Resource: arn(`topic/alerts/${thing}`) },
        ],
      },
    });
  }
}
