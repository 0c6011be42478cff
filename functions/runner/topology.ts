import path from 'node:path';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { Kafka } from 'kafkajs';
import { DetectEngine } from '../detect/engine.ts';
import { createDetectHandler, type DetectDeps } from '../detect/handler.ts';
import type { Alert } from '../lib/codec/alert-codec.ts';
import type { SchemaRegistry } from '../lib/codec/schema-registry.ts';
import type { PipelineConfig } from '../lib/config.ts';
import { errorMessage } from '../lib/errors.ts';
import { itemKey } from '../lib/events/source-records.ts';
import type { Log } from '../lib/log.ts';
import type { TelemetryStore } from '../lib/store/types.ts';
import { STREAMS, type StreamProducer } from '../lib/streams/types.ts';
import { createValidateHandler } from '../validate/handler.ts';
import { createWriteHandler } from '../write/handler.ts';
import { createFusedFunction, type ReadingDetector } from './fused.ts';
import { defineMapping, type EventSourceMapping } from './mapping.ts';
import type { MappingFunction, MappingTarget, RunningMapping } from './types.ts';

export type FunctionName = 'validate' | 'detect' | 'write';
export const FUNCTION_NAMES: readonly FunctionName[] = ['validate', 'detect', 'write'];

/** Settings every mapping shares: partial batch responses, bisect on error, a dead-letter destination. */
const COMMON = {
  MaximumBatchingWindowInSeconds: 0.05,
  StartingPosition: 'TRIM_HORIZON',
  BisectBatchOnFunctionError: true,
  MaximumRetryAttempts: 10,
  FunctionResponseTypes: ['ReportBatchItemFailures'],
  DestinationConfig: { OnFailure: { Destination: STREAMS.dlq } },
} as const;

/**
 * The three mappings as deployed on AWS: raw -> validate -> valid (+ dlq); valid -> detect ->
 * alerts; valid -> write -> store. Records that outlive their retries go to the dead-letter stream
 * with their reason rather than blocking a partition forever; bisecting isolates a poison record so
 * only it does.
 */
export function defaultMappings(): EventSourceMapping[] {
  return [
    defineMapping({ ...COMMON, BatchSize: 500, FunctionName: 'validate', EventSource: STREAMS.raw }),
    defineMapping({ ...COMMON, BatchSize: 500, FunctionName: 'detect', EventSource: STREAMS.valid }),
    defineMapping({ ...COMMON, BatchSize: 2_000, FunctionName: 'write', EventSource: STREAMS.valid }),
  ];
}

/** The fused mode's one mapping: raw -> validate -> detect + write, no telemetry.valid in between. */
export function fusedMapping(overrides: Partial<EventSourceMapping> = {}): EventSourceMapping {
  return defineMapping({
    ...COMMON,
    BatchSize: 2_000,
    FunctionName: 'fused',
    EventSource: STREAMS.raw,
    ...overrides,
  });
}

/** The mappings a mode runs (`fused`: one; `mappings`: the three), each with `overrides` applied. */
export function modeMappings(
  mode: 'mappings' | 'fused',
  overrides: Partial<EventSourceMapping> = {},
): EventSourceMapping[] {
  const mappings = mode === 'fused' ? [fusedMapping()] : defaultMappings();
  return mappings.map((m) => defineMapping({ ...m, ...overrides }));
}

/** The configured stream as a runner source; the other stream's client is never loaded. */
export async function streamSource(config: PipelineConfig): Promise<StreamSource> {
  if (config.stream === 'kafka') {
    const { createKafka } = await import('../lib/streams/kafka-client.ts');
    return { kind: 'kafka', kafka: createKafka(config.kafka, '-runner'), brokers: config.kafka.brokers };
  }
  const { createKinesisClient } = await import('../lib/streams/kinesis-client.ts');
  return {
    kind: 'kinesis',
    client: createKinesisClient({
      ...(config.kinesis.endpoint ? { endpoint: config.kinesis.endpoint } : {}),
      region: config.kinesis.region,
      local: config.kinesis.local,
    }),
    checkpointDir: path.join(config.dataDir, 'checkpoints'),
  };
}

export type StreamSource =
  | { kind: 'kafka'; kafka: Kafka; brokers: readonly string[] }
  | { kind: 'kinesis'; client: KinesisClient; checkpointDir: string };

export interface TopologyDeps {
  source: StreamSource;
  producer: StreamProducer;
  registry: SchemaRegistry;
  /** Needed by the write and fused functions. */
  store?: TelemetryStore;
  /** `mappings` (default): the three functions, each its own mapping; `fused`: one consumer. */
  mode?: 'mappings' | 'fused';
  /** The mappings to run; default defaultMappings(), or [fusedMapping()] in fused mode. */
  mappings?: EventSourceMapping[];
  /** See ValidateDeps.reloadRegistry: picks up schema files added while running. */
  reloadRegistry?: () => Promise<SchemaRegistry>;
  /** Least time between two such reloads; default 10 s. */
  reloadIntervalMs?: number;
  /** Detection for the fused mode; default the detect function's engine with built-in profiles. */
  detector?: ReadingDetector;
  deliverAlerts?: (alerts: readonly Alert[]) => Promise<void>;
  /** More settings for the detect function (profiles, state store), passed through as they are. */
  detect?: Omit<DetectDeps, 'producer' | 'registry' | 'deliver'>;
  retryDelayMs?: (attempt: number) => number;
  /** Kafka consumer group session timeout (see KafkaSourceOptions.sessionTimeoutMs). */
  kafkaSessionTimeoutMs?: number;
  log?: Log;
  onError?: (error: unknown) => void;
}

export interface PipelineCounters {
  valid: number;
  rejected: number;
  written: number;
  duplicates: number;
  alerts: number;
}

export interface Topology {
  readonly mode: 'mappings' | 'fused';
  readonly mappings: readonly RunningMapping[];
  readonly counters: PipelineCounters;
  stop(): Promise<void>;
}

/** Why write reported a record as failed, by itemKey; bounded, only the recent ones matter. */
class FailureNotes {
  readonly #notes = new Map<string, string>();
  note(key: string | undefined, detail: string): void {
    if (key === undefined) return;
    if (this.#notes.size >= 1_000) this.#notes.delete(this.#notes.keys().next().value as string);
    this.#notes.set(key, detail);
  }
  get = (key: string): string | undefined => this.#notes.get(key);
}

export async function startTopology(deps: TopologyDeps): Promise<Topology> {
  const mode = deps.mode ?? 'mappings';
  const counters: PipelineCounters = { valid: 0, rejected: 0, written: 0, duplicates: 0, alerts: 0 };
  const writeFailures = new FailureNotes();
  const timers: NodeJS.Timeout[] = [];
  const store = (): TelemetryStore => {
    if (!deps.store) throw new Error('the write and fused functions need a store: pass TopologyDeps.store');
    return deps.store;
  };
  const deliver = async (alerts: readonly Alert[]) => {
    counters.alerts += alerts.length;
    await deps.deliverAlerts?.(alerts);
  };
  const functions: Record<
    string,
    () => MappingFunction & { failureDetail?: (key: string) => string | undefined }
  > = {
    validate: () => ({
      handler: createValidateHandler({
        producer: deps.producer,
        registry: deps.registry,
        ...(deps.reloadRegistry ? { reloadRegistry: deps.reloadRegistry } : {}),
        ...(deps.reloadIntervalMs !== undefined ? { reloadIntervalMs: deps.reloadIntervalMs } : {}),
        onReloadError: (error) => {
          deps.log?.error('reloading the schema registry failed; the schemas loaded before stay in use', {
            error: errorMessage(error),
          });
          deps.onError?.(error);
        },
        onResult: (r) => {
          counters.valid += r.valid;
          counters.rejected += r.rejected;
        },
      }),
    }),
    detect: () => {
      const handler = createDetectHandler({
        ...deps.detect,
        producer: deps.producer,
        registry: deps.registry,
        deliver,
      });
      // Clock-driven detection (silence) between batches, where the handler offers it.
      const tick = (handler as { tick?: () => Promise<void> }).tick;
      if (typeof tick === 'function') {
        const timer = setInterval(() => {
          tick.call(handler).catch((error: unknown) => deps.onError?.(error));
        }, 1_000);
        timer.unref();
        timers.push(timer);
      }
      return { handler };
    },
    write: () => ({
      handler: createWriteHandler({
        store: store(),
        registry: deps.registry,
        onRecordFailure: (f) =>
          writeFailures.note(itemKey(f.record.itemIdentifier), `${f.code}: ${f.detail}`),
        onResult: (r) => {
          counters.written += r.written;
          counters.duplicates += r.duplicates;
        },
      }),
      failureDetail: writeFailures.get,
    }),
    fused: () => ({
      process: createFusedFunction({
        registry: deps.registry,
        detector: deps.detector ?? new DetectEngine(),
        store: store(),
        producer: deps.producer,
        deliverAlerts: deliver,
        onResult: (r) => {
          counters.valid += r.valid;
          counters.rejected += r.rejected;
          counters.written += r.written;
          counters.duplicates += r.duplicates;
        },
      }),
    }),
  };
  const mappings = deps.mappings ?? (mode === 'fused' ? [fusedMapping()] : defaultMappings());
  // Started together: a Kafka consumer group's first join takes seconds, and they are independent.
  const started = await Promise.allSettled(
    mappings.map((mapping) => {
      const make = functions[mapping.FunctionName];
      if (!make) {
        return Promise.reject(
          new Error(`no function named ${mapping.FunctionName}; known: ${Object.keys(functions).join(', ')}`),
        );
      }
      return startMapping({ mapping, ...make() } as MappingTarget, deps);
    }),
  );
  const running = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = started.find((s) => s.status === 'rejected');
  if (failed) {
    for (const timer of timers) clearInterval(timer);
    await Promise.allSettled(running.map((m) => m.stop()));
    throw failed.reason;
  }
  return {
    mode,
    mappings: running,
    counters,
    async stop() {
      for (const timer of timers) clearInterval(timer);
      await Promise.all(running.map((m) => m.stop()));
    },
  };
}

async function startMapping(target: MappingTarget, deps: TopologyDeps): Promise<RunningMapping> {
  const { source } = deps;
  const common = {
    producer: deps.producer,
    ...(deps.retryDelayMs ? { retryDelayMs: deps.retryDelayMs } : {}),
    ...(deps.log ? { log: deps.log } : {}),
    ...(deps.onError ? { onError: deps.onError } : {}),
  };
  if (source.kind === 'kafka') {
    const { startKafkaMapping } = await import('./kafka-source.ts');
    return startKafkaMapping(target, {
      ...common,
      kafka: source.kafka,
      brokers: source.brokers,
      ...(deps.kafkaSessionTimeoutMs ? { sessionTimeoutMs: deps.kafkaSessionTimeoutMs } : {}),
    });
  }
  const { startKinesisMapping } = await import('./kinesis-source.ts');
  return startKinesisMapping(target, {
    ...common,
    client: source.client,
    checkpointDir: source.checkpointDir,
  });
}
