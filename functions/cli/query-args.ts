/** commander parsers for the query shortcuts' options: times, bucket widths, metrics. */
import { InvalidArgumentError } from 'commander';
import { METRICS, type Metric } from '../lib/reading.ts';
import { type Bucket, parseBucket } from '../lib/store/analyst-queries.ts';

const RELATIVE = /^now(?:-(\d+)(s|m|h|d))?$/;
const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/**
 * A point in time, ms since epoch: `now`, `now-15m`, `now-2h`, `now-7d`, or an ISO 8601 date or
 * date-time (`2024-06-10`, `2024-06-10T08:00:00Z`; without a zone it is UTC, as stored).
 */
export function parseTime(text: string, now: number = Date.now()): number {
  const relative = RELATIVE.exec(text);
  if (relative)
    return (
      now -
      (relative[1] === undefined ? 0 : Number(relative[1]) * UNIT_MS[relative[2] as keyof typeof UNIT_MS])
    );
  const hasZone = /(Z|[+-]\d{2}:?\d{2})$/i.test(text) || /^\d{4}-\d{2}-\d{2}$/.test(text);
  const ms = /^\d{4}-\d{2}-\d{2}/.test(text) ? Date.parse(hasZone ? text : `${text}Z`) : Number.NaN;
  if (Number.isNaN(ms)) {
    throw new InvalidArgumentError(
      'expected now, now-<n><s|m|h|d> (e.g. now-6h) or an ISO 8601 time (e.g. 2024-06-10T08:00:00Z)',
    );
  }
  return ms;
}

export function bucketWidth(text: string): Bucket {
  try {
    return parseBucket(text);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

export function metric(text: string): Metric {
  if (!(METRICS as readonly string[]).includes(text))
    throw new InvalidArgumentError(`expected one of: ${METRICS.join(', ')}`);
  return text as Metric;
}
