/**
 * The read side of the DuckDB store: read-only SQL in JSON-safe form, and Parquet exports through
 * DuckDB's own COPY. Used by the writing store (DuckDbStore.query) and by `iot-ingest query` when
 * it opens the file itself because no pipeline holds it.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join } from 'node:path';
import {
  type DuckDBConnection,
  type DuckDBDecimalValue,
  DuckDBInstance,
  type DuckDBMapType,
  type DuckDBMapValue,
  type DuckDBPreparedStatement,
  type DuckDBTimestampMillisecondsValue,
  type DuckDBTimestampNanosecondsValue,
  type DuckDBTimestampSecondsValue,
  type DuckDBTimestampValue,
  DuckDBTypeId,
  type DuckDBValueConverter,
  type Json,
  JsonDuckDBValueConverter,
  StatementType,
} from '@duckdb/node-api';
import { errorMessage, IngestError } from '../errors.ts';
import {
  DEFAULT_MAX_ROWS,
  type ParquetExporter,
  type QueryOptions,
  type QueryResult,
  type QueryValue,
  type SqlQueryable,
} from './types.ts';

export interface DuckDbReader extends SqlQueryable, ParquetExporter {
  close(): Promise<void>;
}

/** Opens a DuckDB file read-only, for querying while no process holds it for writing. */
export async function openDuckDbReader(path: string): Promise<DuckDbReader> {
  const instance = await DuckDBInstance.create(path, { access_mode: 'READ_ONLY' });
  async function withConnection<T>(use: (connection: DuckDBConnection) => Promise<T>): Promise<T> {
    const connection = await instance.connect();
    try {
      return await use(connection);
    } finally {
      connection.closeSync();
    }
  }
  return {
    query: (sql, options = {}) => withConnection((c) => runReadQuery(c, sql, options)),
    exportParquet: (sql, target, options = {}) =>
      withConnection((c) => copyToParquet(c, sql, target, options)),
    async close(): Promise<void> {
      instance.closeSync();
    },
  };
}

const EMPTY_QUERY = 'The query is empty: there is no SQL statement in it.';
const READ_STATEMENTS: ReadonlySet<StatementType> = new Set([StatementType.SELECT, StatementType.EXPLAIN]);

/**
 * Parses `sql` as exactly one statement of an allowed type and prepares it; anything else is a
 * QUERY_FAILED that says why, in DuckDB's words where it has some.
 */
async function prepareRead(
  connection: DuckDBConnection,
  sql: string,
  allowed: ReadonlySet<StatementType>,
): Promise<DuckDBPreparedStatement> {
  const statements = await connection.extractStatements(sql).catch((cause: unknown) => {
    // SQL with no statement at all (blank, only comments) fails without a message of its own, and
    // parser errors come wrapped: show DuckDB's own words.
    const message = errorMessage(cause);
    throw new IngestError(
      'QUERY_FAILED',
      message === 'Error in native callback'
        ? EMPTY_QUERY
        : message.replace(/^Failed to extract statements: /, ''),
      { cause },
    );
  });
  if (statements.count !== 1) {
    throw new IngestError(
      'QUERY_FAILED',
      statements.count === 0 ? EMPTY_QUERY : `Run one statement at a time (got ${statements.count}).`,
    );
  }
  const prepared = await statements.prepare(0);
  if (!allowed.has(prepared.statementType)) {
    const type = StatementType[prepared.statementType];
    prepared.destroySync();
    throw new IngestError(
      'QUERY_FAILED',
      allowed.has(StatementType.EXPLAIN)
        ? `Queries only read here: SELECT (DESCRIBE, SHOW, SUMMARIZE) and EXPLAIN run, ${type} does not.`
        : `Only a SELECT can be exported (got ${type}).`,
    );
  }
  return prepared;
}

/**
 * Runs one read-only statement and returns at most `maxRows` rows in JSON-safe form. Errors carry
 * DuckDB's own message (`Parser Error: ...`, `Catalog Error: ...`) as `QUERY_FAILED`.
 */
export async function runReadQuery(
  connection: DuckDBConnection,
  sql: string,
  options: QueryOptions = {},
): Promise<QueryResult> {
  const maxRows = options.maxRows ?? DEFAULT_MAX_ROWS;
  const interrupt = () => connection.interrupt();
  options.signal?.addEventListener('abort', interrupt, { once: true });
  let prepared: DuckDBPreparedStatement | undefined;
  try {
    prepared = await prepareRead(connection, sql, READ_STATEMENTS);
    const reader = await prepared.streamAndReadUntil(maxRows + 1);
    const rows = reader.convertRows(toQueryValue) as QueryValue[][];
    return {
      columns: reader.columnNames(),
      types: reader.columnTypes().map((type) => type.toString()),
      rows: rows.length > maxRows ? rows.slice(0, maxRows) : rows,
      truncated: reader.currentRowCount > maxRows,
    };
  } catch (cause) {
    if (cause instanceof IngestError) throw cause;
    throw new IngestError('QUERY_FAILED', errorMessage(cause), { cause });
  } finally {
    options.signal?.removeEventListener('abort', interrupt);
    prepared?.destroySync();
  }
}

const SELECT_ONLY: ReadonlySet<StatementType> = new Set([StatementType.SELECT]);

/**
 * `COPY (sql) TO path (FORMAT parquet)`, guarded because the path may come from another process
 * (the query server writes where its client asks): the path must be absolute and end in
 * `.parquet`, an existing file is never overwritten, and the file appears whole or not at all
 * (written beside it, then renamed). The SQL must be exactly one SELECT on its own before it is
 * wrapped, so it cannot close the parenthesis and smuggle in options or statements of its own.
 * Resolves to the number of rows written.
 */
export async function copyToParquet(
  connection: DuckDBConnection,
  sql: string,
  path: string,
  options: { signal?: AbortSignal | undefined } = {},
): Promise<number> {
  if (!isAbsolute(path) || !/\.parquet$/i.test(path)) {
    throw new IngestError(
      'QUERY_FAILED',
      `The Parquet file must be an absolute path ending in .parquet (got ${path}).`,
    );
  }
  (await prepareRead(connection, sql, SELECT_ONLY)).destroySync();
  let reserved: Awaited<ReturnType<typeof open>>;
  try {
    // 'wx' fails if the file exists: claims the name so no concurrent export takes it either.
    reserved = await open(path, 'wx', 0o644);
  } catch (cause) {
    const exists = (cause as NodeJS.ErrnoException).code === 'EEXIST';
    const why = exists ? 'it exists already; remove it or choose another name' : errorMessage(cause);
    throw new IngestError('QUERY_FAILED', `Cannot write ${path}: ${why}.`, { cause });
  }
  await reserved.close();
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const interrupt = () => connection.interrupt();
  options.signal?.addEventListener('abort', interrupt, { once: true });
  try {
    // A newline before the closing parenthesis: a trailing `-- comment` in sql must not swallow it.
    const copy = `COPY (${sql}\n) TO '${temp.replaceAll("'", "''")}' (FORMAT parquet, COMPRESSION zstd)`;
    const rows = Number((await connection.run(copy)).rowsChanged);
    await rename(temp, path);
    return rows;
  } catch (cause) {
    await rm(temp, { force: true });
    await rm(path, { force: true });
    if (cause instanceof IngestError) throw cause;
    throw new IngestError('QUERY_FAILED', errorMessage(cause), { cause });
  } finally {
    options.signal?.removeEventListener('abort', interrupt);
  }
}

const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
/** JS Dates end at ±8.64e15 ms; DuckDB timestamps reach further (and include ±infinity). */
const MAX_DATE_MS = 8.64e15;

/**
 * DuckDB values to JSON-safe ones, the same over HTTP and from the file: integers as numbers while
 * exact (else decimal strings), timestamps as ISO 8601 UTC (ms), string-keyed maps as objects.
 * Everything else follows the library's JSON converter.
 */
export const toQueryValue: DuckDBValueConverter<QueryValue> = (value, type, converter) => {
  if (value === null) return null;
  switch (type.typeId) {
    case DuckDBTypeId.BIGINT:
    case DuckDBTypeId.UBIGINT:
    case DuckDBTypeId.HUGEINT:
    case DuckDBTypeId.UHUGEINT: {
      const n = value as bigint;
      return n >= MIN_SAFE && n <= MAX_SAFE ? Number(n) : n.toString();
    }
    case DuckDBTypeId.DECIMAL: {
      const decimal = value as DuckDBDecimalValue;
      return decimal.width <= 15 ? decimal.toDouble() : decimal.toString();
    }
    case DuckDBTypeId.TIMESTAMP:
    case DuckDBTypeId.TIMESTAMP_TZ:
      return isoTimestamp(value as DuckDBTimestampValue, (value as DuckDBTimestampValue).micros, 1000);
    case DuckDBTypeId.TIMESTAMP_MS: {
      const timestamp = value as DuckDBTimestampMillisecondsValue;
      return isoTimestamp(timestamp, timestamp.millis, 1);
    }
    case DuckDBTypeId.TIMESTAMP_S: {
      const timestamp = value as DuckDBTimestampSecondsValue;
      return isoTimestamp(timestamp, timestamp.seconds, 1 / 1000);
    }
    case DuckDBTypeId.TIMESTAMP_NS: {
      const timestamp = value as DuckDBTimestampNanosecondsValue;
      return isoTimestamp(timestamp, timestamp.nanos, 1_000_000);
    }
    case DuckDBTypeId.MAP: {
      const map = value as DuckDBMapValue;
      const mapType = type as DuckDBMapType;
      if (mapType.keyType.typeId !== DuckDBTypeId.VARCHAR) break;
      const object: { [key: string]: QueryValue } = {};
      for (const entry of map.entries)
        object[entry.key as string] = converter(entry.value, mapType.valueType, converter);
      return object;
    }
  }
  // Nested values (list items, struct fields) come back through `converter`, i.e. through this function.
  return JsonDuckDBValueConverter(
    value,
    type,
    converter as unknown as DuckDBValueConverter<Json>,
  ) as QueryValue;
};

function isoTimestamp(
  value: { isFinite: boolean; toString(): string },
  units: bigint,
  unitsPerMs: number,
): string {
  if (!value.isFinite) return value.toString();
  const ms = Math.floor(Number(units) / unitsPerMs);
  return Math.abs(ms) <= MAX_DATE_MS ? new Date(ms).toISOString() : value.toString();
}
