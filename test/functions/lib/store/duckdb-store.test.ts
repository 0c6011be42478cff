import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Alert } from '../../../../functions/lib/codec/alert-codec.ts';
import { IngestError } from '../../../../functions/lib/errors.ts';
import { DuckDbStore } from '../../../../functions/lib/store/duckdb-store.ts';
import type { StoredReading } from '../../../../functions/lib/store/types.ts';
import { aReading } from '../../../support/readings.ts';
import { describeTelemetryStoreContract } from './telemetry-store.contract.ts';

const T0 = Date.UTC(2024, 5, 10, 8, 0, 0, 123);

/** Every stored reading, in key order, in the shape it was written. */
async function readBack(store: DuckDbStore): Promise<StoredReading[]> {
  const result = await store.query(
    `SELECT device_id, epoch_ms(ts), seq, temperature, humidity, pressure, vibration, battery, tags,
            epoch_ms(received_at)
     FROM readings ORDER BY device_id, ts, seq`,
  );
  return result.rows.map(
    ([deviceId, ts, seq, temperature, humidity, pressure, vibration, battery, tags, receivedAt]) => ({
      deviceId: deviceId as string,
      ts: ts as number,
      seq: seq as number,
      temperature: temperature as number | null,
      humidity: humidity as number | null,
      pressure: pressure as number | null,
      vibration: vibration as number | null,
      battery: battery as number | null,
      tags: tags as Record<string, string> | null,
      ...(receivedAt === null ? {} : { receivedAt: receivedAt as number }),
    }),
  );
}

let contractDir: string | undefined;
describeTelemetryStoreContract('DuckDbStore', {
  async open() {
    contractDir = await mkdtemp(join(tmpdir(), 'duckdb-store-'));
    return DuckDbStore.open(join(contractDir, 'store.duckdb'));
  },
  readBack,
  async cleanUp() {
    if (contractDir) await rm(contractDir, { recursive: true, force: true });
  },
});

function anAlert(overrides: Partial<Alert> = {}): Alert {
  return {
    id: 'inc-1',
    dedupKey: 'dev-1/temperature/threshold-high',
    deviceId: 'dev-1',
    metric: 'temperature',
    rule: 'threshold-high',
    status: 'open',
    severity: 'critical',
    value: 81.5,
    score: 1.5,
    ts: T0,
    openedAt: T0,
    repeats: 0,
    message: 'temperature 81.5 is above 80',
    ...overrides,
  };
}

describe('DuckDbStore', () => {
  let dir: string;
  let path: string;
  let store: DuckDbStore;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'duckdb-store-'));
    path = join(dir, 'nested', 'deeper', 'iot-ingest.duckdb');
    store = await DuckDbStore.open(path);
  });

  afterEach(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('creates the readings table with one column per metric', async () => {
    // Act
    const described = await store.query('DESCRIBE readings');

    // Assess
    expect(described.rows.map(([name, type, nullable]) => [name, type, nullable])).toEqual([
      ['device_id', 'VARCHAR', 'NO'],
      ['ts', 'TIMESTAMP', 'NO'],
      ['seq', 'BIGINT', 'NO'],
      ['temperature', 'DOUBLE', 'YES'],
      ['humidity', 'DOUBLE', 'YES'],
      ['pressure', 'DOUBLE', 'YES'],
      ['vibration', 'DOUBLE', 'YES'],
      ['battery', 'DOUBLE', 'YES'],
      ['tags', 'MAP(VARCHAR, VARCHAR)', 'YES'],
      ['received_at', 'TIMESTAMP', 'YES'],
      ['written_at', 'TIMESTAMP', 'NO'],
    ]);
  });

  it('stores device time with millisecond precision and stamps receive and write times', async () => {
    // Prepare
    const before = Date.now();

    // Act
    await store.writeReadings([{ ...aReading({ ts: T0, seq: 1 }), receivedAt: T0 + 250 }]);

    // Assess
    const { rows, types } = await store.query('SELECT ts, received_at, written_at FROM readings');
    expect(types).toEqual(['TIMESTAMP', 'TIMESTAMP', 'TIMESTAMP']);
    expect(rows[0]?.slice(0, 2)).toEqual(['2024-06-10T08:00:00.123Z', '2024-06-10T08:00:00.373Z']);
    const writtenAt = Date.parse(rows[0]?.[2] as string);
    expect(writtenAt).toBeGreaterThanOrEqual(before);
    expect(writtenAt).toBeLessThanOrEqual(Date.now());
  });

  it('round-trips a batch spanning several data chunks exactly', async () => {
    // Prepare: 5000 rows (DuckDB chunks hold 2048), nulls and tags in varying places
    const readings: StoredReading[] = Array.from({ length: 5000 }, (_, i) => ({
      ...aReading({
        deviceId: `dev-${i % 7}`,
        ts: T0 + i,
        seq: i,
        temperature: i % 3 === 0 ? null : i / 8,
        humidity: i % 5 === 0 ? null : 100 - i / 100,
        battery: i % 11 === 0 ? null : i % 100,
        tags: i % 4 === 0 ? { n: String(i) } : null,
      }),
      ...(i % 2 === 0 ? { receivedAt: T0 + i + 5 } : {}),
    }));

    // Act
    const result = await store.writeReadings(readings);

    // Assess
    expect(result).toEqual({ written: 5000, duplicates: 0 });
    const byKey = (a: StoredReading, b: StoredReading) => a.deviceId.localeCompare(b.deviceId) || a.ts - b.ts;
    expect(await readBack(store)).toEqual([...readings].sort(byKey));
  });

  it('keeps data across a restart and still drops redeliveries after it', async () => {
    // Prepare
    const readings = [aReading({ ts: T0, seq: 1 }), aReading({ ts: T0 + 1000, seq: 2 })];
    await store.writeReadings(readings);
    await store.close();
    store = await DuckDbStore.open(path);

    // Act
    const result = await store.writeReadings(readings);

    // Assess
    expect(result).toEqual({ written: 0, duplicates: 2 });
    expect(await readBack(store)).toHaveLength(2);
  });

  it('fails a write with a retryable STORE_WRITE_FAILED that keeps the cause, and recovers', async () => {
    // Prepare: a timestamp DuckDB cannot store
    const bad = [aReading({ ts: T0, seq: 1 }), aReading({ ts: Number.NaN, seq: 2 })];

    // Act
    const failure = await store.writeReadings(bad).catch((error: unknown) => error);
    const next = await store.writeReadings([aReading({ ts: T0 + 5, seq: 3 })]);

    // Assess
    expect(failure).toBeInstanceOf(IngestError);
    expect(failure).toMatchObject({ code: 'STORE_WRITE_FAILED', retryable: true });
    expect((failure as IngestError).cause).toBeInstanceOf(Error);
    expect(next).toEqual({ written: 1, duplicates: 0 });
    expect((await readBack(store)).map((r) => r.seq)).toEqual([3]);
  });

  it('leaves nothing of a refused batch in the next one (null bits, values)', async () => {
    // Prepare: the first row's metrics are null; the second row has no device id, so the batch is
    // refused while its rows are being staged
    const refused = [
      aReading({ ts: T0, seq: 1, temperature: null, humidity: null, battery: null }),
      { ...aReading({ ts: T0 + 1, seq: 2 }), deviceId: undefined as unknown as string },
    ];
    const next = aReading({ ts: T0 + 5, seq: 3, temperature: 21.5, humidity: 40, battery: 90 });

    // Act
    const failure = await store.writeReadings(refused).catch((error: unknown) => error);
    const result = await store.writeReadings([next]);

    // Assess
    expect(failure).toMatchObject({ code: 'STORE_WRITE_FAILED' });
    expect(result).toEqual({ written: 1, duplicates: 0 });
    expect(await readBack(store)).toEqual([next]);
  });

  it('holds no more than the last batch in its staging tables, however many it wrote', async () => {
    // Prepare: 40 readings batches and 40 alert batches, one after the other
    for (let b = 0; b < 40; b++) {
      await store.writeReadings(
        Array.from({ length: 100 }, (_, i) => aReading({ ts: T0 + b * 1000 + i, seq: b * 100 + i })),
      );
      await store.writeAlerts([anAlert({ id: `inc-${b}`, repeats: b })]);
    }

    // Act: the staging tables are the writer connection's own (temp), so only it sees them. Their
    // estimated size counts rows deleted but still held, which a table emptied with TRUNCATE keeps.
    const writer = (store as unknown as { writer: DuckDBConnection }).writer;
    const tables = await writer.runAndReadAll(
      `SELECT table_name, estimated_size FROM duckdb_tables() WHERE temporary ORDER BY table_name`,
    );

    // Assess
    expect(tables.getRowObjectsJson()).toEqual([
      { table_name: 'alerts_staging', estimated_size: '1' },
      { table_name: 'readings_staging', estimated_size: '100' },
    ]);
    expect(await readBack(store)).toHaveLength(4_000);
  });

  describe('group commit', () => {
    /** `n` readings of `deviceId`, 1 s apart from `from`. */
    const series = (deviceId: string, n: number, from = 0) =>
      Array.from({ length: n }, (_, i) => aReading({ deviceId, ts: T0 + (from + i) * 1000, seq: from + i }));

    it('writes batches that queue behind a write together, each with its own counts', async () => {
      // Prepare: one write running, six more queued behind it (eight partitions' small batches)
      const batches = Array.from({ length: 7 }, (_, i) => series(`dev-${i}`, 50));

      // Act
      const results = await Promise.all(batches.map((b) => store.writeReadings(b)));

      // Assess
      expect(results).toEqual(batches.map(() => ({ written: 50, duplicates: 0 })));
      expect(await readBack(store)).toHaveLength(350);
      expect(store.counters.readingBatches).toBe(7);
      expect(store.counters.readingInserts).toBeLessThanOrEqual(2);
    });

    it('gives a redelivered batch in a group its own duplicate count', async () => {
      // Prepare
      const stored = series('dev-1', 20);
      await store.writeReadings(stored);

      // Act: a fresh batch and a redelivery of the stored one, queued together
      const [fresh, again, mixed] = await Promise.all([
        store.writeReadings(series('dev-2', 30)),
        store.writeReadings(stored),
        store.writeReadings(series('dev-1', 10, 15)), // 5 stored, 5 new
      ]);

      // Assess
      expect(fresh).toEqual({ written: 30, duplicates: 0 });
      expect(again).toEqual({ written: 0, duplicates: 20 });
      expect(mixed).toEqual({ written: 5, duplicates: 5 });
      expect(await readBack(store)).toHaveLength(55);
    });

    it('fails only the batch that cannot be stored; the rest of its group lands', async () => {
      // Act: a timestamp DuckDB cannot store, between two good batches
      const [before, bad, after] = await Promise.allSettled([
        store.writeReadings(series('dev-1', 10)),
        store.writeReadings([aReading({ deviceId: 'dev-2', ts: Number.NaN, seq: 1 })]),
        store.writeReadings(series('dev-3', 10)),
      ]);

      // Assess
      expect(before).toEqual({ status: 'fulfilled', value: { written: 10, duplicates: 0 } });
      expect(after).toEqual({ status: 'fulfilled', value: { written: 10, duplicates: 0 } });
      expect(bad.status).toBe('rejected');
      expect((bad as PromiseRejectedResult).reason).toMatchObject({ code: 'STORE_WRITE_FAILED' });
      expect((await readBack(store)).map((r) => r.deviceId)).toEqual([
        ...Array(10).fill('dev-1'),
        ...Array(10).fill('dev-3'),
      ]);
    });

    it('writes what is queued before it closes', async () => {
      // Act
      const writes = [store.writeReadings(series('dev-1', 10)), store.writeReadings(series('dev-2', 10))];
      await store.close();
      store = await DuckDbStore.open(path);

      // Assess
      expect(await Promise.all(writes)).toEqual([
        { written: 10, duplicates: 0 },
        { written: 10, duplicates: 0 },
      ]);
      expect(await readBack(store)).toHaveLength(20);
    });
  });

  it('bounds DuckDB to the memory limit and the threads it is given', async () => {
    // Prepare
    const settings = async (s: DuckDbStore) =>
      (await s.query("SELECT current_setting('memory_limit'), current_setting('threads')")).rows[0]!;
    const other = await DuckDbStore.open(join(dir, 'limited.duckdb'), { memoryLimit: '64MB', threads: 1 });

    // Act
    const limited = await settings(other).finally(() => other.close());
    const unlimited = await settings(store);

    // Assess: DuckDB states the limit in binary units (64 MB = 61.0 MiB), and by default runs one
    // thread per core
    expect(limited).toEqual(['61.0 MiB', 1]);
    expect(unlimited[0]).not.toBe('61.0 MiB');
    expect(unlimited[1]).toBe(availableParallelism());
  });

  it('refuses to open a path it cannot use', async () => {
    // Act
    const opening = DuckDbStore.open(dir); // a directory, not a file

    // Assess
    await expect(opening).rejects.toMatchObject({ code: 'STORE_WRITE_FAILED', retryable: false });
    await expect(opening).rejects.toThrow(dir);
  });

  describe('query', () => {
    it('answers JSON-safe values: exact integers, ISO timestamps, maps as objects', async () => {
      // Act
      const result = await store.query(`SELECT
        42::BIGINT AS small, 9007199254740993::BIGINT AS big, 170141183460469231731687303715884105727::HUGEINT AS huge,
        2.5 AS dec, 0.1::DOUBLE AS dbl, TIMESTAMP '2024-06-10 08:00:00.123' AS ts, 'infinity'::TIMESTAMP AS inf,
        TIMESTAMPTZ '2024-06-10 08:00:00+00' AS tstz, DATE '2024-06-10' AS day,
        MAP {'site': 'a'} AS tags, [TIMESTAMP '2024-01-01 00:00:00'] AS list, {'k': 1::BIGINT} AS struct, NULL AS nothing`);

      // Assess
      expect(result.columns).toEqual([
        'small',
        'big',
        'huge',
        'dec',
        'dbl',
        'ts',
        'inf',
        'tstz',
        'day',
        'tags',
        'list',
        'struct',
        'nothing',
      ]);
      expect(result.rows).toEqual([
        [
          42,
          '9007199254740993',
          '170141183460469231731687303715884105727',
          2.5,
          0.1,
          '2024-06-10T08:00:00.123Z',
          'infinity',
          '2024-06-10T08:00:00.000Z',
          '2024-06-10',
          { site: 'a' },
          ['2024-01-01T00:00:00.000Z'],
          { k: 1 },
          null,
        ],
      ]);
      expect(result.truncated).toBe(false);
    });

    it('returns at most maxRows rows and says the rest was cut', async () => {
      // Act
      const result = await store.query('SELECT * FROM range(10000)', { maxRows: 3000 });

      // Assess
      expect(result.rows).toHaveLength(3000);
      expect(result.rows[2999]).toEqual([2999]);
      expect(result.truncated).toBe(true);
    });

    it("reports DuckDB's message for a bad query", async () => {
      // Act
      const query = store.query('SELECT nope FROM readings');

      // Assess
      await expect(query).rejects.toMatchObject({ code: 'QUERY_FAILED' });
      await expect(query).rejects.toThrow(/Binder Error: Referenced column "nope" not found/);
    });

    it.each([
      ["INSERT INTO readings (device_id, ts, seq, written_at) VALUES ('x', now(), 1, now())", /INSERT/],
      ['DROP TABLE readings', /DROP/],
      ['SELECT 1; SELECT 2', /one statement at a time/],
      ['  ', /empty/],
      ['-- only a comment', /empty/],
    ])('refuses %j: queries only read', async (sql, message) => {
      // Act
      const query = store.query(sql);

      // Assess
      await expect(query).rejects.toMatchObject({ code: 'QUERY_FAILED' });
      await expect(query).rejects.toThrow(message);
      expect((await store.query('SELECT count(*) FROM readings')).rows).toEqual([[0]]);
    });

    it('stops a running query when its signal aborts', async () => {
      // Prepare
      const abort = new AbortController();
      const started = Date.now();

      // Act
      const query = store.query('SELECT count(*) FROM range(1000000000000) a', { signal: abort.signal });
      setTimeout(() => abort.abort(), 200);

      // Assess
      await expect(query).rejects.toMatchObject({
        code: 'QUERY_FAILED',
        message: expect.stringMatching(/interrupt/i),
      });
      expect(Date.now() - started).toBeLessThan(10_000);
    });

    it('sees writes as soon as they commit', async () => {
      // Prepare
      await store.writeReadings([aReading({ ts: T0, seq: 1 })]);

      // Act
      const result = await store.query('SELECT count(*) AS n FROM readings');

      // Assess
      expect(result.rows).toEqual([[1]]);
    });
  });

  describe('writeAlerts', () => {
    async function alertRows(): Promise<unknown[][]> {
      return (await store.query('SELECT id, status, repeats, message, epoch_ms(ts) FROM alerts ORDER BY id'))
        .rows;
    }

    it('stores one row per incident with every field', async () => {
      // Act
      const result = await store.writeAlerts([anAlert(), anAlert({ id: 'inc-2', value: null, score: null })]);

      // Assess
      expect(result).toEqual({ written: 2, duplicates: 0 });
      const row = await store.query(
        `SELECT id, dedup_key, device_id, metric, rule, status, severity, value, score, ts, opened_at, repeats, message
         FROM alerts WHERE id = 'inc-1'`,
      );
      expect(row.rows).toEqual([
        [
          'inc-1',
          'dev-1/temperature/threshold-high',
          'dev-1',
          'temperature',
          'threshold-high',
          'open',
          'critical',
          81.5,
          1.5,
          '2024-06-10T08:00:00.123Z',
          '2024-06-10T08:00:00.123Z',
          0,
          'temperature 81.5 is above 80',
        ],
      ]);
    });

    it('moves an incident forward and ignores redelivered or stale events', async () => {
      // Prepare
      await store.writeAlerts([anAlert()]);

      // Act
      const redelivered = await store.writeAlerts([anAlert()]);
      const repeated = await store.writeAlerts([
        anAlert({ repeats: 2, ts: T0 + 2000, message: 'r2' }),
        anAlert({ repeats: 1, ts: T0 + 1000 }),
      ]);
      const resolved = await store.writeAlerts([
        anAlert({ status: 'resolved', repeats: 2, ts: T0 + 3000, message: 'ok' }),
      ]);
      const late = await store.writeAlerts([anAlert({ repeats: 3, ts: T0 + 2500, message: 'late' })]);

      // Assess
      expect(redelivered).toEqual({ written: 0, duplicates: 1 });
      expect(repeated).toEqual({ written: 1, duplicates: 1 });
      expect(resolved).toEqual({ written: 1, duplicates: 0 });
      expect(late).toEqual({ written: 0, duplicates: 1 });
      expect(await alertRows()).toEqual([['inc-1', 'resolved', 2, 'ok', T0 + 3000]]);
    });
  });
});
