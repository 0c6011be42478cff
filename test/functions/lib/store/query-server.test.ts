import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DuckDbStore } from '../../../../functions/lib/store/duckdb-store.ts';
import {
  QUERY_ENDPOINT_FILE,
  type QueryEndpoint,
  type QueryServer,
  startQueryServer,
} from '../../../../functions/lib/store/query-server.ts';
import type { QueryResult } from '../../../../functions/lib/store/types.ts';
import { aReading } from '../../../support/readings.ts';

const T0 = Date.UTC(2024, 5, 10, 8, 0, 0, 123);

describe('startQueryServer', () => {
  let dir: string;
  let store: DuckDbStore;
  let server: QueryServer;
  let endpoint: QueryEndpoint;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'query-server-'));
    store = await DuckDbStore.open(join(dir, 'iot-ingest.duckdb'));
    server = await startQueryServer(store, dir, { maxRows: 50 });
    endpoint = JSON.parse(await readFile(join(dir, QUERY_ENDPOINT_FILE), 'utf8')) as QueryEndpoint;
  });

  afterEach(async () => {
    await server.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** An answer body: a result, or an error. */
  async function body(response: Response): Promise<QueryResult & { error?: string }> {
    return (await response.json()) as QueryResult & { error?: string };
  }

  function post(sql: string, { token = endpoint.token, query = '' } = {}): Promise<Response> {
    return fetch(`${server.url}/query${query}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: sql,
    });
  }

  it('publishes its URL, pid and a token in a file only the owner can read', async () => {
    // Act
    const mode = (await stat(join(dir, QUERY_ENDPOINT_FILE))).mode & 0o777;

    // Assess
    expect(endpoint).toEqual({ url: server.url, pid: process.pid, token: expect.any(String) });
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(mode).toBe(0o600);
  });

  it('answers SQL over the store while the store keeps writing', async () => {
    // Prepare
    await store.writeReadings([
      aReading({ ts: T0, seq: 1, temperature: 21.5 }),
      aReading({ ts: T0 + 1, seq: 2 }),
    ]);

    // Act
    const response = await post(
      'SELECT device_id, ts, seq, temperature, count(*) OVER () AS n FROM readings ORDER BY seq',
    );
    await store.writeReadings([aReading({ ts: T0 + 2, seq: 3 })]);
    const after = await post('SELECT count(*) FROM readings');

    // Assess
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await body(response)).toEqual({
      columns: ['device_id', 'ts', 'seq', 'temperature', 'n'],
      types: ['VARCHAR', 'TIMESTAMP', 'BIGINT', 'DOUBLE', 'BIGINT'],
      rows: [
        ['dev-1', '2024-06-10T08:00:00.123Z', 1, 21.5, 2],
        ['dev-1', '2024-06-10T08:00:00.124Z', 2, 21.5, 2],
      ],
      truncated: false,
    });
    expect((await body(after)).rows).toEqual([[3]]);
  });

  it("answers 400 with DuckDB's message for a bad query", async () => {
    // Act
    const response = await post('SELECT * FROM no_such_table');

    // Assess
    expect(response.status).toBe(400);
    expect((await body(response)).error).toMatch(
      /^Catalog Error: Table with name no_such_table does not exist/,
    );
  });

  it('caps rows at its own limit, or lower when the client asks', async () => {
    // Act
    const capped = await body(await post('SELECT * FROM range(80)', { query: '?maxRows=1000' }));
    const asked = await body(await post('SELECT * FROM range(80)', { query: '?maxRows=5' }));

    // Assess
    expect([capped.rows.length, capped.truncated]).toEqual([50, true]);
    expect([asked.rows.length, asked.truncated]).toEqual([5, true]);
  });

  it.each([
    ['no token', {}, 'POST', 401],
    ['a wrong token', { authorization: 'Bearer nope' }, 'POST', 401],
    ['GET', undefined, 'GET', 405],
  ])('refuses a request with %s', async (_, headers, method, status) => {
    // Act
    const response = await fetch(`${server.url}/query`, {
      method,
      headers: headers ?? { authorization: `Bearer ${endpoint.token}` },
      ...(method === 'POST' ? { body: 'SELECT 1' } : {}),
    });

    // Assess
    expect(response.status).toBe(status);
    expect((await body(response)).error).toEqual(expect.any(String));
  });

  describe('POST /export', () => {
    function exportTo(path: string, sql: string, token = endpoint.token): Promise<Response> {
      const url = new URL('/export', server.url);
      url.searchParams.set('format', 'parquet');
      url.searchParams.set('path', path);
      return fetch(url, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: sql });
    }

    it('writes the SELECT to the Parquet file the client names, from the writing process', async () => {
      // Prepare
      await store.writeReadings([aReading({ ts: T0, seq: 1 }), aReading({ ts: T0 + 1, seq: 2 })]);
      const path = join(dir, 'export.parquet');

      // Act
      const response = await exportTo(path, 'SELECT * FROM readings');

      // Assess
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ rows: 2, path });
      expect((await store.query(`SELECT count(*) FROM read_parquet('${path}')`)).rows).toEqual([[2]]);
    });

    it.each([
      [
        'an existing file',
        () => join(dir, QUERY_ENDPOINT_FILE).replace(/json$/, 'parquet'),
        /exists already/,
      ],
      ['a relative path', () => 'out.parquet', /absolute path/],
      ['a file that is not .parquet', () => join(dir, 'iot-ingest.duckdb'), /ending in \.parquet/],
    ])('answers 400 for %s', async (_, path, message) => {
      // Prepare
      await writeFile(join(dir, 'query-endpoint.parquet'), 'keep me');

      // Act
      const response = await exportTo(path(), 'SELECT 1');

      // Assess
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: string }).error).toMatch(message);
      expect(await readFile(join(dir, 'query-endpoint.parquet'), 'utf8')).toBe('keep me');
    });

    it('refuses a client without the token', async () => {
      // Act
      const response = await exportTo(join(dir, 'x.parquet'), 'SELECT 1', 'nope');

      // Assess
      expect(response.status).toBe(401);
      await expect(stat(join(dir, 'x.parquet'))).rejects.toMatchObject({ code: 'ENOENT' });
    });
  });

  it('answers 404 off its routes', async () => {
    // Act
    const response = await fetch(`${server.url}/other`, { method: 'POST', body: 'SELECT 1' });

    // Assess
    expect(response.status).toBe(404);
  });

  it("leaves another server's endpoint file alone on close", async () => {
    // Prepare: a second pipeline published its endpoint in the same directory since
    const other = JSON.stringify({ url: 'http://127.0.0.1:1', pid: 1, token: 'other' });
    await writeFile(join(dir, QUERY_ENDPOINT_FILE), other);

    // Act
    await server.close();

    // Assess
    expect(await readFile(join(dir, QUERY_ENDPOINT_FILE), 'utf8')).toBe(other);
  });

  it('removes its endpoint file and stops listening on close', async () => {
    // Act
    await server.close();

    // Assess
    await expect(stat(join(dir, QUERY_ENDPOINT_FILE))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(post('SELECT 1')).rejects.toThrow();
  });
});
