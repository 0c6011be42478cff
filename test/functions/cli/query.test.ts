import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compactNumber, type QueryIo, queryCommand } from '../../../functions/cli/query.ts';
import { type Env, loadConfig } from '../../../functions/lib/config.ts';
import { createStore } from '../../../functions/lib/store/create-store.ts';
import { DuckDbStore } from '../../../functions/lib/store/duckdb-store.ts';
import { type QueryServer, startQueryServer } from '../../../functions/lib/store/query-server.ts';
import {
  type InfluxDbServer,
  requireInfluxDbOrSkip,
  startInfluxDb,
} from '../../../infra/local/influxdb-server.ts';
import {
  type LocalTimestreamEndpoint,
  startTimestreamEndpoint,
} from '../../../infra/local/timestream-endpoint.ts';
import { aReading } from '../../support/readings.ts';

const T0 = Date.UTC(2024, 5, 10, 8, 0, 0, 123);

/** Runs the command with captured output, in an environment of its own (none by default). */
async function runIn(env: Env, ...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: QueryIo = {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    env,
  };
  const code = await queryCommand(argv, io);
  return { code, stdout, stderr };
}

const run = (...argv: string[]) => runIn({}, ...argv);

/** A Parquet file's rows, read by a DuckDB of its own: what an analyst opening the export gets. */
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

  it('finds the store through IOT_DATA_DIR when no flag names it', async () => {
    // Act
    const { code, stdout } = await runIn(
      { IOT_DATA_DIR: dataDir },
      'SELECT count(*) AS n FROM readings',
      '-f',
      'csv',
    );

    // Assess
    expect([code, stdout]).toEqual([0, 'n\n2\n']);
  });

  it('answers the latest values per device', async () => {
    // Act
    const { code, stdout } = await run('latest', '--format', 'csv', '--data-dir', dataDir);

    // Assess
    expect(code).toBe(0);
    expect(stdout).toBe(
      [
        'device_id,last_seen,temperature,humidity,pressure,vibration,battery',
        'dev-1,2024-06-10T08:00:00.123Z,21.533333333333335,40,1013.2,2.5,88',
        'dev-2,2024-06-10T08:00:01.123Z,,40,1013.2,2.5,88',
        '',
      ].join('\n'),
    );
  });

  it('answers time buckets of one metric of one device', async () => {
    // Act
    const { code, stdout } = await run(
      'buckets',
      ...['--device', 'dev-1', '--metric', 'temperature', '--bucket', '1m', '--from', '2024-06-10T07:00:00Z'],
      ...['--to', '2024-06-10T09:00:00Z', '--format', 'json', '--data-dir', dataDir],
    );

    // Assess
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual([
      {
        bucket: '2024-06-10T08:00:00.000Z',
        readings: 1,
        avg: 21.533333333333335,
        min: 21.533333333333335,
        max: 21.533333333333335,
      },
    ]);
  });

  it('exports a downsampled Parquet file that DuckDB opens, replacing an older export', async () => {
    // Prepare
    const out = join(dataDir, `export-${via}.parquet`);
    await writeFile(out, 'an older export');

    // Act
    const { code, stderr } = await run(
      'export',
      ...[
        '--bucket',
        '5m',
        '--from',
        '2024-06-10',
        '--to',
        '2024-06-11',
        '--format',
        'parquet',
        '--out',
        out,
      ],
      ...['--data-dir', dataDir],
    );

    // Assess
    expect(code).toBe(0);
    expect(stderr).toBe(`iot-ingest query: wrote 2 rows to ${out}\n`);
    expect(
      await readParquet(out, 'SELECT device_id, bucket, readings, temperature FROM p ORDER BY 1'),
    ).toEqual([
      ['dev-1', new Date('2024-06-10T08:00:00.000Z'), 1n, 21.533333333333335],
      ['dev-2', new Date('2024-06-10T08:00:00.000Z'), 1n, null],
    ]);
  });

  it('writes text formats to --out', async () => {
    // Prepare
    const out = join(dataDir, `count-${via}.csv`);

    // Act
    const { code, stdout } = await run(
      'SELECT count(*) AS n FROM readings',
      '-f',
      'csv',
      '-o',
      out,
      '-d',
      dataDir,
    );

    // Assess
    expect([code, stdout]).toEqual([0, '']);
    expect(await readFile(out, 'utf8')).toBe('n\n2\n');
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
    expect(stdout).toContain('Usage: iot-ingest query [options] [command] [sql]');
    expect(stdout).toContain('-f, --format <format>');
    expect(stdout).toMatch(/latest .*\n.*buckets .*\n.*export /s);
    expect(stdout).toContain('Examples:');
  });

  it.each(['latest', 'buckets', 'export'])(
    'prints help for the %s shortcut with an example',
    async (shortcut) => {
      // Act
      const { code, stdout } = await run(shortcut, '--help');

      // Assess
      expect(code).toBe(0);
      expect(stdout).toContain(`Usage: iot-ingest query ${shortcut} [options]`);
      expect(stdout).toContain(`$ iot-ingest query ${shortcut}`);
    },
  );

  it.each([
    [['buckets', '--metric', 'temperature'], /required option '--device <id>'/],
    [['buckets', '--device', 'd', '--metric', 'colour'], /expected one of: temperature, humidity/],
    [['export', '--bucket', '5 minutes'], /not a bucket width/],
    [['export', '--from', 'yesterday'], /expected now, now-<n><s\|m\|h\|d>/],
  ])('refuses %j with exit code 2', async (argv, message) => {
    // Act
    const { code, stderr } = await run(...argv);

    // Assess
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
  });

  it('asks for --out before writing Parquet', async () => {
    // Act
    const { code, stderr } = await run('SELECT 1', '--format', 'parquet');

    // Assess
    expect(code).toBe(1);
    expect(stderr).toContain('name the file with --out');
  });

  it('reports a bad store setting as a configuration error, exit code 2', async () => {
    // Act
    const { code, stderr } = await runIn({ IOT_STORE: 'timestream' }, 'latest');

    // Assess
    expect(code).toBe(2);
    expect(stderr).toMatch(
      /^iot-ingest query: configuration error: IOT_STORE=timestream needs TIMESTREAM_DATABASE/,
    );
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

describe('iot-ingest query while the pipeline runs', () => {
  it('answers with the data written a moment ago, through the running process', async () => {
    // Prepare: the pipeline's store and query server
    const dataDir = await mkdtemp(join(tmpdir(), 'cli-query-live-'));
    const store = await DuckDbStore.open(join(dataDir, 'iot-ingest.duckdb'));
    const server = await startQueryServer(store, dataDir);
    try {
      await store.writeReadings([aReading({ deviceId: 'dev-1', ts: T0, seq: 1, temperature: 20 })]);
      const before = await run('latest', '-f', 'csv', '-d', dataDir);

      // Act: the pipeline keeps writing
      await store.writeReadings([aReading({ deviceId: 'dev-1', ts: T0 + 5000, seq: 2, temperature: 25 })]);
      const after = await run('latest', '-f', 'csv', '-d', dataDir);

      // Assess
      expect(before.stdout.split('\n')[1]).toMatch(/^dev-1,2024-06-10T08:00:00.123Z,20,/);
      expect(after.stdout.split('\n')[1]).toMatch(/^dev-1,2024-06-10T08:00:05.123Z,25,/);
    } finally {
      await server.close();
      await store.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('iot-ingest query on Timestream (IOT_STORE=timestream)', () => {
  let endpoint: LocalTimestreamEndpoint;
  let env: Env;
  let dir: string;

  beforeAll(async () => {
    endpoint = await startTimestreamEndpoint({ tables: ['iot_ingest.readings'] });
    env = {
      IOT_STORE: 'timestream',
      TIMESTREAM_DATABASE: 'iot_ingest',
      TIMESTREAM_TABLE: 'readings',
      TIMESTREAM_ENDPOINT: endpoint.url,
    };
    const store = await createStore(loadConfig(env).store);
    await store.writeReadings([
      aReading({ deviceId: 'dev-1', ts: T0, seq: 1, temperature: 20 }),
      aReading({ deviceId: 'dev-1', ts: T0 + 60_000, seq: 2, temperature: 30 }),
    ]);
    await store.close();
    dir = await mkdtemp(join(tmpdir(), 'cli-query-timestream-'));
  });

  afterAll(async () => {
    await endpoint.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('runs Timestream SQL', async () => {
    // Act
    const { code, stdout } = await runIn(
      env,
      'SELECT count(*) AS n FROM "iot_ingest"."readings"',
      '-f',
      'csv',
    );

    // Assess
    expect([code, stdout]).toEqual([0, 'n\n2\n']);
  });

  it('answers the shortcuts in Timestream SQL and exports Parquet from the rows', async () => {
    // Prepare
    const out = join(dir, 'buckets.parquet');

    // Act
    const { code } = await runIn(
      env,
      ...[
        'buckets',
        '--device',
        'dev-1',
        '--metric',
        'temperature',
        '--from',
        '2024-06-10',
        '--to',
        '2024-06-11',
      ],
      ...['--format', 'parquet', '--out', out],
    );

    // Assess
    expect(code).toBe(0);
    expect(await readParquet(out)).toEqual([
      [new Date('2024-06-10T08:00:00.000Z'), 1n, 20, 20, 20],
      [new Date('2024-06-10T08:01:00.000Z'), 1n, 30, 30, 30],
    ]);
  });
});

const hasInfluxDb = await requireInfluxDbOrSkip();

describe.skipIf(!hasInfluxDb)('iot-ingest query on InfluxDB (IOT_STORE=influxdb)', () => {
  let server: InfluxDbServer;
  let env: Env;

  beforeAll(async () => {
    server = await startInfluxDb();
    await server.admin('CREATE DATABASE iot');
    env = { IOT_STORE: 'influxdb', INFLUXDB_URL: server.url, INFLUXDB_DATABASE: 'iot' };
    const store = await createStore(loadConfig(env).store);
    await store.writeReadings([aReading({ deviceId: 'dev-1', ts: T0, seq: 1, temperature: 20 })]);
    await store.close();
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('answers the shortcuts in InfluxQL, with the same columns', async () => {
    // Act
    const { code, stdout } = await runIn(env, 'latest', '-f', 'json');

    // Assess
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual([
      {
        device_id: 'dev-1',
        last_seen: '2024-06-10T08:00:00.123Z',
        temperature: 20,
        humidity: 40,
        pressure: 1013.2,
        vibration: 2.5,
        battery: 88,
      },
    ]);
  });

  it('refuses InfluxQL that writes', async () => {
    // Act
    const { code, stderr } = await runIn(env, 'DROP DATABASE iot');

    // Assess
    expect(code).toBe(1);
    expect(stderr).toContain('Queries only read here');
  });
});
