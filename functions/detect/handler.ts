import { type Alert, encodeAlert } from '../lib/codec/alert-codec.ts';
import { SchemaRegistry } from '../lib/codec/schema-registry.ts';
import { loadConfig } from '../lib/config.ts';
import { sourceRecords } from '../lib/events/source-records.ts';
import type { BatchHandler, BatchResponse, SourceRecord, StreamEvent } from '../lib/events/types.ts';
import { createProducer } from '../lib/streams/create-producer.ts';
import { STREAMS, type StreamProducer } from '../lib/streams/types.ts';
import { DetectEngine, type EngineOptions } from './engine.ts';
import { PartitionDetector, type PartitionIo } from './partition-detector.ts';
import { recordPosition } from './positions.ts';
import { builtInProfiles, type DeviceProfiles, loadDeviceProfiles } from './profiles.ts';
import type { DetectorStateStore } from './state-store.ts';

export interface DetectDeps {
  producer: StreamProducer;
  registry: SchemaRegistry;
  /** Detector settings per device (profiles.ts). Default: the built-in settings. */
  profiles?: DeviceProfiles;
  engine?: EngineOptions;
  /** Where detector state survives restarts (FileDetectorStateStore). Default: none, state lives in this process. */
  stateStore?: DetectorStateStore;
  /** Extra delivery (MQTT alerts/{deviceId}/..., webhooks); called after the alerts stream accepted them. */
  deliver?: (alerts: readonly Alert[]) => Promise<void>;
  /** Wall clock, ms. Default Date.now. */
  clock?: () => number;
  /** A partition's saved state could not be restored and it starts afresh. Default: console.error. */
  onError?: (error: unknown, partition: string) => void;
}

export interface DetectHandler extends BatchHandler {
  /**
   * Clock-driven detection (silence) for partitions no batch has come for. Call every second or so;
   * Lambda cannot, so there silence is noticed at the partition's next batch. Rejects if an alert
   * could not be saved or sent (it stays pending and goes out with the next batch or tick).
   */
  tick(): Promise<void>;
  /** The partitions this handler has seen, by partition key. */
  readonly partitions: ReadonlyMap<string, PartitionDetector>;
}

/**
 * detect: canonical readings from telemetry.valid -> alert events on the alerts stream (+ deliver).
 * State is kept per partition (partition-detector.ts) and checkpointed after every batch with the
 * batch's last position, so a restart resumes exactly where the state left off.
 */
export function createDetectHandler(deps: DetectDeps): DetectHandler {
  const profiles = deps.profiles ?? builtInProfiles();
  const store = deps.stateStore;
  const clock = deps.clock ?? Date.now;
  const onError =
    deps.onError ??
    ((error: unknown, partition: string) =>
      console.error(`detect: partition ${partition} starts with fresh state:`, error));
  const partitions = new Map<string, PartitionDetector>();
  const loading = new Map<string, Promise<PartitionDetector>>();
  const io: PartitionIo = {
    registry: deps.registry,
    store,
    deadLetters: (records) => deps.producer.send(STREAMS.dlq, records),
    publish: async (alerts) => {
      await deps.producer.send(
        STREAMS.alerts,
        alerts.map((alert) => ({ key: alert.deviceId, value: encodeAlert(alert) })),
      );
      await deps.deliver?.(alerts);
    },
  };

  const load = async (partition: string): Promise<PartitionDetector> => {
    const saved = await store?.load(partition);
    let engine: DetectEngine | undefined;
    if (saved !== undefined) {
      try {
        engine = DetectEngine.restore(saved.engine, profiles, deps.engine);
      } catch (error) {
        onError(error, partition);
      }
    }
    const detector = new PartitionDetector(
      partition,
      engine ?? new DetectEngine(profiles, deps.engine),
      saved?.position,
      saved?.pending ?? [],
      clock(),
    );
    partitions.set(partition, detector);
    return detector;
  };

  const detectorFor = (partition: string): Promise<PartitionDetector> => {
    let detector = loading.get(partition);
    if (detector === undefined) {
      detector = load(partition);
      loading.set(partition, detector);
      detector.catch(() => loading.delete(partition)); // a failed load is tried again next batch
    }
    return detector;
  };

  const handler = async (event: StreamEvent): Promise<BatchResponse> => {
    const byPartition = new Map<string, SourceRecord[]>();
    for (const record of sourceRecords(event)) {
      const { partition } = recordPosition(record.origin);
      let list = byPartition.get(partition);
      if (list === undefined) byPartition.set(partition, (list = []));
      list.push(record);
    }
    await Promise.all(
      [...byPartition].map(async ([partition, records]) => {
        const detector = await detectorFor(partition);
        await detector.exclusive(() => detector.process(records, io, clock()));
      }),
    );
    return { batchItemFailures: [] };
  };

  const tick = async (): Promise<void> => {
    const results = await Promise.allSettled(
      [...partitions.values()].map((detector) => detector.exclusive(() => detector.tick(io, clock()))),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
  };

  return Object.assign(handler, { tick, partitions: partitions as ReadonlyMap<string, PartitionDetector> });
}

let lambdaHandler: Promise<BatchHandler> | undefined;

/**
 * AWS Lambda entry point. Profiles come from config/device-profiles.json, which the bundle must
 * carry. Detector state lives in memory for as long as the execution environment does: a store
 * that outlives it (S3, DynamoDB) is not written yet, and there is no clock between invocations,
 * so silence is noticed when the partition's next batch arrives.
 */
export const handler = async (event: StreamEvent): Promise<BatchResponse> =>
  (await (lambdaHandler ??= fromEnvironment()))(event);

async function fromEnvironment(): Promise<BatchHandler> {
  const config = loadConfig();
  const { createAwsAlertDelivery } = await import('./delivery/aws.ts');
  const deliver = await createAwsAlertDelivery({ ...config.alerts, region: config.kinesis.region });
  return createDetectHandler({
    producer: await createProducer(config),
    registry: SchemaRegistry.load(),
    profiles: loadDeviceProfiles(),
    ...(deliver ? { deliver } : {}),
  });
}
