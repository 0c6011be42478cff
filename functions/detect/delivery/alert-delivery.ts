/**
 * The `deliver` the detect handler calls once the alerts stream has accepted a batch's alerts:
 * every configured channel at once. A channel that fails (MQTT broker unreachable) fails the
 * delivery, and the handler's retry sends the batch's alerts again, to every channel, with the same
 * ids. Webhooks do not fail it: after their retries they dead-letter, here onto telemetry.dlq with
 * the alert's bytes and the reason, where `iot-ingest dlq` can show and replay them.
 */
import { type Alert, encodeAlert } from '../../lib/codec/alert-codec.ts';
import { errorMessage, IngestError } from '../../lib/errors.ts';
import { HEADER } from '../../lib/reading.ts';
import { type OutRecord, STREAMS, type StreamProducer } from '../../lib/streams/types.ts';
import type { MqttAlertPublisher } from './mqtt.ts';
import type { WebhookDelivery, WebhookFailure } from './webhook.ts';

export interface AlertChannels {
  mqtt?: MqttAlertPublisher;
  webhooks?: readonly WebhookDelivery[];
}

export function createAlertDelivery(channels: AlertChannels): (alerts: readonly Alert[]) => Promise<void> {
  const sends: ((alerts: readonly Alert[]) => Promise<unknown>)[] = [];
  if (channels.mqtt) {
    const mqtt = channels.mqtt;
    sends.push((alerts) => mqtt.publish(alerts));
  }
  for (const webhook of channels.webhooks ?? []) sends.push((alerts) => webhook.deliver(alerts));
  return async (alerts) => {
    if (alerts.length === 0) return;
    const results = await Promise.allSettled(sends.map((send) => send(alerts)));
    const errors = results
      .filter((r): r is PromiseRejectedResult => r.status === 'rejected')
      .map((r) => r.reason as unknown);
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) {
      throw new IngestError(
        'SERVICE_UNAVAILABLE',
        `alert delivery failed: ${errors.map(errorMessage).join('; ')}`,
        {
          retryable: true,
          cause: new AggregateError(errors),
        },
      );
    }
  };
}

/** A dead letter for an alert that could not be delivered: its stream bytes, the reason, where it was going. */
export function alertDeadLetter(alert: Alert, failure: WebhookFailure): OutRecord {
  return {
    key: alert.deviceId,
    value: encodeAlert(alert),
    headers: {
      [HEADER.reason]: 'ALERT_UNDELIVERED',
      [HEADER.detail]: `webhook ${failure.url}: ${failure.reason} after ${failure.attempts} attempt(s)`,
      [HEADER.origin]: `webhook:${failure.url}`,
    },
  };
}

/** The webhook `onDeadLetter` that appends to telemetry.dlq. */
export function deadLetterToStream(
  producer: StreamProducer,
): (alert: Alert, failure: WebhookFailure) => Promise<void> {
  return (alert, failure) => producer.send(STREAMS.dlq, [alertDeadLetter(alert, failure)]);
}
