import { decodeReading } from '../lib/codec/reading-codec.ts';
import { SchemaRegistry } from '../lib/codec/schema-registry.ts';
import { loadConfig } from '../lib/config.ts';
import { sourceRecords } from '../lib/events/source-records.ts';
import type { BatchHandler, BatchResponse, StreamEvent } from '../lib/events/types.ts';
import type { Reading } from '../lib/reading.ts';
import type { TelemetryStore } from '../lib/store/types.ts';

export interface WriteDeps {
  store: TelemetryStore;
  registry: SchemaRegistry;
  onResult?: (stats: { written: number; duplicates: number }) => void;
}

/**
 * write: canonical readings from telemetry.valid -> the time-series store. The store drops
 * redelivered duplicates by (deviceId, ts, seq), so retrying a whole batch is safe. A store
 * failure fails the batch (the event source retries it); nothing is caught and logged away.
 */
export function createWriteHandler(deps: WriteDeps): BatchHandler {
  return async (event: StreamEvent): Promise<BatchResponse> => {
    const records = sourceRecords(event);
    const readings: Reading[] = new Array(records.length);
    for (let i = 0; i < records.length; i++) readings[i] = decodeReading(records[i]!.value, deps.registry);
    const result = await deps.store.writeReadings(readings);
    deps.onResult?.(result);
    return { batchItemFailures: [] };
  };
}

let lambdaHandler: Promise<BatchHandler> | undefined;

async function fromEnvironment(): Promise<BatchHandler> {
  const config = loadConfig();
  const { DuckDbStore } = await import('../lib/store/duckdb-store.ts');
  return createWriteHandler({
    store: await DuckDbStore.open(config.duckdbPath),
    registry: SchemaRegistry.load(),
  });
}

/** AWS Lambda entry point. */
export const handler = async (event: StreamEvent): Promise<BatchResponse> =>
  (await (lambdaHandler ??= fromEnvironment()))(event);
