import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { TimestreamSdkConfig } from '../../../../functions/lib/store/timestream-client.ts';
import { TimestreamQuery } from '../../../../functions/lib/store/timestream-query.ts';
import { MAX_RECORDS_PER_WRITE, TimestreamStore } from '../../../../functions/lib/store/timestream-store.ts';
import type { StoredReading } from '../../../../functions/lib/store/types.ts';
import {
  type LocalTimestreamEndpoint,
  startTimestreamEndpoint,
} from '../../../../infra/local/timestream-endpoint.ts';
import { aReading } from '../../../support/readings.ts';
import { describeTelemetryStoreContract } from './telemetry-store.contract.ts';

const T0 = Date.UTC(2024, 5, 10, 8, 0, 0, 123);
const DATABASE = 'iot_ingest';
const REGION = 'eu-west-1';

let endpoint: LocalTimestreamEndpoint;
let tableNumber = 0;

beforeAll(async () => {
  endpoint = await startTimestreamEndpoint({ queryPageRows: 50 });
});

afterAll(async () => {
  await endpoint.stop();
});

/** SDK settings that reach the local endpoint through endpoint discovery, as on AWS. */
function sdk(): TimestreamSdkConfig {
  return {
    requestHandler: endpoint.requestHandler(),
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  };
}

function openStore(table: string): TimestreamStore {
  endpoint.createTable(DATABASE, table);
  return TimestreamStore.open(
    { kind: 'timestream', database: DATABASE, table, region: REGION, local: false },
    sdk(),
  );
}

function freshTable(): string {
  tableNumber += 1;
  return `readings_${tableNumber}`;
}

/** Every reading in the table, through the query client: what an analyst would get back. */
async function readBack(store: TimestreamStore): Promise<StoredReading[]> {
  const query = TimestreamQuery.open({ region: REGION, local: false }, sdk());
  try {
    const { columns, rows } = await query.query(`SELECT * FROM "${store.database}"."${store.table}"`);
    const column = (row: unknown[], name: string) => {
      const i = columns.indexOf(name);
      return i < 0 ? null : (row[i] ?? null);
    };
    const readings = rows.map((row): StoredReading => {
      const receivedAt = column(row, 'received_at') as string | null;
      const tags = column(row, 'tags') as string | null;
      return {
        deviceId: column(row, 'device_id') as string,
        ts: Date.parse(column(row, 'time') as string),
        seq: Number(column(row, 'seq')),
        temperature: column(row, 'temperature') as number | null,
        humidity: column(row, 'humidity') as number | null,
        pressure: column(row, 'pressure') as number | null,
        vibration: column(row, 'vibration') as number | null,
        battery: column(row, 'battery') as number | null,
        tags: tags === null ? null : (JSON.parse(tags) as Record<string, string> | null),
        ...(receivedAt === null ? {} : { receivedAt: Date.parse(receivedAt) }),
      };
    });
    return readings.sort((a, b) => a.deviceId.localeCompare(b.deviceId) || a.ts - b.ts || a.seq - b.seq);
  } finally {
    await query.close();
  }
}

describeTelemetryStoreContract('TimestreamStore', {
  open: async () => openStore(freshTable()),
  readBack,
  refuse(_store, reading) {
    endpoint.rejectWhen((record) =>
      record.dimensions.seq === String(reading.seq)
        ? 'The record timestamp is outside the time range of the memory store.'
        : undefined,
    );
    return reading;
  },
  refusal: /outside the time range/,
  async cleanUp() {
    endpoint.rejectWhen(undefined);
    endpoint.throttle(0);
  },
});

describe('TimestreamStore', () => {
  let store: TimestreamStore;
  let table: string;

  beforeEach(() => {
    table = freshTable();
    store = openStore(table);
  });

  afterEach(async () => {
    await store.close();
    endpoint.rejectWhen(undefined);
    endpoint.throttle(0);
  });

  function writesTo(host: RegExp): number {
    return endpoint.requests.filter((r) => r.operation === 'WriteRecords' && host.test(r.host)).length;
  }

  it('discovers the ingest endpoint first and writes there', async () => {
    // Act
    await store.writeReadings([aReading({ ts: T0, seq: 1 })]);

    // Assess
    const discovery = endpoint.requests.find((r) => r.operation === 'DescribeEndpoints');
    expect(discovery?.host).toBe(`ingest.timestream.${REGION}.amazonaws.com`);
    expect(writesTo(/^ingest-cell1\.timestream\./)).toBeGreaterThan(0);
  });

  it('writes multi-measure records, the device as a common dimension, nulls left out', async () => {
    // Act
    await store.writeReadings([
      {
        ...aReading({ deviceId: 'dev-9', ts: T0, seq: 3, humidity: null, tags: { site: 'a' } }),
        receivedAt: T0 + 5,
      },
    ]);

    // Assess
    expect(endpoint.records(DATABASE, table)).toEqual([
      {
        dimensions: { device_id: 'dev-9', seq: '3' },
        measureName: 'reading',
        time: BigInt(T0) * 1_000_000n,
        measures: {
          temperature: { type: 'DOUBLE', value: '21.5' },
          pressure: { type: 'DOUBLE', value: '1013.2' },
          vibration: { type: 'DOUBLE', value: '2.5' },
          battery: { type: 'DOUBLE', value: '88' },
          tags: { type: 'VARCHAR', value: '{"site":"a"}' },
          received_at: { type: 'TIMESTAMP', value: String(T0 + 5) },
        },
        version: Number.MAX_SAFE_INTEGER - (T0 + 5),
      },
    ]);
  });

  it('sends at most 100 records per WriteRecords, one device per request where it can', async () => {
    // Prepare: 250 readings of one device and 30 of three others
    const readings = [
      ...Array.from({ length: 250 }, (_, i) => aReading({ deviceId: 'dev-a', ts: T0 + i, seq: i })),
      ...Array.from({ length: 30 }, (_, i) => aReading({ deviceId: `dev-${i % 3}`, ts: T0 + i, seq: i })),
    ];
    const before = writesTo(/./);

    // Act
    const result = await store.writeReadings(readings);

    // Assess
    expect(result).toEqual({ written: 280, duplicates: 0 });
    expect(writesTo(/./) - before).toBe(Math.ceil(280 / MAX_RECORDS_PER_WRITE));
    expect(endpoint.records(DATABASE, table)).toHaveLength(280);
  });

  it('retries a throttled write with backoff until it lands', async () => {
    // Prepare
    endpoint.throttle(2);
    const before = writesTo(/./);

    // Act
    const result = await store.writeReadings([aReading({ ts: T0, seq: 1 })]);

    // Assess
    expect(result).toEqual({ written: 1, duplicates: 0 });
    expect(writesTo(/./) - before).toBe(3);
  });

  it('fails retryably when throttling outlasts the retries, and the retry lands', async () => {
    // Prepare: a client that gives up after two attempts
    const impatient = TimestreamStore.open(
      { kind: 'timestream', database: DATABASE, table, region: REGION, local: false },
      { ...sdk(), maxAttempts: 2 },
    );
    endpoint.throttle(2);

    // Act
    const failure = await impatient.writeReadings([aReading({ ts: T0, seq: 1 })]).catch((e: unknown) => e);
    const retry = await impatient.writeReadings([aReading({ ts: T0, seq: 1 })]);
    await impatient.close();

    // Assess
    expect(failure).toMatchObject({ code: 'STORE_WRITE_FAILED', retryable: true });
    expect((failure as Error).message).toMatch(/ThrottlingException/);
    expect(retry).toEqual({ written: 1, duplicates: 0 });
  });

  it('sends a conflicting reading (same key, other values) to rejected with the existing version', async () => {
    // Prepare
    await store.writeReadings([aReading({ ts: T0, seq: 1, temperature: 20 })]);

    // Act
    const result = await store.writeReadings([aReading({ ts: T0, seq: 1, temperature: 99 })]);

    // Assess
    expect(result.written).toBe(0);
    expect(result.rejected).toEqual([
      {
        reading: aReading({ ts: T0, seq: 1, temperature: 99 }),
        reason: expect.stringMatching(/higher version/),
      },
    ]);
    expect(endpoint.records(DATABASE, table)[0]?.measures.temperature?.value).toBe('20');
  });

  it('keeps the earliest receipt of a reading sent twice in one batch', async () => {
    // Act
    const result = await store.writeReadings([
      { ...aReading({ ts: T0, seq: 1 }), receivedAt: T0 + 50 },
      { ...aReading({ ts: T0, seq: 1 }), receivedAt: T0 + 20 },
    ]);

    // Assess
    expect(result).toEqual({ written: 1, duplicates: 1 });
    expect(endpoint.records(DATABASE, table)[0]?.measures.received_at?.value).toBe(String(T0 + 20));
  });

  it('reports a missing table as a failure retrying cannot fix, naming the settings', async () => {
    // Prepare
    const missing = TimestreamStore.open(
      { kind: 'timestream', database: DATABASE, table: 'nope', region: REGION, local: false },
      sdk(),
    );

    // Act
    const failure = await missing.writeReadings([aReading({ ts: T0, seq: 1 })]).catch((e: unknown) => e);
    await missing.close();

    // Assess
    expect(failure).toMatchObject({ code: 'STORE_WRITE_FAILED', retryable: false });
    expect((failure as Error).message).toMatch(
      /ResourceNotFoundException.*TIMESTREAM_DATABASE and TIMESTREAM_TABLE/,
    );
  });

  it('writes to a fixed endpoint (TIMESTREAM_ENDPOINT) without discovery', async () => {
    // Prepare
    const fixed = TimestreamStore.open({
      kind: 'timestream',
      database: DATABASE,
      table,
      region: REGION,
      endpoint: endpoint.url,
      local: true,
    });
    const discoveries = endpoint.requests.filter((r) => r.operation === 'DescribeEndpoints').length;

    // Act
    const result = await fixed.writeReadings([aReading({ ts: T0, seq: 1 })]);
    await fixed.close();

    // Assess
    expect(result).toEqual({ written: 1, duplicates: 0 });
    expect(endpoint.requests.filter((r) => r.operation === 'DescribeEndpoints')).toHaveLength(discoveries);
    expect(endpoint.requests.at(-1)?.host).toBe(new URL(endpoint.url).host);
  });
});
