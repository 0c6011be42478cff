/**
 * Bridge throughput against the broker's own ceiling, on this machine, in one run:
 *
 *   1. ceiling: Mosquitto (the shipped settings) delivering QoS 1 to a plain subscriber that
 *      acknowledges at once and does nothing;
 *   2. bridge: the same publisher load through the same broker into the bridge (QoS 1, Kafka
 *      acks=all, PUBACK only after the write) and the Kafka broker harness, under `node --cpu-prof`.
 *
 * Reports messages/s of each, bridgeCeilingRatio = bridge / ceiling, and where the bridge's CPU
 * time goes, in bench/results/bridge-<date>.json.
 *
 *   npx tsx bench/bridge.ts            # 300,000 messages per run
 *   npx tsx bench/bridge.ts --quick    # 100,000 (well under a minute)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { STREAMS } from '../functions/lib/streams/types.ts';
import { startKafkaMock } from '../infra/local/kafka-mock/kafka-mock.ts';
import { startMosquitto } from '../infra/local/mosquitto-broker.ts';
import { saveBenchResult, TS_LOADER } from './lib/child-bench.ts';
import { summariseProfile } from './lib/cpu-profile.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const quick = process.argv.includes('--quick');
const COUNT = quick ? 100_000 : 300_000;
const DEVICES = 1_000;
const PAYLOAD_BYTES = 100;
const WINDOW = 5_000;

interface RunResult {
  messages: number;
  ms: number;
  messagesPerSecond: number;
}

function lines(child: ChildProcess): AsyncIterableIterator<Record<string, unknown>> {
  const queue: Array<Record<string, unknown>> = [];
  const waiters: Array<(v: IteratorResult<Record<string, unknown>>) => void> = [];
  let partial = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) {
      if (!line.startsWith('{')) continue;
      const value = JSON.parse(line) as Record<string, unknown>;
      const waiter = waiters.shift();
      if (waiter) waiter({ value, done: false });
      else queue.push(value);
    }
  });
  child.once('exit', () => {
    for (const waiter of waiters.splice(0)) waiter({ value: undefined, done: true });
  });
  const iterator: AsyncIterableIterator<Record<string, unknown>> = {
    next: () =>
      queue.length > 0
        ? Promise.resolve({ value: queue.shift()!, done: false })
        : child.exitCode !== null
          ? Promise.resolve({ value: undefined, done: true })
          : new Promise((resolve) => waiters.push(resolve)),
    [Symbol.asyncIterator]: () => iterator,
  };
  return iterator;
}

async function next(iterator: AsyncIterableIterator<Record<string, unknown>>, what: string) {
  const result = await iterator.next();
  if (result.done) throw new Error(`bench: ${what}: the process exited`);
  return result.value;
}

function tsx(
  script: string,
  args: string[],
  env: Record<string, string>,
  nodeFlags: string[] = [],
): ChildProcess {
  return spawn(process.execPath, [...nodeFlags, ...TS_LOADER, join(HERE, script), ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
}

async function run(
  role: 'ceiling' | 'bridge',
  url: string,
  env: Record<string, string>,
  profileDir?: string,
): Promise<RunResult & { stats?: unknown }> {
  const flags = profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];
  const consumer = tsx(
    'lib/bridge-bench-child.ts',
    [role, String(COUNT)],
    { ...env, MQTT_CLIENT_ID: `bench-${role}` },
    flags,
  );
  const out = lines(consumer);
  await next(out, `${role} start`);
  const publisher = tsx(
    'lib/raw-publisher.ts',
    [url, String(COUNT), String(DEVICES), String(PAYLOAD_BYTES), String(WINDOW)],
    {},
  );
  const done = await next(out, `${role} run`);
  await next(lines(publisher), 'publisher').catch(() => undefined);
  const exited = new Promise((resolve) => consumer.once('exit', resolve));
  consumer.kill('SIGTERM');
  await exited;
  const ms = done.ms as number;
  return {
    messages: COUNT,
    ms: Math.round(ms),
    messagesPerSecond: Math.round((COUNT * 1000) / ms),
    stats: done.stats,
  };
}

const kafka = await startKafkaMock({ topics: { [STREAMS.raw]: 16, [STREAMS.dlq]: 1 } });
const mosquitto = await startMosquitto();
const profileDir = await mkdtemp(join(tmpdir(), 'bridge-bench-prof-'));
try {
  const env = {
    IOT_STREAM: 'kafka',
    KAFKA_BROKERS: kafka.brokers.join(','),
    MQTT_URL: mosquitto.url,
    MQTT_PROTOCOL_VERSION: '5',
    MQTT_SESSION_EXPIRY_SECONDS: '0',
    BRIDGE_STATS_INTERVAL_SECONDS: '0',
  };
  console.error(
    `bench bridge: ${COUNT} QoS 1 messages of ${PAYLOAD_BYTES} bytes from ${DEVICES} devices, per run`,
  );
  const ceiling = await run('ceiling', mosquitto.url, env);
  console.error(`  ceiling (plain subscriber, acks at once): ${ceiling.messagesPerSecond} msg/s`);
  const bridge = await run('bridge', mosquitto.url, env, profileDir);
  console.error(`  bridge (acks=all, PUBACK after the write): ${bridge.messagesPerSecond} msg/s`);
  const profileFile = (await readdir(profileDir)).find((f) => f.endsWith('.cpuprofile'));
  const profile = profileFile
    ? summariseProfile(JSON.parse(await readFile(join(profileDir, profileFile), 'utf8')))
    : undefined;
  const ratio = Math.round((bridge.messagesPerSecond / ceiling.messagesPerSecond) * 100) / 100;
  console.error(`  bridgeCeilingRatio ${ratio}`);
  if (profile) {
    console.error('  bridge CPU by component (% of busy time):');
    for (const [name, share] of Object.entries(profile.byComponent))
      console.error(`    ${name.padEnd(24)} ${share}%`);
  }
  const results = {
    bench: 'bridge',
    date: new Date().toISOString(),
    machine: { cpus: (await import('node:os')).cpus().length, node: process.version },
    setup: {
      broker: 'mosquitto (infra/local shipped settings), MQTT 5, Receive Maximum 65535',
      stream: 'kafka (librdkafka mock cluster), acks=all, 16 partitions',
      messages: COUNT,
      payloadBytes: PAYLOAD_BYTES,
      devices: DEVICES,
      publisherWindow: WINDOW,
      quick,
    },
    ceiling,
    bridge: { messages: bridge.messages, ms: bridge.ms, messagesPerSecond: bridge.messagesPerSecond },
    bridgeCeilingRatio: ratio,
    bridgeStats: bridge.stats,
    bridgeProfile: profile,
  };
  const file = saveBenchResult('bridge', results);
  console.error(`  written ${file}`);
} finally {
  await rm(profileDir, { recursive: true, force: true });
  await mosquitto.stop();
  await kafka.stop();
}
