import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../../functions/lib/config.ts';
import { ConfigError } from '../../../../functions/lib/errors.ts';
import { createStore } from '../../../../functions/lib/store/create-store.ts';

describe('store settings (IOT_STORE)', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'create-store-'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('defaults to DuckDB at DUCKDB_PATH, else under IOT_DATA_DIR', () => {
    expect(loadConfig({ IOT_DATA_DIR: dir }).store).toEqual({
      kind: 'duckdb',
      path: join(dir, 'iot-ingest.duckdb'),
    });
    expect(loadConfig({ DUCKDB_PATH: join(dir, 'x.duckdb') }).store).toEqual({
      kind: 'duckdb',
      path: join(dir, 'x.duckdb'),
    });
  });

  it('reads Timestream settings, with the region of AWS_REGION', () => {
    // Act
    const store = loadConfig({
      IOT_STORE: 'timestream',
      TIMESTREAM_DATABASE: 'iot_ingest',
      TIMESTREAM_TABLE: 'readings',
      AWS_REGION: 'eu-west-1',
    }).store;

    // Assess
    expect(store).toEqual({
      kind: 'timestream',
      database: 'iot_ingest',
      table: 'readings',
      region: 'eu-west-1',
      endpoint: undefined,
      local: false,
    });
  });

  it('treats a loopback TIMESTREAM_ENDPOINT as local (dummy credentials)', () => {
    const env = { IOT_STORE: 'timestream', TIMESTREAM_DATABASE: 'd', TIMESTREAM_TABLE: 't' };
    expect(loadConfig({ ...env, TIMESTREAM_ENDPOINT: 'http://127.0.0.1:4000' }).store).toMatchObject({
      local: true,
    });
    expect(
      loadConfig({ ...env, TIMESTREAM_ENDPOINT: 'https://vpce-1.ingest.timestream.aws' }).store,
    ).toMatchObject({
      local: false,
    });
  });

  it('reads InfluxDB 1.x settings, with the password from a file', async () => {
    // Prepare
    await writeFile(join(dir, 'password'), 's3cret\n');

    // Act
    const store = loadConfig({
      IOT_STORE: 'influx',
      INFLUXDB_URL: 'http://127.0.0.1:8086/',
      INFLUXDB_DATABASE: 'iot',
      INFLUXDB_USERNAME: 'writer',
      INFLUXDB_PASSWORD_FILE: join(dir, 'password'),
    }).store;

    // Assess
    expect(store).toMatchObject({
      kind: 'influxdb',
      url: 'http://127.0.0.1:8086',
      database: 'iot',
      username: 'writer',
      password: 's3cret',
    });
  });

  it('reads InfluxDB 2.x settings as the AWS stack sets them, querying the bucket by name', () => {
    // Act
    const store = loadConfig({
      IOT_STORE: 'influxdb',
      INFLUXDB_URL: 'https://influx.example.internal:8086',
      INFLUXDB_ORG: 'acme',
      INFLUXDB_BUCKET: 'iot_ingest',
      INFLUXDB_TOKEN_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:influx',
    }).store;

    // Assess
    expect(store).toMatchObject({
      org: 'acme',
      bucket: 'iot_ingest',
      database: 'iot_ingest',
      tokenSecretArn: expect.any(String),
    });
  });

  it.each([
    [
      { IOT_STORE: 'cassandra' },
      /IOT_STORE="cassandra" is not valid: use one of duckdb, timestream, influxdb/,
    ],
    [{ IOT_STORE: 'timestream', TIMESTREAM_DATABASE: 'd' }, /needs TIMESTREAM_DATABASE and TIMESTREAM_TABLE/],
    [
      {
        IOT_STORE: 'timestream',
        TIMESTREAM_DATABASE: 'd',
        TIMESTREAM_TABLE: 't',
        TIMESTREAM_ENDPOINT: 'localhost',
      },
      /TIMESTREAM_ENDPOINT "localhost" is not an http\(s\) URL/,
    ],
    [{ IOT_STORE: 'influxdb', INFLUXDB_DATABASE: 'd' }, /needs INFLUXDB_URL/],
    [
      { IOT_STORE: 'influxdb', INFLUXDB_URL: 'http://h:8086' },
      /needs INFLUXDB_DATABASE .* or INFLUXDB_ORG and INFLUXDB_BUCKET/,
    ],
    [
      { IOT_STORE: 'influxdb', INFLUXDB_URL: 'http://h:8086', INFLUXDB_ORG: 'o' },
      /INFLUXDB_ORG and INFLUXDB_BUCKET go together/,
    ],
    [
      {
        IOT_STORE: 'influxdb',
        INFLUXDB_URL: 'http://h:8086',
        INFLUXDB_DATABASE: 'd',
        INFLUXDB_TOKEN: 't',
        INFLUXDB_USERNAME: 'u',
        INFLUXDB_PASSWORD: 'p',
      },
      /not both/,
    ],
  ])('refuses %j, saying what to set', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });
});

describe('createStore', () => {
  it('opens the DuckDB store the configuration names', async () => {
    // Prepare
    const dir = await mkdtemp(join(tmpdir(), 'create-store-'));

    // Act
    const store = await createStore(loadConfig({ IOT_DATA_DIR: dir }).store);
    await store.close();
    await rm(dir, { recursive: true, force: true });

    // Assess
    expect(store.kind).toBe('duckdb');
  });

  it('opens Timestream and InfluxDB stores without a connection up front', async () => {
    // Act
    const timestream = await createStore({
      kind: 'timestream',
      database: 'd',
      table: 't',
      region: 'us-east-1',
      local: true,
    });
    const influx = await createStore({ kind: 'influxdb', url: 'http://127.0.0.1:1', database: 'd' });
    await timestream.close();
    await influx.close();

    // Assess
    expect([timestream.kind, timestream.redelivery, influx.kind, influx.redelivery]).toEqual([
      'timestream',
      'upserted',
      'influxdb',
      'upserted',
    ]);
  });

  it('says how to give an InfluxDB token it cannot read from Secrets Manager yet', async () => {
    // Act
    const opening = createStore({
      kind: 'influxdb',
      url: 'https://h',
      database: 'b',
      org: 'o',
      bucket: 'b',
      tokenSecretArn: 'arn:x',
    });

    // Assess
    await expect(opening).rejects.toThrow(/INFLUXDB_TOKEN or INFLUXDB_TOKEN_FILE/);
  });
});
