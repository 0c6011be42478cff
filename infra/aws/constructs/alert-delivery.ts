import {
  custom_resources as cr,
  aws_iam as iam,
  aws_kms as kms,
  Stack,
  aws_sns as sns,
  aws_sns_subscriptions as subscriptions,
} from 'aws-cdk-lib';
import { Construct } from 'constructs';

export const ALERT_TOPIC_PREFIX = 'alerts';

/**
 * Where detect delivers alerts besides the alerts stream: an SNS topic (e-mail, SMS, HTTPS
 * subscribers) and MQTT `alerts/{deviceId}` through AWS IoT Core's data plane.
 *
 * The IoT data endpoint is per account and has no CloudFormation attribute, so a custom resource
 * asks IoT for it (DescribeEndpoint, iot:Data-ATS) at deploy time; synth needs no AWS access.
 */
export class AlertDelivery extends Construct {
  readonly topic: sns.Topic;
  readonly iotDataEndpoint: string;
  readonly environment: Record<string, string>;

  constructor(scope: Construct, id: string, props: { email?: string | undefined }) {
    super(scope, id);
    this.topic = new sns.Topic(this, 'Topic', {
      topicName: 'iot-ingest-alerts',
      displayName: 'iot-ingest alerts',
      masterKey: kms.Alias.fromAliasName(this, 'SnsKey', 'alias/aws/sns'),
      enforceSSL: true,
    });
    if (props.email) this.topic.addSubscription(new subscriptions.EmailSubscription(props.email));
    const endpoint = new cr.AwsCustomResource(this, 'IotDataEndpoint', {
      onUpdate: {
        service: 'Iot',
        action: 'describeEndpoint',
        parameters: { endpointType: 'iot:Data-ATS' },
        physicalResourceId: cr.PhysicalResourceId.of('iot-data-ats-endpoint'),
      },
      // DescribeEndpoint has no resource-level permission.
      policy: cr.AwsCustomResourcePolicy.fromStatements([
        new iam.PolicyStatement({ actions: ['iot:DescribeEndpoint'], resources: ['*'] }),
      ]),
      installLatestAwsSdk: false,
    });
    this.iotDataEndpoint = endpoint.getResponseField('endpointAddress');
    this.environment = {
      ALERTS_SNS_TOPIC_ARN: this.topic.topicArn,
      ALERTS_MQTT_ENDPOINT: this.iotDataEndpoint,
      ALERTS_MQTT_TOPIC_PREFIX: ALERT_TOPIC_PREFIX,
    };
  }

  grantDeliver(role: iam.IRole): void {
    const stack = Stack.of(this);
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['sns:Publish'], resources: [this.topic.topicArn] }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['iot:Publish'],
        resources: [
          `arn:${stack.partition}:iot:${stack.region}:${stack.account}:topic/${ALERT_TOPIC_PREFIX}/*`,
        ],
      }),
    );
  }
}
