/**
 * The MQTT guarantees the bridge relies on, checked against every local broker: QoS 1 messages reach a
 * persistent-session subscriber, all of them and in order, including those published while it was away.
 */
import { randomUUID } from 'node:crypto';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type BrokerKind,
  type LocalServices,
  requireOrSkip,
  startLocalServices,
} from '../../../infra/local/services.ts';

const BROKERS: readonly BrokerKind[] = ['aedes', 'mosquitto'];
const runnable: Record<BrokerKind, boolean> = {
  aedes: await requireOrSkip('aedes'),
  mosquitto: await requireOrSkip('mosquitto'),
};

const RECEIVE_TIMEOUT_MS = 10_000;

/** Resolves with `client` once connected; rejects on the first error. `setup` runs before CONNECT. */
function connect(
  url: string,
  options: IClientOptions,
  setup?: (client: MqttClient) => void,
): Promise<MqttClient> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5_000, ...options });
  setup?.(client);
  return new Promise((resolve, reject) => {
    client.once('connect', () => resolve(client));
    client.once('error', reject);
  });
}

/**
 * A persistent session: clean=false on 3.1.1; on MQTT 5 also a session expiry interval, without
 * which the broker ends the session at disconnect even with Clean Start = 0.
 */
function persistentSession(clientId: string, protocolVersion: 4 | 5): IClientOptions {
  return {
    clientId,
    clean: false,
    protocolVersion,
    ...(protocolVersion === 5 ? { properties: { sessionExpiryInterval: 3_600 } } : {}),
  };
}

/** Collects numbered payloads until `count` have arrived. */
function receive(client: MqttClient, count: number): Promise<number[]> {
  const received: number[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`received ${received.length} of ${count} messages`)),
      RECEIVE_TIMEOUT_MS,
    );
    client.on('message', (_topic, payload) => {
      received.push(Number(payload.toString()));
      if (received.length === count) {
        clearTimeout(timer);
        resolve(received);
      }
    });
  });
}

async function publishNumbered(client: MqttClient, topic: string, count: number): Promise<void> {
  const acks: Promise<unknown>[] = [];
  for (let i = 0; i < count; i++) acks.push(client.publishAsync(topic, String(i), { qos: 1 }));
  await Promise.all(acks);
}

const numbers = (count: number): number[] => Array.from({ length: count }, (_, i) => i);

describe.each(BROKERS)('MQTT broker contract: %s', (kind) => {
  // Skipped (with the reason logged) where the broker is not installed; on CI requireOrSkip throws.
  const test = it.skipIf(!runnable[kind]);
  let services: LocalServices | undefined;
  let url: string;
  let protocolVersion: 4 | 5;
  const clients: MqttClient[] = [];

  beforeAll(async () => {
    if (!runnable[kind]) return;
    services = await startLocalServices({ broker: kind });
    url = services.mqtt!.url;
    // MQTT 5 where the broker has it (Mosquitto); Aedes 1.x accepts 3.1.1 only.
    protocolVersion = Math.max(...services.mqtt!.protocolVersions) as 4 | 5;
  });

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.endAsync(true)));
    await services?.stop();
  });

  const track = (client: MqttClient): MqttClient => {
    clients.push(client);
    return client;
  };

  test('listens on loopback only', () => {
    expect(url).toMatch(/^mqtt:\/\/127\.0\.0\.1:\d+$/);
  });

  test('delivers 2,000 numbered QoS 1 messages, all and in order, to a persistent-session subscriber', async () => {
    // Prepare
    const topic = `telemetry/contract-${randomUUID()}`;
    const subscriber = track(await connect(url, persistentSession(`sub-${randomUUID()}`, protocolVersion)));
    await subscriber.subscribeAsync(topic, { qos: 1 });
    const publisher = track(await connect(url, { protocolVersion }));
    const received = receive(subscriber, 2_000);

    // Act
    await publishNumbered(publisher, topic, 2_000);

    // Assess
    expect(await received).toEqual(numbers(2_000));
  });

  test('loses nothing for a subscriber that stops acknowledging while 2,000 messages arrive', async () => {
    // Prepare: like the bridge while its stream is down, the subscriber holds the first message
    // (no PUBACK, no further reads) until the publisher is done.
    const topic = `telemetry/stalled-${randomUUID()}`;
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let held = false;
    const subscriber = track(
      await connect(url, persistentSession(`stalled-${randomUUID()}`, protocolVersion), (client) => {
        client.handleMessage = (_packet, done) => {
          if (held) return done();
          held = true;
          void released.then(() => done());
        };
      }),
    );
    await subscriber.subscribeAsync(topic, { qos: 1 });
    const publisher = track(await connect(url, { protocolVersion }));
    const received = receive(subscriber, 2_000);

    // Act
    await publishNumbered(publisher, topic, 2_000);
    release();

    // Assess
    expect(await received).toEqual(numbers(2_000));
  });

  test('queues 2,000 messages for a persistent subscriber while it is away and delivers them on reconnect', async () => {
    // Prepare
    const topic = `telemetry/away-${randomUUID()}`;
    const session = persistentSession(`away-${randomUUID()}`, protocolVersion);
    const first = await connect(url, session);
    await first.subscribeAsync(topic, { qos: 1 });
    await first.endAsync();
    const publisher = track(await connect(url, { protocolVersion }));

    // Act
    await publishNumbered(publisher, topic, 2_000);
    let received: Promise<number[]> = Promise.resolve([]);
    let sessionPresent: boolean | undefined;
    track(
      await connect(url, session, (client) => {
        received = receive(client, 2_000);
        client.once('connect', (connack) => {
          sessionPresent = connack.sessionPresent;
        });
      }),
    );

    // Assess
    expect(sessionPresent).toBe(true);
    expect(await received).toEqual(numbers(2_000));
  });
});
