import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DuckDbStore } from '../../../../functions/lib/store/duckdb-store.ts';
import { openQueryTarget, type QueryTarget } from '../../../../functions/lib/store/query-client.ts';
import { QUERY_ENDPOINT_FILE, startQueryServer } from '../../../../functions/lib/store/query-server.ts';
import { aReading } from '../../../support/readings.ts';

/** The pid of a process that has exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', '']);
  return child.pid!;
}

describe('openQueryTarget', () => {
  let dir: string;
  let dbFile: string;
  let target: QueryTarget | undefined;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'query-client-'));
    dbFile = join(dir, 'iot-ingest.duckdb');
    target = undefined;
  });

  afterEach(async () => {
    await target?.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function storeWithReadings(count: number): Promise<DuckDbStore> {
    const store = await DuckDbStore.open(dbFile);
    await store.writeReadings(
      Array.from({ length: count }, (_, seq) => aReading({ ts: 1_718_000_000_000 + seq, seq })),
    );
    return store;
  }

  it('queries the running process over HTTP when its endpoint is live', async () => {
    // Prepare
    const store = await storeWithReadings(3);
    const server = await startQueryServer(store, dir);
    try {
      // Act
      target = await openQueryTarget(dir, dbFile);
      const result = await target.query('SELECT count(*) AS n FROM readings');

      // Assess
      expect(target.via).toBe('http');
      expect(target.location).toBe(server.url);
      expect(result.rows).toEqual([[3]]);
    } finally {
      await server.close();
      await store.close();
    }
  });

  it.each(['http', 'file'] as const)('exports Parquet through the %s target', async (via) => {
    // Prepare
    const store = await storeWithReadings(3);
    const server = via === 'http' ? await startQueryServer(store, dir) : undefined;
    if (!server) await store.close();
    const path = join(dir, 'export.parquet');
    try {
      target = await openQueryTarget(dir, dbFile);

      // Act
      const rows = await target.exportParquet('SELECT seq FROM readings ORDER BY seq', path);

      // Assess
      expect(target.via).toBe(via);
      expect(rows).toBe(3);
      expect((await target.query(`SELECT list(seq) FROM read_parquet('${path}')`)).rows).toEqual([
        [[0, 1, 2]],
      ]);
    } finally {
      await server?.close();
      if (server) await store.close();
    }
  });

  it('carries SQL errors back from the endpoint as QUERY_FAILED', async () => {
    // Prepare
    const store = await storeWithReadings(0);
    const server = await startQueryServer(store, dir);
    try {
      target = await openQueryTarget(dir, dbFile);

      // Act
      const query = target.query('SELEC 1');

      // Assess
      await expect(query).rejects.toMatchObject({ code: 'QUERY_FAILED' });
      await expect(query).rejects.toThrow(/^Parser Error: syntax error at or near "SELEC"/);
    } finally {
      await server.close();
      await store.close();
    }
  });

  it.each([
    ['its process is gone', () => JSON.stringify({ url: 'http://127.0.0.1:9', pid: deadPid(), token: 't' })],
    [
      'nothing answers at its URL',
      () => JSON.stringify({ url: 'http://127.0.0.1:9', pid: process.pid, token: 't' }),
    ],
    ['it is not an endpoint file', () => '{"url": '],
  ])('opens the file read-only when the endpoint file is stale: %s', async (_, endpointFile) => {
    // Prepare
    await (await storeWithReadings(2)).close();
    await writeFile(join(dir, QUERY_ENDPOINT_FILE), endpointFile());

    // Act
    target = await openQueryTarget(dir, dbFile);
    const result = await target.query('SELECT count(*) FROM readings');

    // Assess
    expect(target.via).toBe('file');
    expect(target.location).toBe(dbFile);
    expect(result.rows).toEqual([[2]]);
  });

  it('opens the file read-only when there is no endpoint file, and refuses writes', async () => {
    // Prepare
    await (await storeWithReadings(1)).close();

    // Act
    target = await openQueryTarget(dir, dbFile);
    const write = target.query('DELETE FROM readings');

    // Assess
    expect(target.via).toBe('file');
    await expect(write).rejects.toMatchObject({ code: 'QUERY_FAILED' });
    expect((await target.query('SELECT count(*) FROM readings')).rows).toEqual([[1]]);
  });

  it('says to run npm start first when there is no database', async () => {
    // Act
    const opening = openQueryTarget(dir, dbFile);

    // Assess
    await expect(opening).rejects.toMatchObject({ code: 'QUERY_FAILED' });
    await expect(opening).rejects.toThrow(`No DuckDB database at ${dbFile}. Run \`npm start\` first`);
  });

  describe('when another process holds the file and serves no endpoint', () => {
    let holder: ChildProcess;

    beforeEach(async () => {
      await (await storeWithReadings(1)).close();
      const script = `require('@duckdb/node-api').DuckDBInstance.create(${JSON.stringify(dbFile)})
        .then((db) => { globalThis.db = db; console.log('ready'); setInterval(() => {}, 1000); });`;
      holder = spawn(process.execPath, ['-e', script], {
        cwd: process.cwd(),
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      await new Promise<void>((resolve, reject) => {
        holder.stdout!.once('data', () => resolve());
        holder.once('exit', (code) => reject(new Error(`holder exited with ${code}`)));
      });
    });

    afterEach(async () => {
      const exited = new Promise((resolve) => holder.once('exit', resolve));
      holder.kill();
      await exited;
    });

    it('explains the lock', async () => {
      // Act
      const opening = openQueryTarget(dir, dbFile);

      // Assess
      await expect(opening).rejects.toMatchObject({ code: 'QUERY_FAILED' });
      await expect(opening).rejects.toThrow(
        /Could not set lock.*Another process holds the file and serves no query endpoint/s,
      );
    });
  });
});
