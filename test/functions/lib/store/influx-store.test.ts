import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { InfluxQuery } from '../../../../functions/lib/store/influx-query.ts';
import { InfluxStore } from '../../../../functions/lib/store/influx-store.ts';
import type { StoredReading } from '../../../../functions/lib/store/types.ts';
import {
  type InfluxDbServer,
  requireInfluxDbOrSkip,
  startInfluxDb,
} from '../../../../infra/local/influxdb-server.ts';
import { aReading } from '../../../support/readings.ts';
import { describeTelemetryStoreContract } from './telemetry-store.contract.ts';

const T0 = Date.UTC(2024, 5, 10, 8, 0, 0, 123);
/** Past the end of InfluxDB's time range (2262): a point InfluxDB refuses while taking the rest. */
const YEAR_2300 = Date.UTC(2300, 0, 1);

const hasInfluxDb = await requireInfluxDbOrSkip();

/** Every reading in the database, as an analyst's InfluxQL gets it back. */
async function readBack(database: string, url: string): Promise<StoredReading[]> {
  const { columns, rows } = await new InfluxQuery({ url, database }).query('SELECT * FROM readings');
  const column = (row: unknown[], name: string) => {
    const i = columns.indexOf(name);
    return i < 0 ? null : (row[i] ?? null);
  };
  return rows
    .map((row): StoredReading => {
      const receivedAt = column(row, 'received_at') as number | null;
      const tags = column(row, 'tags') as string | null;
      return {
        deviceId: column(row, 'device_id') as string,
        ts: Date.parse(column(row, 'time') as string),
        seq: column(row, 'seq') as number,
        temperature: column(row, 'temperature') as number | null,
        humidity: column(row, 'humidity') as number | null,
        pressure: column(row, 'pressure') as number | null,
        vibration: column(row, 'vibration') as number | null,
        battery: column(row, 'battery') as number | null,
        tags: tags === null ? null : (JSON.parse(tags) as Record<string, string>),
        ...(receivedAt === null ? {} : { receivedAt }),
      };
    })
    .sort((a, b) => a.deviceId.localeCompare(b.deviceId) || a.ts - b.ts || a.seq - b.seq);
}

describe.skipIf(!hasInfluxDb)('InfluxStore against influxd', () => {
  let server: InfluxDbServer;
  let databases = 0;
  const databaseOf = new WeakMap<InfluxStore, string>();

  beforeAll(async () => {
    server = await startInfluxDb();
  });

  afterAll(async () => {
    await server?.stop();
  });

  async function openStore(options: ConstructorParameters<typeof InfluxStore>[1] = {}): Promise<InfluxStore> {
    databases += 1;
    const database = `contract_${databases}`;
    await server.admin(`CREATE DATABASE ${database}`);
    const store = new InfluxStore({ url: server.url, database }, options);
    databaseOf.set(store, database);
    return store;
  }

  // Small requests, so the contract's batches span several of them.
  describeTelemetryStoreContract('InfluxStore', {
    open: () => openStore({ maxLinesPerRequest: 64 }),
    readBack: (store) => readBack(databaseOf.get(store)!, server.url),
    refuse: (_store, reading) => ({ ...reading, ts: YEAR_2300 }),
    refusal: /unable to parse .*out of range/,
  });

  describe('InfluxStore', () => {
    let store: InfluxStore;

    beforeEach(async () => {
      store = await openStore({ maxLinesPerRequest: 10 });
    });

    afterEach(async () => {
      await store.close();
    });

    it('finds each refused reading in a large batch by halving, and keeps the rest', async () => {
      // Prepare: 100 readings in 10 requests, three of them unwritable
      const readings = Array.from({ length: 100 }, (_, i) =>
        aReading({ ts: [7, 55, 56].includes(i) ? YEAR_2300 + i : T0 + i, seq: i }),
      );

      // Act
      const result = await store.writeReadings(readings);

      // Assess
      expect(result.written).toBe(97);
      expect(result.rejected?.map((r) => r.reading.seq)).toEqual([7, 55, 56]);
      expect(await readBack(databaseOf.get(store)!, server.url)).toHaveLength(97);
    });

    it('refuses what line protocol cannot carry without sending it', async () => {
      // Act
      const result = await store.writeReadings([
        aReading({ ts: T0, seq: 1, temperature: Number.NaN }),
        aReading({ ts: T0, seq: 2, deviceId: 'line\nbreak' }),
        aReading({ ts: T0, seq: 3 }),
      ]);

      // Assess
      expect(result.written).toBe(1);
      expect(result.rejected?.map((r) => r.reason)).toEqual([
        expect.stringMatching(/temperature is NaN/),
        expect.stringMatching(/cannot be an InfluxDB tag value/),
      ]);
    });

    it('keeps two readings of one device in one millisecond apart, in one series', async () => {
      // Act
      await store.writeReadings([
        aReading({ ts: T0, seq: 1, temperature: 1 }),
        aReading({ ts: T0, seq: 2, temperature: 2 }),
      ]);

      // Assess
      const database = databaseOf.get(store)!;
      const series = await new InfluxQuery({ url: server.url, database }).query('SHOW SERIES');
      expect(series.rows).toEqual([['readings,device_id=dev-1']]);
      expect((await readBack(database, server.url)).map((r) => [r.seq, r.temperature])).toEqual([
        [1, 1],
        [2, 2],
      ]);
    });

    it('reports a database that does not exist as a failure retrying cannot fix', async () => {
      // Prepare
      const missing = new InfluxStore({ url: server.url, database: 'nope' });

      // Act
      const failure = await missing.writeReadings([aReading({ ts: T0, seq: 1 })]).catch((e: unknown) => e);

      // Assess
      expect(failure).toMatchObject({ code: 'STORE_WRITE_FAILED', retryable: false });
      expect((failure as Error).message).toMatch(/HTTP 404: database not found.*INFLUXDB_DATABASE/);
    });
  });
});

describe('InfluxStore over HTTP', () => {
  let server: Server;
  let url: string;
  let answers: number[];
  let requests: { url: string; headers: IncomingMessage['headers']; body: string }[];

  beforeEach(async () => {
    answers = [];
    requests = [];
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        requests.push({ url: req.url ?? '', headers: req.headers, body });
        const status = answers.shift() ?? 204;
        res.writeHead(status, status === 429 ? { 'retry-after': '0' } : {});
        res.end(status === 204 ? undefined : JSON.stringify({ error: `status ${status}` }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterEach(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('retries a write that failed on the way (503, 429), then lands', async () => {
    // Prepare
    answers = [503, 429];
    const store = new InfluxStore({ url, database: 'db' }, { baseDelayMs: 1 });

    // Act
    const result = await store.writeReadings([aReading({ ts: T0, seq: 1 })]);

    // Assess
    expect(result).toEqual({ written: 1, duplicates: 0 });
    expect(requests).toHaveLength(3);
  });

  it('fails retryably once the attempts are spent', async () => {
    // Prepare
    answers = [500, 500, 500];
    const store = new InfluxStore({ url, database: 'db' }, { attempts: 3, baseDelayMs: 1 });

    // Act
    const failure = await store.writeReadings([aReading({ ts: T0, seq: 1 })]).catch((e: unknown) => e);

    // Assess
    expect(failure).toMatchObject({ code: 'STORE_WRITE_FAILED', retryable: true });
    expect((failure as Error).message).toMatch(/after 3 attempts: HTTP 500: status 500/);
  });

  it('writes to a 2.x bucket with a token, and to a 1.x database with a user', async () => {
    // Act
    await new InfluxStore({ url, database: 'b', org: 'acme', bucket: 'b', token: 's3cret' }).writeReadings([
      aReading({ ts: T0, seq: 1 }),
    ]);
    await new InfluxStore({
      url,
      database: 'iot',
      retentionPolicy: 'week',
      username: 'u',
      password: 'p',
    }).writeReadings([aReading({ ts: T0, seq: 1 })]);

    // Assess
    expect(requests.map((r) => [r.url, r.headers.authorization])).toEqual([
      ['/api/v2/write?org=acme&bucket=b&precision=ns', 'Token s3cret'],
      ['/write?db=iot&rp=week&precision=ns', `Basic ${Buffer.from('u:p').toString('base64')}`],
    ]);
    expect(requests[0]?.body).toBe(
      'readings,device_id=dev-1 seq=1i,temperature=21.5,humidity=40,pressure=1013.2,vibration=2.5,battery=88 1718006400123000001',
    );
  });
});
