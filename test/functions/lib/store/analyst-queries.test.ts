/**
 * The analyst shortcuts, asked of each store in its own language over the same readings: the
 * answers must agree (InfluxDB's `latest` is documented to differ, see analyst-queries.ts).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Reading } from '../../../../functions/lib/reading.ts';
import {
  type AnalystQueries,
  type AnalystQuery,
  duckDbQueries,
  influxQueries,
  parseBucket,
  timestreamQueries,
} from '../../../../functions/lib/store/analyst-queries.ts';
import { DuckDbStore } from '../../../../functions/lib/store/duckdb-store.ts';
import { InfluxQuery } from '../../../../functions/lib/store/influx-query.ts';
import { InfluxStore } from '../../../../functions/lib/store/influx-store.ts';
import { TimestreamQuery } from '../../../../functions/lib/store/timestream-query.ts';
import { TimestreamStore } from '../../../../functions/lib/store/timestream-store.ts';
import type { QueryValue } from '../../../../functions/lib/store/types.ts';
import { requireInfluxDbOrSkip, startInfluxDb } from '../../../../infra/local/influxdb-server.ts';
import { startTimestreamEndpoint } from '../../../../infra/local/timestream-endpoint.ts';
import { aReading } from '../../../support/readings.ts';

const at = (time: string) => Date.parse(`2024-06-10T${time}Z`);
const iso = (time: string) => `2024-06-10T${time}.000Z`;
const NO_METRICS = { temperature: null, humidity: null, pressure: null, vibration: null, battery: null };

// Timestream, like the real one, knows a measure (a column) only once a record carried it.
const READINGS: Reading[] = [
  aReading({
    deviceId: 'dev-1',
    ts: at('08:00:00'),
    seq: 1,
    ...{ temperature: 20, humidity: 50, pressure: 1000, vibration: 1, battery: 90 },
  }),
  aReading({ deviceId: 'dev-1', ts: at('08:00:30'), seq: 2, ...NO_METRICS, temperature: 22 }),
  aReading({ deviceId: 'dev-1', ts: at('08:01:00'), seq: 3, ...NO_METRICS, temperature: 30, humidity: 60 }),
  aReading({ deviceId: 'dev-1', ts: at('08:01:30'), seq: 4, ...NO_METRICS, temperature: 32 }),
  aReading({ deviceId: 'dev-1', ts: at('08:02:10'), seq: 5, ...NO_METRICS, temperature: 40 }),
  aReading({ deviceId: "dev-x'2", ts: at('08:00:10'), seq: 1, ...NO_METRICS, temperature: 10 }),
  aReading({ deviceId: "dev-x'2", ts: at('08:01:10'), seq: 2, ...NO_METRICS, humidity: 70 }),
];
const RANGE = { from: at('08:00:00'), to: at('08:03:00') };
const MINUTE = parseBucket('1m');

interface Engine {
  queries: AnalystQueries;
  ask(query: AnalystQuery): Promise<{ columns: string[]; rows: QueryValue[][] }>;
  stop(): Promise<void>;
}

const hasInfluxDb = await requireInfluxDbOrSkip();

const engines: Record<string, () => Promise<Engine>> = {
  async duckdb() {
    const dir = await mkdtemp(join(tmpdir(), 'analyst-'));
    const store = await DuckDbStore.open(join(dir, 'store.duckdb'));
    await store.writeReadings(READINGS);
    return {
      queries: duckDbQueries,
      ask: (q) => store.query(q.text),
      stop: async () => {
        await store.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  },
  async timestream() {
    const endpoint = await startTimestreamEndpoint({ tables: ['iot.readings'] });
    const config = {
      kind: 'timestream',
      database: 'iot',
      table: 'readings',
      region: 'us-east-1',
      endpoint: endpoint.url,
      local: true,
    } as const;
    const store = TimestreamStore.open(config);
    await store.writeReadings(READINGS);
    await store.close();
    const query = TimestreamQuery.open(config);
    return {
      queries: timestreamQueries('iot', 'readings'),
      ask: (q) => query.query(q.text),
      stop: async () => {
        await query.close();
        await endpoint.stop();
      },
    };
  },
  async influxdb() {
    const server = await startInfluxDb();
    await server.admin('CREATE DATABASE iot');
    await new InfluxStore({ url: server.url, database: 'iot' }).writeReadings(READINGS);
    const query = new InfluxQuery({ url: server.url, database: 'iot' });
    return {
      queries: influxQueries,
      ask: async (q) => {
        const result = await query.query(q.text);
        return { ...result, columns: result.columns.map((c) => q.rename?.[c] ?? c) };
      },
      stop: () => server.stop(),
    };
  },
};

describe.each(Object.keys(engines))('analyst shortcuts on %s', (name) => {
  let engine: Engine;
  const skip = name === 'influxdb' && !hasInfluxDb;

  beforeAll(async () => {
    if (!skip) engine = await engines[name]!();
  });

  afterAll(async () => {
    await engine?.stop();
  });

  it.skipIf(skip)('buckets one metric of one device: readings, avg, min, max', async () => {
    // Act
    const result = await engine.ask(
      engine.queries.buckets({ device: 'dev-1', metric: 'temperature', bucket: MINUTE, ...RANGE }),
    );

    // Assess
    expect(result.columns).toEqual(['bucket', 'readings', 'avg', 'min', 'max']);
    expect(result.rows).toEqual([
      [iso('08:00:00'), 2, 21, 20, 22],
      [iso('08:01:00'), 2, 31, 30, 32],
      [iso('08:02:00'), 1, 40, 40, 40],
    ]);
  });

  it.skipIf(skip)('downsamples every device, averaging each metric per bucket', async () => {
    // Act
    const result = await engine.ask(engine.queries.downsample({ bucket: MINUTE, ...RANGE }));

    // Assess
    expect(result.columns).toEqual([
      'device_id',
      'bucket',
      'readings',
      'temperature',
      'humidity',
      'pressure',
      'vibration',
      'battery',
    ]);
    expect(result.rows).toEqual([
      ['dev-1', iso('08:00:00'), 2, 21, 50, 1000, 1, 90],
      ['dev-1', iso('08:01:00'), 2, 31, 60, null, null, null],
      ['dev-1', iso('08:02:00'), 1, 40, null, null, null, null],
      ["dev-x'2", iso('08:00:00'), 1, 10, null, null, null, null],
      ["dev-x'2", iso('08:01:00'), 1, null, 70, null, null, null],
    ]);
  });

  it.skipIf(skip)('downsamples one device, its id quoted safely', async () => {
    // Act
    const result = await engine.ask(
      engine.queries.downsample({ bucket: parseBucket('5m'), device: "dev-x'2", ...RANGE }),
    );

    // Assess
    expect(result.rows).toEqual([["dev-x'2", iso('08:00:00'), 2, 10, 70, null, null, null]]);
  });

  it.skipIf(skip)('answers the latest values per device', async () => {
    // Act
    const result = await engine.ask(engine.queries.latest({}));

    // Assess
    expect(result.columns).toEqual([
      'device_id',
      'last_seen',
      'temperature',
      'humidity',
      'pressure',
      'vibration',
      'battery',
    ]);
    expect(result.rows).toEqual(
      name === 'influxdb'
        ? // the latest reading that carries a metric
          [
            ['dev-1', iso('08:02:10'), 40, null, null, null, null],
            ["dev-x'2", iso('08:01:10'), null, 70, null, null, null],
          ]
        : // the last known value of each metric
          [
            ['dev-1', iso('08:02:10'), 40, 60, 1000, 1, 90],
            ["dev-x'2", iso('08:01:10'), 10, 70, null, null, null],
          ],
    );
  });

  it.skipIf(skip)('answers the latest values of one device since a time', async () => {
    // Act
    const result = await engine.ask(engine.queries.latest({ device: 'dev-1', from: at('08:01:15') }));

    // Assess
    expect(result.rows).toEqual([['dev-1', iso('08:02:10'), 40, null, null, null, null]]);
  });
});

describe('parseBucket', () => {
  it.each([
    ['30s', 30_000],
    ['1m', 60_000],
    ['15m', 900_000],
    ['1h', 3_600_000],
    ['1d', 86_400_000],
  ])('reads %s', (text, ms) => {
    expect(parseBucket(text).ms).toBe(ms);
  });

  it.each(['0m', '1w', 'm', '1 m', "1m'; DROP TABLE readings; --"])('refuses %j', (text) => {
    expect(() => parseBucket(text)).toThrow(/not a bucket width/);
  });
});
