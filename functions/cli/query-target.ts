/**
 * Where `iot-ingest query` asks: the DuckDB store (through the running pipeline, or the file),
 * Timestream for LiveAnalytics, or InfluxDB, whichever the configuration (IOT_STORE) or --store
 * names, with the analyst shortcuts in that store's query language.
 */
import { join } from 'node:path';
import type { PipelineConfig } from '../lib/config.ts';
import {
  type AnalystQueries,
  duckDbQueries,
  influxQueries,
  timestreamQueries,
} from '../lib/store/analyst-queries.ts';
import type { ParquetExporter, QueryResult, SqlQueryable } from '../lib/store/types.ts';

export const DB_FILE = 'iot-ingest.duckdb';

export interface StoreTarget extends SqlQueryable {
  readonly shortcuts: AnalystQueries;
  /** Where the answers come from, for messages: a URL, a file, a table. */
  readonly location: string;
  /** Present when the engine writes Parquet itself (DuckDB), with no row limit. */
  readonly exporter?: ParquetExporter | undefined;
  /** What `iot-ingest query` with no statement shows: the tables (or measurements) and their sizes. */
  overview(): Promise<QueryResult>;
  close(): Promise<void>;
}

/** `dataDir` / `dbFile` are the command's --data-dir / --db; the configuration's when absent. */
export async function openStoreTarget(
  config: PipelineConfig,
  flags: { dataDir?: string | undefined; dbFile?: string | undefined },
): Promise<StoreTarget> {
  const store = config.store;
  switch (store.kind) {
    case 'duckdb': {
      const dataDir = flags.dataDir ?? config.dataDir;
      const dbFile =
        flags.dbFile ?? (flags.dataDir !== undefined ? join(flags.dataDir, DB_FILE) : store.path);
      const { openQueryTarget } = await import('../lib/store/query-client.ts');
      const target = await openQueryTarget(dataDir, dbFile);
      return {
        shortcuts: duckDbQueries,
        location: target.location,
        exporter: target,
        query: (sql, options) => target.query(sql, options),
        overview: () => listDuckDbTables(target),
        close: () => target.close(),
      };
    }
    case 'timestream': {
      const { TimestreamQuery } = await import('../lib/store/timestream-query.ts');
      const client = TimestreamQuery.open(store);
      return {
        shortcuts: timestreamQueries(store.database, store.table),
        location: `Timestream ${store.database}.${store.table}`,
        query: (sql, options) => client.query(sql, options),
        overview: () => client.query(`SHOW MEASURES FROM "${store.database}"."${store.table}"`),
        close: () => client.close(),
      };
    }
    case 'influxdb': {
      const { InfluxQuery } = await import('../lib/store/influx-query.ts');
      const client = new InfluxQuery(store);
      return {
        shortcuts: influxQueries,
        location: `InfluxDB ${store.url} ${store.database}`,
        query: (influxql, options) => client.query(influxql, options),
        overview: () => client.query('SHOW FIELD KEYS'),
        close: async () => {},
      };
    }
  }
}

/** The user's tables with exact row counts: one query for the names, one for the counts. */
async function listDuckDbTables(target: SqlQueryable): Promise<QueryResult> {
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
    `${tables.rows
      .map(
        ([schema, table], i) =>
          `SELECT ${i} AS i, count(*) FROM ${quoteIdent(String(schema))}.${quoteIdent(String(table))}`,
      )
      .join(' UNION ALL ')} ORDER BY i`,
  );
  result.rows = tables.rows.map(([schema, table, columns], i) => [
    schema === 'main' ? (table ?? null) : `${schema}.${table}`,
    counts.rows[i]?.[1] ?? null,
    columns ?? null,
  ]);
  return result;
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
