/**
 * Read-only InfluxQL on `/query` (InfluxDB 1.x, and 2.x/3.x through their 1.x-compatible API and
 * a DBRP mapping), answered in the same JSON-safe shape as DuckDB's: one table, the series tags
 * as leading columns, `time` as ISO 8601 UTC (ms).
 *
 * InfluxDB 1.x runs a write statement sent with GET (it only warns), so reads are enforced here:
 * one statement, SELECT or SHOW, without INTO.
 */
import { errorMessage, IngestError } from '../errors.ts';
import { type InfluxTarget, influxError, influxHeaders } from './influx-http.ts';
import {
  DEFAULT_MAX_ROWS,
  type QueryOptions,
  type QueryResult,
  type QueryValue,
  type SqlQueryable,
} from './types.ts';

interface InfluxSeries {
  name?: string;
  tags?: Record<string, string>;
  columns?: string[];
  values?: QueryValue[][];
}

interface InfluxAnswer {
  results?: { error?: string; series?: InfluxSeries[] }[];
  error?: string;
}

export class InfluxQuery implements SqlQueryable {
  private readonly target: InfluxTarget;

  constructor(target: InfluxTarget) {
    this.target = target;
  }

  async query(influxql: string, options: QueryOptions = {}): Promise<QueryResult> {
    assertReadOnly(influxql);
    const url = new URL(`${this.target.url}/query`);
    url.searchParams.set('db', this.target.database);
    if (this.target.retentionPolicy !== undefined) url.searchParams.set('rp', this.target.retentionPolicy);
    url.searchParams.set('epoch', 'ms');
    url.searchParams.set('q', influxql);
    let answer: InfluxAnswer;
    try {
      const response = await fetch(url, {
        headers: influxHeaders(this.target),
        ...(options.signal ? { signal: options.signal } : {}),
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}: ${await influxError(response)}`);
      answer = (await response.json()) as InfluxAnswer;
    } catch (cause) {
      throw new IngestError('QUERY_FAILED', `InfluxDB ${url.origin}: ${errorMessage(cause)}`, { cause });
    }
    const result = answer.results?.[0];
    const error = answer.error ?? result?.error;
    if (error !== undefined) throw new IngestError('QUERY_FAILED', error);
    return toQueryResult(result?.series ?? [], options.maxRows ?? DEFAULT_MAX_ROWS);
  }
}

/** Many series to one table: tag columns first (in the order met), then the union of the series' columns. */
export function toQueryResult(series: InfluxSeries[], maxRows: number): QueryResult {
  const names = new Set(series.map((s) => s.name));
  const tagColumns: string[] = [];
  const valueColumns: string[] = [];
  for (const s of series) {
    for (const tag of Object.keys(s.tags ?? {})) if (!tagColumns.includes(tag)) tagColumns.push(tag);
    for (const column of s.columns ?? []) if (!valueColumns.includes(column)) valueColumns.push(column);
  }
  const columns = [...(names.size > 1 ? ['measurement'] : []), ...tagColumns, ...valueColumns];
  // Series in key order whatever the ORDER BY (InfluxDB reverses them for ORDER BY time DESC).
  const seriesKey = (s: InfluxSeries) =>
    [s.name ?? '', ...tagColumns.map((t) => s.tags?.[t] ?? '')].join('\u0000');
  series = series.toSorted((a, b) =>
    seriesKey(a) < seriesKey(b) ? -1 : seriesKey(a) > seriesKey(b) ? 1 : 0,
  );
  const rows: QueryValue[][] = [];
  let truncated = false;
  outer: for (const s of series) {
    const at = (s.columns ?? []).map((c) => columns.indexOf(c));
    for (const values of s.values ?? []) {
      if (rows.length === maxRows) {
        truncated = true;
        break outer;
      }
      const row: QueryValue[] = columns.map((c) =>
        c === 'measurement' ? (s.name ?? null) : (s.tags?.[c] ?? null),
      );
      values.forEach((value, i) => {
        const column = at[i]!;
        row[column] =
          columns[column] === 'time' && typeof value === 'number' ? new Date(value).toISOString() : value;
      });
      rows.push(row);
    }
  }
  const types = columns.map((column, i) => {
    if (column === 'time') return 'TIMESTAMP';
    const sample = rows.find((row) => row[i] !== null)?.[i];
    return typeof sample === 'number' ? 'DOUBLE' : typeof sample === 'boolean' ? 'BOOLEAN' : 'VARCHAR';
  });
  return { columns, types, rows, truncated };
}

/** One SELECT or SHOW statement without INTO, judged outside strings, quoted names and comments. */
function assertReadOnly(influxql: string): void {
  const code = influxql
    .replace(/'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"/g, "''")
    .replace(/--[^\n]*|\/\*[\s\S]*?\*\//g, ' ')
    .trim()
    .replace(/;\s*$/, '');
  const first = /^(\w+)/.exec(code)?.[1]?.toUpperCase();
  if (first === undefined)
    throw new IngestError('QUERY_FAILED', 'The query is empty: there is no InfluxQL statement in it.');
  if (code.includes(';')) throw new IngestError('QUERY_FAILED', 'Run one statement at a time.');
  if (!['SELECT', 'SHOW'].includes(first) || /\bINTO\b/i.test(code)) {
    throw new IngestError(
      'QUERY_FAILED',
      `Queries only read here: SELECT (without INTO) and SHOW run, ${first} does not.`,
    );
  }
}
