import { SchemaRegistry } from '../lib/codec/schema-registry.ts';
import { loadConfig } from '../lib/config.ts';
import { sourceRecords } from '../lib/events/source-records.ts';
import type { BatchHandler, BatchResponse, StreamEvent } from '../lib/events/types.ts';
import { type BatchObserver, lambdaObserver, NO_OBSERVER } from '../lib/metrics.ts';
import type { TelemetryStore } from '../lib/store/types.ts';
import { batchItemFailures, type RecordFailure, toStoreBatch } from './core.ts';

export interface WriteDeps {
  store: TelemetryStore;
  registry: SchemaRegistry;
  observer?: BatchObserver;
  /** Told about each record reported as failed, with why (the runner puts it in the dead letter). */
  onRecordFailure?: (failure: RecordFailure) => void;
  onResult?: (stats: { written: number; duplicates: number }) => void;
}

/**
 * write: canonical readings from telemetry.valid -> the time-series store. The store drops
 * redelivered duplicates by (deviceId, ts, seq), so retrying a whole batch is safe. A record that
 * does not decode is reported in batchItemFailures; a store failure fails the batch (the event
 * source retries it). Nothing is caught and logged away.
 */
export function createWriteHandler(deps: WriteDeps): BatchHandler {
  const observer = deps.observer ?? NO_OBSERVER;
  return async (event: StreamEvent): Promise<BatchResponse> => {
    const started = performance.now();
    const records = sourceRecords(event);
    const { readings, failures } = toStoreBatch(records, deps.registry);
    let result: { written: number; duplicates: number };
    try {
      result = await deps.store.writeReadings(readings);
    } catch (error) {
      observer.failed(error, records.length);
      throw error;
    }
    for (const failure of failures) deps.onRecordFailure?.(failure);
    deps.onResult?.(result);
    const reasons: Record<string, number> = {};
    for (const f of failures) reasons[f.code] = (reasons[f.code] ?? 0) + 1;
    observer.batch({
      records: records.length,
      counts: { ...result, failed: failures.length },
      reasons,
      durationMs: performance.now() - started,
    });
    return { batchItemFailures: batchItemFailures(failures) };
  };
}

let lambdaHandler: Promise<BatchHandler> | undefined;

async function fromEnvironment(): Promise<BatchHandler> {
  const config = loadConfig();
  // The store IOT_STORE names, imported lazily: a Timestream bundle never loads DuckDB's native module.
  const { createStore } = await import('../lib/store/create-store.ts');
  return createWriteHandler({
    store: await createStore(config.store),
    registry: SchemaRegistry.load(),
    observer: await lambdaObserver('write', config.logLevel),
  });
}

/** AWS Lambda entry point. */
export const handler = async (event: StreamEvent): Promise<BatchResponse> =>
  (await (lambdaHandler ??= fromEnvironment()))(event);
