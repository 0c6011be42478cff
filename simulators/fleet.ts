import mqtt, { type MqttClient } from 'mqtt';
import { encodeReading, encodeReadingContainer } from '../functions/lib/codec/reading-codec.ts';
import type { SchemaRegistry } from '../functions/lib/codec/schema-registry.ts';
import type { Reading } from '../functions/lib/reading.ts';
import { Random } from './random.ts';
import { DueHeap } from './schedule.ts';
import { DeviceSignal } from './signals.ts';

export interface FleetOptions {
  url: string;
  /** Devices (per-reading mode) or sensors in all (gateway mode: gateways × sensorsPerGateway). */
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
  /**
   * Gateway mode: each gateway batches its sensors' readings into one Avro object container per
   * period on `gateways/{gatewayId}/telemetry`. `devices` is then split over `gateways`.
   */
  gateways?: number;
  /** MQTT 3.1.1 (4) by default: what most devices speak, and all Aedes accepts. */
  protocolVersion?: 4 | 5;
  username?: string;
  password?: string;
  /** Transforms a reading before it is sent (anomaly injection); may return null to drop it (dropout). */
  transform?: (reading: Reading) => Reading | null;
  registry: SchemaRegistry;
}

export interface FleetStats {
  /** Readings published (a gateway message counts all of its readings). */
  published: number;
  /** Readings whose message the broker acknowledged (QoS 1) or that were written to the socket (QoS 0). */
  acknowledged: number;
  messages: number;
  /** Sends postponed because a connection had maxOutstanding unacknowledged publishes. */
  heldBack: number;
  errors: number;
  reconnects: number;
}

export function emptyFleetStats(): FleetStats {
  return { published: 0, acknowledged: 0, messages: 0, heldBack: 0, errors: 0, reconnects: 0 };
}

interface Sender {
  topic: string;
  /** One signal per reading device; a gateway has many. */
  signals: DeviceSignal[];
  connection: number;
}

const RECONNECT_MIN_MS = 250;
const RECONNECT_MAX_MS = 10_000;
/** How long one tick publishes before it lets the socket writes go out (see #tick). */
const TICK_BUDGET_MS = 5;

/** Simulated devices (or gateways of sensors) publishing readings over MQTT at a rate, with jitter. */
export class Fleet {
  readonly stats: FleetStats = emptyFleetStats();
  readonly #options: Required<
    Omit<FleetOptions, 'limit' | 'gateways' | 'username' | 'password' | 'transform'>
  > &
    Pick<FleetOptions, 'limit' | 'gateways' | 'username' | 'password' | 'transform'>;
  readonly #senders: Sender[] = [];
  readonly #heap: DueHeap;
  readonly #clients: MqttClient[] = [];
  readonly #outstanding: number[] = [];
  readonly #random: Random;
  readonly #periodMs: number;
  #timer: NodeJS.Timeout | undefined;
  #continuing = false;
  #done: (() => void) | undefined;

  constructor(options: FleetOptions) {
    if (!(options.devices >= 1) || !(options.rateHz > 0))
      throw new RangeError('devices must be >= 1 and rateHz > 0');
    if (options.gateways !== undefined && !(options.gateways >= 1 && options.gateways <= options.devices)) {
      throw new RangeError('gateways must be from 1 to the number of devices');
    }
    this.#options = {
      jitter: 0.1,
      qos: 1,
      seed: 1,
      format: 'avro',
      idPrefix: 'dev-',
      connections: Math.min(options.gateways ?? options.devices, 16),
      maxOutstanding: 5_000,
      protocolVersion: 4,
      ...options,
    };
    this.#random = new Random(this.#options.seed);
    this.#periodMs = 1000 / this.#options.rateHz;
    const now = Date.now();
    const { devices, gateways, idPrefix, seed, connections } = this.#options;
    const signal = (i: number) =>
      new DeviceSignal(`${idPrefix}${String(i).padStart(5, '0')}`, seed * 1_000_003 + i, now);
    if (gateways === undefined) {
      for (let i = 0; i < devices; i++) {
        const s = signal(i);
        this.#senders.push({ topic: `telemetry/${s.deviceId}`, signals: [s], connection: i % connections });
      }
    } else {
      for (let g = 0; g < gateways; g++) {
        const signals: DeviceSignal[] = [];
        for (let i = g; i < devices; i += gateways) signals.push(signal(i));
        this.#senders.push({
          topic: `gateways/gw-${String(g).padStart(4, '0')}/telemetry`,
          signals,
          connection: g % connections,
        });
      }
    }
    this.#heap = new DueHeap(this.#senders.length);
    // Spread first readings over one period so the fleet does not publish in lockstep.
    for (let i = 0; i < this.#senders.length; i++)
      this.#heap.push(now + this.#random.next() * this.#periodMs, i);
  }

  get senders(): number {
    return this.#senders.length;
  }

  async start(): Promise<void> {
    const { url, connections, protocolVersion, seed, username, password } = this.#options;
    for (let c = 0; c < connections; c++) {
      let delay = RECONNECT_MIN_MS;
      const client = mqtt.connect(url, {
        clientId: `sim-${seed}-${c}-${process.pid}`,
        protocolVersion,
        reconnectPeriod: delay,
        connectTimeout: 5_000,
        // MQTT.js logs through `debug` about ten times per publish and acknowledgement; with DEBUG
        // unset those calls still cost ~1 µs a QoS 1 publish (10.5 against 12.1 µs, medians of
        // nine paired runs), 9% of the simulator's CPU in an end-to-end profile at 20,000/s.
        ...(process.env.DEBUG ? {} : { log: () => {} }),
        ...(username !== undefined ? { username } : {}),
        ...(password !== undefined ? { password } : {}),
      });
      // Exponential backoff between reconnect attempts, reset once connected.
      client.on('connect', () => {
        delay = RECONNECT_MIN_MS;
        client.options.reconnectPeriod = delay;
      });
      client.on('reconnect', () => {
        this.stats.reconnects++;
        delay = Math.min(delay * 2, RECONNECT_MAX_MS);
        client.options.reconnectPeriod = delay;
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
    this.#timer = setInterval(() => this.#tick(), 10);
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
    const { jitter, limit, maxOutstanding } = this.#options;
    const period = this.#periodMs;
    while (this.#heap.peekDue() <= now) {
      if (limit !== undefined && this.stats.published >= limit) break;
      const due = this.#heap.peekDue();
      const index = this.#heap.pop();
      const sender = this.#senders[index]!;
      if (this.#outstanding[sender.connection]! >= maxOutstanding) {
        this.stats.heldBack++;
        this.#heap.push(now + 1, index);
        break; // the broker is behind; try again next tick
      }
      let next = due + period * (1 + jitter * (2 * this.#random.next() - 1));
      if (next < now - period) next = now; // fell behind: do not burst to catch up
      this.#heap.push(next, index);
      // Stamped as it is sent, not at the tick's start, and the tick yields after TICK_BUDGET_MS:
      // MQTT.js corks the socket and writes a tick's publishes only when the tick returns, and one
      // tick publishes for many devices (a few hundred at 16,000/s; a few thousand in the first
      // half second of a process, its code still cold, when ticks took 150 ms), where a device's
      // own reading leaves as soon as it is taken.
      const sentAt = Date.now();
      this.#send(sender, sentAt);
      if (sentAt - now >= TICK_BUDGET_MS) {
        this.#continueSoon();
        break;
      }
    }
    if (limit !== undefined && this.stats.published >= limit) clearInterval(this.#timer);
  }

  /** Goes on with what is due once the socket writes queued so far have gone out. */
  #continueSoon(): void {
    if (this.#continuing) return;
    this.#continuing = true;
    setImmediate(() => {
      this.#continuing = false;
      if (this.#timer !== undefined) this.#tick();
    });
  }

  #send(sender: Sender, now: number): void {
    const { registry, transform, format, qos, limit } = this.#options;
    let payload: Buffer | string;
    let count: number;
    if (this.#options.gateways === undefined) {
      const reading = transform ? transform(sender.signals[0]!.next(now)) : sender.signals[0]!.next(now);
      if (reading === null) return;
      payload = format === 'json' ? JSON.stringify(reading) : encodeReading(reading, registry);
      count = 1;
    } else {
      const readings: Reading[] = [];
      for (const signal of sender.signals) {
        if (limit !== undefined && this.stats.published + readings.length >= limit) break;
        const reading = transform ? transform(signal.next(now)) : signal.next(now);
        if (reading !== null) readings.push(reading);
      }
      if (readings.length === 0) return;
      payload = encodeReadingContainer(readings, registry, { codec: 'deflate' });
      count = readings.length;
    }
    const client = this.#clients[sender.connection]!;
    this.stats.published += count;
    this.stats.messages++;
    this.#outstanding[sender.connection]!++;
    client.publish(sender.topic, payload, { qos }, (error) => {
      this.#outstanding[sender.connection]!--;
      if (error) this.stats.errors++;
      else this.stats.acknowledged += count;
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
    this.#timer = undefined;
    await Promise.all(this.#clients.map((client) => client.endAsync()));
  }
}
