import mqtt, { type MqttClient } from 'mqtt';
import { encodeReading } from '../functions/lib/codec/reading-codec.ts';
import type { SchemaRegistry } from '../functions/lib/codec/schema-registry.ts';
import type { Reading } from '../functions/lib/reading.ts';
import { Random } from './random.ts';
import { DeviceSignal } from './signals.ts';

export interface FleetOptions {
  url: string;
  devices: number;
  /** Readings per second per device. */
  rateHz: number;
  /** ± fraction of the period each interval varies by. */
  jitter?: number;
  qos?: 0 | 1;
  seed?: number;
  format?: 'avro' | 'json';
  idPrefix?: string;
  /** MQTT connections the devices share (a real device has its own; a load generator need not). */
  connections?: number;
  /** Stop after this many readings in total (a known set for tests). */
  limit?: number;
  /** QoS 1 publishes awaiting PUBACK per connection before the simulator holds back (and counts it). */
  maxOutstanding?: number;
  /** MQTT 3.1.1 (4) by default: what most devices speak, and all Aedes accepts. */
  protocolVersion?: 4 | 5;
  registry: SchemaRegistry;
}

export interface FleetStats {
  published: number;
  acknowledged: number;
  /** Sends postponed because a connection had maxOutstanding unacknowledged publishes. */
  heldBack: number;
  errors: number;
}

interface Device {
  signal: DeviceSignal;
  topic: string;
  nextAt: number;
  connection: number;
}

/** N simulated devices publishing readings over MQTT at a rate per device, with jitter. */
export class Fleet {
  readonly stats: FleetStats = { published: 0, acknowledged: 0, heldBack: 0, errors: 0 };
  readonly #options: Required<Omit<FleetOptions, 'limit'>> & Pick<FleetOptions, 'limit'>;
  readonly #devices: Device[] = [];
  readonly #clients: MqttClient[] = [];
  readonly #outstanding: number[] = [];
  readonly #random: Random;
  #timer: NodeJS.Timeout | undefined;
  #done: (() => void) | undefined;

  constructor(options: FleetOptions) {
    if (!(options.devices >= 1) || !(options.rateHz > 0))
      throw new RangeError('devices must be >= 1 and rateHz > 0');
    this.#options = {
      jitter: 0.1,
      qos: 1,
      seed: 1,
      format: 'avro',
      idPrefix: 'dev-',
      connections: Math.min(options.devices, 16),
      maxOutstanding: 5_000,
      protocolVersion: 4,
      ...options,
    };
    this.#random = new Random(this.#options.seed);
    const now = Date.now();
    const period = 1000 / this.#options.rateHz;
    for (let i = 0; i < this.#options.devices; i++) {
      const id = `${this.#options.idPrefix}${String(i).padStart(5, '0')}`;
      this.#devices.push({
        signal: new DeviceSignal(id, this.#options.seed * 1_000_003 + i, now),
        topic: `telemetry/${id}`,
        // spread first readings over one period so the fleet does not publish in lockstep
        nextAt: now + this.#random.next() * period,
        connection: i % this.#options.connections,
      });
    }
  }

  async start(): Promise<void> {
    const { url, connections } = this.#options;
    for (let c = 0; c < connections; c++) {
      const client = mqtt.connect(url, {
        clientId: `sim-${this.#options.seed}-${c}-${process.pid}`,
        protocolVersion: this.#options.protocolVersion,
        reconnectPeriod: 500,
        connectTimeout: 5_000,
      });
      client.on('error', () => this.stats.errors++);
      this.#clients.push(client);
      this.#outstanding.push(0);
    }
    await Promise.all(
      this.#clients.map(
        (client) =>
          new Promise<void>((resolve, reject) => {
            client.once('connect', () => resolve());
            client.once('error', (error) =>
              reject(new Error(`simulator cannot connect to ${url}: ${error.message}`)),
            );
          }),
      ),
    );
    this.#timer = setInterval(() => this.#tick(), 20);
  }

  /** Resolves when `limit` readings were published and acknowledged. */
  finished(): Promise<void> {
    return new Promise((resolve) => {
      this.#done = resolve;
      this.#checkDone();
    });
  }

  #tick(): void {
    const now = Date.now();
    const period = 1000 / this.#options.rateHz;
    const { jitter, limit, qos, maxOutstanding } = this.#options;
    for (const device of this.#devices) {
      if (limit !== undefined && this.stats.published >= limit) break;
      if (device.nextAt > now) continue;
      if (this.#outstanding[device.connection]! >= maxOutstanding) {
        this.stats.heldBack++;
        continue;
      }
      device.nextAt += period * (1 + jitter * (2 * this.#random.next() - 1));
      if (device.nextAt < now - period) device.nextAt = now; // fell behind: do not burst to catch up
      this.#publish(device, device.signal.next(now), qos);
    }
    if (limit !== undefined && this.stats.published >= limit) clearInterval(this.#timer);
  }

  #publish(device: Device, reading: Reading, qos: 0 | 1): void {
    const payload =
      this.#options.format === 'json'
        ? JSON.stringify(reading)
        : encodeReading(reading, this.#options.registry);
    const client = this.#clients[device.connection]!;
    this.stats.published++;
    this.#outstanding[device.connection]!++;
    client.publish(device.topic, payload, { qos }, (error) => {
      this.#outstanding[device.connection]!--;
      if (error) this.stats.errors++;
      else this.stats.acknowledged++;
      this.#checkDone();
    });
  }

  #checkDone(): void {
    const { limit } = this.#options;
    if (this.#done && limit !== undefined && this.stats.acknowledged + this.stats.errors >= limit)
      this.#done();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await Promise.all(this.#clients.map((client) => client.endAsync()));
  }
}
