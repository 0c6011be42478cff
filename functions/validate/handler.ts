import { SchemaRegistry } from '../lib/codec/schema-registry.ts';
import { loadConfig, type PipelineConfig } from '../lib/config.ts';
import { sourceRecords } from '../lib/events/source-records.ts';
import type { BatchHandler, BatchResponse, SourceRecord, StreamEvent } from '../lib/events/types.ts';
import { type BatchObserver, lambdaObserver, NO_OBSERVER } from '../lib/metrics.ts';
import { createProducer } from '../lib/streams/create-producer.ts';
import { STREAMS, type StreamProducer } from '../lib/streams/types.ts';
import {
  DEFAULT_VALIDATE_OPTIONS,
  type ValidateOptions,
  type ValidateResult,
  validateRecords,
} from './core.ts';

export interface ValidateDeps {
  producer: StreamProducer;
  registry: SchemaRegistry;
  options?: ValidateOptions;
  /**
   * Reads the schema registry again (e.g. SchemaRegistry.loadAsync of the schema directory). When a
   * batch holds readings of unknown writer schemas it is called, at most once per
   * `reloadIntervalMs`, and those records are validated again: a schema file dropped into
   * schemas/history/ is picked up without a restart, so replayed dead letters go through.
   */
  reloadRegistry?: () => Promise<SchemaRegistry>;
  reloadIntervalMs?: number;
  /** A reload failed (e.g. a broken schema file): the registry in use stays, the records are dead letters. */
  onReloadError?: (error: unknown) => void;
  observer?: BatchObserver;
  onResult?: (stats: { valid: number; rejected: number }) => void;
}

/**
 * validate: raw device bytes -> canonical readings on telemetry.valid, rejects on telemetry.dlq.
 * Per-record problems never fail the batch (they become dead letters, each with its reason); a
 * stream that cannot be written fails the whole batch so the event source retries it.
 */
export function createValidateHandler(deps: ValidateDeps): BatchHandler {
  const options = deps.options ?? DEFAULT_VALIDATE_OPTIONS;
  const observer = deps.observer ?? NO_OBSERVER;
  const reloadIntervalMs = deps.reloadIntervalMs ?? 10_000;
  let registry = deps.registry;
  let lastReload = Number.NEGATIVE_INFINITY;

  const retryUnknownSchemas = async (
    records: SourceRecord[],
    first: ValidateResult,
  ): Promise<ValidateResult> => {
    if (!deps.reloadRegistry || !first.reasons.SCHEMA_UNKNOWN) return first;
    if (Date.now() - lastReload < reloadIntervalMs) return first;
    lastReload = Date.now();
    try {
      registry = await deps.reloadRegistry();
    } catch (error) {
      deps.onReloadError?.(error);
      return first;
    }
    return validateRecords(records, registry, options);
  };

  return async (event: StreamEvent): Promise<BatchResponse> => {
    const started = performance.now();
    const records = sourceRecords(event);
    try {
      const result = await retryUnknownSchemas(records, validateRecords(records, registry, options));
      await Promise.all([
        deps.producer.send(STREAMS.valid, result.valid),
        deps.producer.send(STREAMS.dlq, result.rejected),
      ]);
      deps.onResult?.({ valid: result.valid.length, rejected: result.rejected.length });
      observer.batch({
        records: records.length,
        counts: { valid: result.valid.length, rejected: result.rejected.length },
        reasons: result.reasons,
        durationMs: performance.now() - started,
      });
      return { batchItemFailures: [] };
    } catch (error) {
      observer.failed(error, records.length);
      throw error;
    }
  };
}

let lambdaHandler: Promise<BatchHandler> | undefined;

async function fromEnvironment(config: PipelineConfig = loadConfig()): Promise<BatchHandler> {
  return createValidateHandler({
    producer: await createProducer(config),
    registry: SchemaRegistry.load(),
    options: { ...DEFAULT_VALIDATE_OPTIONS, maxPayloadBytes: config.maxPayloadBytes },
    observer: await lambdaObserver('validate', config.logLevel),
  });
}

/** AWS Lambda entry point. */
export const handler = async (event: StreamEvent): Promise<BatchResponse> =>
  (await (lambdaHandler ??= fromEnvironment()))(event);
