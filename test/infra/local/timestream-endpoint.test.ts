/**
 * The local Timestream endpoint on the wire (awsJson1_0), without the SDK: what it answers is
 * what the SDK clients see in the store's tests.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type LocalTimestreamEndpoint,
  startTimestreamEndpoint,
} from '../../../infra/local/timestream-endpoint.ts';
import { rewrite } from '../../../infra/local/timestream-endpoint-sql.ts';

const T0 = Date.UTC(2024, 5, 10, 8, 0, 0, 123);

/** What a call answers; the body as the protocol's JSON. */
interface Answer {
  status: number;
  type: string | null;
  body: {
    Endpoints?: { Address: string; CachePeriodInMinutes: number }[];
    RejectedRecords?: unknown[];
    NextToken?: string;
    Rows?: unknown[];
    [member: string]: unknown;
  };
}

describe('startTimestreamEndpoint', () => {
  let endpoint: LocalTimestreamEndpoint;
  let table = 0;

  beforeAll(async () => {
    endpoint = await startTimestreamEndpoint({ queryPageRows: 2 });
  });

  afterAll(async () => {
    await endpoint.stop();
  });

  beforeEach(() => {
    table += 1;
    endpoint.createTable('db', `t${table}`);
  });

  /** One awsJson1_0 call; node:http rather than fetch, which will not send a Host of our choosing. */
  function call(operation: string, input: unknown, host?: string): Promise<Answer> {
    const body = JSON.stringify(input);
    return new Promise((resolve, reject) => {
      const req = request(
        endpoint.url,
        {
          method: 'POST',
          headers: {
            'content-type': 'application/x-amz-json-1.0',
            'x-amz-target': `Timestream_20181101.${operation}`,
            'content-length': Buffer.byteLength(body),
            ...(host ? { host } : {}),
          },
        },
        (res) => {
          let text = '';
          res.on('data', (chunk: Buffer) => (text += chunk.toString()));
          res.on('end', () => {
            const type = res.headers['x-amzn-errortype'];
            resolve({
              status: res.statusCode ?? 0,
              type: typeof type === 'string' ? type : null,
              body: JSON.parse(text),
            });
          });
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  /** A multi-measure record of device d, at T0 + offset ms. */
  function record(offset: number, temperature: string, version?: number) {
    return {
      Dimensions: [{ Name: 'device_id', Value: 'd' }],
      MeasureName: 'reading',
      MeasureValueType: 'MULTI',
      MeasureValues: [{ Name: 'temperature', Value: temperature, Type: 'DOUBLE' }],
      Time: String(T0 + offset),
      TimeUnit: 'MILLISECONDS',
      ...(version === undefined ? {} : { Version: version }),
    };
  }

  function write(...records: unknown[]) {
    return call('WriteRecords', { DatabaseName: 'db', TableName: `t${table}`, Records: records });
  }

  it('answers DescribeEndpoints with a cell address in the asked region', async () => {
    // Act
    const ingest = await call('DescribeEndpoints', {}, 'ingest.timestream.eu-central-1.amazonaws.com');
    const query = await call('DescribeEndpoints', {}, 'query.timestream.eu-central-1.amazonaws.com');

    // Assess
    expect(ingest.body).toEqual({
      Endpoints: [
        { Address: 'ingest-cell1.timestream.eu-central-1.amazonaws.com', CachePeriodInMinutes: 1440 },
      ],
    });
    expect(query.body.Endpoints?.[0]?.Address).toBe('query-cell1.timestream.eu-central-1.amazonaws.com');
  });

  it('follows Timestream version rules: higher replaces, same values are a no-op, else a rejection', async () => {
    // Prepare
    await write(record(0, '1', 5));

    // Act
    const same = await write(record(0, '1', 5));
    const conflict = await write(record(0, '2', 5));
    const older = await write(record(0, '3', 4));
    const newer = await write(record(0, '4', 6));

    // Assess
    expect(same.status).toBe(200);
    for (const refused of [conflict, older]) {
      expect(refused.status).toBe(419);
      expect(refused.type).toBe('RejectedRecordsException');
      expect(refused.body.RejectedRecords).toEqual([
        { RecordIndex: 0, Reason: expect.any(String), ExistingVersion: 5 },
      ]);
    }
    expect(newer.body).toEqual({ RecordsIngested: { Total: 1, MemoryStore: 1, MagneticStore: 0 } });
    expect(
      endpoint.records('db', `t${table}`).map((r) => [r.measures.temperature?.value, r.version]),
    ).toEqual([['4', 6]]);
  });

  it('rejects malformed records one by one and stores the rest of the request', async () => {
    // Act
    const result = await write(record(0, 'NaN'), { ...record(1, '1'), MeasureValues: [] }, record(2, '7'));

    // Assess
    expect(result.status).toBe(419);
    expect(result.body.RejectedRecords).toEqual([
      { RecordIndex: 0, Reason: 'The value "NaN" of measure temperature is not a valid DOUBLE.' },
      { RecordIndex: 1, Reason: 'A multi-measure record needs at least one measure value.' },
    ]);
    expect(endpoint.records('db', `t${table}`)).toHaveLength(1);
  });

  it('rejects the records a predicate names', async () => {
    // Prepare
    endpoint.rejectWhen((r) => (r.measures.temperature?.value === '13' ? 'unlucky' : undefined));

    // Act
    const result = await write(record(0, '12'), record(1, '13'));
    endpoint.rejectWhen(undefined);

    // Assess
    expect(result.body.RejectedRecords).toEqual([{ RecordIndex: 1, Reason: 'unlucky' }]);
  });

  it.each([
    [
      'more than 100 records',
      () => write(...Array.from({ length: 101 }, (_, i) => record(i, '1'))),
      400,
      'ValidationException',
    ],
    [
      'a missing table',
      () => call('WriteRecords', { DatabaseName: 'db', TableName: 'nope', Records: [record(0, '1')] }),
      404,
      'ResourceNotFoundException',
    ],
    ['an unknown operation', () => call('DeleteTable', {}), 400, 'UnknownOperationException'],
  ])('refuses %s', async (_, send, status, type) => {
    // Act
    const result = await send();

    // Assess
    expect([result.status, result.type]).toEqual([status, type]);
    expect(result.body).toEqual({
      __type: `com.amazonaws.timestream.v20181101#${type}`,
      Message: expect.any(String),
    });
  });

  it('throttles the next calls it is told to', async () => {
    // Prepare
    endpoint.throttle(1);

    // Act
    const first = await write(record(0, '1'));
    const second = await write(record(0, '1'));

    // Assess
    expect([first.status, first.type]).toEqual([429, 'ThrottlingException']);
    expect(second.status).toBe(200);
  });

  it('answers Query in pages linked by NextToken, in Timestream shapes', async () => {
    // Prepare
    await write(record(0, '1'), record(1, '2'), record(2, '3'));

    // Act
    const sql = `SELECT time, temperature FROM "db"."t${table}" ORDER BY time`;
    const first = await call('Query', { QueryString: sql });
    const second = await call('Query', { QueryString: sql, NextToken: first.body.NextToken });
    const stale = await call('Query', { QueryString: sql, NextToken: first.body.NextToken });

    // Assess
    expect(first.body.ColumnInfo).toEqual([
      { Name: 'time', Type: { ScalarType: 'TIMESTAMP' } },
      { Name: 'temperature', Type: { ScalarType: 'DOUBLE' } },
    ]);
    expect(first.body.Rows).toEqual([
      { Data: [{ ScalarValue: '2024-06-10 08:00:00.123000000' }, { ScalarValue: '1' }] },
      { Data: [{ ScalarValue: '2024-06-10 08:00:00.124000000' }, { ScalarValue: '2' }] },
    ]);
    expect(second.body.Rows).toHaveLength(1);
    expect(second.body.NextToken).toBeUndefined();
    expect(stale.type).toBe('ValidationException');
  });
});

describe('rewrite (Timestream SQL to DuckDB SQL)', () => {
  it.each([
    ['SELECT bin(time, 1m) FROM t', "SELECT ts_bin(time, INTERVAL '1 minute') FROM t"],
    ["WHERE time > ago(15m) AND x = '1m'", "WHERE time > ago(INTERVAL '15 minute') AND x = '1m'"],
    ['SELECT "bin(time, 1h)" FROM t', 'SELECT "bin(time, 1h)" FROM t'],
    ['SELECT col1d, 10ms FROM t', "SELECT col1d, INTERVAL '10 millisecond' FROM t"],
  ])('%s', (timestream, duckdb) => {
    expect(rewrite(timestream)).toBe(duckdb);
  });
});
