import fs from 'node:fs';
import path from 'node:path';
import mqtt from 'mqtt';
import { Bridge, type BridgeOptions } from '../../functions/bridge/bridge.ts';
import { MqttSubscriber } from '../../functions/bridge/mqtt-subscriber.ts';
import { createAlertDelivery } from '../../functions/detect/delivery/alert-delivery.ts';
import { MqttAlertPublisher } from '../../functions/detect/delivery/mqtt.ts';
import { DetectEngine } from '../../functions/detect/engine.ts';
import {
  DEFAULT_PROFILES_PATH,
  type DeviceProfiles,
  loadDeviceProfiles,
  parseDeviceProfiles,
} from '../../functions/detect/profiles.ts';
import { FileDetectorStateStore } from '../../functions/detect/state-store.ts';
import type { Alert } from '../../functions/lib/codec/alert-codec.ts';
import { SchemaRegistry } from '../../functions/lib/codec/schema-registry.ts';
import { loadConfig, type PipelineConfig } from '../../functions/lib/config.ts';
import { createLog } from '../../functions/lib/log.ts';
import { DuckDbStore } from '../../functions/lib/store/duckdb-store.ts';
import { startQueryServer } from '../../functions/lib/store/query-server.ts';
import { createProducer } from '../../functions/lib/streams/create-producer.ts';
import type { StreamKind, StreamProducer } from '../../functions/lib/streams/types.ts';
import { removeServicesFile, writeServicesFile } from '../../functions/runner/local-endpoints.ts';
import { modeMappings, startTopology, streamSource, type Topology } from '../../functions/runner/topology.ts';
import { type BrokerKind, type LocalServices, startLocalServices } from './services.ts';

export interface EmbeddedPipelineOptions {
  broker?: BrokerKind;
  /** MQTT port; 0 or absent picks a free one. */
  mqttPort?: number;
  stream?: StreamKind;
  /** Brokers in the local Kafka mock cluster (default 1). */
  kafkaBrokers?: number;
  dataDir: string;
  /** Keep Kinesis data on disk (npm start) so checkpoints stay valid across restarts. */
  persistentStreams?: boolean;
  /** Serve `iot-ingest query` from other shells while this process holds the DuckDB file. */
  queryServer?: boolean;
  bridge?: BridgeOptions;
  /**
   * Overrides the device profiles' default expected interval between readings (ms), e.g. for a
   * simulated fleet slower than 1 Hz, whose devices would otherwise all look silent.
   */
  expectedIntervalMs?: number;
  /** DuckDB's memory_limit (e.g. "256MB"); absent, DuckDB's own default (80% of RAM). */
  duckdbMemoryLimit?: string | undefined;
  /** DuckDB's threads (a string is checked as DUCKDB_THREADS is); absent, DuckDB's own default (one per core). */
  duckdbThreads?: number | string | undefined;
  /** `mappings` (default): validate, detect, write, each its own mapping; `fused`: one consumer, no telemetry.valid. */
  mode?: 'mappings' | 'fused';
  /** MaximumBatchingWindowInSeconds of every mapping (default the topology's, 0.05); on Kafka the fetch's wait. */
  batchingWindowSeconds?: number;
  onError?: (error: unknown) => void;
}

/** The pipeline without its bridge: broker, stream, the functions behind their mappings, DuckDB. */
export interface EmbeddedRunner {
  readonly services: LocalServices;
  readonly config: PipelineConfig;
  readonly mqttUrl: string;
  /** The MQTT version the bridge should speak to this broker (Aedes: 4, Mosquitto: 5). */
  readonly protocolVersion: 4 | 5;
  readonly registry: SchemaRegistry;
  readonly producer: StreamProducer;
  readonly topology: Topology;
  readonly store: DuckDbStore;
  stop(): Promise<void>;
}

export interface EmbeddedPipeline extends EmbeddedRunner {
  readonly bridge: Bridge;
}

/**
 * Everything on one machine: a broker, a stream, the bridge, the three functions behind local event
 * source mappings, and DuckDB. `npm start` and the end-to-end tests both run this.
 */
export async function startEmbeddedPipeline(options: EmbeddedPipelineOptions): Promise<EmbeddedPipeline> {
  const runner = await startEmbeddedRunner(options);
  try {
    const subscriber = new MqttSubscriber({
      url: runner.mqttUrl,
      clientId: 'iot-ingest-bridge',
      topics: ['telemetry/+', 'gateways/+/telemetry'],
      // Aedes speaks MQTT 3.1.1 only; Mosquitto gets MQTT 5 (Receive Maximum, session expiry).
      protocolVersion: runner.protocolVersion,
    });
    const bridge = new Bridge(subscriber, runner.producer, {
      maxPayloadBytes: runner.config.maxPayloadBytes,
      ...options.bridge,
      ...(options.onError
        ? { onError: options.onError, onWarning: (m: string) => options.onError?.(new Error(m)) }
        : {}),
    });
    await bridge.start();
    return {
      ...runner,
      bridge,
      stop: async () => {
        await bridge.close().catch((error: unknown) => options.onError?.(error));
        await runner.stop();
      },
    };
  } catch (error) {
    await runner.stop();
    throw error;
  }
}

/**
 * Everything but the bridge, for a bridge that runs elsewhere (its own process in the end-to-end
 * bench, so each side's CPU and memory are its own, as when deployed).
 */
export async function startEmbeddedRunner(options: EmbeddedPipelineOptions): Promise<EmbeddedRunner> {
  const stream = options.stream ?? 'kinesis';
  const services = await startLocalServices({
    broker: options.broker ?? 'aedes',
    ...(options.mqttPort !== undefined ? { mqttPort: options.mqttPort } : {}),
    kinesis: stream === 'kinesis',
    kafka: stream === 'kafka' && { brokers: options.kafkaBrokers ?? 1 },
    dataDir: options.dataDir,
    persistentStreams: options.persistentStreams ?? false,
  });
  const stack: (() => Promise<void>)[] = [() => services.stop()];
  const stop = async () => {
    for (const step of stack.reverse()) await step().catch((error: unknown) => options.onError?.(error));
  };
  try {
    const streamEnv = {
      IOT_STREAM: stream,
      KAFKA_BROKERS: services.kafka?.brokers.join(','),
      KINESIS_ENDPOINT: services.kinesis?.endpoint,
    };
    const config = loadConfig({
      ...streamEnv,
      IOT_DATA_DIR: options.dataDir,
      ...(options.duckdbMemoryLimit !== undefined ? { DUCKDB_MEMORY_LIMIT: options.duckdbMemoryLimit } : {}),
      ...(options.duckdbThreads !== undefined ? { DUCKDB_THREADS: String(options.duckdbThreads) } : {}),
    });
    // So `iot-ingest dlq` (and other runners) in another shell find these streams.
    await writeServicesFile(config.dataDir, streamEnv);
    stack.push(() => removeServicesFile(config.dataDir));
    const registry = SchemaRegistry.load();
    const store = await DuckDbStore.open(config.duckdbPath, config.duckdb);
    stack.push(() => store.close());
    if (options.queryServer) {
      const server = await startQueryServer(store, config.dataDir);
      stack.push(() => server.close());
    }
    const producer = await createProducer(config);
    stack.push(() => producer.close());
    const source = await streamSource(config);
    const mqttUrl = services.mqtt!.url;
    const protocolVersion = Math.max(...services.mqtt!.protocolVersions) as 4 | 5;
    // Alerts: the DuckDB `alerts` table (one row per incident) and MQTT alerts/{deviceId}/{rule},
    // retained while open, both after the alerts stream accepted them.
    const alertClient = await mqtt.connectAsync(mqttUrl, {
      clientId: `iot-ingest-alerts-${process.pid}`,
      protocolVersion,
      reconnectPeriod: 500,
    });
    stack.push(() => alertClient.endAsync());
    const publishAlerts = createAlertDelivery({ mqtt: new MqttAlertPublisher({ client: alertClient }) });
    const deliverAlerts = async (alerts: readonly Alert[]) => {
      await store.writeAlerts(alerts);
      await publishAlerts(alerts);
    };
    const profiles =
      options.expectedIntervalMs === undefined
        ? loadDeviceProfiles()
        : profilesWithInterval(options.expectedIntervalMs);
    const topology = await startTopology({
      source,
      producer,
      registry,
      store,
      deliverAlerts,
      detect: {
        profiles,
        // Detector state is checkpointed with the stream position, so a restart resumes incidents.
        stateStore: new FileDetectorStateStore(path.join(config.dataDir, 'detect-state'), 'detect'),
      },
      detector: new DetectEngine(profiles),
      mode: options.mode ?? 'mappings',
      ...(options.batchingWindowSeconds !== undefined
        ? {
            mappings: modeMappings(options.mode ?? 'mappings', {
              MaximumBatchingWindowInSeconds: options.batchingWindowSeconds,
            }),
          }
        : {}),
      // A schema file dropped into schemas/history/ is picked up when a reading needs it.
      reloadRegistry: () => SchemaRegistry.loadAsync(),
      // Warnings and errors of the mappings (records retried past their limit, a shard restarting).
      log: await createLog('iot-ingest-runner', config.logLevel === 'debug' ? 'debug' : 'warn'),
      ...(options.onError ? { onError: options.onError } : {}),
    });
    stack.push(() => topology.stop());
    return { services, config, mqttUrl, protocolVersion, registry, producer, topology, store, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** The shipped profiles with another default reporting interval (checked like the file itself). */
function profilesWithInterval(expectedIntervalMs: number): DeviceProfiles {
  const json = JSON.parse(fs.readFileSync(DEFAULT_PROFILES_PATH, 'utf8')) as {
    defaults?: Record<string, unknown>;
  };
  json.defaults = { ...json.defaults, expectedIntervalMs };
  return parseDeviceProfiles(json, DEFAULT_PROFILES_PATH);
}
