/**
 * Serves `iot-ingest query` from other shells while this process holds the DuckDB file (DuckDB lets
 * one process open a file for writing, and no other process may open it then, not even read-only).
 *
 * Plain node:http: two routes on the loopback interface need no framework.
 *
 * Every request carries `Authorization: Bearer <token>` and the SQL text as its body:
 *   POST /query?maxRows=N
 *     200 {columns, types, rows, truncated} | 400 {error} (SQL error: DuckDB's message)
 *   POST /export?format=parquet&path=/absolute/file.parquet
 *     200 {rows, path}: this process ran DuckDB's COPY of the SELECT to that file | 400 {error}
 *   and for both 401 | 404 | 405 | 413.
 * The token is in `<dataDir>/query-endpoint.json` (mode 0600), so only users who can read the data
 * directory can query; other local users reach the port but not the data.
 *
 * An export writes a file as this process's user at a path the client chose. That is safe because
 * the client already is that user (or root) to have read the token, and because copyToParquet only
 * writes a new absolute `*.parquet` file (never over an existing one, whole or not at all) from
 * exactly one SELECT, so an export cannot clobber a file or run anything but a read.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../atomic-file.ts';
import { errorMessage, IngestError } from '../errors.ts';
import { DEFAULT_MAX_ROWS, type ParquetExporter, type SqlQueryable } from './types.ts';

export const QUERY_ENDPOINT_FILE = 'query-endpoint.json';
export const QUERY_PATH = '/query';
export const EXPORT_PATH = '/export';
/** Longer SQL than this is surely a mistake (a pasted file); refusing it bounds the memory a request takes. */
const MAX_SQL_BYTES = 1024 * 1024;

/** The contents of `<dataDir>/query-endpoint.json`. */
export interface QueryEndpoint {
  /** Base URL; queries go to `${url}/query`. */
  url: string;
  pid: number;
  token: string;
}

export interface QueryServer {
  readonly url: string;
  close(): Promise<void>;
}

export interface QueryServerOptions {
  /** Upper bound on rows per answer (a client may ask for fewer). */
  maxRows?: number;
}

export async function startQueryServer(
  store: SqlQueryable & Partial<ParquetExporter>,
  dataDir: string,
  options: QueryServerOptions = {},
): Promise<QueryServer> {
  const token = randomBytes(24).toString('base64url');
  const expected = Buffer.from(`Bearer ${token}`);
  const maxRows = options.maxRows ?? DEFAULT_MAX_ROWS;

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      // Reading the request or writing the answer failed, i.e. the client went away mid-request.
      if (!res.headersSent) send(res, 500, { error: errorMessage(error) });
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const route = url.pathname;
    if (route !== QUERY_PATH && !(route === EXPORT_PATH && store.exportParquet)) {
      return send(res, 404, { error: `Not found; POST SQL to ${QUERY_PATH}.` });
    }
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      return send(res, 405, { error: `Use POST ${route} with the SQL as the body.` });
    }
    const given = Buffer.from(req.headers.authorization ?? '');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return send(res, 401, { error: `Missing or wrong token; it is in ${QUERY_ENDPOINT_FILE}.` });
    }
    const sql = await readBody(req);
    if (sql === undefined) return send(res, 413, { error: `The SQL is longer than ${MAX_SQL_BYTES} bytes.` });

    const abort = new AbortController();
    // A client that hangs up (Ctrl-C on a long query) interrupts the query instead of leaving it running.
    res.on('close', () => {
      if (!res.writableFinished) abort.abort();
    });
    try {
      if (route === EXPORT_PATH) {
        const format = url.searchParams.get('format');
        const path = url.searchParams.get('path') ?? '';
        if (format !== 'parquet')
          return send(res, 400, { error: `Unknown export format ${format}; use parquet.` });
        const rows = await store.exportParquet!(sql, path, { signal: abort.signal });
        return send(res, 200, { rows, path });
      }
      const asked = Number(url.searchParams.get('maxRows'));
      const result = await store.query(sql, {
        maxRows: Number.isInteger(asked) && asked > 0 ? Math.min(asked, maxRows) : maxRows,
        signal: abort.signal,
      });
      send(res, 200, result);
    } catch (error) {
      const status = error instanceof IngestError && error.code === 'QUERY_FAILED' ? 400 : 500;
      send(res, status, { error: errorMessage(error) });
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const endpoint: QueryEndpoint = { url: `http://127.0.0.1:${port}`, pid: process.pid, token };
  const file = join(dataDir, QUERY_ENDPOINT_FILE);
  try {
    await writeEndpointFile(file, endpoint);
  } catch (cause) {
    await closeServer(server);
    throw new IngestError(
      'CONFIG_INVALID',
      `Cannot write ${file} for the query endpoint: ${errorMessage(cause)}`,
      {
        cause,
      },
    );
  }

  let closing: Promise<void> | undefined;
  return {
    url: endpoint.url,
    close() {
      closing ??= (async () => {
        await removeEndpointFile(file, token);
        await closeServer(server);
      })();
      return closing;
    },
  };
}

/** Written beside and renamed into place, so a client never reads half a file. */
async function writeEndpointFile(file: string, endpoint: QueryEndpoint): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await writeFileAtomic(file, `${JSON.stringify(endpoint)}\n`, { mode: 0o600 });
}

/** Removes the file only while it is still ours: another process may have published its own since. */
async function removeEndpointFile(file: string, token: string): Promise<void> {
  let current: Partial<QueryEndpoint> | null;
  try {
    current = JSON.parse(await readFile(file, 'utf8')) as Partial<QueryEndpoint> | null;
  } catch {
    return; // gone already, or not a file this server wrote
  }
  if (current?.token === token) await rm(file, { force: true });
}

async function closeServer(server: ReturnType<typeof createServer>): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  // Drops idle keep-alive sockets and in-flight requests (their queries are interrupted on 'close').
  server.closeAllConnections();
  await closed;
}

/** The body as UTF-8 text, or undefined when it exceeds MAX_SQL_BYTES. */
async function readBody(req: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_SQL_BYTES) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const json = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(json),
  });
  res.end(json);
}
