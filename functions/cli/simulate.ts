import { Command } from 'commander';
import { Fleet } from '../../simulators/fleet.ts';
import { SchemaRegistry } from '../lib/codec/schema-registry.ts';
import { oneOf, positiveInt, positiveNumber } from './options.ts';

interface SimulateOptions {
  url: string;
  devices: number;
  rate: number;
  qos: '0' | '1';
  format: 'avro' | 'json';
  seed: number;
  connections?: number;
  count?: number;
  duration?: number;
}

export async function simulateCommand(argv: string[]): Promise<number> {
  const program = new Command('iot-ingest simulate')
    .description('Publish simulated sensor readings (Avro single-object or JSON) to telemetry/{deviceId}.')
    .option('--url <url>', 'MQTT broker URL', 'mqtt://127.0.0.1:1883')
    .option('--devices <n>', 'number of devices', positiveInt, 100)
    .option('--rate <hz>', 'readings per second per device', positiveNumber, 1)
    .option('--qos <qos>', 'MQTT QoS', oneOf('0', '1'), '1')
    .option('--format <format>', 'payload format', oneOf('avro', 'json'), 'avro')
    .option('--seed <n>', 'random seed (same seed, same readings)', positiveInt, 1)
    .option('--connections <n>', 'MQTT connections the devices share', positiveInt)
    .option('--count <n>', 'stop after this many readings', positiveInt)
    .option('--duration <seconds>', 'stop after this many seconds', positiveInt)
    .addHelpText(
      'after',
      '\nExample:\n  iot-ingest simulate --url mqtt://127.0.0.1:1883 --devices 1000 --rate 1 --duration 60\n',
    )
    .exitOverride();
  try {
    program.parse(argv, { from: 'user' });
  } catch (error) {
    return (error as { exitCode?: number }).exitCode ?? 2;
  }
  const o = program.opts<SimulateOptions>();
  const fleet = new Fleet({
    url: o.url,
    devices: o.devices,
    rateHz: o.rate,
    qos: o.qos === '1' ? 1 : 0,
    format: o.format,
    seed: o.seed,
    registry: SchemaRegistry.load(),
    ...(o.connections ? { connections: o.connections } : {}),
    ...(o.count ? { limit: o.count } : {}),
  });
  try {
    await fleet.start();
  } catch (error) {
    console.error(
      `iot-ingest simulate: ${(error as Error).message}. Is a broker running? (npm start runs one)`,
    );
    return 1;
  }
  const started = Date.now();
  let last = { at: started, published: 0 };
  const timer = setInterval(() => {
    const now = Date.now();
    const rate = ((fleet.stats.published - last.published) * 1000) / (now - last.at);
    const target = o.count ? ` / ${o.count}` : '';
    process.stderr.write(
      `\rpublished ${fleet.stats.published}${target}  acked ${fleet.stats.acknowledged}  ${Math.round(rate)}/s  errors ${fleet.stats.errors}   `,
    );
    last = { at: now, published: fleet.stats.published };
  }, 1000);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    if (o.duration) setTimeout(resolve, o.duration * 1000);
    if (o.count) void fleet.finished().then(resolve);
  });
  clearInterval(timer);
  await fleet.stop();
  process.stderr.write(
    `\npublished ${fleet.stats.published}, acknowledged ${fleet.stats.acknowledged}, errors ${fleet.stats.errors}\n`,
  );
  return fleet.stats.errors > 0 ? 1 : 0;
}
