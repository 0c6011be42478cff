/**
 * Mosquitto-only behaviour: the session store survives restart() and a crash, and start-up failures
 * say what went wrong. The MQTT delivery guarantees are in mqtt-broker-contract.test.ts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { IngestError } from '../../../functions/lib/errors.ts';
import {
  type MosquittoBroker,
  mosquittoConfig,
  startMosquitto,
} from '../../../infra/local/mosquitto-broker.ts';
import { requireOrSkip } from '../../../infra/local/services.ts';

const hasMosquitto = await requireOrSkip('mosquitto');

const SESSION: IClientOptions = {
  clientId: 'offline-bridge',
  clean: false,
  protocolVersion: 5,
  properties: { sessionExpiryInterval: 3_600 },
  reconnectPeriod: 0,
};

/** Connects; `received` collects numbered payloads from the moment of CONNECT. */
async function connectCollecting(
  url: string,
): Promise<{ client: MqttClient; sessionPresent: boolean; received: number[] }> {
  const received: number[] = [];
  const client = mqtt.connect(url, SESSION);
  client.on('message', (_topic, payload) => received.push(Number(payload.toString())));
  const connack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => {
    client.once('connect', resolve);
    client.once('error', reject);
  });
  return { client, sessionPresent: connack.sessionPresent, received };
}

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(20);
  }
}

/** Subscribes the persistent session, leaves, and publishes `count` numbered QoS 1 messages. */
async function queueForOfflineSubscriber(url: string, count: number): Promise<void> {
  const subscriber = await mqtt.connectAsync(url, SESSION);
  await subscriber.subscribeAsync('telemetry/+', { qos: 1 });
  await subscriber.endAsync();
  const publisher = await mqtt.connectAsync(url, { protocolVersion: 5, reconnectPeriod: 0 });
  await Promise.all(
    Array.from({ length: count }, (_, i) => publisher.publishAsync('telemetry/dev-1', String(i), { qos: 1 })),
  );
  await publisher.endAsync();
}

const numbers = (count: number): number[] => Array.from({ length: count }, (_, i) => i);

describe.skipIf(!hasMosquitto)('startMosquitto', () => {
  let dir: string;
  let broker: MosquittoBroker | undefined;
  let client: MqttClient | undefined;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mosquitto-test-'));
  });

  afterEach(async () => {
    await client?.endAsync(true);
    await broker?.stop();
    client = undefined;
    broker = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps a persistent session and its queued messages across restart()', async () => {
    // Prepare
    broker = await startMosquitto({ persistenceDir: dir });
    const { port, pid } = broker;
    await queueForOfflineSubscriber(broker.url, 1_000);

    // Act
    await broker.restart();
    const session = await connectCollecting(broker.url);
    client = session.client;

    // Assess
    expect(broker.port).toBe(port);
    expect(broker.pid).not.toBe(pid);
    expect(session.sessionPresent).toBe(true);
    await until(() => session.received.length >= 1_000);
    expect(session.received).toEqual(numbers(1_000));
  });

  it('keeps what the last autosave wrote when the broker is killed', async () => {
    // Prepare
    broker = await startMosquitto({ persistenceDir: dir });
    await queueForOfflineSubscriber(broker.url, 500);
    await sleep(2_500); // autosave_interval is 1 s, counted in whole seconds

    // Act
    broker.kill('SIGKILL');
    await broker.restart();
    const session = await connectCollecting(broker.url);
    client = session.client;

    // Assess
    expect(session.sessionPresent).toBe(true);
    await until(() => session.received.length >= 500);
    expect(session.received).toEqual(numbers(500));
  });

  it('stops idempotently and frees its port', async () => {
    // Prepare
    broker = await startMosquitto({});

    // Act
    await Promise.all([broker.stop(), broker.stop()]);

    // Assess
    await expect(
      mqtt.connectAsync(broker.url, { reconnectPeriod: 0, connectTimeout: 1_000 }),
    ).rejects.toThrow();
  });

  it('reports a broker that exits during start-up, with the tail of its log', async () => {
    // Act
    const started = startMosquitto({ extraConfig: 'no_such_option 1' });

    // Assess
    await expect(started).rejects.toThrow(
      /exited during start-up[\s\S]*Unknown configuration variable "no_such_option"/,
    );
  });

  it('says how to install Mosquitto when the binary is missing', async () => {
    // Act
    const started = startMosquitto({ binary: join(dir, 'no-mosquitto-here') });

    // Assess
    await expect(started).rejects.toThrow(/apt-get install -y mosquitto/);
    await expect(started).rejects.toBeInstanceOf(IngestError);
  });
});

describe('mosquittoConfig', () => {
  it('lifts the limits that drop QoS 1 messages and binds to loopback', () => {
    // Act
    const config = mosquittoConfig({ port: 1884, persistenceDir: '/var/lib/iot' });

    // Assess
    expect(config).toMatch(/^listener 1884 127\.0\.0\.1$/m);
    expect(config).toMatch(/^max_queued_messages 0$/m);
    expect(config).toMatch(/^max_inflight_messages 65535$/m);
    expect(config).toMatch(/^persistence true$/m);
    expect(config).toMatch(/^persistence_location \/var\/lib\/iot\/$/m);
  });

  it('keeps sessions in memory without a persistence directory', () => {
    // Act
    const config = mosquittoConfig({ port: 1884 });

    // Assess
    expect(config).not.toMatch(/^persistence /m);
  });
});
