/**
 * What analysts ask most, written once per query language: the latest values per device,
 * time-bucketed aggregates of one metric for one device, and a downsampled export. Each store
 * answers in its own language (DuckDB SQL, Timestream SQL, InfluxQL); the answers have the same
 * columns wherever the language allows, so a notebook does not care which store it asked.
 *
 * Values that go into query text (device ids) are escaped here; metric names come from METRICS
 * and bucket widths from parseBucket, so nothing else from the command line reaches the text.
 */
import { IngestError } from '../errors.ts';
import { METRICS, type Metric } from '../reading.ts';

/** A bucket width: `30s`, `1m`, `15m`, `1h`, `1d`. */
export interface Bucket {
  readonly amount: number;
  readonly unit: 's' | 'm' | 'h' | 'd';
  readonly ms: number;
}

const UNIT = {
  s: { ms: 1000, name: 'second' },
  m: { ms: 60_000, name: 'minute' },
  h: { ms: 3_600_000, name: 'hour' },
  d: { ms: 86_400_000, name: 'day' },
} as const;

export function parseBucket(text: string): Bucket {
  const match = /^(\d{1,6})(s|m|h|d)$/.exec(text.trim());
  const amount = Number(match?.[1]);
  if (!match || amount < 1) {
    throw new IngestError(
      'QUERY_FAILED',
      `"${text}" is not a bucket width: use a number and s, m, h or d, e.g. 1m, 15m, 1h.`,
    );
  }
  const unit = match[2] as Bucket['unit'];
  return { amount, unit, ms: amount * UNIT[unit].ms };
}

/** Readings of [from, to), ms since epoch. */
export interface TimeRange {
  readonly from: number;
  readonly to: number;
}

export interface LatestQuery {
  readonly device?: string | undefined;
  /** Only readings from this time on (ms): bounds what a store that bills by data scanned reads. */
  readonly from?: number | undefined;
}

export interface BucketsQuery extends TimeRange {
  readonly device: string;
  readonly metric: Metric;
  readonly bucket: Bucket;
}

export interface DownsampleQuery extends TimeRange {
  readonly bucket: Bucket;
  readonly device?: string | undefined;
}

/** Query text plus the columns to rename in its answer (InfluxQL cannot alias `time`). */
export interface AnalystQuery {
  readonly text: string;
  readonly rename?: Readonly<Record<string, string>>;
}

/**
 * Column sets of the answers:
 *   latest:     device_id, last_seen, temperature, humidity, pressure, vibration, battery
 *   buckets:    bucket, readings, avg, min, max      (readings: how many carried the metric)
 *   downsample: device_id, bucket, readings, temperature, humidity, pressure, vibration, battery (averages)
 */
export interface AnalystQueries {
  /** The language, for help and error messages. */
  readonly language: string;
  latest(query: LatestQuery): AnalystQuery;
  buckets(query: BucketsQuery): AnalystQuery;
  downsample(query: DownsampleQuery): AnalystQuery;
}

function sqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

function where(conditions: (string | false | undefined)[]): string {
  const kept = conditions.filter((c): c is string => typeof c === 'string');
  return kept.length === 0 ? '' : `\nWHERE ${kept.join(' AND ')}`;
}

/** DuckDB, table `readings` (one row per reading, a column per metric). */
export const duckDbQueries: AnalystQueries = {
  language: 'DuckDB SQL',
  latest: ({ device, from }) => ({
    // The last known value of each metric, which need not come from the same reading.
    text: `SELECT device_id, max(ts) AS last_seen,
  ${METRICS.map((m) => `arg_max(${m}, ts) FILTER (WHERE ${m} IS NOT NULL) AS ${m}`).join(',\n  ')}
FROM readings${where([device !== undefined && `device_id = ${sqlString(device)}`, from !== undefined && `ts >= epoch_ms(${from})`])}
GROUP BY device_id ORDER BY device_id`,
  }),
  buckets: ({ device, metric, bucket, from, to }) => ({
    text: `SELECT time_bucket(${duckDbInterval(bucket)}, ts) AS bucket, count(${metric}) AS readings,
  avg(${metric}) AS avg, min(${metric}) AS min, max(${metric}) AS max
FROM readings
WHERE device_id = ${sqlString(device)} AND ts >= epoch_ms(${from}) AND ts < epoch_ms(${to})
GROUP BY bucket ORDER BY bucket`,
  }),
  downsample: ({ device, bucket, from, to }) => ({
    text: `SELECT device_id, time_bucket(${duckDbInterval(bucket)}, ts) AS bucket, count(*) AS readings,
  ${METRICS.map((m) => `avg(${m}) AS ${m}`).join(', ')}
FROM readings${where([device !== undefined && `device_id = ${sqlString(device)}`, `ts >= epoch_ms(${from})`, `ts < epoch_ms(${to})`])}
GROUP BY device_id, bucket ORDER BY device_id, bucket`,
  }),
};

function duckDbInterval(bucket: Bucket): string {
  return `INTERVAL '${bucket.amount} ${UNIT[bucket.unit].name}'`;
}

/**
 * Timestream for LiveAnalytics SQL over the table timestream-store.ts writes: dimensions
 * `device_id` and `seq`, multi-measure records with a measure per metric. `bin(time, 1m)` buckets
 * from the epoch, as DuckDB's time_bucket does for widths up to a day.
 */
export function timestreamQueries(database: string, table: string): AnalystQueries {
  const from = `${quoteIdent(database)}.${quoteIdent(table)}`;
  const interval = (b: Bucket) => `${b.amount}${b.unit}`;
  return {
    language: 'Timestream SQL',
    latest: ({ device, from: since }) => ({
      // max_by skips rows whose key is NULL: the CASE makes that "rows without the metric".
      text: `SELECT device_id, max(time) AS last_seen,
  ${METRICS.map((m) => `max_by(${m}, CASE WHEN ${m} IS NOT NULL THEN time END) AS ${m}`).join(',\n  ')}
FROM ${from}${where([device !== undefined && `device_id = ${sqlString(device)}`, since !== undefined && `time >= from_milliseconds(${since})`])}
GROUP BY device_id ORDER BY device_id`,
    }),
    buckets: ({ device, metric, bucket, from: start, to }) => ({
      text: `SELECT bin(time, ${interval(bucket)}) AS bucket, count(${metric}) AS readings,
  avg(${metric}) AS avg, min(${metric}) AS min, max(${metric}) AS max
FROM ${from}
WHERE device_id = ${sqlString(device)} AND time >= from_milliseconds(${start}) AND time < from_milliseconds(${to})
GROUP BY 1 ORDER BY 1`,
    }),
    downsample: ({ device, bucket, from: start, to }) => ({
      text: `SELECT device_id, bin(time, ${interval(bucket)}) AS bucket, count(*) AS readings,
  ${METRICS.map((m) => `avg(${m}) AS ${m}`).join(', ')}
FROM ${from}${where([device !== undefined && `device_id = ${sqlString(device)}`, `time >= from_milliseconds(${start})`, `time < from_milliseconds(${to})`])}
GROUP BY 1, 2 ORDER BY 1, 2`,
    }),
  };
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * InfluxQL over the measurement influx-store.ts writes (`readings`, tag `device_id`, a field per
 * metric). InfluxQL cannot return the time of each metric's last value next to it, so `latest`
 * is the latest reading that carries any metric (a metric it lacks shows NULL).
 */
export const influxQueries: AnalystQueries = {
  language: 'InfluxQL',
  latest: ({ device, from }) => ({
    text: `SELECT ${METRICS.join(', ')} FROM readings${where([
      device !== undefined && `device_id = ${influxString(device)}`,
      from !== undefined && `time >= ${from}ms`,
    ])} GROUP BY device_id ORDER BY time DESC LIMIT 1`,
    rename: { time: 'last_seen' },
  }),
  buckets: ({ device, metric, bucket, from, to }) => ({
    text: `SELECT count(${metric}) AS readings, mean(${metric}) AS avg, min(${metric}) AS min, max(${metric}) AS max
FROM readings WHERE device_id = ${influxString(device)} AND time >= ${from}ms AND time < ${to}ms
GROUP BY time(${bucket.amount}${bucket.unit}) fill(none)`,
    rename: { time: 'bucket' },
  }),
  downsample: ({ device, bucket, from, to }) => ({
    text: `SELECT count(seq) AS readings, ${METRICS.map((m) => `mean(${m}) AS ${m}`).join(', ')}
FROM readings${where([device !== undefined && `device_id = ${influxString(device)}`, `time >= ${from}ms`, `time < ${to}ms`])}
GROUP BY time(${bucket.amount}${bucket.unit}), device_id fill(none)`,
    rename: { time: 'bucket' },
  }),
};

/** InfluxQL string literal: single quotes, backslash escapes. */
function influxString(value: string): string {
  return `'${value.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
}
