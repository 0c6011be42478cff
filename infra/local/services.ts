/**
 * One entry point for the services a local run needs (MQTT broker, Kinesis, Kafka), used by
 * `npm start` and by tests alike. Everything binds to 127.0.0.1.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { ConfigError, errorMessage, IngestError } from '../../functions/lib/errors.ts';
import { createKinesisClient } from '../../functions/lib/streams/kinesis-client.ts';
import { ALL_STREAMS } from '../../functions/lib/streams/types.ts';
import { type MqttProtocolVersion, startAedes } from './aedes-broker.ts';
import type { KafkaMock } from './kafka-mock/kafka-mock.ts';
import { createStreams, startKinesalite } from './kinesalite-server.ts';
import { resolveMosquittoBinary, startMosquitto } from './mosquitto-broker.ts';

export type BrokerKind = 'aedes' | 'mosquitto';

export interface LocalServicesOptions {
  /** Default 'aedes' (embedded, nothing to install); false starts no broker. */
  broker?: BrokerKind | false;
  /** Default: a free port. */
  mqttPort?: number;
  /** Start kinesalite and create the pipeline's streams (default 2 shards each). Default false. */
  kinesis?: boolean | { shards?: number };
  /**
   * Start the Kafka mock cluster with the pipeline's topics (default 4 partitions each, their leaders
   * spread over `brokers`, default 1). Default false.
   */
  kafka?: boolean | { partitions?: number; brokers?: number };
  /**
   * Where services keep state across runs: Mosquitto's session store in `<dataDir>/mosquitto`, and
   * with `persistentStreams` kinesalite's LevelDB in `<dataDir>/kinesalite`. Aedes and the Kafka mock
   * are in memory only. Without it everything is in memory.
   */
  dataDir?: string;
  /**
   * Keep Kinesis streams on disk under `dataDir`, so records and the runner's checkpoints (sequence
   * numbers) stay valid across restarts (`npm start`). Default false: fresh in-memory streams.
   */
  persistentStreams?: boolean;
}

interface LocalMqttCommon {
  readonly url: string;
  readonly port: number;
  /** MQTT.js `protocolVersion` values the broker accepts: Aedes is 3.1.1 only. */
  readonly protocolVersions: readonly MqttProtocolVersion[];
}
export interface LocalAedes extends LocalMqttCommon {
  readonly kind: 'aedes';
}
export interface LocalMosquitto extends LocalMqttCommon {
  readonly kind: 'mosquitto';
  readonly pid: number;
  readonly logPath: string;
  kill(signal?: NodeJS.Signals): void;
  restart(): Promise<void>;
}
export type LocalMqtt = LocalAedes | LocalMosquitto;

export interface LocalServices {
  mqtt?: LocalMqtt;
  kinesis?: { endpoint: string };
  kafka?: { brokers: string[]; mock: KafkaMock };
  /** Stops every service, in reverse start order, even if one fails. Idempotent. */
  stop(): Promise<void>;
}

const DEFAULT_SHARDS = 2;
const DEFAULT_PARTITIONS = 4;

function streamSpecs(count: number): Record<string, number> {
  return Object.fromEntries(ALL_STREAMS.map((name) => [name, count]));
}

/**
 * Starts the requested services: streams first, then the broker, so nothing can publish before
 * there is somewhere to write to. If one fails, those already started are stopped again and the
 * error (SERVICE_UNAVAILABLE) says which service failed and why.
 */
export async function startLocalServices(options: LocalServicesOptions = {}): Promise<LocalServices> {
  if (options.persistentStreams === true && options.dataDir === undefined) {
    throw new ConfigError('persistentStreams keeps Kinesis data under dataDir: set dataDir too');
  }
  const stops: Array<() => Promise<void>> = [];
  const services: LocalServices = { stop: stopAll };
  let stopping: Promise<void> | undefined;

  function stopAll(): Promise<void> {
    stopping ??= (async () => {
      const errors: unknown[] = [];
      for (const stop of stops.reverse()) {
        try {
          await stop();
        } catch (error) {
          errors.push(error);
        }
      }
      if (errors.length > 0) {
        throw new IngestError(
          'SERVICE_UNAVAILABLE',
          `stopping local services failed: ${errors.map(errorMessage).join('; ')}`,
          {
            cause: new AggregateError(errors),
          },
        );
      }
    })();
    return stopping;
  }

  async function step(name: string, start: () => Promise<void>): Promise<void> {
    try {
      await start();
    } catch (error) {
      await stopAll().catch(() => {}); // the start failure is the error worth reporting
      if (error instanceof IngestError) throw error;
      throw new IngestError('SERVICE_UNAVAILABLE', `local ${name} did not start: ${errorMessage(error)}`, {
        cause: error,
      });
    }
  }

  if (options.kinesis !== undefined && options.kinesis !== false) {
    const shards =
      (typeof options.kinesis === 'object' ? options.kinesis.shards : undefined) ?? DEFAULT_SHARDS;
    await step('kinesis', async () => {
      const path =
        options.persistentStreams === true && options.dataDir !== undefined
          ? join(options.dataDir, 'kinesalite')
          : undefined;
      const server = await startKinesalite(path === undefined ? {} : { path });
      stops.push(server.stop);
      const client = createKinesisClient({ endpoint: server.endpoint, local: true });
      try {
        await createStreams(client, streamSpecs(shards));
      } finally {
        client.destroy();
      }
      services.kinesis = { endpoint: server.endpoint };
    });
  }

  if (options.kafka !== undefined && options.kafka !== false) {
    const shape = typeof options.kafka === 'object' ? options.kafka : {};
    const partitions = shape.partitions ?? DEFAULT_PARTITIONS;
    await step('kafka', async () => {
      // Loaded on demand, so runs without Kafka never load it (it compiles a C helper on first use).
      const { startKafkaMock } = await import('./kafka-mock/kafka-mock.ts');
      const mock = await startKafkaMock({
        topics: streamSpecs(partitions),
        ...(shape.brokers !== undefined ? { brokers: shape.brokers } : {}),
      });
      stops.push(() => mock.stop());
      services.kafka = { brokers: mock.brokers, mock };
    });
  }

  const broker = options.broker ?? 'aedes';
  if (broker === 'aedes') {
    await step('aedes', async () => {
      const aedes = await startAedes(options.mqttPort === undefined ? {} : { port: options.mqttPort });
      stops.push(aedes.stop);
      services.mqtt = {
        kind: 'aedes',
        url: aedes.url,
        port: aedes.port,
        protocolVersions: aedes.protocolVersions,
      };
    });
  } else if (broker === 'mosquitto') {
    await step('mosquitto', async () => {
      const mosquitto = await startMosquitto({
        ...(options.mqttPort === undefined ? {} : { port: options.mqttPort }),
        ...(options.dataDir === undefined ? {} : { persistenceDir: join(options.dataDir, 'mosquitto') }),
      });
      stops.push(mosquitto.stop);
      services.mqtt = {
        kind: 'mosquitto',
        url: mosquitto.url,
        port: mosquitto.port,
        protocolVersions: mosquitto.protocolVersions,
        get pid() {
          return mosquitto.pid;
        },
        logPath: mosquitto.logPath,
        kill: mosquitto.kill,
        restart: mosquitto.restart,
      };
    });
  }

  return services;
}

export type LocalServiceName = BrokerKind | 'kinesis' | 'kafka';

/**
 * Whether a local service that cannot start must fail the run. On CI (`CI=true`) it must: a suite
 * skipped there would hide a broken environment behind a green build. On a workstation a missing
 * Mosquitto or C compiler should not stop someone from running the rest. The one place outside
 * config that reads process.env, so the rule lives in one line.
 */
export function servicesRequired(): boolean {
  return process.env.CI === 'true';
}

/**
 * Checks, cheaply, that `service` can be started here (its binary or module is present; the Kafka
 * mock's helper compiles). Resolves true when it can. When it cannot: on CI it throws with the reason
 * (the test file fails); elsewhere it logs the reason and resolves false so the caller can skip.
 *
 *   const hasMosquitto = await requireOrSkip('mosquitto');
 *   describe.skipIf(!hasMosquitto)('…', () => { … });
 */
export async function requireOrSkip(service: LocalServiceName): Promise<boolean> {
  try {
    await probe(service);
    return true;
  } catch (error) {
    if (servicesRequired()) {
      throw new IngestError(
        'SERVICE_UNAVAILABLE',
        `local ${service} is required on CI: ${errorMessage(error)}`,
        {
          cause: error,
        },
      );
    }
    console.warn(`skipping tests that need local ${service}: ${errorMessage(error)}`);
    return false;
  }
}

async function probe(service: LocalServiceName): Promise<void> {
  switch (service) {
    case 'aedes':
      await import('aedes');
      return;
    case 'mosquitto':
      resolveMosquittoBinary();
      return;
    case 'kinesis':
      createRequire(import.meta.url).resolve('kinesalite');
      return;
    case 'kafka': {
      const { buildMockCluster } = await import('./kafka-mock/kafka-mock.ts');
      await buildMockCluster();
      return;
    }
  }
}
