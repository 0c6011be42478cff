/**
 * What a batch function reports, once per batch. On Lambda that becomes a structured log line
 * (Powertools Logger) and CloudWatch metrics in Embedded Metric Format (Powertools Metrics: EMF is
 * a JSON line on stdout that CloudWatch turns into metrics, no PutMetricData call). Once per batch,
 * never per record, so the cost is independent of batch size; bench/hot-path.ts measures it.
 * Locally the runner keeps its own counters and passes no observer.
 */
import type { PipelineConfig } from './config.ts';
import { errorMessage } from './errors.ts';
import { createLog, type Log } from './log.ts';

export interface BatchReport {
  /** Records in the event. */
  readonly records: number;
  /** What happened to them, e.g. { valid: 480, rejected: 20 } or { written: 500, duplicates: 0 }. */
  readonly counts: Readonly<Record<string, number>>;
  /** Dead letters by reason code. */
  readonly reasons?: Readonly<Record<string, number>> | undefined;
  readonly durationMs: number;
}

export interface BatchObserver {
  batch(report: BatchReport): void;
  /** The batch failed as a whole (the event source retries it). */
  failed(error: unknown, records: number): void;
}

export const NO_OBSERVER: BatchObserver = Object.freeze({ batch() {}, failed() {} });

export const METRICS_NAMESPACE = 'IotIngest';

/** Powertools Logger + Metrics for a Lambda function; loaded on the first invocation. */
export async function lambdaObserver(
  functionName: string,
  logLevel: PipelineConfig['logLevel'],
): Promise<BatchObserver> {
  const [log, { Metrics, MetricUnit }] = await Promise.all([
    createLog('iot-ingest', logLevel, { function: functionName }),
    import('@aws-lambda-powertools/metrics'),
  ]);
  const metrics = new Metrics({
    namespace: METRICS_NAMESPACE,
    serviceName: 'iot-ingest',
    defaultDimensions: { function: functionName },
  });
  return new PowertoolsObserver(log, metrics, MetricUnit.Count, MetricUnit.Milliseconds);
}

type PowertoolsMetrics = InstanceType<typeof import('@aws-lambda-powertools/metrics').Metrics>;
type Unit = Parameters<PowertoolsMetrics['addMetric']>[1];

export class PowertoolsObserver implements BatchObserver {
  readonly #log: Log;
  readonly #metrics: PowertoolsMetrics;
  readonly #count: Unit;
  readonly #ms: Unit;

  constructor(log: Log, metrics: PowertoolsMetrics, count: Unit, ms: Unit) {
    this.#log = log;
    this.#metrics = metrics;
    this.#count = count;
    this.#ms = ms;
  }

  batch(report: BatchReport): void {
    const m = this.#metrics;
    m.addMetric('Records', this.#count, report.records);
    for (const name in report.counts) m.addMetric(metricName(name), this.#count, report.counts[name]!);
    m.addMetric('BatchDuration', this.#ms, report.durationMs);
    m.publishStoredMetrics();
    // One more EMF line per reason code, the reason as a dimension, so an alarm can watch one reason.
    // (addDimension lasts until the next publish; singleMetric() would build a Metrics per call.)
    for (const reason in report.reasons ?? {}) {
      m.addDimension('reason', reason);
      m.addMetric('DeadLetters', this.#count, report.reasons![reason]!);
      m.publishStoredMetrics();
    }
    this.#log.info('batch', { ...report });
  }

  failed(error: unknown, records: number): void {
    this.#metrics.addMetric('BatchFailures', this.#count, 1);
    this.#metrics.publishStoredMetrics();
    this.#log.error('batch failed; the event source will retry it', { records, error: errorMessage(error) });
  }
}

function metricName(count: string): string {
  return count.charAt(0).toUpperCase() + count.slice(1);
}
