import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compactNumber, type QueryIo, queryCommand } from '../../../functions/cli/query.ts';
import { DuckDbStore } from '../../../functions/lib/store/duckdb-store.ts';
import { type QueryServer, startQueryServer } from '../../../functions/lib/store/query-server.ts';
import { aReading } from '../../support/readings.ts';

const T0 = Date.UTC(2024, 5, 10, 8, 0, 0, 123);

/** Runs the command with captured output. */
async function run(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: QueryIo = {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
  };
  const code = await queryCommand(argv, io);
  return { code, stdout, stderr };
}

const SQL = `SELECT device_id, ts, temperature, tags FROM readings ORDER BY seq`;

// The same answers whether the pipeline is running (HTTP) or not (the file, read-only).
describe.each(['file', 'http'] as const)('iot-ingest query, %s', (via) => {
  let dataDir: string;
  let store: DuckDbStore | undefined;
  let server: QueryServer | undefined;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'cli-query-'));
    store = await DuckDbStore.open(join(dataDir, 'iot-ingest.duckdb'));
    await store.writeReadings([
      aReading({ deviceId: 'dev-1', ts: T0, seq: 1, temperature: 21.533333333333335, tags: { site: 'a,b' } }),
      aReading({ deviceId: 'dev-2', ts: T0 + 1000, seq: 2, temperature: null }),
    ]);
    if (via === 'http') {
      server = await startQueryServer(store, dataDir);
    } else {
      await store.close();
      store = undefined;
    }
  });

  afterAll(async () => {
    await server?.close();
    await store?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('prints a table by default', async () => {
    // Act
    const { code, stdout, stderr } = await run(SQL, '--data-dir', dataDir);

    // Assess
    expect([code, stderr]).toEqual([0, '']);
    expect(stdout).toContain('│ device_id │ ts                       │ temperature │ tags           │');
    expect(stdout).toContain('│ dev-1     │ 2024-06-10T08:00:00.123Z │     21.5333 │ {"site":"a,b"} │');
    expect(stdout).toContain('│ dev-2     │ 2024-06-10T08:00:01.123Z │        NULL │ NULL           │');
    expect(stdout.endsWith('\n2 rows\n')).toBe(true);
  });

  it('prints CSV with full precision and quoting', async () => {
    // Act
    const { code, stdout } = await run(SQL, '--format', 'csv', '--data-dir', dataDir);

    // Assess
    expect(code).toBe(0);
    expect(stdout).toBe(
      [
        'device_id,ts,temperature,tags',
        'dev-1,2024-06-10T08:00:00.123Z,21.533333333333335,"{""site"":""a,b""}"',
        'dev-2,2024-06-10T08:00:01.123Z,,',
        '',
      ].join('\n'),
    );
  });

  it('prints JSON rows', async () => {
    // Act
    const { code, stdout } = await run(SQL, '--format', 'json', '--data-dir', dataDir);

    // Assess
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual([
      {
        device_id: 'dev-1',
        ts: '2024-06-10T08:00:00.123Z',
        temperature: 21.533333333333335,
        tags: { site: 'a,b' },
      },
      { device_id: 'dev-2', ts: '2024-06-10T08:00:01.123Z', temperature: null, tags: null },
    ]);
  });

  it('lists the tables with their row counts when given no SQL', async () => {
    // Act
    const { code, stdout } = await run('--format', 'csv', '--db', join(dataDir, 'iot-ingest.duckdb'));

    // Assess
    expect(code).toBe(0);
    expect(stdout).toBe('table,rows,columns\nalerts,0,14\nreadings,2,11\n');
  });

  it('answers time buckets, the analyst staple', async () => {
    // Act
    const { code, stdout } = await run(
      `SELECT time_bucket(INTERVAL '1 minute', ts) AS minute, count(*) AS n FROM readings GROUP BY ALL`,
      '--format',
      'csv',
      '--data-dir',
      dataDir,
    );

    // Assess
    expect([code, stdout]).toEqual([0, 'minute,n\n2024-06-10T08:00:00.000Z,2\n']);
  });

  it("prints DuckDB's message for bad SQL and exits 1, without a stack trace", async () => {
    // Act
    const { code, stdout, stderr } = await run('SELECT nope FROM readings', '--data-dir', dataDir);

    // Assess
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^iot-ingest query: Binder Error: Referenced column "nope" not found/);
    expect(stderr).not.toMatch(/\n\s+at /);
  });
});

describe('iot-ingest query, usage', () => {
  it('prints help with examples', async () => {
    // Act
    const { code, stdout } = await run('--help');

    // Assess
    expect(code).toBe(0);
    expect(stdout).toContain('Usage: iot-ingest query [options] [sql]');
    expect(stdout).toContain('--format <format>');
    expect(stdout).toContain('Examples:');
  });

  it('refuses an unknown format with exit code 2', async () => {
    // Act
    const { code, stderr } = await run('SELECT 1', '--format', 'xml');

    // Assess
    expect(code).toBe(2);
    expect(stderr).toContain('Allowed choices are table, csv, json');
  });

  it('says where the database was expected when there is none', async () => {
    // Prepare
    const empty = await mkdtemp(join(tmpdir(), 'cli-query-empty-'));

    // Act
    const { code, stderr } = await run('SELECT 1', '--data-dir', empty);
    await rm(empty, { recursive: true, force: true });

    // Assess
    expect(code).toBe(1);
    expect(stderr).toContain(
      `No DuckDB database at ${join(empty, 'iot-ingest.duckdb')}. Run \`npm start\` first`,
    );
  });

  it.each([
    [21.533333333333335, '21.5333'],
    [1013.2547, '1013.25'],
    [1234567, '1234567'],
    [0.000001234567, '0.00000123457'],
    [-0.5, '-0.5'],
  ])('formats %d compactly as %s', (n, text) => {
    expect(compactNumber(n)).toBe(text);
  });
});
