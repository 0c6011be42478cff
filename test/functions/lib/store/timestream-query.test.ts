import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  TimestreamQuery,
  timestreamTimestampToIso,
} from '../../../../functions/lib/store/timestream-query.ts';
import { TimestreamStore } from '../../../../functions/lib/store/timestream-store.ts';
import {
  type LocalTimestreamEndpoint,
  startTimestreamEndpoint,
} from '../../../../infra/local/timestream-endpoint.ts';
import { aReading } from '../../../support/readings.ts';

const T0 = Date.UTC(2024, 5, 10, 8, 0, 0, 123);

describe('TimestreamQuery', () => {
  let endpoint: LocalTimestreamEndpoint;
  let query: TimestreamQuery;

  beforeAll(async () => {
    endpoint = await startTimestreamEndpoint({ tables: ['iot.readings'], queryPageRows: 4 });
    const config = { region: 'us-east-1', local: false } as const;
    const sdk = () => ({
      requestHandler: endpoint.requestHandler(),
      credentials: { accessKeyId: 't', secretAccessKey: 't' },
    });
    const store = TimestreamStore.open(
      { kind: 'timestream', database: 'iot', table: 'readings', ...config },
      sdk(),
    );
    await store.writeReadings(Array.from({ length: 10 }, (_, seq) => aReading({ ts: T0 + seq, seq })));
    await store.close();
    query = TimestreamQuery.open(config, sdk());
  });

  afterAll(async () => {
    await query.close();
    await endpoint.stop();
  });

  it('discovers the query endpoint and pages through every row', async () => {
    // Act
    const result = await query.query('SELECT seq, time FROM "iot"."readings" ORDER BY time');

    // Assess
    expect(result.rows).toHaveLength(10);
    expect(result.rows[9]).toEqual(['9', '2024-06-10T08:00:00.132Z']);
    expect(result.truncated).toBe(false);
    const queries = endpoint.requests.filter((r) => r.operation === 'Query');
    expect(queries.length).toBeGreaterThanOrEqual(3); // 4 + 4 + 2 rows
    expect(queries.every((r) => r.host === 'query-cell1.timestream.us-east-1.amazonaws.com')).toBe(true);
  });

  it('converts each scalar type and NULL', async () => {
    // Act
    const result = await query.query(
      `SELECT CAST(9007199254740993 AS BIGINT) AS big, CAST(42 AS BIGINT) AS small, 2.5 AS dbl, true AS yes,
              from_milliseconds(${T0}) AS ts, 'text' AS txt, CAST(NULL AS VARCHAR) AS nothing`,
    );

    // Assess
    expect(result.columns).toEqual(['big', 'small', 'dbl', 'yes', 'ts', 'txt', 'nothing']);
    expect(result.types).toEqual([
      'BIGINT',
      'BIGINT',
      'DOUBLE',
      'BOOLEAN',
      'TIMESTAMP',
      'VARCHAR',
      'VARCHAR',
    ]);
    expect(result.rows).toEqual([
      ['9007199254740993', 42, 2.5, true, '2024-06-10T08:00:00.123Z', 'text', null],
    ]);
  });

  it('stops at maxRows, says so, and cancels the rest of the query', async () => {
    // Act
    const result = await query.query('SELECT seq FROM "iot"."readings"', { maxRows: 5 });

    // Assess
    expect([result.rows.length, result.truncated]).toEqual([5, true]);
    expect(endpoint.requests.at(-1)?.operation).toBe('CancelQuery');
  });

  it("reports Timestream's error for a bad query", async () => {
    await expect(query.query('SELECT nope FROM "iot"."readings"')).rejects.toMatchObject({
      code: 'QUERY_FAILED',
      message: expect.stringMatching(/^ValidationException: .*nope/),
    });
  });

  it.each([
    ["UNLOAD (SELECT 1) TO 's3://bucket/x' WITH (format = 'CSV')", /UNLOAD does not/],
    ['/* note */ -- more\n  ', /empty/],
  ])('refuses %j', async (sql, message) => {
    await expect(query.query(sql)).rejects.toMatchObject({
      code: 'QUERY_FAILED',
      message: expect.stringMatching(message),
    });
  });
});

describe('timestreamTimestampToIso', () => {
  it.each([
    ['2024-06-10 08:00:00.123456789', '2024-06-10T08:00:00.123Z'],
    ['2024-06-10 08:00:00', '2024-06-10T08:00:00.000Z'],
    ['not a time', 'not a time'],
  ])('%s -> %s', (text, iso) => {
    expect(timestreamTimestampToIso(text)).toBe(iso);
  });
});
