import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { Kafka } from 'kafkajs';
import { createDetectHandler } from '../detect/handler.ts';
import type { Alert } from '../lib/codec/alert-codec.ts';
import type { SchemaRegistry } from '../lib/codec/schema-registry.ts';
import type { BatchHandler } from '../lib/events/types.ts';
import type { TelemetryStore } from '../lib/store/types.ts';
import { STREAMS, type StreamProducer } from '../lib/streams/types.ts';
import { createValidateHandler } from '../validate/handler.ts';
import { createWriteHandler } from '../write/handler.ts';
import { defineMapping, type EventSourceMapping } from './mapping.ts';
import type { RunningMapping } from './types.ts';

/**
 * The three mappings as deployed on AWS: raw -> validate -> valid (+ dlq); valid -> detect ->
 * alerts; valid -> write -> store. Handler failures that outlive their retries go to the dead-letter
 * stream with their reason rather than blocking a partition forever.
 */
export function defaultMappings(): EventSourceMapping[] {
  const common = {
    BatchSize: 500,
    MaximumBatchingWindowInSeconds: 0.05,
    StartingPosition: 'TRIM_HORIZON',
    MaximumRetryAttempts: 10,
    FunctionResponseTypes: ['ReportBatchItemFailures'],
    DestinationConfig: { OnFailure: { Destination: STREAMS.dlq } },
  } as const;
  return [
    defineMapping({ ...common, FunctionName: 'validate', EventSource: STREAMS.raw }),
    defineMapping({ ...common, FunctionName: 'detect', EventSource: STREAMS.valid }),
    defineMapping({ ...common, FunctionName: 'write', EventSource: STREAMS.valid, BatchSize: 2_000 }),
  ];
}

export type StreamSource =
  | { kind: 'kafka'; kafka: Kafka; brokers: readonly string[] }
  | { kind: 'kinesis'; client: KinesisClient; checkpointDir: string };

export interface TopologyDeps {
  source: StreamSource;
  producer: StreamProducer;
  registry: SchemaRegistry;
  store: TelemetryStore;
  deliverAlerts?: (alerts: readonly Alert[]) => Promise<void>;
  onError?: (error: unknown) => void;
  mappings?: EventSourceMapping[];
}

export interface PipelineCounters {
  valid: number;
  rejected: number;
  written: number;
  duplicates: number;
  alerts: number;
}

export interface Topology {
  readonly mappings: readonly RunningMapping[];
  readonly counters: PipelineCounters;
  stop(): Promise<void>;
}

export async function startTopology(deps: TopologyDeps): Promise<Topology> {
  const counters: PipelineCounters = { valid: 0, rejected: 0, written: 0, duplicates: 0, alerts: 0 };
  const handlers: Record<string, BatchHandler> = {
    validate: createValidateHandler({
      producer: deps.producer,
      registry: deps.registry,
      onResult: (r) => {
        counters.valid += r.valid;
        counters.rejected += r.rejected;
      },
    }),
    detect: createDetectHandler({
      producer: deps.producer,
      registry: deps.registry,
      deliver: async (alerts) => {
        counters.alerts += alerts.length;
        await deps.deliverAlerts?.(alerts);
      },
    }),
    write: createWriteHandler({
      store: deps.store,
      registry: deps.registry,
      onResult: (r) => {
        counters.written += r.written;
        counters.duplicates += r.duplicates;
      },
    }),
  };
  const running: RunningMapping[] = [];
  for (const mapping of deps.mappings ?? defaultMappings()) {
    const handler = handlers[mapping.FunctionName];
    if (!handler) throw new Error(`no function named ${mapping.FunctionName}`);
    running.push(await startMapping({ mapping, handler }, deps));
  }
  return {
    mappings: running,
    counters,
    async stop() {
      await Promise.all(running.map((m) => m.stop()));
    },
  };
}

async function startMapping(
  target: { mapping: EventSourceMapping; handler: BatchHandler },
  deps: TopologyDeps,
) {
  const { source } = deps;
  if (source.kind === 'kafka') {
    const { startKafkaMapping } = await import('./kafka-source.ts');
    return startKafkaMapping(target, {
      kafka: source.kafka,
      brokers: source.brokers,
      producer: deps.producer,
    });
  }
  const { startKinesisMapping } = await import('./kinesis-source.ts');
  return startKinesisMapping(target, {
    client: source.client,
    producer: deps.producer,
    checkpointDir: source.checkpointDir,
    ...(deps.onError ? { onError: deps.onError } : {}),
  });
}
