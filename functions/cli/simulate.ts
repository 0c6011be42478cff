import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { emptyFleetStats, Fleet, type FleetOptions, type FleetStats } from '../../simulators/fleet.ts';
import { SchemaRegistry } from '../lib/codec/schema-registry.ts';
import { oneOf, positiveInt, positiveNumber } from './options.ts';

interface SimulateOptions {
  url: string;
  devices: number;
  rate: number;
  qos: '0' | '1';
  format: 'avro' | 'json';
  seed: number;
  idPrefix: string;
  connections?: number;
  gateways?: number;
  profile: 'default' | 'arm-gateway';
  processes: number;
  count?: number;
  duration?: number;
  username?: string;
  password?: string;
}

const EXAMPLES = `
Examples:
  iot-ingest simulate --devices 1000 --rate 1 --duration 60
  iot-ingest simulate --devices 100000 --rate 0.1 --processes 2          # 10,000 readings/s
  iot-ingest simulate --devices 10000 --gateways 100 --rate 1           # 100 readings per message
  iot-ingest simulate --profile arm-gateway --devices 200 --gateways 1   # one small gateway
  iot-ingest simulate --format json --devices 1 --count 10
`;

export async function simulateCommand(argv: string[]): Promise<number> {
  const program = new Command('iot-ingest simulate')
    .description(
      'Publish simulated sensor readings (Avro single-object, JSON, or gateway batches) over MQTT.',
    )
    .option('--url <url>', 'MQTT broker URL', 'mqtt://127.0.0.1:1883')
    .option('--devices <n>', 'number of devices (sensors, in gateway mode)', positiveInt, 100)
    .option('--rate <hz>', 'readings per second per device', positiveNumber, 1)
    .option('--qos <qos>', 'MQTT QoS', oneOf('0', '1'), '1')
    .option('--format <format>', 'payload format of single readings', oneOf('avro', 'json'), 'avro')
    .option('--seed <n>', 'random seed: the same seed gives the same readings', positiveInt, 1)
    .option('--id-prefix <prefix>', 'device ids are <prefix>00000, <prefix>00001, ...', 'dev-')
    .option('--connections <n>', 'MQTT connections the devices share (per process)', positiveInt)
    .option(
      '--gateways <n>',
      'gateway mode: batch the devices behind this many gateways (Avro containers)',
      positiveInt,
    )
    .option(
      '--profile <name>',
      'arm-gateway: small memory (few connections, 64 messages in flight)',
      oneOf('default', 'arm-gateway'),
      'default',
    )
    .option('--processes <n>', 'split the devices over this many processes', positiveInt, 1)
    .option('--count <n>', 'stop after this many readings', positiveInt)
    .option('--duration <seconds>', 'stop after this many seconds', positiveInt)
    .option('--username <name>', 'MQTT user name')
    .option('--password <secret>', 'MQTT password')
    .addHelpText('after', EXAMPLES)
    .exitOverride();
  try {
    program.parse(argv, { from: 'user' });
  } catch (error) {
    return (error as { exitCode?: number }).exitCode ?? 2;
  }
  const o = program.opts<SimulateOptions>();
  if (o.gateways !== undefined && o.gateways > o.devices) {
    console.error(
      'iot-ingest simulate: --gateways cannot exceed --devices (each gateway needs at least one sensor)',
    );
    return 2;
  }
  if (o.processes > 1) return runProcesses(o);
  return runFleet(o, fleetOptions(o, 0, 1), true);
}

function fleetOptions(o: SimulateOptions, part: number, parts: number): Omit<FleetOptions, 'registry'> {
  const arm = o.profile === 'arm-gateway';
  // Devices are split into contiguous id ranges per process; seeds differ so signals do too.
  const devices = Math.floor(o.devices / parts) + (part < o.devices % parts ? 1 : 0);
  return {
    url: o.url,
    devices,
    rateHz: o.rate,
    qos: o.qos === '1' ? 1 : 0,
    format: o.format,
    seed: o.seed + part,
    idPrefix: parts > 1 ? `${o.idPrefix}p${part}-` : o.idPrefix,
    ...(o.gateways !== undefined ? { gateways: Math.max(1, Math.round(o.gateways / parts)) } : {}),
    ...(o.connections !== undefined ? { connections: o.connections } : arm ? { connections: 1 } : {}),
    ...(arm ? { maxOutstanding: 64 } : {}),
    ...(o.count !== undefined ? { limit: Math.ceil(o.count / parts) } : {}),
    ...(o.username !== undefined ? { username: o.username } : {}),
    ...(o.password !== undefined ? { password: o.password } : {}),
  };
}

async function runFleet(
  o: SimulateOptions,
  options: Omit<FleetOptions, 'registry'>,
  interactive: boolean,
): Promise<number> {
  const fleet = new Fleet({ ...options, registry: SchemaRegistry.load() });
  try {
    await fleet.start();
  } catch (error) {
    console.error(
      `iot-ingest simulate: ${(error as Error).message}. Is a broker running? (npm start runs one)`,
    );
    return 1;
  }
  const report = interactive ? progress(o, () => fleet.stats) : childReporter(() => fleet.stats);
  let timer: NodeJS.Timeout | undefined;
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
    if (o.duration) timer = setTimeout(resolve, o.duration * 1000);
    if (o.count) void fleet.finished().then(resolve);
  });
  clearTimeout(timer); // a pending timer would keep the process alive after the count was reached
  await fleet.stop();
  report.stop();
  return fleet.stats.errors > 0 ? 1 : 0;
}

/** Forks one child per part (each a full simulator on its own core) and sums their stats. */
async function runProcesses(o: SimulateOptions): Promise<number> {
  const totals = new Map<number, FleetStats>();
  const self = fileURLToPath(new URL('../../bin/iot-ingest.js', import.meta.url));
  const children = Array.from({ length: o.processes }, (_, part) => {
    const child = fork(self, ['simulate-part', JSON.stringify({ o, part, parts: o.processes })], {
      stdio: 'inherit',
    });
    child.on('message', (stats) => totals.set(part, stats as FleetStats));
    return child;
  });
  const sum = (): FleetStats => {
    const s = emptyFleetStats();
    for (const t of totals.values()) for (const k of Object.keys(s) as (keyof FleetStats)[]) s[k] += t[k];
    return s;
  };
  const report = progress(o, sum);
  process.once('SIGINT', () => {
    for (const child of children) child.kill('SIGTERM');
  });
  const codes = await Promise.all(
    children.map((child) => new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? 1)))),
  );
  report.stop();
  return codes.some((code) => code !== 0) ? 1 : 0;
}

/** Entry of a forked part (`iot-ingest simulate-part <json>`); not meant to be typed by hand. */
export async function simulatePartCommand(argv: string[]): Promise<number> {
  const { o, part, parts } = JSON.parse(argv[0] ?? '{}') as {
    o: SimulateOptions;
    part: number;
    parts: number;
  };
  return runFleet(o, fleetOptions(o, part, parts), false);
}

function childReporter(stats: () => FleetStats): { stop(): void } {
  const timer = setInterval(() => process.send?.(stats()), 500);
  return {
    stop() {
      clearInterval(timer);
      process.send?.(stats());
    },
  };
}

/** A live line on stderr: a progress bar when there is an end (count or duration), rates always. */
function progress(o: SimulateOptions, stats: () => FleetStats): { stop(): void } {
  const started = Date.now();
  let last = { at: started, published: 0 };
  const line = () => {
    const s = stats();
    const now = Date.now();
    const rate = ((s.published - last.published) * 1000) / Math.max(now - last.at, 1);
    last = { at: now, published: s.published };
    const fraction = o.count
      ? s.acknowledged / o.count
      : o.duration
        ? (now - started) / (o.duration * 1000)
        : undefined;
    const bar =
      fraction === undefined
        ? ''
        : `[${'#'.repeat(Math.round(Math.min(fraction, 1) * 20)).padEnd(20, '.')}] ${Math.round(Math.min(fraction, 1) * 100)}%  `;
    return `${bar}published ${s.published}  acked ${s.acknowledged}  ${Math.round(rate)} readings/s  held back ${s.heldBack}  errors ${s.errors}`;
  };
  const tty = process.stderr.isTTY;
  const timer = setInterval(() => process.stderr.write(tty ? `\r${line()}   ` : `${line()}\n`), 1000);
  return {
    stop() {
      clearInterval(timer);
      const s = stats();
      process.stderr.write(
        `${tty ? '\n' : ''}published ${s.published} readings in ${s.messages} messages, acknowledged ${s.acknowledged}, held back ${s.heldBack}, errors ${s.errors}, reconnects ${s.reconnects}\n`,
      );
    },
  };
}
