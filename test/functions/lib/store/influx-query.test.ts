import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InfluxQuery, toQueryResult } from '../../../../functions/lib/store/influx-query.ts';
import { InfluxStore } from '../../../../functions/lib/store/influx-store.ts';
import {
  type InfluxDbServer,
  requireInfluxDbOrSkip,
  startInfluxDb,
} from '../../../../infra/local/influxdb-server.ts';
import { aReading } from '../../../support/readings.ts';

const T0 = Date.UTC(2024, 5, 10, 8, 0, 0, 123);
const hasInfluxDb = await requireInfluxDbOrSkip();

describe.skipIf(!hasInfluxDb)('InfluxQuery', () => {
  let server: InfluxDbServer;
  let query: InfluxQuery;

  beforeAll(async () => {
    server = await startInfluxDb();
    await server.admin('CREATE DATABASE q');
    await new InfluxStore({ url: server.url, database: 'q' }).writeReadings([
      aReading({ deviceId: 'dev-1', ts: T0, seq: 1, temperature: 20 }),
      aReading({ deviceId: 'dev-2', ts: T0 + 1000, seq: 1, temperature: 30 }),
    ]);
    query = new InfluxQuery({ url: server.url, database: 'q' });
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('answers one table: series tags first, time as ISO 8601, numbers as numbers', async () => {
    // Act
    const result = await query.query('SELECT temperature FROM readings GROUP BY device_id');

    // Assess
    expect(result).toEqual({
      columns: ['device_id', 'time', 'temperature'],
      types: ['VARCHAR', 'TIMESTAMP', 'DOUBLE'],
      rows: [
        ['dev-1', '2024-06-10T08:00:00.123Z', 20],
        ['dev-2', '2024-06-10T08:00:01.123Z', 30],
      ],
      truncated: false,
    });
  });

  it('returns at most maxRows rows and says the rest was cut', async () => {
    // Act
    const result = await query.query('SELECT temperature FROM readings', { maxRows: 1 });

    // Assess
    expect([result.rows.length, result.truncated]).toEqual([1, true]);
  });

  it("reports InfluxDB's message for a bad query", async () => {
    await expect(query.query('SELECT FROM readings')).rejects.toMatchObject({
      code: 'QUERY_FAILED',
      message: expect.stringMatching(/error parsing query/),
    });
  });

  it.each([
    ['DROP DATABASE q', /DROP does not/],
    ['SELECT * INTO copy FROM readings', /without INTO/],
    ['SELECT * FROM readings; DROP DATABASE q', /one statement at a time/],
    ['  -- nothing', /empty/],
  ])('refuses %j: queries only read (InfluxDB 1.x would run it over GET)', async (influxql, message) => {
    // Act
    const refused = query.query(influxql);

    // Assess
    await expect(refused).rejects.toMatchObject({
      code: 'QUERY_FAILED',
      message: expect.stringMatching(message),
    });
    expect((await query.query('SHOW DATABASES')).rows).toContainEqual(['q']);
  });

  it('reads a quoted INTO or semicolon as the text it is', async () => {
    // Act
    const result = await query.query(`SELECT temperature FROM readings WHERE device_id = 'INTO;'`);

    // Assess
    expect(result.rows).toEqual([]);
  });
});

describe('toQueryResult', () => {
  it('names the measurement when series come from several', () => {
    // Act
    const result = toQueryResult(
      [
        { name: 'b', columns: ['time', 'x'], values: [[0, 1]] },
        { name: 'a', columns: ['time', 'y'], values: [[0, 'v']] },
      ],
      10,
    );

    // Assess
    expect(result).toEqual({
      columns: ['measurement', 'time', 'x', 'y'],
      types: ['VARCHAR', 'TIMESTAMP', 'DOUBLE', 'VARCHAR'],
      rows: [
        ['a', '1970-01-01T00:00:00.000Z', null, 'v'],
        ['b', '1970-01-01T00:00:00.000Z', 1, null],
      ],
      truncated: false,
    });
  });
});
