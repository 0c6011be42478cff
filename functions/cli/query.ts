import { join } from 'node:path';
import Table from 'cli-table3';
import { Command, CommanderError, Option } from 'commander';
import { IngestError } from '../lib/errors.ts';
import { openQueryTarget, type QueryTarget } from '../lib/store/query-client.ts';
import type { QueryResult, QueryValue } from '../lib/store/types.ts';

/** Where output goes; the process streams by default, a buffer in tests. */
export interface QueryIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

const DB_FILE = 'iot-ingest.duckdb';

/** Output formats by name: add one here (and to nothing else) to offer it. */
const FORMATTERS = {
  table: formatTable,
  csv: formatCsv,
  json: formatJson,
} satisfies Record<string, (result: QueryResult) => string>;
type Format = keyof typeof FORMATTERS;

const EXAMPLES = `
Examples:
  $ iot-ingest query
      list the tables and their row counts
  $ iot-ingest query "DESCRIBE readings"
  $ iot-ingest query "SELECT device_id, count(*) AS readings, max(ts) AS last_seen FROM readings GROUP BY ALL ORDER BY 1"
  $ iot-ingest query "SELECT device_id, arg_max(temperature, ts) AS last_temperature FROM readings GROUP BY ALL"
  $ iot-ingest query --format csv \\
      "SELECT time_bucket(INTERVAL '1 minute', ts) AS minute, device_id, avg(temperature) AS temperature
       FROM readings GROUP BY ALL ORDER BY ALL" > temperature-by-minute.csv
  $ iot-ingest query --format json "SELECT * FROM alerts WHERE status = 'open'"

While the pipeline runs (npm start) it holds the DuckDB file, and queries go through it;
otherwise the file is opened read-only. Only SELECT, DESCRIBE, SHOW, SUMMARIZE and EXPLAIN run.
`;

/** `iot-ingest query [sql]`; `argv` is what follows `query`. Returns the exit code. */
export async function queryCommand(argv: string[], io: QueryIo = process): Promise<number> {
  const program = new Command('iot-ingest query')
    .description('Run SQL against the time-series store. With no SQL, list the tables and their row counts.')
    .argument('[sql]', 'the SQL statement to run (quote it)')
    .addOption(
      new Option('-f, --format <format>', 'output format').choices(Object.keys(FORMATTERS)).default('table'),
    )
    .option('-d, --data-dir <dir>', 'the pipeline data directory', './data')
    .option('--db <file>', `the DuckDB file (default: <data-dir>/${DB_FILE})`)
    .addHelpText('after', EXAMPLES)
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    });
  try {
    program.parse(argv, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2; // commander printed why
    throw error;
  }
  const options = program.opts<{ format: Format; dataDir: string; db?: string }>();
  const sql = program.processedArgs[0] as string | undefined;

  let target: QueryTarget | undefined;
  try {
    target = await openQueryTarget(options.dataDir, options.db ?? join(options.dataDir, DB_FILE));
    const result = sql === undefined ? await listTables(target) : await target.query(sql);
    io.stdout.write(FORMATTERS[options.format](result));
    if (result.truncated) {
      io.stderr.write(
        `iot-ingest query: showing the first ${result.rows.length} rows; add a LIMIT or aggregate.\n`,
      );
    }
    return 0;
  } catch (error) {
    if (!(error instanceof IngestError)) throw error;
    io.stderr.write(`iot-ingest query: ${error.message}\n`);
    return 1;
  } finally {
    await target?.close();
  }
}

/** The user's tables with exact row counts: one query for the names, one for the counts. */
async function listTables(target: QueryTarget): Promise<QueryResult> {
  const tables = await target.query(
    `SELECT schema_name, table_name, column_count FROM duckdb_tables()
     WHERE NOT internal AND NOT temporary ORDER BY schema_name, table_name`,
  );
  const result: QueryResult = {
    columns: ['table', 'rows', 'columns'],
    types: ['VARCHAR', 'BIGINT', 'BIGINT'],
    rows: [],
    truncated: false,
  };
  if (tables.rows.length === 0) return result;
  const counts = await target.query(
    tables.rows
      .map(
        ([schema, table]) =>
          `SELECT count(*) FROM ${quoteIdent(String(schema))}.${quoteIdent(String(table))}`,
      )
      .join(' UNION ALL '),
  );
  result.rows = tables.rows.map(([schema, table, columns], i) => [
    schema === 'main' ? (table ?? null) : `${schema}.${table}`,
    counts.rows[i]?.[0] ?? null,
    columns ?? null,
  ]);
  return result;
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
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

/**
 * RFC 4180 CSV with a header row; NULL is an empty field, nested values are JSON. Written by hand:
 * quoting is the whole of it, not worth a dependency.
 */
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
