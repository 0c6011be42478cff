import type { Alert } from '../../lib/codec/alert-codec.ts';
import { IngestError } from '../../lib/errors.ts';
import { alertTopic } from './mqtt.ts';

/** Where the detect function delivers alerts on AWS, from the deployment's environment. */
export interface AwsAlertTargets {
  /** SNS topic for alert subscribers (email, SMS, HTTPS, SQS). */
  snsTopicArn?: string | undefined;
  /** AWS IoT data endpoint host (`xxxx-ats.iot.<region>.amazonaws.com`) for MQTT alerts/{deviceId}/... */
  iotDataEndpoint?: string | undefined;
  topicPrefix?: string | undefined;
  region: string;
  /** Tests point the SDK clients at a local endpoint. */
  endpointOverride?: string | undefined;
}

// SNS PublishBatch takes at most 10 entries: https://docs.aws.amazon.com/sns/latest/api/API_PublishBatch.html
const SNS_BATCH = 10;

/**
 * Alert delivery on AWS: SNS PublishBatch and AWS IoT Core MQTT (retained while the incident is
 * open, cleared on resolve, as the local MQTT publisher does). The SDK clients are loaded only when
 * their target is configured. Any failure rejects, so the batch is retried and the alerts are sent
 * again with the same ids (at least once; subscribers deduplicate by the alert id).
 */
export async function createAwsAlertDelivery(
  targets: AwsAlertTargets,
): Promise<((alerts: readonly Alert[]) => Promise<void>) | undefined> {
  const sends: ((alerts: readonly Alert[]) => Promise<void>)[] = [];
  const endpoint = targets.endpointOverride ? { endpoint: targets.endpointOverride } : {};
  if (targets.snsTopicArn) {
    const { SNSClient, PublishBatchCommand } = await import('@aws-sdk/client-sns');
    const sns = new SNSClient({ region: targets.region, ...endpoint });
    const topicArn = targets.snsTopicArn;
    sends.push(async (alerts) => {
      for (let start = 0; start < alerts.length; start += SNS_BATCH) {
        const chunk = alerts.slice(start, start + SNS_BATCH);
        const result = await sns.send(
          new PublishBatchCommand({
            TopicArn: topicArn,
            PublishBatchRequestEntries: chunk.map((alert, i) => ({
              Id: String(i),
              Subject: `[${alert.severity}] ${alert.deviceId} ${alert.rule} ${alert.status}`.slice(0, 100),
              Message: JSON.stringify(alert),
              MessageAttributes: {
                alertId: { DataType: 'String', StringValue: alert.id },
                deviceId: { DataType: 'String', StringValue: alert.deviceId },
                rule: { DataType: 'String', StringValue: alert.rule },
                status: { DataType: 'String', StringValue: alert.status },
                severity: { DataType: 'String', StringValue: alert.severity },
              },
            })),
          }),
        );
        const failed = result.Failed ?? [];
        if (failed.length > 0) {
          throw new IngestError(
            'SERVICE_UNAVAILABLE',
            `SNS refused ${failed.length} alert(s): ${failed.map((f) => `${f.Code}: ${f.Message}`).join('; ')}`,
            { retryable: true },
          );
        }
      }
    });
  }
  if (targets.iotDataEndpoint || targets.endpointOverride) {
    const { IoTDataPlaneClient, PublishCommand } = await import('@aws-sdk/client-iot-data-plane');
    const iot = new IoTDataPlaneClient({
      region: targets.region,
      ...(targets.endpointOverride ? endpoint : { endpoint: `https://${targets.iotDataEndpoint}` }),
    });
    const prefix = targets.topicPrefix ?? 'alerts';
    sends.push(async (alerts) => {
      for (const alert of alerts) {
        const topic = alertTopic(alert, prefix);
        const open = alert.status === 'open';
        await iot.send(
          new PublishCommand({ topic, qos: 1, retain: open, payload: Buffer.from(JSON.stringify(alert)) }),
        );
        // An empty retained message clears the retained open incident once it is resolved.
        if (!open)
          await iot.send(new PublishCommand({ topic, qos: 1, retain: true, payload: new Uint8Array(0) }));
      }
    });
  }
  if (sends.length === 0) return undefined;
  return async (alerts) => {
    if (alerts.length === 0) return;
    await Promise.all(sends.map((send) => send(alerts)));
  };
}
