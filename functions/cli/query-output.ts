/**
 * How `iot-ingest query` prints an answer: a table, CSV or JSON as text, or a Parquet file. The
 * text formats are written by hand (quoting is the whole of CSV; JSON is JSON.stringify); Parquet
 * comes from DuckDB's COPY, in the store's process when the store is DuckDB, else here from the
 * rows already fetched, through an in-memory DuckDB.
 */
import Table from 'cli-table3';
import type { QueryResult, QueryValue } from '../lib/store/types.ts';

export const TEXT_FORMATS = {
  table: formatTable,
  csv: formatCsv,
  json: formatJson,
} satisfies Record<string, (result: QueryResult) => string>;
export type TextFormat = keyof typeof TEXT_FORMATS;
export type Format = TextFormat | 'parquet';
export const FORMATS: readonly Format[] = [...(Object.keys(TEXT_FORMATS) as TextFormat[]), 'parquet'];

/** Columns renamed, e.g. InfluxQL's `time` to `bucket` (see AnalystQuery.rename). */
export function renameColumns(
  result: QueryResult,
  rename: Readonly<Record<string, string>> | undefined,
): QueryResult {
  if (rename === undefined) return result;
  return { ...result, columns: result.columns.map((c) => rename[c] ?? c) };
}

const NUMERIC_TYPE =
  /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|FLOAT|DOUBLE|DECIMAL)/;

function formatTable(result: QueryResult): string {
  const table = new Table({
    head: result.columns,
    colAligns: result.types.map((type) => (NUMERIC_TYPE.test(type) ? 'right' : 'left')),
    // No colours: the output is often piped or pasted.
    style: { head: [], border: [] },
  });
  for (const row of result.rows) table.push(row.map(cellText));
  // cli-table3 rules off every row; keep only the rule under the header (cell lines start with │).
  const lines = table.toString().split('\n');
  const headerRule = lines.findIndex((line) => line.startsWith('├'));
  const n = result.rows.length;
  const kept = lines.filter((line, i) => i <= headerRule || !line.startsWith('├'));
  return `${kept.join('\n')}\n${n} row${n === 1 ? '' : 's'}\n`;
}

function cellText(value: QueryValue): string {
  if (value === null) return 'NULL';
  if (typeof value === 'number') return compactNumber(value);
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** Six significant digits for fractions (21.5333, 1013.25, 1.23457e-7); integers in full. */
export function compactNumber(n: number): string {
  if (!Number.isFinite(n) || (Number.isInteger(n) && Math.abs(n) < 1e15)) return String(n);
  return String(Number(n.toPrecision(6)));
}

/** RFC 4180 CSV with a header row; NULL is an empty field, nested values are JSON. */
function formatCsv(result: QueryResult): string {
  const lines = [result.columns.map(csvField)];
  for (const row of result.rows)
    lines.push(
      row.map((value) =>
        csvField(value === null ? '' : typeof value === 'object' ? JSON.stringify(value) : String(value)),
      ),
    );
  return `${lines.map((fields) => fields.join(',')).join('\n')}\n`;
}

function csvField(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** An array of row objects, one per line; repeated column names get a suffix (`a`, `a_1`). */
function formatJson(result: QueryResult): string {
  const seen = new Map<string, number>();
  const keys = result.columns.map((column) => {
    const count = seen.get(column) ?? 0;
    seen.set(column, count + 1);
    return count === 0 ? column : `${column}_${count}`;
  });
  const lines = result.rows.map((row) =>
    JSON.stringify(Object.fromEntries(keys.map((key, i) => [key, row[i] ?? null]))),
  );
  return lines.length === 0 ? '[]\n' : `[\n${lines.join(',\n')}\n]\n`;
}

/** Our type names (DuckDB's, Timestream's, InfluxDB's as the stores report them) as Parquet column types. */
const PARQUET_TYPE: Record<string, string> = {
  DOUBLE: 'DOUBLE',
  FLOAT: 'DOUBLE',
  BIGINT: 'BIGINT',
  INTEGER: 'BIGINT',
  BOOLEAN: 'BOOLEAN',
  TIMESTAMP: 'TIMESTAMP',
  DATE: 'DATE',
};

/**
 * Writes rows already fetched (from Timestream or InfluxDB) to a new Parquet file: staged as text
 * in an in-memory DuckDB, cast back to each column's type on the way out.
 */
export async function writeResultAsParquet(result: QueryResult, path: string): Promise<number> {
  // Loaded here only: printing text needs no native module.
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const { copyToParquet } = await import('../lib/store/duckdb-reader.ts');
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    const staged = result.columns.map((_, i) => `c${i} VARCHAR`);
    await connection.run(`CREATE TABLE staging (${staged.length === 0 ? 'c0 VARCHAR' : staged.join(', ')})`);
    const appender = await connection.createAppender('staging');
    for (const row of result.rows) {
      for (const value of row) {
        if (value === null) appender.appendNull();
        else if (typeof value === 'object') appender.appendVarchar(JSON.stringify(value));
        // Our timestamps are ISO 8601 with a Z: DuckDB's TIMESTAMP (UTC, no zone) wants it without.
        else appender.appendVarchar(String(value).replace(/^(\d{4}-\d{2}-\d{2})T(.*)Z$/, '$1 $2'));
      }
      appender.endRow();
    }
    appender.flushSync();
    appender.closeSync();
    const select = result.columns.map((name, i) => {
      const type = PARQUET_TYPE[result.types[i] ?? ''] ?? 'VARCHAR';
      return `CAST(c${i} AS ${type}) AS "${name.replaceAll('"', '""')}"`;
    });
    return await copyToParquet(connection, `SELECT ${select.join(', ') || 'c0'} FROM staging`, path);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}
