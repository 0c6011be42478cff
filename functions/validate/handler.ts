import { SchemaRegistry } from '../lib/codec/schema-registry.ts';
import { loadConfig, type PipelineConfig } from '../lib/config.ts';
import { sourceRecords } from '../lib/events/source-records.ts';
import type { BatchHandler, BatchResponse, StreamEvent } from '../lib/events/types.ts';
import { createProducer } from '../lib/streams/create-producer.ts';
import { STREAMS, type StreamProducer } from '../lib/streams/types.ts';
import { DEFAULT_VALIDATE_OPTIONS, type ValidateOptions, validateRecords } from './core.ts';

export interface ValidateDeps {
  producer: StreamProducer;
  registry: SchemaRegistry;
  options?: ValidateOptions;
  onResult?: (stats: { valid: number; rejected: number }) => void;
}

/**
 * validate: raw device bytes -> canonical readings on telemetry.valid, rejects on telemetry.dlq.
 * Per-record problems never fail the batch (they become dead letters); a stream that cannot be
 * written fails the whole batch so the event source retries it.
 */
export function createValidateHandler(deps: ValidateDeps): BatchHandler {
  const options = deps.options ?? DEFAULT_VALIDATE_OPTIONS;
  return async (event: StreamEvent): Promise<BatchResponse> => {
    const result = validateRecords(sourceRecords(event), deps.registry, options);
    await Promise.all([
      deps.producer.send(STREAMS.valid, result.valid),
      deps.producer.send(STREAMS.dlq, result.rejected),
    ]);
    deps.onResult?.({ valid: result.valid.length, rejected: result.rejected.length });
    return { batchItemFailures: [] };
  };
}

let lambdaHandler: Promise<BatchHandler> | undefined;

async function fromEnvironment(config: PipelineConfig = loadConfig()): Promise<BatchHandler> {
  return createValidateHandler({
    producer: await createProducer(config),
    registry: SchemaRegistry.load(),
    options: { ...DEFAULT_VALIDATE_OPTIONS, maxPayloadBytes: config.maxPayloadBytes },
  });
}

/** AWS Lambda entry point. */
export const handler = async (event: StreamEvent): Promise<BatchResponse> =>
  (await (lambdaHandler ??= fromEnvironment()))(event);
