import {
  aws_cloudwatch_actions as actions,
  aws_cloudwatch as cloudwatch,
  Duration,
  aws_kms as kms,
  aws_sns as sns,
  aws_sns_subscriptions as subscriptions,
} from 'aws-cdk-lib';
import { Construct } from 'constructs';

export interface AlarmSpec {
  /** Short name; the alarm is `iot-ingest-<name>`. */
  readonly name: string;
  readonly metric: cloudwatch.IMetric;
  readonly threshold: number;
  readonly description: string;
  /** Default: greater than the threshold. */
  readonly comparison?: cloudwatch.ComparisonOperator;
  /** Consecutive periods the condition must hold. Default 1. */
  readonly periods?: number;
}

/**
 * The operators' view: alarms that notify an operations topic (not the device alerts topic), and
 * one dashboard. Missing data is "not breaching": a quiet pipeline is not an incident, except where
 * a spec says otherwise by its metric.
 */
export class Monitoring extends Construct {
  readonly operationsTopic: sns.Topic;
  readonly dashboard: cloudwatch.Dashboard;
  readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: { email?: string | undefined }) {
    super(scope, id);
    this.operationsTopic = new sns.Topic(this, 'OperationsTopic', {
      topicName: 'iot-ingest-operations',
      displayName: 'iot-ingest operations alarms',
      masterKey: kms.Alias.fromAliasName(this, 'SnsKey', 'alias/aws/sns'),
      enforceSSL: true,
    });
    if (props.email) this.operationsTopic.addSubscription(new subscriptions.EmailSubscription(props.email));
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: 'iot-ingest',
      defaultInterval: Duration.hours(3),
    });
  }

  alarm(spec: AlarmSpec): cloudwatch.Alarm {
    const alarm = new cloudwatch.Alarm(this, `Alarm-${spec.name}`, {
      alarmName: `iot-ingest-${spec.name}`,
      alarmDescription: spec.description,
      metric: spec.metric,
      threshold: spec.threshold,
      comparisonOperator: spec.comparison ?? cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: spec.periods ?? 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alarm.addAlarmAction(new actions.SnsAction(this.operationsTopic));
    alarm.addOkAction(new actions.SnsAction(this.operationsTopic));
    this.alarms.push(alarm);
    return alarm;
  }

  /** A row of graphs, one per metric group. */
  row(...widgets: cloudwatch.IWidget[]): void {
    this.dashboard.addWidgets(...widgets);
  }

  /** The alarms as one status widget, at the top of the dashboard. */
  finish(): void {
    this.dashboard.addWidgets(
      new cloudwatch.AlarmStatusWidget({ title: 'alarms', alarms: this.alarms, width: 24 }),
    );
  }
}

export const FIVE_MINUTES = Duration.minutes(5);
export const ONE_MINUTE = Duration.minutes(1);
