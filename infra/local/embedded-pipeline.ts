import path from 'node:path';
import { Bridge, type BridgeOptions } from '../../functions/bridge/bridge.ts';
import { MqttSubscriber } from '../../functions/bridge/mqtt-subscriber.ts';
import { SchemaRegistry } from '../../functions/lib/codec/schema-registry.ts';
import { loadConfig, type PipelineConfig } from '../../functions/lib/config.ts';
import { DuckDbStore } from '../../functions/lib/store/duckdb-store.ts';
import { startQueryServer } from '../../functions/lib/store/query-server.ts';
import { createProducer } from '../../functions/lib/streams/create-producer.ts';
import type { StreamKind, StreamProducer } from '../../functions/lib/streams/types.ts';
import { type StreamSource, startTopology, type Topology } from '../../functions/runner/topology.ts';
import { type BrokerKind, type LocalServices, startLocalServices } from './services.ts';

export interface EmbeddedPipelineOptions {
  broker?: BrokerKind;
  /** MQTT port; 0 or absent picks a free one. */
  mqttPort?: number;
  stream?: StreamKind;
  dataDir: string;
  /** Keep Kinesis data on disk (npm start) so checkpoints stay valid across restarts. */
  persistentStreams?: boolean;
  /** Serve `iot-ingest query` from other shells while this process holds the DuckDB file. */
  queryServer?: boolean;
  bridge?: BridgeOptions;
  onError?: (error: unknown) => void;
}

export interface EmbeddedPipeline {
  readonly services: LocalServices;
  readonly config: PipelineConfig;
  readonly mqttUrl: string;
  readonly registry: SchemaRegistry;
  readonly producer: StreamProducer;
  readonly bridge: Bridge;
  readonly topology: Topology;
  readonly store: DuckDbStore;
  stop(): Promise<void>;
}

/**
 * Everything on one machine: a broker, a stream, the bridge, the three functions behind local event
 * source mappings, and DuckDB. `npm start` and the end-to-end tests both run this.
 */
export async function startEmbeddedPipeline(options: EmbeddedPipelineOptions): Promise<EmbeddedPipeline> {
  const stream = options.stream ?? 'kinesis';
  const services = await startLocalServices({
    broker: options.broker ?? 'aedes',
    ...(options.mqttPort !== undefined ? { mqttPort: options.mqttPort } : {}),
    kinesis: stream === 'kinesis',
    kafka: stream === 'kafka',
    dataDir: options.dataDir,
    persistentStreams: options.persistentStreams ?? false,
  });
  const stack: (() => Promise<void>)[] = [() => services.stop()];
  const stop = async () => {
    for (const step of stack.reverse()) await step().catch((error: unknown) => options.onError?.(error));
  };
  try {
    const config = loadConfig({
      IOT_STREAM: stream,
      IOT_DATA_DIR: options.dataDir,
      KAFKA_BROKERS: services.kafka?.brokers.join(','),
      KINESIS_ENDPOINT: services.kinesis?.endpoint,
    });
    const registry = SchemaRegistry.load();
    const store = await DuckDbStore.open(config.duckdbPath);
    stack.push(() => store.close());
    if (options.queryServer) {
      const server = await startQueryServer(store, config.dataDir);
      stack.push(() => server.close());
    }
    const producer = await createProducer(config);
    stack.push(() => producer.close());
    const source = await streamSource(config);
    const topology = await startTopology({
      source,
      producer,
      registry,
      store,
      ...(options.onError ? { onError: options.onError } : {}),
    });
    stack.push(() => topology.stop());
    const mqttUrl = services.mqtt!.url;
    const subscriber = new MqttSubscriber({
      url: mqttUrl,
      clientId: 'iot-ingest-bridge',
      topics: ['telemetry/+', 'gateways/+/telemetry'],
      // Aedes speaks MQTT 3.1.1 only; Mosquitto gets MQTT 5 (Receive Maximum, session expiry).
      protocolVersion: Math.max(...services.mqtt!.protocolVersions) as 4 | 5,
    });
    const bridge = new Bridge(subscriber, producer, {
      ...options.bridge,
      ...(options.onError ? { onError: options.onError } : {}),
    });
    await bridge.start();
    stack.push(() => bridge.close());
    return { services, config, mqttUrl, registry, producer, bridge, topology, store, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function streamSource(config: PipelineConfig): Promise<StreamSource> {
  if (config.stream === 'kafka') {
    const { createKafka } = await import('../../functions/lib/streams/kafka-client.ts');
    return { kind: 'kafka', kafka: createKafka(config.kafka, '-runner'), brokers: config.kafka.brokers };
  }
  const { createKinesisClient } = await import('../../functions/lib/streams/kinesis-client.ts');
  return {
    kind: 'kinesis',
    client: createKinesisClient({
      endpoint: config.kinesis.endpoint,
      region: config.kinesis.region,
      local: config.kinesis.local,
    }),
    checkpointDir: path.join(config.dataDir, 'checkpoints'),
  };
}
