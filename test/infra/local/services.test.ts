/**
 * startLocalServices wires brokers and streams together, creates the pipeline's streams and topics,
 * rolls back on a failed start, and stops everything. Broker and stream behaviour itself is covered
 * by the contract and per-service suites.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeStreamSummaryCommand } from '@aws-sdk/client-kinesis';
import { Kafka, logLevel } from 'kafkajs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConfigError, IngestError } from '../../../functions/lib/errors.ts';
import { createKinesisClient } from '../../../functions/lib/streams/kinesis-client.ts';
import { ALL_STREAMS } from '../../../functions/lib/streams/types.ts';
import {
  type LocalServices,
  requireOrSkip,
  servicesRequired,
  startLocalServices,
} from '../../../infra/local/services.ts';

const hasKinesis = await requireOrSkip('kinesis');
const hasKafka = await requireOrSkip('kafka');
const hasMosquitto = await requireOrSkip('mosquitto');

/** Listening TCP servers in this process: what a leaked service would leave behind. */
const listeners = (): number =>
  process.getActiveResourcesInfo().filter((name) => name === 'TCPServerWrap').length;

function listen(): Promise<Server> {
  const server = createServer();
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

describe('startLocalServices', () => {
  let services: LocalServices | undefined;
  let dataDir: string | undefined;

  afterEach(async () => {
    await services?.stop();
    services = undefined;
    if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
    dataDir = undefined;
  });

  it('starts the embedded broker by default, on loopback, and nothing else', async () => {
    // Act
    services = await startLocalServices();

    // Assess
    expect(services.mqtt).toMatchObject({ kind: 'aedes', protocolVersions: [4] });
    expect(services.mqtt?.url).toMatch(/^mqtt:\/\/127\.0\.0\.1:\d+$/);
    expect(services.kinesis).toBeUndefined();
    expect(services.kafka).toBeUndefined();
  });

  it.skipIf(!hasKinesis)('creates every pipeline stream on kinesalite, 2 shards by default', async () => {
    // Act
    services = await startLocalServices({ broker: false, kinesis: true });

    // Assess
    const client = createKinesisClient({ endpoint: services.kinesis!.endpoint, local: true });
    try {
      for (const StreamName of ALL_STREAMS) {
        const { StreamDescriptionSummary } = await client.send(
          new DescribeStreamSummaryCommand({ StreamName }),
        );
        expect(StreamDescriptionSummary).toMatchObject({ StreamStatus: 'ACTIVE', OpenShardCount: 2 });
      }
    } finally {
      client.destroy();
    }
    expect(services.mqtt).toBeUndefined();
  });

  it.skipIf(!hasKafka)(
    'creates every pipeline topic on the Kafka mock with the requested partitions and brokers',
    async () => {
      // Act: 3, not the default 4, because the mock auto-creates unknown topics with 4 partitions.
      services = await startLocalServices({ broker: false, kafka: { partitions: 3, brokers: 3 } });

      // Assess: each topic's partitions are led by all three brokers
      expect(services.kafka!.brokers).toHaveLength(3);
      const admin = new Kafka({ brokers: services.kafka!.brokers, logLevel: logLevel.NOTHING }).admin();
      await admin.connect();
      try {
        const { topics } = await admin.fetchTopicMetadata({ topics: [...ALL_STREAMS] });
        expect(Object.fromEntries(topics.map((t) => [t.name, t.partitions.length]))).toEqual(
          Object.fromEntries(ALL_STREAMS.map((name) => [name, 3])),
        );
        for (const t of topics) expect(new Set(t.partitions.map((p) => p.leader)).size).toBe(3);
      } finally {
        await admin.disconnect();
      }
    },
  );

  it.skipIf(!hasMosquitto)('keeps Mosquitto sessions under dataDir and exposes restart()', async () => {
    // Prepare
    dataDir = await mkdtemp(join(tmpdir(), 'services-test-'));
    services = await startLocalServices({ broker: 'mosquitto', dataDir });
    const mqtt = services.mqtt;
    if (mqtt?.kind !== 'mosquitto') throw new Error(`expected mosquitto, got ${mqtt?.kind}`);
    const { port, pid } = mqtt;

    // Act
    await mqtt.restart();
    await services.stop();

    // Assess
    expect(mqtt.port).toBe(port);
    expect(mqtt.pid).not.toBe(pid);
    expect(existsSync(join(dataDir, 'mosquitto', 'mosquitto.db'))).toBe(true);
  });

  it.skipIf(!hasKinesis)(
    'stops what it started when a later service fails, and says which failed',
    async () => {
      // Prepare: the MQTT port is taken, so the broker (started last) fails after kinesalite is up.
      const taken = await listen();
      const address = taken.address();
      const before = listeners();

      // Act
      const started = startLocalServices({
        kinesis: true,
        mqttPort: typeof address === 'object' && address !== null ? address.port : 0,
      });

      // Assess
      await expect(started).rejects.toThrow(/local aedes did not start.*EADDRINUSE/);
      await expect(started).rejects.toBeInstanceOf(IngestError);
      // Handles of closed servers go away on a later tick.
      await vi.waitFor(() => expect(listeners()).toBe(before), { timeout: 2_000 });
      await new Promise((resolve) => taken.close(resolve));
    },
  );

  it('rejects persistentStreams without a dataDir', async () => {
    // Act
    const started = startLocalServices({ kinesis: true, persistentStreams: true });

    // Assess
    await expect(started).rejects.toBeInstanceOf(ConfigError);
  });

  it('stops idempotently', async () => {
    // Prepare
    services = await startLocalServices();

    // Act
    await Promise.all([services.stop(), services.stop()]);

    // Assess
    await expect(services.stop()).resolves.toBeUndefined();
  });
});

describe('servicesRequired', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it.each([
    ['true', true],
    ['false', false],
    ['', false],
  ])('is %j -> %s for CI', (ci, expected) => {
    // Prepare
    vi.stubEnv('CI', ci);

    // Act
    const required = servicesRequired();

    // Assess
    expect(required).toBe(expected);
  });
});
