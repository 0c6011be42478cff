/**
 * DuckDB store bench: how fast the write function lands readings, and how fast analysts' time
 * buckets come back over many stored readings.
 *
 *   npx tsx bench/store.ts [--rows 10000000] [--write-rows 500000] [--batch 100,2000,10000] [--repeat 5] [--quick]
 *
 * 1. Write: --write-rows readings of 1,000 devices as canonical Avro in Kinesis events of --batch
 *    records (the envelope and receive time as validate writes them), through createWriteHandler
 *    into a fresh DuckDbStore file: decode, dedup, append, commit. Events are built before the
 *    clock starts. Then the first tenth of the events again (a redelivery: every reading a
 *    duplicate). Once per batch size; 2,000 is what the local event source mapping uses for write
 *    (functions/runner/topology.ts), 100 Lambda's default, 10,000 Kinesis's most per batch.
 * 2. Query: --rows readings (1,000 devices, one reading each 10 s per device) generated into a
 *    store file of their own with INSERT ... SELECT FROM range(), then opened read-only, as
 *    `iot-ingest query` opens it, and each query runs --repeat times (first run and median kept):
 *    the `buckets` shortcut (one device, one metric, one-minute buckets, the whole range), a
 *    one-minute aggregate of one metric over all devices, and the `export` shortcut (every device,
 *    five-minute buckets) written to Parquet.
 * Results: a table on stdout and bench/results/store-<date>.json (store-<date>.quick.json with --quick).
 */
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import Table from 'cli-table3';
import { Command } from 'commander';
import { wrapEnvelope } from '../functions/lib/codec/envelope.ts';
import { encodeReading } from '../functions/lib/codec/reading-codec.ts';
import { SchemaRegistry } from '../functions/lib/codec/schema-registry.ts';
import { type KinesisIn, kinesisEvent } from '../functions/lib/events/build-events.ts';
import type { StreamEvent } from '../functions/lib/events/types.ts';
import { HEADER, type Reading } from '../functions/lib/reading.ts';
import { duckDbQueries, parseBucket } from '../functions/lib/store/analyst-queries.ts';
import { openDuckDbReader } from '../functions/lib/store/duckdb-reader.ts';
import { DuckDbStore } from '../functions/lib/store/duckdb-store.ts';
import { STREAMS } from '../functions/lib/streams/types.ts';
import { createWriteHandler } from '../functions/write/handler.ts';
import { saveBenchResult } from './lib/child-bench.ts';
import { median } from './lib/cold-start.ts';

const DEVICES = 1_000;
/** Generated readings: each device every 10 s, devices staggered by 10 ms. */
const PERIOD_MS = 10_000;
const START = Date.UTC(2024, 0, 1);

interface Options {
  rows: number;
  writeRows: number;
  batch: number[];
  repeat: number;
  quick: boolean;
  dir?: string;
}

interface Timing {
  firstMs: number;
  medianMs: number;
  runs: number[];
}

function readings(count: number, now: number): Reading[] {
  return Array.from({ length: count }, (_, i) => ({
    deviceId: `bench-${i % DEVICES}`,
    ts: now - count + i,
    seq: Math.floor(i / DEVICES),
    temperature: 21 + (i % 7) * 0.5,
    humidity: 40 + (i % 5),
    pressure: 1013.25,
    vibration: (i % 11) / 10,
    battery: 87,
    tags: i % 10 === 0 ? { site: 'bench' } : null,
  }));
}

/** Kinesis events of canonical records, as telemetry.valid delivers them to write. */
function events(count: number, batch: number, registry: SchemaRegistry): StreamEvent[] {
  const now = Date.now();
  const all = readings(count, now).map(
    (reading, i): KinesisIn => ({
      streamName: STREAMS.valid,
      shardId: 'shardId-000000000000',
      partitionKey: reading.deviceId,
      sequenceNumber: String(49_650_000_000_000_000_000_000_000_000_000_000_000n + BigInt(i)),
      data: wrapEnvelope(
        { [HEADER.mqttTopic]: `telemetry/${reading.deviceId}`, [HEADER.receivedAt]: String(now) },
        encodeReading(reading, registry),
      ),
      arrivedAt: now,
    }),
  );
  const out: StreamEvent[] = [];
  for (let i = 0; i < all.length; i += batch) out.push(kinesisEvent(all.slice(i, i + batch)));
  return out;
}

async function benchWrites(path: string, rows: number, batch: number) {
  const registry = SchemaRegistry.load();
  const built = events(rows, batch, registry);
  const store = await DuckDbStore.open(path);
  let written = 0;
  let duplicates = 0;
  const handler = createWriteHandler({
    store,
    registry,
    onResult: (r) => {
      written += r.written;
      duplicates += r.duplicates;
    },
  });
  const batchMs: number[] = [];
  const started = performance.now();
  for (const event of built) {
    const t = performance.now();
    await handler(event);
    batchMs.push(performance.now() - t);
  }
  const seconds = (performance.now() - started) / 1000;
  const replay = built.slice(0, Math.max(1, Math.floor(built.length / 10)));
  const before = { written, duplicates };
  const replayStarted = performance.now();
  for (const event of replay) await handler(event);
  const replaySeconds = (performance.now() - replayStarted) / 1000;
  await store.close();
  const sorted = batchMs.toSorted((a, b) => a - b);
  const replayed = replay.reduce((n, e) => n + ('Records' in e ? e.Records.length : 0), 0);
  return {
    rows,
    batch,
    seconds: round(seconds),
    rowsPerSecond: Math.round(rows / seconds),
    batchMs: {
      p50: round(sorted[Math.floor(sorted.length * 0.5)]!),
      p99: round(sorted[Math.floor(sorted.length * 0.99)]!),
    },
    written: before.written,
    redelivery: {
      rows: replayed,
      duplicates: duplicates - before.duplicates,
      written: written - before.written,
      rowsPerSecond: Math.round(replayed / replaySeconds),
    },
  };
}

/** --rows readings straight into the readings table: what months of a fleet leave behind. */
async function generate(path: string, rows: number): Promise<number> {
  const instance = await DuckDBInstance.create(path);
  const connection = await instance.connect();
  const started = performance.now();
  try {
    await connection.run(`INSERT INTO readings
      SELECT 'bench-' || (i % ${DEVICES}), epoch_ms(${START} + (i // ${DEVICES}) * ${PERIOD_MS} + (i % ${DEVICES}) * 10),
             i // ${DEVICES}, 20 + 5 * sin(i / 100000.0) + (i % 13) / 10.0, 40 + (i % 17), 1013 + (i % 5) / 4.0,
             (i % 11) / 10.0, 100 - (i // ${DEVICES}) % 100, NULL, NULL, now()
      FROM range(${rows}) t(i)`);
    await connection.run('CHECKPOINT');
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
  return (performance.now() - started) / 1000;
}

async function timed(repeat: number, run: () => Promise<unknown>): Promise<Timing> {
  const runs: number[] = [];
  for (let i = 0; i < repeat; i++) {
    const started = performance.now();
    await run();
    runs.push(round(performance.now() - started));
  }
  return { firstMs: runs[0]!, medianMs: round(median(runs)), runs };
}

async function benchQueries(path: string, dir: string, options: Options) {
  // A file of its own, so the figures are over exactly --rows readings.
  await (await DuckDbStore.open(path)).close();
  const generateSeconds = await generate(path, options.rows);
  const reader = await openDuckDbReader(path);
  try {
    const [stored] = (await reader.query('SELECT count(*), min(ts), max(ts) FROM readings')).rows;
    const range = { from: START, to: START + Math.ceil(options.rows / DEVICES) * PERIOD_MS + 60_000 };
    const oneDevice = duckDbQueries.buckets({
      device: 'bench-42',
      metric: 'temperature',
      bucket: parseBucket('1m'),
      ...range,
    });
    const allDevices = `SELECT time_bucket(INTERVAL '1 minute', ts) AS minute, count(*) AS readings, avg(temperature) AS avg,
        min(temperature) AS min, max(temperature) AS max FROM readings GROUP BY minute ORDER BY minute`;
    const exportQuery = duckDbQueries.downsample({ bucket: parseBucket('5m'), ...range });
    let bucketRows = 0;
    let exportRows = 0;
    let exportBytes = 0;
    let exports = 0;
    const result = {
      rows: stored?.[0],
      span: { from: stored?.[1], to: stored?.[2] },
      generateSeconds: round(generateSeconds),
      fileBytes: statSync(path).size,
      oneDeviceOneMetricMinuteBuckets: await timed(options.repeat, async () => {
        bucketRows = (await reader.query(oneDevice.text)).rows.length;
      }),
      allDevicesOneMetricMinuteBuckets: await timed(options.repeat, () => reader.query(allDevices)),
      exportEveryDeviceFiveMinuteParquet: await timed(options.repeat, async () => {
        const file = join(dir, `export-${exports++}.parquet`);
        exportRows = await reader.exportParquet(exportQuery.text, file);
        exportBytes = statSync(file).size;
        rmSync(file);
      }),
      sql: { oneDevice: oneDevice.text, allDevices, export: exportQuery.text },
    };
    return { ...result, bucketsPerDevice: bucketRows, exportRows, exportBytes };
  } finally {
    await reader.close();
  }
}

async function main(argv: string[]): Promise<number> {
  const options = new Command('bench/store.ts')
    .option('--rows <n>', 'readings stored for the query bench', (v) => Number.parseInt(v, 10), 10_000_000)
    .option(
      '--write-rows <n>',
      'readings written through the write function',
      (v) => Number.parseInt(v, 10),
      500_000,
    )
    .option(
      '--batch <n,...>',
      'records per Kinesis event, one run each',
      (v) => v.split(',').map(Number),
      [100, 2_000, 10_000],
    )
    .option('--repeat <n>', 'runs per query', (v) => Number.parseInt(v, 10), 5)
    .option('--quick', 'a smoke run: 1,000,000 stored, 50,000 written, 3 runs')
    .option('--dir <dir>', 'where the DuckDB file goes (default: a temporary directory, removed after)')
    .parse(argv, { from: 'user' })
    .opts<Options>();
  if (options.quick) Object.assign(options, { rows: 1_000_000, writeRows: 50_000, repeat: 3 });

  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'iot-ingest-store-bench-'));
  mkdirSync(dir, { recursive: true });
  const writeFile = join(dir, `write-${process.pid}.duckdb`);
  const queryFile = join(dir, `query-${process.pid}.duckdb`);
  try {
    const write = [];
    for (const batch of options.batch) {
      write.push(await benchWrites(writeFile, options.writeRows, batch));
      rmSync(writeFile, { force: true });
    }
    const query = await benchQueries(queryFile, dir, options);
    const duckdb = await duckDbVersion();
    const report = {
      date: new Date().toISOString().slice(0, 10),
      command: `npx tsx bench/store.ts ${argv.join(' ')}`.trim(),
      machine: {
        node: process.version,
        platform: process.platform,
        arch: process.arch,
        cpu: cpus()[0]?.model,
        cores: cpus().length,
        duckdb,
      },
      options: {
        rows: options.rows,
        writeRows: options.writeRows,
        batch: options.batch,
        repeat: options.repeat,
      },
      write,
      query,
    };
    print(report);
    console.log(`\nresults: ${save(report, options.quick)}`);
    return 0;
  } finally {
    if (options.dir === undefined) rmSync(dir, { recursive: true, force: true });
    else for (const file of [writeFile, queryFile]) rmSync(file, { force: true });
  }
}

async function duckDbVersion(): Promise<string> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    return String((await connection.runAndReadAll('SELECT version()')).getRows()[0]?.[0]);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

type Report = {
  write: Awaited<ReturnType<typeof benchWrites>>[];
  query: Awaited<ReturnType<typeof benchQueries>>;
};

function print({ write, query }: Report): void {
  const table = new Table({ head: ['measure', 'value'], style: { head: [], border: [] } });
  for (const w of write) {
    table.push(
      [
        `write function -> DuckDB, batches of ${w.batch}`,
        `${w.rowsPerSecond.toLocaleString('en')} rows/s (${w.rows.toLocaleString('en')} rows; per batch p50 ${w.batchMs.p50} ms, p99 ${w.batchMs.p99} ms)`,
      ],
      [
        '  the same, redelivered',
        `${w.redelivery.rowsPerSecond.toLocaleString('en')} rows/s (${w.redelivery.duplicates} dropped as duplicates, ${w.redelivery.written} written)`,
      ],
    );
  }
  table.push(
    [
      'stored readings',
      `${Number(query.rows).toLocaleString('en')} (${(query.fileBytes / 2 ** 20).toFixed(0)} MiB, generated in ${query.generateSeconds} s)`,
    ],
    [
      '1-min buckets, 1 device, 1 metric',
      ms(query.oneDeviceOneMetricMinuteBuckets, `${query.bucketsPerDevice} buckets`),
    ],
    ['1-min buckets, all devices, 1 metric', ms(query.allDevicesOneMetricMinuteBuckets)],
    [
      '5-min export, every device -> Parquet',
      ms(
        query.exportEveryDeviceFiveMinuteParquet,
        `${query.exportRows.toLocaleString('en')} rows, ${(query.exportBytes / 2 ** 20).toFixed(1)} MiB`,
      ),
    ],
  );
  console.log(table.toString());
}

function ms(t: Timing, note?: string): string {
  return `median ${t.medianMs} ms, first ${t.firstMs} ms${note ? ` (${note})` : ''}`;
}

function save(report: object, quick: boolean): string {
  return saveBenchResult('store', report, quick ? '.quick' : '');
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

process.exitCode = await main(process.argv.slice(2));
