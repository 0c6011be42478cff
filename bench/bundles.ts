/**
 * Lambda bundle bench: builds the three function bundles exactly as `infra/aws` deploys them, then
 * for each one reports its size and its cold-start cost, measured in fresh `node` processes.
 *
 *   npx tsx bench/bundles.ts [--runs 7] [--records 20]
 *
 * What is measured, per function, median of --runs fresh processes:
 *  - import: `import()` of index.mjs (parse + evaluate what loads at start), the part of Lambda's
 *    Init duration that is ours;
 *  - first invoke: the first `handler(event)` on a Kinesis event of --records real Avro readings:
 *    lazy chunks, config, the SDK client, the schema registry, and the writes;
 *  - warm: the same event again in the same process.
 * The streams are a loopback stub that accepts every PutRecords at once (bench/lib/stub-kinesis.ts)
 * and the write function's Timestream is the local endpoint that speaks its JSON protocol
 * (infra/local/timestream-endpoint.ts), so the figures are code and SDK, not network. The bundles are built in a temporary directory with
 * no node_modules above it, as on Lambda: anything left external that the code path needs fails.
 * Results: a table on stdout and bench/results/bundles-<date>.json. Exits 1 when a budget is broken.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Table from 'cli-table3';
import { Command } from 'commander';
import { wrapEnvelope } from '../functions/lib/codec/envelope.ts';
import { encodeReading } from '../functions/lib/codec/reading-codec.ts';
import { SchemaRegistry } from '../functions/lib/codec/schema-registry.ts';
import { type KinesisIn, kinesisEvent } from '../functions/lib/events/build-events.ts';
import { HEADER, type Reading } from '../functions/lib/reading.ts';
import { STREAMS, type StreamName } from '../functions/lib/streams/types.ts';
import { type BuiltBundle, buildBundles, type FunctionName } from '../infra/aws/bundle.ts';
import { startTimestreamEndpoint } from '../infra/local/timestream-endpoint.ts';
import { saveBenchResult } from './lib/child-bench.ts';
import { type ColdStartSample, measureColdStart, median } from './lib/cold-start.ts';
import { startStubKinesis } from './lib/stub-kinesis.ts';

/** The budgets the README states. */
export const BUDGETS = Object.freeze({ bundleBytes: 1024 * 1024, coldImportMs: 300 });

interface BundleReport {
  name: FunctionName;
  coldBytes: number;
  totalBytes: number;
  files: BuiltBundle['files'];
  buildWarnings: readonly string[];
  median: Omit<ColdStartSample, 'outcome'>;
  outcome: string;
  samples: ColdStartSample[];
  withinBudget: boolean;
}

function readings(count: number, now: number): Reading[] {
  return Array.from({ length: count }, (_, i) => ({
    deviceId: `bench-${i % 10}`,
    ts: now - (count - i) * 1_000,
    seq: Math.floor(i / 10),
    temperature: 21 + (i % 7) * 0.5,
    humidity: 40 + (i % 5),
    pressure: 1013.25,
    vibration: 0.5,
    battery: 87,
    tags: { site: 'bench' },
  }));
}

/** The event each function receives on AWS: raw device bytes for validate, canonical records for the others. */
function eventFor(
  name: FunctionName,
  registry: SchemaRegistry,
  count: number,
): ReturnType<typeof kinesisEvent> {
  const now = Date.now();
  const stream: StreamName = name === 'validate' ? STREAMS.raw : STREAMS.valid;
  const records: KinesisIn[] = readings(count, now).map((reading, i) => {
    const avro = encodeReading(reading, registry);
    // An IoT rule puts the device's bytes as they are; validate's output travels in the envelope.
    const data =
      name === 'validate'
        ? avro
        : wrapEnvelope(
            { [HEADER.mqttTopic]: `telemetry/${reading.deviceId}`, [HEADER.receivedAt]: String(now) },
            avro,
          );
    return {
      streamName: stream,
      shardId: 'shardId-000000000000',
      partitionKey: reading.deviceId,
      sequenceNumber: String(49_650_000_000_000_000_000_000_000_000_000_000_000n + BigInt(i)),
      data,
      arrivedAt: now,
    };
  });
  return kinesisEvent(records);
}

async function main(argv: string[]): Promise<number> {
  const options = new Command('bench/bundles.ts')
    .option('--runs <n>', 'fresh processes per function', (v) => Number.parseInt(v, 10), 7)
    .option('--records <n>', 'readings in the event', (v) => Number.parseInt(v, 10), 20)
    .parse(argv, { from: 'user' })
    .opts<{ runs: number; records: number }>();

  const work = mkdtempSync(join(tmpdir(), 'iot-ingest-bundles-'));
  const stub = await startStubKinesis();
  const timestream = await startTimestreamEndpoint({ tables: ['iot_ingest.readings'] });
  try {
    const bundles = await buildBundles({ outDir: join(work, 'bundles') });
    const registry = SchemaRegistry.load();
    const env = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      NODE_ENV: 'production',
      IOT_STREAM: 'kinesis',
      KINESIS_ENDPOINT: stub.endpoint,
      KINESIS_LOCAL: 'true',
      AWS_REGION: 'us-east-1',
      IOT_DATA_DIR: join(work, 'data'),
      IOT_STORE: 'timestream',
      TIMESTREAM_DATABASE: 'iot_ingest',
      TIMESTREAM_TABLE: 'readings',
      TIMESTREAM_ENDPOINT: timestream.url,
      // The SDK signs every request; the local endpoint takes any key.
      AWS_ACCESS_KEY_ID: 'bench',
      AWS_SECRET_ACCESS_KEY: 'bench',
      LOG_LEVEL: 'warn',
    };
    const reports: BundleReport[] = [];
    for (const bundle of bundles) {
      const eventFile = join(work, `${bundle.name}-event.json`);
      writeFileSync(eventFile, JSON.stringify(eventFor(bundle.name, registry, options.records)));
      const samples: ColdStartSample[] = [];
      for (let run = 0; run < options.runs; run++)
        samples.push(await measureColdStart(bundle.entry, eventFile, env));
      const mid = {
        importMs: median(samples.map((s) => s.importMs)),
        firstInvokeMs: median(samples.map((s) => s.firstInvokeMs)),
        warmInvokeMs: median(samples.map((s) => s.warmInvokeMs)),
        processMs: median(samples.map((s) => s.processMs)),
        rssMb: median(samples.map((s) => s.rssMb)),
      };
      reports.push({
        name: bundle.name,
        coldBytes: bundle.coldBytes,
        totalBytes: bundle.totalBytes,
        files: bundle.files,
        buildWarnings: bundle.warnings,
        median: mid,
        outcome: samples[0]!.outcome,
        samples,
        withinBudget: bundle.totalBytes <= BUDGETS.bundleBytes && mid.importMs <= BUDGETS.coldImportMs,
      });
    }
    print(reports, options);
    const file = save(reports, options);
    console.log(`\nresults: ${file}`);
    return reports.every((r) => r.withinBudget) ? 0 : 1;
  } finally {
    await stub.close();
    await timestream.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

function print(reports: readonly BundleReport[], options: { runs: number; records: number }): void {
  const kb = (bytes: number) => `${(bytes / 1024).toFixed(0)} KiB`;
  const ms = (value: number) => value.toFixed(1);
  const table = new Table({
    style: { head: [], border: [] },
    head: [
      'function',
      'loaded at start',
      'asset total',
      'import ms',
      'first invoke ms',
      'warm ms',
      'process ms',
      'rss MiB',
      'first invoke',
      'budget',
    ],
  });
  for (const r of reports) {
    table.push([
      r.name,
      kb(r.coldBytes),
      kb(r.totalBytes),
      ms(r.median.importMs),
      ms(r.median.firstInvokeMs),
      ms(r.median.warmInvokeMs),
      ms(r.median.processMs),
      r.median.rssMb.toFixed(0),
      r.outcome.length > 60 ? `${r.outcome.slice(0, 57)}...` : r.outcome,
      r.withinBudget ? 'ok' : 'OVER',
    ]);
  }
  console.log(
    `Lambda bundles: median of ${options.runs} fresh node ${process.version} processes, ${options.records}-record Kinesis event` +
      `\nbudgets: asset <= ${kb(BUDGETS.bundleBytes)}, import <= ${BUDGETS.coldImportMs} ms`,
  );
  console.log(table.toString());
  for (const r of reports)
    for (const warning of r.buildWarnings) console.log(`warning (${r.name}): ${warning}`);
}

function save(reports: readonly BundleReport[], options: { runs: number; records: number }): string {
  const date = new Date().toISOString().slice(0, 10);
  const machine = { node: process.version, platform: process.platform, arch: process.arch };
  return saveBenchResult('bundles', { date, machine, budgets: BUDGETS, ...options, functions: reports });
}

process.exitCode = await main(process.argv.slice(2));
