/**
 * Finds where SQL can run: the running pipeline's query endpoint when there is one (it holds the
 * DuckDB file, which no other process may open then), else the DuckDB file itself, read-only.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage, IngestError } from '../errors.ts';
import { EXPORT_PATH, QUERY_ENDPOINT_FILE, QUERY_PATH, type QueryEndpoint } from './query-server.ts';
import type { ParquetExporter, QueryOptions, QueryResult, SqlQueryable } from './types.ts';

export interface QueryTarget extends SqlQueryable, ParquetExporter {
  /** `http`: the running pipeline answers; `file`: the DuckDB file is open read-only in this process. */
  readonly via: 'http' | 'file';
  /** The endpoint URL or the file path, for messages. */
  readonly location: string;
  close(): Promise<void>;
}

/** How long a live-looking endpoint gets to answer `SELECT 1` before the file is tried instead. */
const PROBE_TIMEOUT_MS = 2000;

export async function openQueryTarget(dataDir: string, dbFile: string): Promise<QueryTarget> {
  const endpoint = await liveEndpoint(dataDir);
  return endpoint ? httpTarget(endpoint) : fileTarget(dbFile);
}

/** The endpoint named in `<dataDir>/query-endpoint.json` if its process is alive and it answers. */
async function liveEndpoint(dataDir: string): Promise<QueryEndpoint | undefined> {
  let endpoint: unknown;
  try {
    endpoint = JSON.parse(await readFile(join(dataDir, QUERY_ENDPOINT_FILE), 'utf8'));
  } catch {
    // No file, or a torn/garbled one: either way there is no endpoint to use.
    return undefined;
  }
  if (!isEndpoint(endpoint) || !processAlive(endpoint.pid)) return undefined;
  try {
    await postQuery(endpoint, 'SELECT 1', { maxRows: 1, signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
    return endpoint;
  } catch {
    // Left behind by a process whose pid was reused, or not serving: fall back to the file.
    return undefined;
  }
}

function isEndpoint(value: unknown): value is QueryEndpoint {
  const v = value as Partial<QueryEndpoint> | null;
  return typeof v?.url === 'string' && typeof v.token === 'string' && Number.isInteger(v.pid);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0); // signal 0: existence check only
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'; // alive, owned by another user
  }
}

function httpTarget(endpoint: QueryEndpoint): QueryTarget {
  return {
    via: 'http',
    location: endpoint.url,
    query: (sql, options) => postQuery(endpoint, sql, options),
    exportParquet: async (sql, path, options = {}) => {
      const url = new URL(EXPORT_PATH, endpoint.url);
      url.searchParams.set('format', 'parquet');
      url.searchParams.set('path', path);
      return (await post<{ rows: number }>(endpoint, url, sql, options.signal)).rows;
    },
    close: async () => {},
  };
}

async function postQuery(
  endpoint: QueryEndpoint,
  sql: string,
  options: QueryOptions = {},
): Promise<QueryResult> {
  const url = new URL(QUERY_PATH, endpoint.url);
  if (options.maxRows !== undefined) url.searchParams.set('maxRows', String(options.maxRows));
  return post<QueryResult>(endpoint, url, sql, options.signal);
}

/** POSTs the SQL and returns the JSON answer; an `{error}` answer or a failed request is QUERY_FAILED. */
async function post<T extends object>(
  endpoint: QueryEndpoint,
  url: URL,
  sql: string,
  signal: AbortSignal | undefined,
): Promise<T> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${endpoint.token}`, 'content-type': 'text/plain; charset=utf-8' },
      body: sql,
      ...(signal ? { signal } : {}),
    });
  } catch (cause) {
    const message = `The query endpoint ${endpoint.url} did not answer: ${errorMessage(cause)}`;
    throw new IngestError('QUERY_FAILED', message, { retryable: true, cause });
  }
  const body = (await response
    .json()
    .catch(() => ({ error: `HTTP ${response.status}, not a query answer` }))) as T | { error: string };
  if (!response.ok || 'error' in body) {
    const message = 'error' in body ? body.error : `HTTP ${response.status}`;
    throw new IngestError('QUERY_FAILED', message, { retryable: response.status >= 500 });
  }
  return body;
}

async function fileTarget(dbFile: string): Promise<QueryTarget> {
  const exists = await stat(dbFile).then(
    (s) => s.isFile(),
    () => false,
  );
  if (!exists) {
    throw new IngestError(
      'QUERY_FAILED',
      `No DuckDB database at ${dbFile}. Run \`npm start\` first (it creates the store there), ` +
        'or point --data-dir / --db at an existing one.',
    );
  }
  // Loaded only here: querying a running pipeline over HTTP needs no native module.
  const { openDuckDbReader } = await import('./duckdb-reader.ts');
  try {
    const reader = await openDuckDbReader(dbFile);
    return {
      via: 'file',
      location: dbFile,
      query: (sql, options) => reader.query(sql, options),
      exportParquet: (sql, path, options) => reader.exportParquet(sql, path, options),
      close: () => reader.close(),
    };
  } catch (cause) {
    const message = errorMessage(cause);
    const hint = message.includes('lock')
      ? ' Another process holds the file and serves no query endpoint; stop it, or restart it with the query server.'
      : '';
    throw new IngestError('QUERY_FAILED', `Cannot open ${dbFile}: ${message}${hint}`, { cause });
  }
}
