/**
 * The Query operation of the local Timestream endpoint. Each query loads the stored records into a
 * throwaway in-memory DuckDB, laid out as Timestream shows a table to SQL (a VARCHAR column per
 * dimension, `measure_name`, `time`, a typed column per measure of multi-measure records, NULL
 * where a record lacks one), and runs the SQL there after rewriting Timestream's own syntax:
 *   interval literals `1m`, `30s`, `5ms`, `2h`, `1d`, `10us`, `1ns`  -> INTERVAL '1 minute' ...
 *   bin(t, i) -> time_bucket(i, t)     from_milliseconds(n), to_milliseconds(t)     ago(i)
 * Tables are named `"database"."table"`. max_by/min_by, avg, count, CASE, WHERE, GROUP BY and
 * ORDER BY by position or name behave alike in both dialects, which covers what the store's
 * tests and the analyst shortcuts (analyst-queries.ts) send. Other SQL runs as DuckDB reads it:
 * this is a test double for the wire protocol, not a Timestream SQL engine.
 *
 * Answers follow Timestream's Query output: ColumnInfo with ScalarType VARCHAR, DOUBLE, BIGINT,
 * BOOLEAN, TIMESTAMP (`2024-06-10 08:00:00.123000000`), DATE; every value as ScalarValue text or
 * NullValue. Other DuckDB types come back as VARCHAR text.
 */
import {
  type DuckDBAppender,
  type DuckDBConnection,
  DuckDBInstance,
  DuckDBTimestampValue,
  DuckDBTypeId,
  type DuckDBValue,
} from '@duckdb/node-api';
import type { LocalTable, MeasureType } from './timestream-endpoint.ts';

export interface TimestreamQueryAnswer {
  columns: { Name: string; Type: { ScalarType: string } }[];
  rows: { Data: ({ ScalarValue: string } | { NullValue: true })[] }[];
}

const MACROS = [
  'CREATE MACRO ts_bin(t, i) AS time_bucket(i, t)',
  'CREATE MACRO from_milliseconds(n) AS epoch_ms(CAST(n AS BIGINT))',
  'CREATE MACRO to_milliseconds(t) AS epoch_ms(t)',
  'CREATE MACRO ago(i) AS CAST(now() AS TIMESTAMP) - i',
];

const SQL_TYPE: Record<MeasureType, string> = {
  DOUBLE: 'DOUBLE',
  BIGINT: 'BIGINT',
  VARCHAR: 'VARCHAR',
  BOOLEAN: 'BOOLEAN',
  TIMESTAMP: 'TIMESTAMP',
};

export async function runTimestreamQuery(tables: LocalTable[], sql: string): Promise<TimestreamQueryAnswer> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    for (const macro of MACROS) await connection.run(macro);
    for (const table of tables) await load(connection, table);
    const reader = await connection.runAndReadAll(rewrite(sql));
    const types = reader.columnTypes().map((t) => t.typeId);
    return {
      columns: reader.columnNames().map((Name, i) => ({ Name, Type: { ScalarType: scalarType(types[i]) } })),
      rows: reader.getRows().map((row) => ({ Data: row.map((value, i) => datum(value, types[i])) })),
    };
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

async function load(connection: DuckDBConnection, table: LocalTable): Promise<void> {
  const records = [...table.records.values()];
  const dimensions = new Set<string>();
  const measures = new Map<string, MeasureType>();
  for (const r of records) {
    for (const name of Object.keys(r.dimensions)) dimensions.add(name);
    for (const [name, m] of Object.entries(r.measures)) if (!measures.has(name)) measures.set(name, m.type);
  }
  const columns = [
    ...[...dimensions].map((d) => `${ident(d)} VARCHAR`),
    'measure_name VARCHAR',
    'time TIMESTAMP',
    ...[...measures].map(([name, type]) => `${ident(name)} ${SQL_TYPE[type]}`),
  ];
  await connection.run(`CREATE SCHEMA IF NOT EXISTS ${ident(table.database)}`);
  await connection.run(`CREATE TABLE ${ident(table.database)}.${ident(table.table)} (${columns.join(', ')})`);
  const appender = await connection.createAppender(table.table, table.database);
  for (const r of records) {
    for (const d of dimensions) {
      const value = r.dimensions[d];
      if (value === undefined) appender.appendNull();
      else appender.appendVarchar(value);
    }
    appender.appendVarchar(r.measureName);
    appender.appendTimestamp(new DuckDBTimestampValue(r.time / 1000n));
    for (const [name, type] of measures) {
      const m = r.measures[name];
      if (m === undefined || m.type !== type) appender.appendNull();
      else appendMeasure(appender, type, m.value);
    }
    appender.endRow();
  }
  appender.flushSync();
  appender.closeSync();
}

function appendMeasure(appender: DuckDBAppender, type: MeasureType, value: string): void {
  if (type === 'DOUBLE') appender.appendDouble(Number(value));
  else if (type === 'BIGINT') appender.appendBigInt(BigInt(value));
  else if (type === 'BOOLEAN') appender.appendBoolean(value.toLowerCase() === 'true');
  else if (type === 'TIMESTAMP') appender.appendTimestamp(new DuckDBTimestampValue(BigInt(value) * 1000n));
  else appender.appendVarchar(value);
}

const INTERVAL_UNITS: Record<string, string> = {
  ns: 'nanosecond',
  us: 'microsecond',
  ms: 'millisecond',
  s: 'second',
  m: 'minute',
  h: 'hour',
  d: 'day',
};

/** Timestream syntax to DuckDB's, outside string literals and quoted identifiers. */
export function rewrite(sql: string): string {
  return sql
    .split(/('(?:[^']|'')*'|"(?:[^"]|"")*")/)
    .map((part, i) =>
      i % 2 === 1
        ? part
        : part
            .replace(
              /\b(\d+)(ns|us|ms|s|m|h|d)\b/g,
              (_, n: string, unit: string) => `INTERVAL '${n} ${INTERVAL_UNITS[unit]}'`,
            )
            .replace(/\bbin\s*\(/gi, 'ts_bin('),
    )
    .join('');
}

function scalarType(type: DuckDBTypeId | undefined): string {
  switch (type) {
    case DuckDBTypeId.DOUBLE:
    case DuckDBTypeId.FLOAT:
    case DuckDBTypeId.DECIMAL:
      return 'DOUBLE';
    case DuckDBTypeId.BIGINT:
    case DuckDBTypeId.INTEGER:
    case DuckDBTypeId.SMALLINT:
    case DuckDBTypeId.TINYINT:
    case DuckDBTypeId.HUGEINT:
    case DuckDBTypeId.UBIGINT:
      return 'BIGINT';
    case DuckDBTypeId.BOOLEAN:
      return 'BOOLEAN';
    case DuckDBTypeId.TIMESTAMP:
    case DuckDBTypeId.TIMESTAMP_TZ:
      return 'TIMESTAMP';
    case DuckDBTypeId.DATE:
      return 'DATE';
    default:
      return 'VARCHAR';
  }
}

function datum(
  value: DuckDBValue,
  type: DuckDBTypeId | undefined,
): { ScalarValue: string } | { NullValue: true } {
  if (value === null) return { NullValue: true };
  if (value instanceof DuckDBTimestampValue && scalarType(type) === 'TIMESTAMP') {
    return { ScalarValue: timestreamTimestamp(value.micros) };
  }
  return { ScalarValue: String(value) };
}

/** `2024-06-10 08:00:00.123456000`: UTC with nine fraction digits, as Timestream writes timestamps. */
function timestreamTimestamp(micros: bigint): string {
  const ms = Number(micros / 1000n);
  const iso = new Date(ms).toISOString(); // 2024-06-10T08:00:00.123Z
  const fraction = (((micros % 1_000_000n) + 1_000_000n) % 1_000_000n).toString().padStart(6, '0');
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}.${fraction}000`;
}

function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
