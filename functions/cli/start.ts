import path from 'node:path';
import { Command } from 'commander';
import { type EmbeddedPipeline, startEmbeddedPipeline } from '../../infra/local/embedded-pipeline.ts';
import { Fleet } from '../../simulators/fleet.ts';
import { errorMessage } from '../lib/errors.ts';
import { oneOf, port, positiveInt, positiveNumber } from './options.ts';
import { StatsTicker } from './stats-ticker.ts';

interface StartOptions {
  broker: 'aedes' | 'mosquitto';
  stream: 'kinesis' | 'kafka';
  mode: 'mappings' | 'fused';
  mqttPort: number;
  devices: number;
  rate: number;
  simulator: boolean;
  dataDir: string;
  duckdbMemoryLimit?: string;
  duckdbThreads?: string;
  duration?: number;
  statsInterval: number;
}

export async function startCommand(argv: string[]): Promise<number> {
  const program = new Command('iot-ingest start')
    .description(
      'Run the whole pipeline on this machine: an MQTT broker, a stream, the bridge, the validate/detect/write\n' +
        'functions behind local event source mappings, DuckDB under --data-dir, and a simulated fleet.\n' +
        'Query it from another shell with `iot-ingest query`. Ctrl-C stops it cleanly.',
    )
    .option(
      '--broker <kind>',
      'MQTT broker to run: aedes (in-process) or mosquitto',
      oneOf('aedes', 'mosquitto'),
      'aedes',
    )
    .option(
      '--stream <kind>',
      'stream between the functions: kinesis (kinesalite) or kafka (librdkafka mock cluster)',
      oneOf('kinesis', 'kafka'),
      'kinesis',
    )
    .option(
      '--mode <mode>',
      'mappings: validate, detect and write each behind its own mapping (as on AWS); fused: one consumer, no telemetry.valid',
      oneOf('mappings', 'fused'),
      'mappings',
    )
    .option('--mqtt-port <port>', 'port the broker listens on, on 127.0.0.1 (0 = any free port)', port, 1883)
    .option('--devices <n>', 'simulated devices', positiveInt, 1000)
    .option('--rate <hz>', 'readings per second per simulated device', positiveNumber, 1)
    .option('--no-simulator', 'run without the simulated fleet (publish your own readings)')
    .option('--data-dir <dir>', 'where DuckDB, checkpoints and stream data live', 'data')
    .option(
      '--duckdb-memory-limit <size>',
      "DuckDB's memory limit, e.g. 256MB (default: DUCKDB_MEMORY_LIMIT, else DuckDB's own: 80% of RAM)",
      process.env.DUCKDB_MEMORY_LIMIT,
    )
    .option(
      '--duckdb-threads <n>',
      'threads DuckDB runs a statement on; 1 leaves the other cores to the pipeline (default: DUCKDB_THREADS, else one per core)',
      process.env.DUCKDB_THREADS,
    )
    .option('--duration <seconds>', 'stop by itself after this many seconds', positiveInt)
    .option('--stats-interval <seconds>', 'seconds between live stats lines', positiveNumber, 2)
    .addHelpText(
      'after',
      '\nExamples:\n  npm start\n  npm start -- --devices 100 --rate 5\n  npm start -- --stream kafka --broker mosquitto --mqtt-port 1884\n' +
        '  mosquitto_pub -q 1 -t telemetry/dev-x -m \'{"deviceId":"dev-x","ts":\'$(date +%s000)\',"seq":1,"temperature":21.5}\'\n',
    )
    .exitOverride();
  try {
    program.parse(argv, { from: 'user' });
  } catch (error) {
    return (error as { exitCode?: number }).exitCode ?? 2;
  }
  const options = program.opts<StartOptions>();
  const dataDir = path.resolve(options.dataDir);
  const log = (line: string) => process.stderr.write(`${line}\n`);

  log(`iot-ingest: starting ${options.broker} + ${options.stream} pipeline, data in ${dataDir}`);
  let pipeline: EmbeddedPipeline;
  try {
    pipeline = await startEmbeddedPipeline({
      broker: options.broker,
      mqttPort: options.mqttPort,
      stream: options.stream,
      mode: options.mode,
      dataDir,
      duckdbMemoryLimit: options.duckdbMemoryLimit,
      duckdbThreads: options.duckdbThreads,
      // Each device's interval is learned from its readings, but until its second reading a
      // device is judged by the profile (1 s): a fleet slower than 1 Hz would raise one silence
      // alert per device at start, and flatline needs the profile's interval. The simulated
      // fleet's own interval is the one to expect.
      ...(options.simulator && options.rate < 1
        ? { expectedIntervalMs: Math.round(1000 / options.rate) }
        : {}),
      persistentStreams: true,
      queryServer: true,
      onError: (error) => log(`iot-ingest: ${errorMessage(error)}`),
    });
  } catch (error) {
    const message = errorMessage(error);
    log(`iot-ingest: could not start: ${message}`);
    if (/EADDRINUSE/.test(message))
      log(`  port ${options.mqttPort} is taken: stop what uses it or pass --mqtt-port 0`);
    return 1;
  }
  log(`iot-ingest: MQTT broker at ${pipeline.mqttUrl} (publish to telemetry/{deviceId})`);

  let fleet: Fleet | undefined;
  if (options.simulator) {
    fleet = new Fleet({
      url: pipeline.mqttUrl,
      devices: options.devices,
      rateHz: options.rate,
      registry: pipeline.registry,
    });
    await fleet.start();
    log(`iot-ingest: simulating ${options.devices} devices at ${options.rate} Hz`);
  }
  log('iot-ingest: running. Query with `npx iot-ingest query` in another shell; Ctrl-C to stop.');

  const ticker = new StatsTicker(pipeline, fleet, options.statsInterval * 1000, (line) => log(line));
  ticker.start();

  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
    if (options.duration) setTimeout(resolve, options.duration * 1000).unref();
  });

  log('iot-ingest: stopping: flushing the bridge and the functions...');
  await fleet?.stop();
  // The embedded broker goes down with us: let it hand the bridge every message it acknowledged to
  // a device before the bridge stops reading, or those would die with its in-memory sessions.
  await waitUntilQuiet(() => pipeline.bridge.stats.received, 1_000, 15_000);
  await pipeline.bridge.close();
  await waitUntilDrained(pipeline, 20_000);
  ticker.stop();
  ticker.print();
  await pipeline.stop();
  log('iot-ingest: stopped cleanly.');
  return 0;
}

/** Resolves once `count` has not changed for `quietMs` (or after `timeoutMs`). */
async function waitUntilQuiet(count: () => number, quietMs: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = count();
  let since = Date.now();
  while (Date.now() < deadline && Date.now() - since < quietMs) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    const now = count();
    if (now !== last) {
      last = now;
      since = Date.now();
    }
  }
}

/** Waits until the functions have caught up with everything the bridge acknowledged. */
function waitUntilDrained(pipeline: EmbeddedPipeline, timeoutMs: number): Promise<void> {
  const progress = () => {
    const c = pipeline.topology.counters;
    return c.valid + c.rejected + c.written;
  };
  return waitUntilQuiet(progress, 1_500, timeoutMs);
}
