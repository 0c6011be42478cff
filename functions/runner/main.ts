/**
 * `iot-ingest runner`: the local event source mappings as a process of their own, against the
 * configured Kafka or Kinesis (IOT_STREAM, KAFKA_BROKERS, KINESIS_ENDPOINT, ...; see
 * functions/lib/config.ts). Run several on one Kafka consumer group and they share the partitions.
 * On Kinesis run one process per stream: shards are not leased between processes.
 */
import path from 'node:path';
import { Command } from 'commander';
import { oneOf, positiveInt, positiveNumber } from '../cli/options.ts';
import { DEFAULT_SCHEMA_DIR, SchemaRegistry } from '../lib/codec/schema-registry.ts';
import { loadConfig, type PipelineConfig } from '../lib/config.ts';
import { errorMessage } from '../lib/errors.ts';
import { createLog } from '../lib/log.ts';
import type { DuckDbStore } from '../lib/store/duckdb-store.ts';
import type { TelemetryStore } from '../lib/store/types.ts';
import { createProducer } from '../lib/streams/create-producer.ts';
import type { EventSourceMapping } from './mapping.ts';
import {
  FUNCTION_NAMES,
  type FunctionName,
  modeMappings,
  startTopology,
  streamSource,
  type Topology,
} from './topology.ts';

interface RunnerOptions {
  mode: 'mappings' | 'fused';
  functions: FunctionName[];
  batchSize?: number;
  window?: number;
  parallelization?: number;
  retries?: number;
  schemaDir: string;
  queryServer: boolean;
  statsInterval: number;
  sessionTimeout?: number;
}

export async function runnerCommand(argv: string[]): Promise<number> {
  const program = new Command('iot-ingest runner')
    .description(
      'Run the validate/detect/write functions behind local event source mappings (Lambda semantics:\n' +
        'batching, partial batch responses, retries, bisect on error, record age, dead-letter destination)\n' +
        'against the stream the environment configures. SIGTERM or Ctrl-C stops it after the batches in flight.',
    )
    .option(
      '--mode <mode>',
      'mappings: one mapping per function; fused: validate -> detect + write in one',
      oneOf('mappings', 'fused'),
      'mappings',
    )
    .option(
      '--functions <list>',
      `functions to run in mappings mode (${FUNCTION_NAMES.join(',')})`,
      functionList,
      [...FUNCTION_NAMES],
    )
    .option('--batch-size <n>', 'BatchSize of every mapping', positiveInt)
    .option('--window <seconds>', 'MaximumBatchingWindowInSeconds of every mapping', nonNegativeNumber)
    .option('--parallelization <n>', 'ParallelizationFactor of every mapping (Kinesis, 1..10)', positiveInt)
    .option('--retries <n>', 'MaximumRetryAttempts of every mapping (-1 = until it succeeds)', retryCount)
    .option(
      '--schema-dir <dir>',
      'the schema registry directory (telemetry.avsc, history/)',
      DEFAULT_SCHEMA_DIR,
    )
    .option('--no-query-server', 'do not serve `iot-ingest query` for the DuckDB file this process holds')
    .option(
      '--session-timeout <seconds>',
      'Kafka: how soon a crashed runner’s partitions move to the other runners (default 10)',
      positiveNumber,
    )
    .option(
      '--stats-interval <seconds>',
      'seconds between JSON stats lines on stderr (0: none)',
      nonNegativeNumber,
      5,
    )
    .exitOverride();
  try {
    program.parse(argv, { from: 'user' });
  } catch (error) {
    return (error as { exitCode?: number }).exitCode ?? 2;
  }
  const options = program.opts<RunnerOptions>();
  const config = loadConfig();
  const runner = await startRunner(config, options);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await runner.stop();
  return 0;
}

async function startRunner(
  config: PipelineConfig,
  options: RunnerOptions,
): Promise<{ stop(): Promise<void> }> {
  const say = (line: string) => process.stderr.write(`iot-ingest runner: ${line}\n`);
  const log = await createLog('iot-ingest-runner', config.logLevel);
  const schemaDir = path.resolve(options.schemaDir);
  const registry = SchemaRegistry.load(schemaDir);
  const mappings = chooseMappings(options);
  const needsStore = mappings.some((m) => m.FunctionName === 'write' || m.FunctionName === 'fused');
  const stack: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const step of stack.reverse()) await step().catch((error: unknown) => say(errorMessage(error)));
  };
  try {
    let store: TelemetryStore | undefined;
    if (needsStore) {
      // The store IOT_STORE names; the embedded DuckDB also answers `iot-ingest query` from other shells.
      const { createStore } = await import('../lib/store/create-store.ts');
      const opened = await createStore(config.store);
      store = opened;
      stack.push(() => opened.close());
      if (options.queryServer && config.store.kind === 'duckdb') {
        const { startQueryServer } = await import('../lib/store/query-server.ts');
        const server = await startQueryServer(opened as DuckDbStore, config.dataDir);
        stack.push(() => server.close());
      }
    }
    const producer = await createProducer(config);
    stack.push(() => producer.close());
    const topology: Topology = await startTopology({
      source: await streamSource(config),
      producer,
      registry,
      ...(store ? { store } : {}),
      mode: options.mode,
      mappings,
      reloadRegistry: () => SchemaRegistry.loadAsync(schemaDir),
      ...(options.sessionTimeout ? { kafkaSessionTimeoutMs: Math.round(options.sessionTimeout * 1000) } : {}),
      log,
      onError: (error) => log.error('runner error', { error: errorMessage(error) }),
    });
    stack.push(() => topology.stop());
    if (options.statsInterval > 0) {
      const timer = setInterval(() => say(JSON.stringify(statsLine(topology))), options.statsInterval * 1000);
      timer.unref();
      stack.push(async () => clearInterval(timer));
    }
    say(
      `running ${mappings.map((m) => `${m.FunctionName} <- ${m.EventSource}`).join(', ')} on ${config.stream}` +
        (store
          ? `, store ${store.kind}${config.store.kind === 'duckdb' ? ` ${config.duckdbPath}` : ''}`
          : ''),
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    async stop() {
      say('stopping after the batches in flight...');
      await stop();
      say('stopped.');
    },
  };
}

function chooseMappings(options: RunnerOptions): EventSourceMapping[] {
  return modeMappings(options.mode, {
    ...(options.batchSize !== undefined ? { BatchSize: options.batchSize } : {}),
    ...(options.window !== undefined ? { MaximumBatchingWindowInSeconds: options.window } : {}),
    ...(options.parallelization !== undefined ? { ParallelizationFactor: options.parallelization } : {}),
    ...(options.retries !== undefined ? { MaximumRetryAttempts: options.retries } : {}),
  }).filter((m) => options.mode === 'fused' || options.functions.includes(m.FunctionName as FunctionName));
}

function statsLine(topology: Topology) {
  return {
    counters: topology.counters,
    mappings: Object.fromEntries(topology.mappings.map((m) => [m.mapping.FunctionName, m.stats])),
  };
}

function functionList(value: string): FunctionName[] {
  const names = value.split(',').map((s) => s.trim());
  for (const name of names) oneOf(...FUNCTION_NAMES)(name);
  return names as FunctionName[];
}

function nonNegativeNumber(value: string): number {
  return value === '0' ? 0 : positiveNumber(value);
}

function retryCount(value: string): number {
  return value === '-1' ? -1 : value === '0' ? 0 : positiveInt(value);
}
