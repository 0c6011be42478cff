/**
 * What the bridge scenario tests share: a broker and a stream started per suite, a publisher of
 * numbered QoS 1 readings that retries until each is acknowledged, the bridge in this process or as
 * a child process (`iot-ingest bridge`, for SIGKILL), and a count of the distinct readings that
 * reached telemetry.raw.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt from 'mqtt';
import { type RunningBridge, runBridge } from '../../functions/bridge/run-bridge.ts';
import { loadConfig } from '../../functions/lib/config.ts';
import { createKafka } from '../../functions/lib/streams/kafka-client.ts';
import { createKinesisClient } from '../../functions/lib/streams/kinesis-client.ts';
import { readKafkaStream, readKinesisStream } from '../../functions/lib/streams/stream-reader.ts';
import { STREAMS } from '../../functions/lib/streams/types.ts';
import { startAedes } from '../../infra/local/aedes-broker.ts';
import { type KafkaMock, startKafkaMock } from '../../infra/local/kafka-mock/kafka-mock.ts';
import {
  createStreams,
  type KinesaliteServer,
  startKinesalite,
} from '../../infra/local/kinesalite-server.ts';
import {
  type MosquittoBroker,
  type MosquittoBrokerOptions,
  startMosquitto,
} from '../../infra/local/mosquitto-broker.ts';
import { requireOrSkip } from '../../infra/local/services.ts';

export type BrokerKind = 'aedes' | 'mosquitto';
export type StreamKind = 'kafka' | 'kinesis';

/** Every broker with every stream: a scenario runs on each combination that supports it. */
export const BROKER_STREAM_COMBOS = [
  { broker: 'aedes', stream: 'kafka' },
  { broker: 'mosquitto', stream: 'kafka' },
  { broker: 'aedes', stream: 'kinesis' },
  { broker: 'mosquitto', stream: 'kinesis' },
] as const;

/** Which services can run here; with CI=true a missing one fails the run (requireOrSkip). */
export async function availableServices(): Promise<Record<BrokerKind | StreamKind, boolean>> {
  return {
    aedes: await requireOrSkip('aedes'),
    mosquitto: await requireOrSkip('mosquitto'),
    kafka: await requireOrSkip('kafka'),
    kinesis: await requireOrSkip('kinesis'),
  };
}

export interface BrokerHarness {
  kind: BrokerKind;
  url: string;
  protocolVersion: 4 | 5;
  mosquitto?: MosquittoBroker;
  stop(): Promise<void>;
}

export async function startBroker(
  kind: BrokerKind,
  options: MosquittoBrokerOptions = {},
): Promise<BrokerHarness> {
  if (kind === 'aedes') {
    const aedes = await startAedes();
    return { kind, url: aedes.url, protocolVersion: 4, stop: aedes.stop };
  }
  const mosquitto = await startMosquitto(options);
  return { kind, url: mosquitto.url, protocolVersion: 5, mosquitto, stop: mosquitto.stop };
}

export interface StreamHarness {
  kind: StreamKind;
  /** The variables that point a bridge at this stream. */
  env: Record<string, string>;
  kafka?: KafkaMock;
  /** Makes the stream unavailable: the Kafka broker goes down, kinesalite stops listening. */
  down(): Promise<void>;
  up(): Promise<void>;
  /** Distinct `device#seq` in telemetry.raw, and how many records in all. */
  read(): Promise<{ distinct: Set<string>; records: number }>;
  stop(): Promise<void>;
}

export async function startStream(kind: StreamKind): Promise<StreamHarness> {
  if (kind === 'kafka') {
    // librdkafka's mock cluster keeps only the last few MB of each partition: 16 partitions keep
    // every reading a test publishes readable afterwards.
    const mock = await startKafkaMock({ topics: { [STREAMS.raw]: 16, [STREAMS.dlq]: 1 } });
    const env = { IOT_STREAM: 'kafka', KAFKA_BROKERS: mock.brokers.join(',') };
    return {
      kind,
      env,
      kafka: mock,
      down: () => mock.setBrokerDown(1),
      up: () => mock.setBrokerUp(1),
      read: async () =>
        count(
          await readKafkaStream(createKafka(loadConfig(env).kafka, '-test-reader'), STREAMS.raw, 1_000_000),
        ),
      stop: () => mock.stop(),
    };
  }
  // "Down" takes kinesalite's endpoint away: the bridge reaches it through a TCP proxy that stops
  // listening and cuts every connection. Stopping kinesalite itself is no option: closing its
  // LevelDB store under requests in flight crashes the process (SIGSEGV in leveldown).
  const server: KinesaliteServer = await startKinesalite();
  const proxy = await startProxy(server.port);
  const env = { IOT_STREAM: 'kinesis', KINESIS_ENDPOINT: `http://127.0.0.1:${proxy.port}` };
  const client = createKinesisClient({ endpoint: server.endpoint, local: true });
  await createStreams(client, { [STREAMS.raw]: 2, [STREAMS.dlq]: 1 });
  return {
    kind,
    env,
    down: () => proxy.close(),
    up: () => proxy.listen(),
    read: async () => count(await readKinesisStream(client, STREAMS.raw, 1_000_000)),
    stop: async () => {
      client.destroy();
      await proxy.close();
      await server.stop();
    },
  };
}

/** A TCP proxy to 127.0.0.1:`target` that can stop listening (and cut its connections) and start again. */
async function startProxy(
  target: number,
): Promise<{ port: number; close(): Promise<void>; listen(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(target, '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    client.pipe(upstream).pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  const listen = (port: number) =>
    new Promise<void>((resolveListen, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolveListen();
      });
    });
  await listen(0);
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    close: () =>
      new Promise<void>((resolveClose) => {
        if (!server.listening) return resolveClose();
        server.close(() => resolveClose());
        for (const socket of sockets) socket.destroy();
      }),
    listen: () => listen(port),
  };
}

function count(records: { value: Buffer }[]): { distinct: Set<string>; records: number } {
  const distinct = new Set<string>();
  for (const r of records) {
    const reading = JSON.parse(r.value.toString('utf8')) as { deviceId: string; seq: number };
    distinct.add(`${reading.deviceId}#${reading.seq}`);
  }
  return { distinct, records: records.length };
}

export interface PublishOptions {
  devices: number;
  perDevice: number;
  prefix: string;
  /** Bytes of padding per reading (the overload test uses it). Default none. */
  padding?: number;
  /** Unacknowledged publishes at once. Default 500. */
  window?: number;
  /** Called after each acknowledged reading with how many are acknowledged so far. */
  onAcked?: (acked: number) => void;
}

/**
 * Publishes devices × perDevice numbered QoS 1 JSON readings and resolves once the broker has
 * acknowledged every one. A persistent session (clean=false) makes MQTT.js send again whatever was
 * unacknowledged when the connection broke (a broker restart), so every reading is acknowledged.
 */
export async function publishNumbered(
  url: string,
  protocolVersion: 4 | 5,
  options: PublishOptions,
): Promise<number> {
  const client = await mqtt.connectAsync(url, {
    protocolVersion,
    clientId: `pub-${options.prefix}-${process.pid}`,
    clean: false,
    reconnectPeriod: 200,
    ...(protocolVersion === 5 ? { properties: { sessionExpiryInterval: 600 } } : {}),
  });
  client.on('error', () => {});
  const pad = options.padding ? 'x'.repeat(options.padding) : undefined;
  const total = options.devices * options.perDevice;
  const window = options.window ?? 500;
  let acked = 0;
  let next = 0;
  try {
    await new Promise<void>((resolvePublished, reject) => {
      const publishNext = (): void => {
        if (next >= total) return;
        const i = next++;
        const deviceId = `${options.prefix}${i % options.devices}`;
        const reading = {
          deviceId,
          ts: Date.now(),
          seq: Math.floor(i / options.devices),
          ...(pad ? { pad } : {}),
        };
        client.publish(`telemetry/${deviceId}`, JSON.stringify(reading), { qos: 1 }, (error) => {
          if (error) return reject(error);
          acked++;
          options.onAcked?.(acked);
          if (acked === total) resolvePublished();
          else publishNext();
        });
      };
      for (let i = 0; i < Math.min(window, total); i++) publishNext();
    });
  } finally {
    await client.endAsync();
  }
  return total;
}

export function expectedReadings(devices: number, perDevice: number, prefix: string): string[] {
  const out: string[] = [];
  for (let d = 0; d < devices; d++) for (let s = 0; s < perDevice; s++) out.push(`${prefix}${d}#${s}`);
  return out;
}

/** Polls `read()` until every expected reading is there or the time is up; returns what is missing. */
export async function missingAfter(
  stream: StreamHarness,
  expected: readonly string[],
  timeoutMs = 20_000,
): Promise<{ missing: string[]; records: number }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { distinct, records } = await stream.read();
    const missing = expected.filter((k) => !distinct.has(k));
    if (missing.length === 0 || Date.now() > deadline) return { missing, records };
    await sleep(500);
  }
}

export function bridgeEnv(
  broker: BrokerHarness,
  stream: StreamHarness,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    ...stream.env,
    MQTT_URL: broker.url,
    MQTT_PROTOCOL_VERSION: String(broker.protocolVersion),
    MQTT_CLIENT_ID: `bridge-test-${process.pid}`,
    BRIDGE_STATS_INTERVAL_SECONDS: '1',
    ...extra,
  };
}

/** The bridge in this process, quiet unless it logs an error. */
export function startBridgeInProcess(env: Record<string, string>): Promise<RunningBridge> {
  return runBridge(loadConfig(env), (level, msg) => {
    if (level === 'error') console.error(`bridge: ${msg}`);
  });
}

export interface BridgeStatsLine {
  received: number;
  acknowledged: number;
  produced: number;
  peakInFlightBytes: number;
  inFlightBytes: number;
  paused: boolean;
  rssBytes: number;
  dropped: Record<string, number>;
}

const BIN = resolve(import.meta.dirname, '../../bin/iot-ingest.js');

/** `iot-ingest bridge` as a child process: what an operator runs, and what SIGKILL can hit. */
export class BridgeProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  readonly lines: Array<Record<string, unknown>> = [];
  #stderr = '';

  private constructor(child: ChildProcess) {
    this.child = child;
    this.exited = new Promise((resolveExit) => child.once('exit', (code) => resolveExit(code)));
    let partial = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      this.#stderr = (this.#stderr + chunk).slice(-20_000);
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) {
        if (!line.startsWith('{')) continue;
        try {
          this.lines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          // not one of ours
        }
      }
    });
  }

  /** Starts the bridge and resolves once it has subscribed ("bridge running"). */
  static async start(env: Record<string, string>, timeoutMs = 20_000): Promise<BridgeProcess> {
    const child = spawn(process.execPath, [BIN, 'bridge'], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const bridge = new BridgeProcess(child);
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    void bridge.exited.then(() => {
      exited = true;
    });
    while (!bridge.lines.some((l) => l.msg === 'bridge running')) {
      if (exited || Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`bridge did not start; its stderr:\n${bridge.stderr}`);
      }
      await sleep(50);
    }
    return bridge;
  }

  get stderr(): string {
    return this.#stderr;
  }

  /** The last stats line it logged. */
  stats(): BridgeStatsLine | undefined {
    for (let i = this.lines.length - 1; i >= 0; i--) {
      if (this.lines[i]!.msg === 'bridge stats') return this.lines[i] as unknown as BridgeStatsLine;
    }
    return undefined;
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    this.child.kill(signal);
    await this.exited;
  }
}
