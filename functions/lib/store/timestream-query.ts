/**
 * Read-only SQL against Timestream for LiveAnalytics through `@aws-sdk/client-timestream-query`,
 * answered in the same JSON-safe shape as DuckDB's (timestamps ISO 8601 UTC, ms).
 *
 * https://docs.aws.amazon.com/timestream/latest/developerguide/API_query_Query.html
 */
import {
  CancelQueryCommand,
  type ColumnInfo,
  type Datum,
  QueryCommand,
  TimestreamQueryClient,
  TimestreamQueryServiceException,
  type Type,
} from '@aws-sdk/client-timestream-query';
import type { TimestreamStoreConfig } from '../config.ts';
import { errorMessage, IngestError } from '../errors.ts';
import { type TimestreamSdkConfig, timestreamSdkConfig } from './timestream-client.ts';
import {
  DEFAULT_MAX_ROWS,
  type QueryOptions,
  type QueryResult,
  type QueryValue,
  type SqlQueryable,
} from './types.ts';

/** Rows asked for per page; Timestream returns at most 1000. */
const PAGE_ROWS = 1000;

export class TimestreamQuery implements SqlQueryable {
  private readonly client: TimestreamQueryClient;

  constructor(client: TimestreamQueryClient) {
    this.client = client;
  }

  static open(
    config: Pick<TimestreamStoreConfig, 'region' | 'endpoint' | 'local'>,
    sdk: TimestreamSdkConfig = {},
  ) {
    return new TimestreamQuery(new TimestreamQueryClient(timestreamSdkConfig(config, sdk)));
  }

  async query(sql: string, options: QueryOptions = {}): Promise<QueryResult> {
    assertReadOnly(sql);
    const maxRows = options.maxRows ?? DEFAULT_MAX_ROWS;
    const result: QueryResult = { columns: [], types: [], rows: [], truncated: false };
    let columns: ColumnInfo[] = [];
    let nextToken: string | undefined;
    let queryId: string | undefined;
    try {
      do {
        const page = await this.client.send(
          new QueryCommand({
            QueryString: sql,
            MaxRows: PAGE_ROWS,
            ...(nextToken ? { NextToken: nextToken } : {}),
          }),
          options.signal ? { abortSignal: options.signal } : {},
        );
        queryId = page.QueryId;
        columns = page.ColumnInfo ?? columns;
        // A page may be empty while the query still runs: keep asking until there is no NextToken.
        for (const row of page.Rows ?? []) {
          if (result.rows.length === maxRows) {
            result.truncated = true;
            break;
          }
          result.rows.push((row.Data ?? []).map((datum, i) => datumValue(datum, columns[i]?.Type)));
        }
        nextToken = page.NextToken;
      } while (nextToken && !result.truncated);
    } catch (cause) {
      const name = cause instanceof TimestreamQueryServiceException ? `${cause.name}: ` : '';
      throw new IngestError('QUERY_FAILED', `${name}${errorMessage(cause)}`, { cause });
    }
    if (nextToken && queryId) {
      // Stops the scan (and its bill) for rows nobody will read; the answer is complete without it.
      await this.client.send(new CancelQueryCommand({ QueryId: queryId })).catch(() => {});
    }
    result.columns = columns.map((c) => c.Name ?? '');
    result.types = columns.map((c) => typeName(c.Type));
    return result;
  }

  close(): Promise<void> {
    this.client.destroy();
    return Promise.resolve();
  }
}

/**
 * Timestream's Query API runs SELECT, SHOW and DESCRIBE, and UNLOAD, which writes to S3: that one
 * is refused here, as anything that is not a read is in the DuckDB store.
 */
function assertReadOnly(sql: string): void {
  const first = /^\s*(?:(?:--[^\n]*\n|\/\*[\s\S]*?\*\/)\s*)*(\w+)/.exec(sql)?.[1]?.toUpperCase();
  if (first === undefined)
    throw new IngestError('QUERY_FAILED', 'The query is empty: there is no SQL statement in it.');
  if (!['SELECT', 'WITH', 'SHOW', 'DESCRIBE'].includes(first)) {
    throw new IngestError(
      'QUERY_FAILED',
      `Queries only read here: SELECT, WITH, SHOW and DESCRIBE run, ${first} does not.`,
    );
  }
}

function typeName(type: Type | undefined): string {
  if (type?.ScalarType) return type.ScalarType;
  if (type?.ArrayColumnInfo) return `${typeName(type.ArrayColumnInfo.Type)}[]`;
  if (type?.RowColumnInfo) return 'ROW';
  if (type?.TimeSeriesMeasureValueColumnInfo) return 'TIMESERIES';
  return 'UNKNOWN';
}

/** Timestream's timestamps are `2024-06-10 08:00:00.123000000` (UTC, ns); ours are ISO 8601 in ms. */
export function timestreamTimestampToIso(text: string): string {
  const match = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?$/.exec(text);
  if (!match) return text;
  return `${match[1]}T${match[2]}.${(match[3] ?? '').padEnd(3, '0').slice(0, 3)}Z`;
}

function datumValue(datum: Datum, type: Type | undefined): QueryValue {
  if (datum.NullValue) return null;
  if (datum.ScalarValue !== undefined) return scalarValue(datum.ScalarValue, type?.ScalarType);
  if (datum.ArrayValue) return datum.ArrayValue.map((item) => datumValue(item, type?.ArrayColumnInfo?.Type));
  if (datum.RowValue) {
    const fields = type?.RowColumnInfo ?? [];
    const row: { [key: string]: QueryValue } = {};
    (datum.RowValue.Data ?? []).forEach((item, i) => {
      row[fields[i]?.Name ?? String(i)] = datumValue(item, fields[i]?.Type);
    });
    return row;
  }
  if (datum.TimeSeriesValue) {
    const valueType = type?.TimeSeriesMeasureValueColumnInfo?.Type;
    return datum.TimeSeriesValue.map((point) => ({
      time: timestreamTimestampToIso(point.Time ?? ''),
      value: point.Value ? datumValue(point.Value, valueType) : null,
    }));
  }
  return null;
}

function scalarValue(text: string, type: string | undefined): QueryValue {
  switch (type) {
    case 'DOUBLE':
      return Number(text);
    case 'BIGINT':
    case 'INTEGER': {
      const n = Number(text);
      return Number.isSafeInteger(n) ? n : text;
    }
    case 'BOOLEAN':
      return text === 'true';
    case 'TIMESTAMP':
      return timestreamTimestampToIso(text);
    default:
      return text;
  }
}
