/**
 * Shared set-up for the runner's end-to-end tests: a real stream (kinesalite or the Kafka mock
 * cluster, started by the harness), the pipeline's config for it, a producer, and helpers to start
 * one mapping and to read the dead-letter stream back.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeReading } from '../../functions/lib/codec/reading-codec.ts';
import type { SchemaRegistry } from '../../functions/lib/codec/schema-registry.ts';
import { loadConfig, type PipelineConfig } from '../../functions/lib/config.ts';
import type { Reading } from '../../functions/lib/reading.ts';
import { createProducer } from '../../functions/lib/streams/create-producer.ts';
import { readStream, type StoredRecord } from '../../functions/lib/streams/stream-reader.ts';
import { type OutRecord, STREAMS, type StreamProducer } from '../../functions/lib/streams/types.ts';
import { type StreamSource, streamSource } from '../../functions/runner/topology.ts';
import type { MappingTarget, RunningMapping } from '../../functions/runner/types.ts';
import { type LocalServices, requireOrSkip, startLocalServices } from '../../infra/local/services.ts';
import { bridgeHeaders } from '../fixtures/fakes.ts';

export type StreamKind = 'kinesis' | 'kafka';

/** Which streams can run here (on CI a missing one fails the file instead). */
export async function availableStreams(): Promise<{ kind: StreamKind; available: boolean }[]> {
  return [
    { kind: 'kinesis', available: await requireOrSkip('kinesis') },
    { kind: 'kafka', available: await requireOrSkip('kafka') },
  ];
}

export interface StreamHarness {
  readonly kind: StreamKind;
  readonly dataDir: string;
  /** The environment a runner process would get for these streams. */
  readonly env: Record<string, string>;
  readonly config: PipelineConfig;
  readonly services: LocalServices;
  readonly producer: StreamProducer;
  readonly source: StreamSource;
  /** Starts one mapping with test-speed retries (20 ms apart). */
  start(target: MappingTarget): Promise<RunningMapping>;
  /** The dead letters whose key starts with `prefix`. */
  deadLetters(prefix: string): Promise<StoredRecord[]>;
  stop(): Promise<void>;
}

export async function startStreams(kind: StreamKind): Promise<StreamHarness> {
  const dataDir = mkdtempSync(join(tmpdir(), `iot-runner-${kind}-`));
  const services = await startLocalServices({
    broker: false,
    kinesis: kind === 'kinesis',
    kafka: kind === 'kafka',
  });
  const env: Record<string, string> = {
    IOT_STREAM: kind,
    IOT_DATA_DIR: dataDir,
    ...(services.kafka ? { KAFKA_BROKERS: services.kafka.brokers.join(',') } : {}),
    ...(services.kinesis ? { KINESIS_ENDPOINT: services.kinesis.endpoint } : {}),
  };
  const config = loadConfig(env);
  const producer = await createProducer(config);
  const source = await streamSource(config);
  const stopping: (() => Promise<void>)[] = [];
  return {
    kind,
    dataDir,
    env,
    config,
    services,
    producer,
    source,
    async start(target) {
      const common = { producer, retryDelayMs: () => 20 };
      let running: RunningMapping;
      if (source.kind === 'kafka') {
        const { startKafkaMapping } = await import('../../functions/runner/kafka-source.ts');
        running = await startKafkaMapping(target, {
          ...common,
          kafka: source.kafka,
          brokers: source.brokers,
        });
      } else {
        const { startKinesisMapping } = await import('../../functions/runner/kinesis-source.ts');
        running = await startKinesisMapping(target, {
          ...common,
          client: source.client,
          checkpointDir: source.checkpointDir,
          idlePollMs: 50,
        });
      }
      stopping.push(() => running.stop());
      return running;
    },
    async deadLetters(prefix) {
      return (await readStream(config, STREAMS.dlq)).filter((r) => r.key.startsWith(prefix));
    },
    async stop() {
      for (const stop of stopping.reverse()) await stop().catch(() => undefined);
      await producer.close();
      if (source.kind === 'kinesis') source.client.destroy();
      await services.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A reading as the bridge would have written it to telemetry.raw (or validate to telemetry.valid). */
export function streamRecord(reading: Reading, registry: SchemaRegistry): OutRecord {
  return {
    key: reading.deviceId,
    value: encodeReading(reading, registry),
    headers: bridgeHeaders(`telemetry/${reading.deviceId}`),
  };
}

/** A key-prefix filter, so each test's mapping sees only its own records on a shared stream. */
export function onlyKeysStartingWith(kind: StreamKind, prefix: string) {
  const field = kind === 'kinesis' ? 'partitionKey' : 'key';
  return { Filters: [{ Pattern: JSON.stringify({ [field]: [{ prefix }] }) }] };
}
