/**
 * Alerts over MQTT, QoS 1, as JSON (the Alert fields, alert-codec.ts), on
 *
 *   alerts/{deviceId}/{rule}/{metric}   a metric's incident (spike, drift, flatline, ...)
 *   alerts/{deviceId}/{rule}            a whole device's or gateway's (silence, gateway-silence)
 *
 * so `alerts/{deviceId}/#` is everything about a device and `alerts/+/silence/#` every silence.
 * The metric is part of the topic because each topic retains one message: an `open` alert is
 * published retained, so a subscriber that connects later still sees every incident open now; its
 * `resolved` alert is published (not retained), then the retained message is cleared with an empty
 * retained payload (MQTT 3.1.1 section 3.3.1.3, MQTT 5 section 3.3.1.3). Subscribers therefore
 * ignore empty payloads. Receivers deduplicate by `id` and `status`: delivery is at least once.
 */
import type { IClientPublishOptions, MqttClient } from 'mqtt';
import type { Alert } from '../../lib/codec/alert-codec.ts';
import { errorMessage, IngestError } from '../../lib/errors.ts';
import { WHOLE_DEVICE } from '../rules.ts';

export interface MqttAlertOptions {
  /** A connected client; the publisher does not own it (does not end it). */
  client: MqttClient;
  /** Default 'alerts'. */
  prefix?: string;
  /** How long to wait for the broker to acknowledge a batch's publishes. Default 10 s. */
  timeoutMs?: number;
}

export function alertTopic(alert: Pick<Alert, 'deviceId' | 'rule' | 'metric'>, prefix = 'alerts'): string {
  const base = `${prefix}/${alert.deviceId}/${alert.rule}`;
  return alert.metric === WHOLE_DEVICE ? base : `${base}/${alert.metric}`;
}

export class MqttAlertPublisher {
  readonly #client: MqttClient;
  readonly #prefix: string;
  readonly #timeoutMs: number;

  constructor(options: MqttAlertOptions) {
    this.#client = options.client;
    this.#prefix = options.prefix ?? 'alerts';
    this.#timeoutMs = options.timeoutMs ?? 10_000;
  }

  /**
   * Publishes the alerts in order and resolves once the broker acknowledged all of them. Rejects
   * (SERVICE_UNAVAILABLE, retryable) on an error or timeout: the caller retries, and a subscriber
   * may then see an alert twice, with the same id.
   */
  async publish(alerts: readonly Alert[]): Promise<void> {
    if (alerts.length === 0) return;
    const v5 = this.#client.options.protocolVersion === 5;
    const acks: Promise<unknown>[] = [];
    for (const alert of alerts) {
      const topic = alertTopic(alert, this.#prefix);
      const options: IClientPublishOptions = { qos: 1, retain: alert.status === 'open' };
      if (v5)
        options.properties = { contentType: 'application/json', userProperties: { 'alert-id': alert.id } };
      acks.push(this.#client.publishAsync(topic, JSON.stringify(alert), options));
      if (alert.status === 'resolved')
        acks.push(this.#client.publishAsync(topic, '', { qos: 1, retain: true }));
    }
    const acknowledged = Promise.all(acks);
    acknowledged.catch(() => {}); // after a timeout, a late failure has nobody left to tell
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new IngestError(
              'SERVICE_UNAVAILABLE',
              `MQTT broker did not acknowledge ${alerts.length} alert(s) within ${this.#timeoutMs} ms`,
              { retryable: true },
            ),
          ),
        this.#timeoutMs,
      );
    });
    try {
      await Promise.race([acknowledged, timeout]);
    } catch (error) {
      if (error instanceof IngestError) throw error;
      throw new IngestError(
        'SERVICE_UNAVAILABLE',
        `publishing alerts over MQTT failed: ${errorMessage(error)}`,
        { retryable: true, cause: error },
      );
    } finally {
      clearTimeout(timer);
    }
  }
}
