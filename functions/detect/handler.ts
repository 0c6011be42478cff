import { type Alert, encodeAlert } from '../lib/codec/alert-codec.ts';
import { decodeReading } from '../lib/codec/reading-codec.ts';
import { SchemaRegistry } from '../lib/codec/schema-registry.ts';
import { loadConfig } from '../lib/config.ts';
import { sourceRecords } from '../lib/events/source-records.ts';
import type { BatchHandler, BatchResponse, StreamEvent } from '../lib/events/types.ts';
import { createProducer } from '../lib/streams/create-producer.ts';
import { type OutRecord, STREAMS, type StreamProducer } from '../lib/streams/types.ts';
import { ThresholdDetector } from './thresholds.ts';

export interface DetectDeps {
  producer: StreamProducer;
  registry: SchemaRegistry;
  detector?: ThresholdDetector;
  /** Extra delivery (MQTT alerts/{deviceId}, webhooks); called after the alerts stream accepted them. */
  deliver?: (alerts: readonly Alert[]) => Promise<void>;
}

/** detect: canonical readings from telemetry.valid -> alert events on the alerts stream. */
export function createDetectHandler(deps: DetectDeps): BatchHandler {
  const detector = deps.detector ?? new ThresholdDetector();
  return async (event: StreamEvent): Promise<BatchResponse> => {
    const alerts: Alert[] = [];
    for (const record of sourceRecords(event)) {
      detector.observe(decodeReading(record.value, deps.registry), alerts);
    }
    if (alerts.length > 0) {
      const out: OutRecord[] = alerts.map((alert) => ({ key: alert.deviceId, value: encodeAlert(alert) }));
      await deps.producer.send(STREAMS.alerts, out);
      await deps.deliver?.(alerts);
    }
    return { batchItemFailures: [] };
  };
}

let lambdaHandler: Promise<BatchHandler> | undefined;

/** AWS Lambda entry point. */
export const handler = async (event: StreamEvent): Promise<BatchResponse> =>
  (
    await (lambdaHandler ??= (async () =>
      createDetectHandler({
        producer: await createProducer(loadConfig()),
        registry: SchemaRegistry.load(),
      }))())
  )(event);
