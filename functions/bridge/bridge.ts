import pLimit, { type LimitFunction } from 'p-limit';
import { errorMessage } from '../lib/errors.ts';
import { HEADER } from '../lib/reading.ts';
import { type OutRecord, STREAMS, type StreamProducer } from '../lib/streams/types.ts';
import type { MqttSubscriber } from './mqtt-subscriber.ts';

export interface BridgeOptions {
  /** How long a batch may wait for more messages before it is produced. */
  lingerMs?: number;
  maxBatchRecords?: number;
  maxBatchBytes?: number;
  /** Produce requests in flight at once. 1 keeps per-device order even across retries. */
  maxInFlightBatches?: number;
  /** Bytes received but not yet acknowledged; above it the bridge stops reading from the broker. */
  maxInFlightBytes?: number;
  onError?: (error: unknown) => void;
}

export interface BridgeStats {
  received: number;
  produced: number;
  acknowledged: number;
  retried: number;
  /** Messages whose topic names no device, by reason. Forwarded all the same: validate dead-letters them. */
  unroutable: number;
  inFlightBytes: number;
  inFlightMessages: number;
  paused: boolean;
  lastProduceMs: number;
}

interface Batch {
  records: OutRecord[];
  packetIds: (number | undefined)[];
  generations: number[];
  bytes: number;
  done: boolean;
}

const GATEWAY = /^gateways\/([^/]+)\/telemetry$/;

/**
 * MQTT -> telemetry.raw. Each QoS 1 PUBLISH is acknowledged only after the stream confirmed the
 * batch that carries it, and acknowledgements go out in arrival order (MQTT 3.1.1 §4.6), while
 * many batches wait for the stream at once. Memory is bounded by `maxInFlightBytes`: past it the
 * bridge stops reading the socket and the broker holds the rest in our persistent session.
 */
export class Bridge {
  readonly stats: BridgeStats = {
    received: 0,
    produced: 0,
    acknowledged: 0,
    retried: 0,
    unroutable: 0,
    inFlightBytes: 0,
    inFlightMessages: 0,
    paused: false,
    lastProduceMs: 0,
  };
  readonly #producer: StreamProducer;
  readonly #subscriber: MqttSubscriber;
  readonly #options: Required<Omit<BridgeOptions, 'onError'>> & Pick<BridgeOptions, 'onError'>;
  readonly #limit: LimitFunction;
  readonly #queue: Batch[] = [];
  #current: Batch = emptyBatch();
  #lingerTimer: NodeJS.Timeout | undefined;
  #closing = false;

  constructor(subscriber: MqttSubscriber, producer: StreamProducer, options: BridgeOptions = {}) {
    this.#subscriber = subscriber;
    this.#producer = producer;
    this.#options = {
      lingerMs: 5,
      maxBatchRecords: 500,
      maxBatchBytes: 1024 * 1024,
      maxInFlightBatches: 1,
      maxInFlightBytes: 64 * 1024 * 1024,
      ...options,
    };
    this.#limit = pLimit(this.#options.maxInFlightBatches);
    subscriber.on('message', (topic, payload, packetId, generation) =>
      this.#onMessage(topic, payload, packetId, generation),
    );
  }

  async start(): Promise<void> {
    await this.#subscriber.start();
  }

  #onMessage(topic: string, payload: Buffer, packetId: number | undefined, generation: number): void {
    this.stats.received++;
    let key: string;
    const headers: Record<string, string> = {
      [HEADER.mqttTopic]: topic,
      [HEADER.receivedAt]: String(Date.now()),
    };
    if (topic.startsWith('telemetry/')) {
      key = topic.slice(10);
    } else {
      const gateway = GATEWAY.exec(topic);
      if (gateway) {
        key = gateway[1]!;
        headers[HEADER.gatewayId] = key;
      } else {
        key = topic;
        this.stats.unroutable++;
      }
    }
    const batch = this.#current;
    batch.records.push({ key, value: payload, headers });
    batch.packetIds.push(packetId);
    batch.generations.push(generation);
    batch.bytes += payload.length + topic.length + 64;
    this.stats.inFlightBytes += payload.length + topic.length + 64;
    this.stats.inFlightMessages++;
    if (this.stats.inFlightBytes > this.#options.maxInFlightBytes && !this.stats.paused) {
      this.stats.paused = true;
      this.#subscriber.pause();
    }
    if (batch.records.length >= this.#options.maxBatchRecords || batch.bytes >= this.#options.maxBatchBytes) {
      this.#flush();
    } else if (!this.#lingerTimer) {
      this.#lingerTimer = setTimeout(() => this.#flush(), this.#options.lingerMs);
    }
  }

  #flush(): void {
    clearTimeout(this.#lingerTimer);
    this.#lingerTimer = undefined;
    const batch = this.#current;
    if (batch.records.length === 0) return;
    this.#current = emptyBatch();
    this.#queue.push(batch);
    void this.#limit(() => this.#produce(batch));
  }

  /** Retries until the stream takes the batch: an unacknowledged message is never given up on. */
  async #produce(batch: Batch): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const started = performance.now();
      try {
        await this.#producer.send(STREAMS.raw, batch.records);
        this.stats.lastProduceMs = performance.now() - started;
        break;
      } catch (error) {
        this.stats.retried++;
        this.#options.onError?.(
          new Error(`produce to ${STREAMS.raw} failed, retrying: ${errorMessage(error)}`, { cause: error }),
        );
        await new Promise((resolve) => setTimeout(resolve, Math.min(100 * 2 ** attempt, 5_000)));
      }
    }
    this.stats.produced += batch.records.length;
    batch.done = true;
    this.#ackInOrder();
  }

  #ackInOrder(): void {
    while (this.#queue.length > 0 && this.#queue[0]!.done) {
      const batch = this.#queue.shift()!;
      for (let i = 0; i < batch.packetIds.length; i++) {
        const id = batch.packetIds[i];
        if (id !== undefined) this.#subscriber.ack(id, batch.generations[i]!);
      }
      this.stats.acknowledged += batch.records.length;
      this.stats.inFlightBytes -= batch.bytes;
      this.stats.inFlightMessages -= batch.records.length;
    }
    if (
      this.stats.paused &&
      !this.#closing &&
      this.stats.inFlightBytes <= this.#options.maxInFlightBytes / 2
    ) {
      this.stats.paused = false;
      this.#subscriber.resume();
    }
  }

  /** Stops reading, writes and acknowledges what was received, then disconnects. */
  async close(timeoutMs = 10_000): Promise<void> {
    this.#closing = true;
    this.#subscriber.pause();
    this.#flush();
    const deadline = Date.now() + timeoutMs;
    while (this.#queue.length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await this.#subscriber.close();
  }
}

function emptyBatch(): Batch {
  return { records: [], packetIds: [], generations: [], bytes: 0, done: false };
}
