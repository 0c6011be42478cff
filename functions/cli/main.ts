import { ConfigError, IngestError } from '../lib/errors.ts';

type Command = (argv: string[]) => Promise<number>;

/** Subcommands, loaded only when used so `iot-ingest query` does not load Kafka or the bridge. */
const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  start: {
    summary: 'run the embedded pipeline: broker, stream, bridge, functions, DuckDB, simulator',
    load: async () => (await import('./start.ts')).startCommand,
  },
  query: {
    summary: 'run SQL against the time-series store (lists tables with no SQL)',
    load: async () => (await import('./query.ts')).queryCommand,
  },
  bridge: {
    summary: 'move MQTT telemetry into Kafka or Kinesis, acknowledging only what the stream has',
    load: async () => (await import('./bridge.ts')).bridgeCommand,
  },
  simulate: {
    summary: 'publish simulated device readings to an MQTT broker',
    load: async () => (await import('./simulate.ts')).simulateCommand,
  },
  bench: {
    summary: 'measure throughput, latency and ceilings on this machine (bench/results/)',
    load: async () => (await import('./bench.ts')).benchCommand,
  },
  'simulate-part': {
    summary: '',
    load: async () => (await import('./simulate.ts')).simulatePartCommand,
  },
  cost: {
    summary: 'estimate the monthly AWS bill for a fleet, line by line',
    load: async () => (await import('./cost.ts')).costCommand,
  },
  runner: {
    summary: 'run the functions behind local event source mappings against Kafka or Kinesis',
    load: async () => (await import('../runner/main.ts')).runnerCommand,
  },
  dlq: {
    summary: 'inspect the dead-letter stream by reason, show a dead letter, replay them into telemetry.raw',
    load: async () => (await import('./dlq.ts')).dlqCommand,
  },
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const lines = Object.entries(COMMANDS)
    .filter(([, c]) => c.summary !== '')
    .map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return [
    'Usage: iot-ingest <command> [options]',
    '',
    'IoT telemetry ingestion: MQTT -> Kafka/Kinesis -> validate/detect/write -> time-series store.',
    '',
    'Commands:',
    ...lines,
    '',
    "Run 'iot-ingest <command> --help' for a command's options.",
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name === undefined ? 1 : 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    console.error(`iot-ingest: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  try {
    return await (await command.load())(rest);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`iot-ingest ${name}: configuration error: ${error.message}`);
      return 2;
    }
    if (error instanceof IngestError) {
      console.error(`iot-ingest ${name}: ${error.message}`);
      return 1;
    }
    throw error;
  }
}
