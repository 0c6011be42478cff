import { type Alert, encodeAlert } from '../lib/codec/alert-codec.ts';
import type { SchemaRegistry } from '../lib/codec/schema-registry.ts';
import { deadLetter } from '../lib/dead-letter.ts';
import type { ErrorCode } from '../lib/errors.ts';
import type { BatchResponse, SourceRecord } from '../lib/events/types.ts';
import { HEADER, type Reading } from '../lib/reading.ts';
import type { StoredReading, TelemetryStore } from '../lib/store/types.ts';
import { type OutRecord, STREAMS, type StreamProducer } from '../lib/streams/types.ts';
import {
  DEFAULT_VALIDATE_OPTIONS,
  type ValidateOptions,
  type ValidationSink,
  validateEach,
} from '../validate/core.ts';
import { withReceivedAt } from '../write/core.ts';

/** What the fused path needs of detection: the detect function's per-reading engine. */
export interface ReadingDetector {
  observe(reading: Reading, out: Alert[]): unknown;
}

/** One batch through validate -> detect, ready for the store and the streams. */
export interface FusedResult {
  readings: StoredReading[];
  deadLetters: OutRecord[];
  alerts: Alert[];
  reasons: Partial<Record<ErrorCode, number>>;
}

/**
 * The fused hot path, pure and synchronous: validate (decode, resolve the writer schema, check)
 * then detect, with no intermediate stream and no re-encoding of canonical records. One instance
 * is reused for every batch; its sink is built once, so nothing is allocated per record beyond the
 * decoded reading itself.
 */
export class FusedPipeline implements ValidationSink {
  readonly #registry: SchemaRegistry;
  readonly #detector: ReadingDetector;
  readonly #options: ValidateOptions;
  #result: FusedResult = emptyResult();

  constructor(
    registry: SchemaRegistry,
    detector: ReadingDetector,
    options: ValidateOptions = DEFAULT_VALIDATE_OPTIONS,
  ) {
    this.#registry = registry;
    this.#detector = detector;
    this.#options = options;
  }

  run(records: readonly SourceRecord[]): FusedResult {
    const result = (this.#result = emptyResult());
    validateEach(records, this.#registry, this.#options, this);
    const alerts = result.alerts;
    const readings = result.readings;
    for (let i = 0; i < readings.length; i++) this.#detector.observe(readings[i]!, alerts);
    return result;
  }

  accept(reading: Reading, record: SourceRecord): void {
    this.#result.readings.push(withReceivedAt(reading, record.headers[HEADER.receivedAt]));
  }

  reject(record: SourceRecord, code: ErrorCode, detail: string): void {
    const reasons = this.#result.reasons;
    reasons[code] = (reasons[code] ?? 0) + 1;
    this.#result.deadLetters.push(deadLetter(record, code, detail));
  }
}

function emptyResult(): FusedResult {
  return { readings: [], deadLetters: [], alerts: [], reasons: {} };
}

export interface FusedDeps {
  registry: SchemaRegistry;
  detector: ReadingDetector;
  store: TelemetryStore;
  producer: StreamProducer;
  options?: ValidateOptions;
  /** Extra alert delivery (MQTT, webhook), after the alerts stream accepted them. */
  deliverAlerts?: (alerts: readonly Alert[]) => Promise<void>;
  onResult?: (r: {
    valid: number;
    rejected: number;
    written: number;
    duplicates: number;
    alerts: number;
  }) => void;
}

/**
 * validate -> detect + write in one consumer of telemetry.raw (the fused mode). The store and the
 * dead letters are written first, then alerts: a failure anywhere fails the batch and the runner
 * retries it; the store drops the readings it already holds, so a retry stores nothing twice.
 */
export function createFusedFunction(deps: FusedDeps): (records: SourceRecord[]) => Promise<BatchResponse> {
  const pipeline = new FusedPipeline(deps.registry, deps.detector, deps.options);
  return async (records) => {
    const { readings, deadLetters, alerts } = pipeline.run(records);
    const [stored] = await Promise.all([
      deps.store.writeReadings(readings),
      deps.producer.send(STREAMS.dlq, deadLetters),
    ]);
    if (alerts.length > 0) {
      await deps.producer.send(
        STREAMS.alerts,
        alerts.map((alert) => ({ key: alert.deviceId, value: encodeAlert(alert) })),
      );
      await deps.deliverAlerts?.(alerts);
    }
    deps.onResult?.({
      valid: readings.length,
      rejected: deadLetters.length,
      written: stored.written,
      duplicates: stored.duplicates,
      alerts: alerts.length,
    });
    return { batchItemFailures: [] };
  };
}
