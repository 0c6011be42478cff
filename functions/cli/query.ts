import { randomBytes } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { type Env, loadConfig } from '../lib/config.ts';
import { ConfigError, IngestError } from '../lib/errors.ts';
import { METRICS, type Metric } from '../lib/reading.ts';
import { type AnalystQuery, type Bucket, parseBucket } from '../lib/store/analyst-queries.ts';
import { DEFAULT_MAX_ROWS, type QueryResult } from '../lib/store/types.ts';
import { positiveInt } from './options.ts';
import { bucketWidth, metric, parseTime } from './query-args.ts';
import { FORMATS, type Format, renameColumns, TEXT_FORMATS, writeResultAsParquet } from './query-output.ts';
import { DB_FILE, openStoreTarget, type StoreTarget } from './query-target.ts';

export { compactNumber } from './query-output.ts';

/** Where output goes and the environment to configure from: the process's by default, buffers in tests. */
export interface QueryIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  env?: Env | undefined;
}

interface CommonOptions {
  format: Format;
  out?: string;
  store?: 'duckdb' | 'timestream' | 'influxdb';
  dataDir?: string;
  db?: string;
  maxRows: number;
}

interface BucketsOptions {
  device: string;
  metric: Metric;
  bucket: Bucket;
  from?: number;
  to?: number;
}

/** What to ask the store: a statement, or the overview of its tables. */
type Ask = { readonly query: AnalystQuery } | 'overview';

const DAY_MS = 86_400_000;

const EXAMPLES = `
Examples:
  $ iot-ingest query
      list the tables and their row counts
  $ iot-ingest query "DESCRIBE readings"
  $ iot-ingest query "SELECT device_id, count(*) AS readings, max(ts) AS last_seen FROM readings GROUP BY ALL ORDER BY 1"
  $ iot-ingest query --format csv --out temperature-by-minute.csv \\
      "SELECT time_bucket(INTERVAL '1 minute', ts) AS minute, device_id, avg(temperature) AS temperature
       FROM readings GROUP BY ALL ORDER BY ALL"
  $ iot-ingest query --format parquet --out readings.parquet "SELECT * FROM readings WHERE ts > now() - INTERVAL 1 DAY"
  $ iot-ingest query --format json "SELECT * FROM alerts WHERE status = 'open'"

Shortcuts for what analysts ask most (each has --help):
  $ iot-ingest query latest [--device dev-1]
  $ iot-ingest query buckets --device dev-1 --metric temperature --bucket 1m --from now-6h
  $ iot-ingest query export --bucket 5m --from 2024-06-10 --to 2024-06-11 --format parquet --out 5min.parquet

The store is the one IOT_STORE names (duckdb, timestream or influxdb; --store overrides it), and
statements are in its language: DuckDB SQL, Timestream SQL, InfluxQL. The shortcuts speak each.
DuckDB: while the pipeline runs (npm start) it holds the file, and queries go through it;
otherwise the file is opened read-only. --data-dir and --db default to IOT_DATA_DIR and
DUCKDB_PATH. Only reads run: SELECT, DESCRIBE, SHOW, SUMMARIZE, EXPLAIN.
`;

/** `iot-ingest query [sql]` and its shortcuts; `argv` is what follows `query`. Returns the exit code. */
export async function queryCommand(argv: string[], io: QueryIo = process): Promise<number> {
  let outcome: Promise<number> | undefined;
  const runWith = (command: Command, ask: (target: StoreTarget) => Ask) => {
    outcome = run(command.optsWithGlobals<CommonOptions>(), io, ask);
  };

  const program = new Command('iot-ingest query')
    .description(
      'Run a query against the time-series store. With none, list the tables and their row counts.',
    )
    .argument('[sql]', 'the statement to run (quote it)')
    .addOption(new Option('-f, --format <format>', 'output format').choices(FORMATS).default('table'))
    .option('-o, --out <file>', 'write the answer to this file instead of stdout (needed for parquet)')
    .addOption(
      new Option('--store <kind>', 'the store to ask (default: IOT_STORE, else duckdb)').choices([
        'duckdb',
        'timestream',
        'influxdb',
      ]),
    )
    .option('-d, --data-dir <dir>', 'the pipeline data directory (default: IOT_DATA_DIR, else ./data)')
    .option('--db <file>', `the DuckDB file (default: DUCKDB_PATH, else <data-dir>/${DB_FILE})`)
    .option(
      '--max-rows <n>',
      'at most this many rows (table, csv, json; parquet from Timestream or InfluxDB)',
      positiveInt,
      DEFAULT_MAX_ROWS,
    )
    .addHelpText('after', EXAMPLES)
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    })
    .action((sql: string | undefined, _options, command: Command) =>
      runWith(command, () => (sql === undefined ? 'overview' : { query: { text: sql } })),
    );

  program
    .command('latest')
    .description('The last known value of each metric per device, and when the device was last heard of.')
    .option('--device <id>', 'only this device')
    .option('--from <time>', 'only readings from this time on (bounds the data a store reads)', parseTime)
    .addHelpText('after', '\nExample:\n  $ iot-ingest query latest --device dev-1 --format json\n')
    .action((options: { device?: string; from?: number }, command: Command) =>
      runWith(command, (target) => ({ query: target.shortcuts.latest(options) })),
    );

  program
    .command('buckets')
    .description('Time buckets of one metric of one device: readings, avg, min and max per bucket.')
    .requiredOption('--device <id>', 'the device')
    .requiredOption('--metric <name>', `one of ${METRICS.join(', ')}`, metric)
    .addOption(bucketOption('1m'))
    .option('--from <time>', 'start, inclusive (default: 24 hours before --to)', parseTime)
    .option('--to <time>', 'end, exclusive (default: now)', parseTime)
    .addHelpText(
      'after',
      '\nTimes: now, now-<n><s|m|h|d>, or ISO 8601 (UTC unless it says otherwise).\n' +
        'Example:\n  $ iot-ingest query buckets --device dev-1 --metric temperature --bucket 1m --from now-6h\n',
    )
    .action((options: BucketsOptions, command: Command) =>
      runWith(command, (target) => ({ query: target.shortcuts.buckets({ ...options, ...range(options) }) })),
    );

  program
    .command('export')
    .description('Every device downsampled: readings and the average of each metric per device and bucket.')
    .addOption(bucketOption('5m'))
    .option('--device <id>', 'only this device')
    .option('--from <time>', 'start, inclusive (default: 24 hours before --to)', parseTime)
    .option('--to <time>', 'end, exclusive (default: now)', parseTime)
    .addHelpText(
      'after',
      '\nExample:\n  $ iot-ingest query export --bucket 5m --from 2024-06-10 --to 2024-06-11 --format parquet --out 5min.parquet\n',
    )
    .action((options: { bucket: Bucket; device?: string; from?: number; to?: number }, command: Command) =>
      runWith(command, (target) => ({
        query: target.shortcuts.downsample({ ...options, ...range(options) }),
      })),
    );

  try {
    program.parse(argv, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2; // commander printed why
    throw error;
  }
  return (await outcome) ?? 0;
}

function bucketOption(fallback: string): Option {
  return new Option('--bucket <width>', 'bucket width: 30s, 1m, 15m, 1h, 1d ...')
    .argParser(bucketWidth)
    .default(parseBucket(fallback), fallback);
}

function range(options: { from?: number; to?: number }): { from: number; to: number } {
  const to = options.to ?? Date.now();
  return { from: options.from ?? to - DAY_MS, to };
}

async function run(options: CommonOptions, io: QueryIo, ask: (target: StoreTarget) => Ask): Promise<number> {
  let target: StoreTarget | undefined;
  try {
    if (options.format === 'parquet' && options.out === undefined) {
      throw new IngestError(
        'QUERY_FAILED',
        'Parquet is binary: name the file with --out, e.g. --out readings.parquet.',
      );
    }
    // --store stands in for IOT_STORE; the rest of the configuration still comes from the environment.
    const config = loadConfig(options.store === undefined ? io.env : { ...io.env, IOT_STORE: options.store });
    target = await openStoreTarget(config, { dataDir: options.dataDir, dbFile: options.db });
    const question = ask(target);
    if (options.format === 'parquet') {
      const out = resolve(options.out!);
      const rows = await writeParquet(target, question, out, options.maxRows);
      io.stderr.write(`iot-ingest query: wrote ${rows} row${rows === 1 ? '' : 's'} to ${out}\n`);
      return 0;
    }
    const result = await answer(target, question, options.maxRows);
    const text = TEXT_FORMATS[options.format](result);
    if (options.out === undefined) io.stdout.write(text);
    else await writeFile(options.out, text);
    if (result.truncated) {
      io.stderr.write(
        `iot-ingest query: showing the first ${result.rows.length} rows; add a LIMIT, aggregate, or raise --max-rows.\n`,
      );
    }
    return 0;
  } catch (error) {
    if (error instanceof ConfigError) {
      io.stderr.write(`iot-ingest query: configuration error: ${error.message}\n`);
      return 2;
    }
    if (!(error instanceof IngestError)) throw error;
    io.stderr.write(`iot-ingest query: ${error.message}\n`);
    return 1;
  } finally {
    await target?.close();
  }
}

async function answer(target: StoreTarget, question: Ask, maxRows: number): Promise<QueryResult> {
  if (question === 'overview') return target.overview();
  return renameColumns(await target.query(question.query.text, { maxRows }), question.query.rename);
}

/**
 * Writes a new file beside `out` and renames it over `out`: the engine (maybe the pipeline's
 * process, see query-server.ts) only ever creates files, and `--out` still replaces an old export.
 */
async function writeParquet(
  target: StoreTarget,
  question: Ask,
  out: string,
  maxRows: number,
): Promise<number> {
  const temp = join(dirname(out), `.${basename(out, '.parquet')}.${randomBytes(6).toString('hex')}.parquet`);
  try {
    let rows: number;
    if (target.exporter !== undefined && question !== 'overview') {
      rows = await target.exporter.exportParquet(question.query.text, temp);
    } else {
      const result = await answer(target, question, maxRows);
      if (result.truncated) {
        throw new IngestError(
          'QUERY_FAILED',
          `The answer has more than ${maxRows} rows; narrow it (--from/--to, a wider --bucket) or raise --max-rows.`,
        );
      }
      rows = await writeResultAsParquet(result, temp);
    }
    await rename(temp, out);
    return rows;
  } finally {
    await rm(temp, { force: true });
  }
}
