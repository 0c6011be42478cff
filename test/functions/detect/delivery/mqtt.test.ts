/**
 * Alert delivery over a real broker, the same suite against each local one: a subscriber receives
 * alerts/{deviceId}/{rule}/..., a subscriber that connects later sees the open incident (retained),
 * and nothing once it resolved.
 */
import { randomUUID } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAlertDelivery } from '../../../../functions/detect/delivery/alert-delivery.ts';
import { alertTopic, MqttAlertPublisher } from '../../../../functions/detect/delivery/mqtt.ts';
import { createDetectHandler } from '../../../../functions/detect/handler.ts';
import type { Alert } from '../../../../functions/lib/codec/alert-codec.ts';
import {
  type BrokerKind,
  type LocalServices,
  requireOrSkip,
  startLocalServices,
} from '../../../../infra/local/services.ts';
import { cleanSeries, testProfiles, withAnomaly } from '../factories.ts';
import { batches, RecordingProducer, registry } from '../stream-fixtures.ts';

const BROKERS: readonly BrokerKind[] = ['aedes', 'mosquitto'];
const runnable: Record<BrokerKind, boolean> = {
  aedes: await requireOrSkip('aedes'),
  mosquitto: await requireOrSkip('mosquitto'),
};

interface Received {
  topic: string;
  payload: string;
  retain: boolean;
}

function anAlert(overrides: Partial<Alert> = {}): Alert {
  const deviceId = overrides.deviceId ?? `dev-${randomUUID().slice(0, 8)}`;
  return {
    id: `${deviceId}/temperature/spike/1767225600000`,
    dedupKey: `${deviceId}/temperature/spike`,
    deviceId,
    metric: 'temperature',
    rule: 'spike',
    status: 'open',
    severity: 'warning',
    value: 31.5,
    score: 9.2,
    ts: 1_767_225_600_000,
    openedAt: 1_767_225_600_000,
    repeats: 0,
    message: 'temperature 31.5 is 9.2 standard deviations above its baseline',
    ...overrides,
  };
}

describe.each(BROKERS)('MQTT alert delivery: %s', (kind) => {
  const test = it.skipIf(!runnable[kind]);
  let services: LocalServices | undefined;
  let url: string;
  let protocolVersion: 4 | 5;
  const clients: MqttClient[] = [];

  beforeAll(async () => {
    if (!runnable[kind]) return;
    services = await startLocalServices({ broker: kind, kinesis: false, kafka: false });
    url = services.mqtt!.url;
    protocolVersion = Math.max(...services.mqtt!.protocolVersions) as 4 | 5;
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true)));
    await services?.stop();
  });

  async function connect(): Promise<MqttClient> {
    const client = await mqtt.connectAsync(url, {
      protocolVersion,
      reconnectPeriod: 0,
      connectTimeout: 5_000,
      clientId: `t-${randomUUID()}`,
    });
    clients.push(client);
    return client;
  }

  /** Subscribes to `filter` and collects what arrives. */
  async function subscriber(
    filter: string,
  ): Promise<{ received: Received[]; next: (count: number) => Promise<Received[]> }> {
    const client = await connect();
    const received: Received[] = [];
    const waiters: (() => void)[] = [];
    client.on('message', (topic, payload, packet) => {
      received.push({ topic, payload: payload.toString(), retain: packet.retain });
      for (const w of waiters.splice(0)) w();
    });
    await client.subscribeAsync(filter, { qos: 1 });
    const next = async (count: number) => {
      const deadline = Date.now() + 10_000;
      while (received.length < count) {
        if (Date.now() > deadline)
          throw new Error(`received ${received.length} of ${count} messages on ${filter}`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 100);
        });
      }
      return received.slice(0, count);
    };
    return { received, next };
  }

  test('a subscriber receives the alert on alerts/{deviceId}/{rule}/{metric} at QoS 1', async () => {
    // Prepare
    const alert = anAlert();
    const sub = await subscriber(`alerts/${alert.deviceId}/#`);
    const publisher = new MqttAlertPublisher({ client: await connect() });

    // Act
    await publisher.publish([alert]);

    // Assess
    const [message] = await sub.next(1);
    expect(message!.topic).toBe(`alerts/${alert.deviceId}/spike/temperature`);
    expect(JSON.parse(message!.payload)).toEqual(alert);
  });

  test('a late subscriber sees the open incident (retained), and nothing once it resolved', async () => {
    // Prepare
    const alert = anAlert();
    const publisher = new MqttAlertPublisher({ client: await connect() });
    await publisher.publish([alert]);

    // Act
    const late = await subscriber(`alerts/${alert.deviceId}/#`);
    const [retained] = await late.next(1);
    await publisher.publish([{ ...alert, status: 'resolved', repeats: 12, value: 22.1 }]);
    const [, resolvedMessage, cleared] = await late.next(3);
    const later = await subscriber(`alerts/${alert.deviceId}/#`);
    await new Promise((resolve) => setTimeout(resolve, 500));

    // Assess
    expect(retained!.retain).toBe(true);
    expect(JSON.parse(retained!.payload)).toMatchObject({ id: alert.id, status: 'open' });
    expect(JSON.parse(resolvedMessage!.payload)).toMatchObject({
      id: alert.id,
      status: 'resolved',
      repeats: 12,
    });
    expect(cleared!.payload).toBe(''); // the retained incident cleared
    expect(later.received).toEqual([]);
  });

  test('device-wide alerts go to alerts/{deviceId}/{rule}', async () => {
    // Prepare
    const alert = anAlert({ metric: '*', rule: 'silence', value: null, score: 12 });
    const sub = await subscriber(`alerts/+/silence/#`);
    const publisher = new MqttAlertPublisher({ client: await connect() });

    // Act
    await publisher.publish([alert]);

    // Assess
    const [message] = await sub.next(1);
    expect(message!.topic).toBe(`alerts/${alert.deviceId}/silence`);
    expect(message!.topic).toBe(alertTopic(alert));
  });

  test('from reading to subscriber: the detect handler delivers its alert after the alerts stream took it', async () => {
    // Prepare: dev-mqtt's temperature spikes at reading 400
    const deviceId = `dev-${randomUUID().slice(0, 8)}`;
    const sub = await subscriber(`alerts/${deviceId}/#`);
    const producer = new RecordingProducer();
    const deliver = createAlertDelivery({ mqtt: new MqttAlertPublisher({ client: await connect() }) });
    const handler = createDetectHandler({ producer, registry, profiles: testProfiles(), deliver });
    const series = withAnomaly(cleanSeries({ deviceId, count: 420 }), 400, 401, (r) => ({
      ...r,
      temperature: 40,
    }));

    // Act
    for (const event of batches(series, 105)) await handler(event);

    // Assess
    const [message] = await sub.next(1);
    const streamed = producer.alerts().find((a) => a.rule === 'spike')!;
    expect(message!.topic).toBe(`alerts/${deviceId}/spike/temperature`);
    expect(JSON.parse(message!.payload)).toEqual(streamed);
  });
});
