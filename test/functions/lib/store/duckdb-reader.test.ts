import { mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type DuckDbReader, openDuckDbReader } from '../../../../functions/lib/store/duckdb-reader.ts';
import { DuckDbStore } from '../../../../functions/lib/store/duckdb-store.ts';
import { aReading } from '../../../support/readings.ts';

const T0 = Date.UTC(2024, 5, 10, 8, 0, 0, 123);

/** Opens a Parquet file in a DuckDB of its own, as an analyst would check an export. */
async function readParquet(path: string, sql = 'SELECT * FROM p'): Promise<unknown[][]> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    await connection.run(`CREATE VIEW p AS SELECT * FROM read_parquet('${path}')`);
    return (await connection.runAndReadAll(sql)).getRowsJS();
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

describe('openDuckDbReader', () => {
  let dir: string;
  let reader: DuckDbReader;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'duckdb-reader-'));
    const store = await DuckDbStore.open(join(dir, 'store.duckdb'));
    await store.writeReadings(
      Array.from({ length: 5000 }, (_, i) =>
        aReading({ deviceId: `dev-${i % 3}`, ts: T0 + i * 1000, seq: i }),
      ),
    );
    await store.close();
    reader = await openDuckDbReader(join(dir, 'store.duckdb'));
  });

  afterAll(async () => {
    await reader.close();
    await rm(dir, { recursive: true, force: true });
  });

  describe('exportParquet', () => {
    let out: string;

    beforeEach(async () => {
      out = await mkdtemp(join(dir, 'out-'));
    });

    it('writes every row of a SELECT to a Parquet file DuckDB reads back', async () => {
      // Prepare
      const path = join(out, 'per-minute.parquet');

      // Act
      const rows = await reader.exportParquet(
        `SELECT device_id, time_bucket(INTERVAL '1 minute', ts) AS minute, count(*) AS n, avg(temperature) AS temperature
         FROM readings GROUP BY ALL ORDER BY ALL -- a trailing comment`,
        path,
      );

      // Assess
      expect(rows).toBe(3 * 84);
      expect(await readParquet(path, 'SELECT count(*), sum(n), min(minute) FROM p')).toEqual([
        [252n, 5000n, new Date('2024-06-10T08:00:00.000Z')],
      ]);
      expect(await readdir(out)).toEqual(['per-minute.parquet']); // nothing left beside it
    });

    it.each([
      ['a relative path', () => 'x.parquet', /absolute path ending in \.parquet/],
      ['another extension', () => join(out, 'x.csv'), /absolute path ending in \.parquet/],
    ])('refuses %s', async (_, path, message) => {
      // Act
      const exporting = reader.exportParquet('SELECT 1', path());

      // Assess
      await expect(exporting).rejects.toMatchObject({
        code: 'QUERY_FAILED',
        message: expect.stringMatching(message),
      });
    });

    it('never overwrites a file, nor writes through a link', async () => {
      // Prepare
      const existing = join(out, 'existing.parquet');
      await writeFile(existing, 'precious');
      const link = join(out, 'link.parquet');
      await symlink(join(out, 'target.txt'), link);

      // Act
      const [overwrite, throughLink] = await Promise.allSettled([
        reader.exportParquet('SELECT 1', existing),
        reader.exportParquet('SELECT 1', link),
      ]);

      // Assess
      expect(overwrite).toMatchObject({
        status: 'rejected',
        reason: { message: expect.stringMatching(/exists already/) },
      });
      expect(throughLink).toMatchObject({
        status: 'rejected',
        reason: { message: expect.stringMatching(/exists already/) },
      });
      expect((await readdir(out)).sort()).toEqual(['existing.parquet', 'link.parquet']);
    });

    it.each([
      ['a statement that is not a SELECT', 'DELETE FROM readings', /Only a SELECT can be exported/],
      ['a parenthesis closed early', "SELECT 1) TO '/tmp/evil.csv' (FORMAT csv); --", /Parser Error/],
      ['two statements', 'SELECT 1; SELECT 2', /one statement at a time/],
    ])('refuses %s and leaves no file', async (_, sql, message) => {
      // Prepare
      const path = join(out, 'x.parquet');

      // Act
      const exporting = reader.exportParquet(sql, path);

      // Assess
      await expect(exporting).rejects.toMatchObject({
        code: 'QUERY_FAILED',
        message: expect.stringMatching(message),
      });
      expect(await readdir(out)).toEqual([]);
    });

    it('removes its file when the query fails halfway', async () => {
      // Prepare
      const path = join(out, 'x.parquet');

      // Act
      const exporting = reader.exportParquet("SELECT CAST('x' || seq AS INTEGER) FROM readings", path);

      // Assess
      await expect(exporting).rejects.toMatchObject({ code: 'QUERY_FAILED' });
      expect(await readdir(out)).toEqual([]);
    });
  });
});
