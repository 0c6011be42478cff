import type { Histogram } from 'hdr-histogram-js';
import pLimit, { type LimitFunction } from 'p-limit';
import { errorMessage } from '../lib/errors.ts';
import { HEADER } from '../lib/reading.ts';
import { type OutRecord, STREAMS, type StreamProducer } from '../lib/streams/types.ts';
import { type BridgeStats, emptyStats, latencyHistogram } from './bridge-stats.ts';
import type { MqttSubscriber } from './mqtt-subscriber.ts';
import { routeTopic } from './topic-route.ts';

export interface BridgeOptions {
  /** How long a batch may wait for more messages before it is produced. Default 10 ms. */
  lingerMs?: number;
  /** Default 2,000 records. */
  maxBatchRecords?: number;
  /** Default 1 MiB. */
  maxBatchBytes?: number;
  /**
   * Produce requests in flight at once. Devices are split over this many lanes by a hash of the
   * device id, with one batch in flight per lane, so a device's readings stay in order even when a
   * batch is retried. Default 1: kafkajs spends most of its time per request, so fewer, larger
   * requests go faster than more in parallel on one core (bench/bridge.ts).
   */
  maxInFlightBatches?: number;
  /** Bytes received but not yet acknowledged; above it the bridge stops reading. Default 64 MiB. */
  maxInFlightBytes?: number;
  /** Larger payloads go to telemetry.dlq (PAYLOAD_TOO_LARGE), cut to this size. Default 256 KiB. */
  maxPayloadBytes?: number;
  /**
   * Where batches are made durable before their PUBACKs go out. Default: telemetry.raw on the
   * producer. A spool (spool.ts) instead acknowledges after fsync and drains to the stream itself.
   */
  sink?: BatchSink;
  /** Produce failures (retried), at most one a second per kind. */
  onError?: (error: unknown) => void;
  /** Drops and other events an operator should see, rate-limited the same way. */
  onWarning?: (message: string) => void;
}

/** Where a batch must be durable before the bridge acknowledges it. */
export interface BatchSink {
  write(records: readonly OutRecord[]): Promise<void>;
}

/** Per record: the OutRecord object, its headers object and strings, and the acknowledgement slot. */
const RECORD_OVERHEAD_BYTES = 256;
const MAX_BACKOFF_MS = 5_000;
const WARN_INTERVAL_MS = 1_000;

interface Batch {
  records: OutRecord[];
  /** Messages in it, QoS 0 included. */
  count: number;
  /** Connection the packet ids belong to; a batch never spans two. */
  generation: number;
  deadLetters: OutRecord[];
  bytes: number;
  done: boolean;
}

interface Lane {
  current: Batch;
  timer: NodeJS.Timeout | undefined;
  limit: LimitFunction;
}

/**
 * MQTT -> telemetry.raw. Each QoS 1 PUBLISH is acknowledged only after the stream confirmed the
 * batch that carries it (or the spool fsynced it), in arrival order (MQTT 3.1.1 §4.6, MQTT 5 §4.6),
 * while many batches wait for the stream at once. Memory is bounded by `maxInFlightBytes`: past it
 * the bridge stops reading the socket, stops acknowledging what it cannot write, and the broker
 * holds the rest in our persistent session; QoS 0 messages that still arrive then are dropped and
 * counted. Reading resumes by itself once the stream has caught up.
 *
 * The per-message path (#onMessage) allocates the record and nothing else: no promise, no closure.
 */
export class Bridge {
  readonly stats: BridgeStats = emptyStats();
  /** Produce latency, microseconds: from the request to the stream's confirmation. */
  readonly produceLatency: Histogram = latencyHistogram();
  readonly #producer: StreamProducer;
  readonly #subscriber: MqttSubscriber;
  readonly #sink: BatchSink;
  readonly #lingerMs: number;
  readonly #maxBatchRecords: number;
  readonly #maxBatchBytes: number;
  readonly #maxInFlightBytes: number;
  readonly #maxPayloadBytes: number;
  readonly #onError: ((error: unknown) => void) | undefined;
  readonly #onWarning: ((message: string) => void) | undefined;
  readonly #lanes: Lane[];
  /**
   * Every message not yet acknowledged, in arrival order (MQTT §4.6 wants PUBACKs in that order,
   * and with several lanes batches finish out of it): packet id, its batch, its bytes. Parallel
   * arrays with a moving head, so a message costs three array slots and no object.
   */
  #ackIds: number[] = [];
  #ackBatches: Batch[] = [];
  #ackBytes: number[] = [];
  #ackHead = 0;
  readonly #lastWarning = new Map<string, number>();
  #clockMs = 0;
  #clockText = '0';
  #closing = false;

  constructor(subscriber: MqttSubscriber, producer: StreamProducer, options: BridgeOptions = {}) {
    this.#subscriber = subscriber;
    this.#producer = producer;
    this.#lingerMs = options.lingerMs ?? 10;
    this.#maxBatchRecords = options.maxBatchRecords ?? 2_000;
    this.#maxBatchBytes = options.maxBatchBytes ?? 1024 * 1024;
    this.#maxInFlightBytes = options.maxInFlightBytes ?? 64 * 1024 * 1024;
    this.#maxPayloadBytes = options.maxPayloadBytes ?? 256 * 1024;
    this.#onError = options.onError;
    this.#onWarning = options.onWarning;
    this.#sink = options.sink ?? { write: (records) => producer.send(STREAMS.raw, records) };
    const lanes = Math.max(1, options.maxInFlightBatches ?? 1);
    this.#lanes = Array.from({ length: lanes }, () => ({
      current: emptyBatch(0),
      timer: undefined,
      limit: pLimit(1),
    }));
    subscriber.onMessage((topic, payload, packetId, dup, generation) =>
      this.#onMessage(topic, payload, packetId, dup, generation),
    );
  }

  async start(): Promise<void> {
    await this.#subscriber.start();
  }

  #onMessage(topic: string, payload: Buffer, packetId: number, dup: boolean, generation: number): void {
    const stats = this.stats;
    stats.received++;
    if (dup) stats.redelivered++;
    const bytes = payload.length + 2 * topic.length + RECORD_OVERHEAD_BYTES;
    if (packetId === 0 && stats.inFlightBytes + bytes > this.#maxInFlightBytes) {
      // QoS 0 carries no promise and there is no room: dropping it is the bound doing its job.
      stats.dropped['qos0-overload']++;
      this.#warn(
        'qos0-overload',
        `in-flight bytes over the bound: dropping QoS 0 messages (${stats.dropped['qos0-overload']} so far)`,
      );
      return;
    }
    const route = routeTopic(topic);
    if (!route.routable) stats.unroutable++;
    const now = Date.now();
    if (now !== this.#clockMs) {
      this.#clockMs = now;
      this.#clockText = String(now);
    }
    const headers: Record<string, string> =
      route.gatewayId === undefined
        ? { [HEADER.mqttTopic]: topic, [HEADER.receivedAt]: this.#clockText }
        : {
            [HEADER.mqttTopic]: topic,
            [HEADER.receivedAt]: this.#clockText,
            [HEADER.gatewayId]: route.gatewayId,
          };
    const lane =
      this.#lanes.length === 1 ? this.#lanes[0]! : this.#lanes[laneOf(route.key, this.#lanes.length)]!;
    if (lane.current.generation !== generation && lane.current.records.length > 0) this.#flush(lane);
    const batch = lane.current;
    batch.generation = generation;
    if (payload.length > this.#maxPayloadBytes) {
      batch.deadLetters.push(this.#tooLarge(route.key, payload, headers));
    } else {
      batch.records.push({ key: route.key, value: payload, headers });
    }
    batch.count++;
    batch.bytes += bytes;
    this.#ackIds.push(packetId);
    this.#ackBatches.push(batch);
    this.#ackBytes.push(bytes);
    stats.inFlightBytes += bytes;
    stats.inFlightMessages++;
    if (stats.inFlightBytes > stats.peakInFlightBytes) stats.peakInFlightBytes = stats.inFlightBytes;
    if (stats.inFlightBytes >= this.#maxInFlightBytes && !stats.paused) {
      stats.paused = true;
      this.#subscriber.pause();
    }
    if (batch.count >= this.#maxBatchRecords || batch.bytes >= this.#maxBatchBytes) {
      this.#flush(lane);
    } else if (lane.timer === undefined) {
      lane.timer = setTimeout(this.#flush.bind(this, lane), this.#lingerMs);
    }
  }

  #tooLarge(key: string, payload: Buffer, headers: Record<string, string>): OutRecord {
    this.stats.deadLettered++;
    this.#warn(
      'too-large',
      `a payload of ${payload.length} bytes on ${headers[HEADER.mqttTopic]} exceeds ${this.#maxPayloadBytes}: sent to ${STREAMS.dlq}`,
    );
    return {
      key,
      value: payload.subarray(0, this.#maxPayloadBytes),
      headers: {
        ...headers,
        [HEADER.reason]: 'PAYLOAD_TOO_LARGE',
        [HEADER.detail]: `payload of ${payload.length} bytes exceeds ${this.#maxPayloadBytes}; the first ${this.#maxPayloadBytes} bytes are kept`,
        [HEADER.origin]: 'bridge',
      },
    };
  }

  #flush(lane: Lane): void {
    clearTimeout(lane.timer);
    lane.timer = undefined;
    const batch = lane.current;
    if (batch.count === 0) return;
    lane.current = emptyBatch(batch.generation);
    void lane.limit(this.#produce.bind(this, batch));
  }

  /** Retries until the stream takes the batch: an unacknowledged message is never given up on. */
  async #produce(batch: Batch): Promise<void> {
    this.stats.inFlightBatches++;
    for (let attempt = 0; ; attempt++) {
      const started = performance.now();
      try {
        if (batch.deadLetters.length > 0) await this.#producer.send(STREAMS.dlq, batch.deadLetters);
        if (batch.records.length > 0) await this.#sink.write(batch.records);
        const elapsed = performance.now() - started;
        this.stats.lastProduceMs = elapsed;
        this.produceLatency.recordValue(Math.max(1, Math.round(elapsed * 1000)));
        break;
      } catch (error) {
        this.stats.failed++;
        this.stats.retried += batch.records.length;
        if (this.#shouldWarn('produce')) {
          this.#onError?.(
            new Error(
              `write to ${STREAMS.raw} failed, retrying (attempt ${attempt + 1}): ${errorMessage(error)}`,
              {
                cause: error,
              },
            ),
          );
        }
        await new Promise((resolve) => setTimeout(resolve, Math.min(100 * 2 ** attempt, MAX_BACKOFF_MS)));
      }
    }
    this.stats.inFlightBatches--;
    this.stats.produced += batch.records.length;
    batch.done = true;
    this.#ackInOrder();
  }

  #ackInOrder(): void {
    const stats = this.stats;
    const batches = this.#ackBatches;
    let head = this.#ackHead;
    let from = head;
    let generation = batches[head]?.generation ?? 0;
    while (head < batches.length && batches[head]!.done) {
      const batch = batches[head]!;
      if (batch.generation !== generation) {
        this.#subscriber.ack(this.#ackIds.slice(from, head), generation);
        from = head;
        generation = batch.generation;
      }
      stats.inFlightBytes -= this.#ackBytes[head]!;
      head++;
    }
    if (head > from) this.#subscriber.ack(this.#ackIds.slice(from, head), generation);
    const count = head - this.#ackHead;
    stats.acknowledged += count;
    stats.inFlightMessages -= count;
    this.#ackHead = head;
    if (head > 4_096 && head * 2 > batches.length) {
      this.#ackIds = this.#ackIds.slice(head);
      this.#ackBatches = batches.slice(head);
      this.#ackBytes = this.#ackBytes.slice(head);
      this.#ackHead = 0;
    }
    if (stats.paused && !this.#closing && stats.inFlightBytes <= this.#maxInFlightBytes / 2) {
      stats.paused = false;
      this.#subscriber.resume();
    }
  }

  #shouldWarn(kind: string): boolean {
    const now = Date.now();
    if (now - (this.#lastWarning.get(kind) ?? 0) < WARN_INTERVAL_MS) return false;
    this.#lastWarning.set(kind, now);
    return true;
  }

  #warn(kind: string, message: string): void {
    if (this.#shouldWarn(kind)) this.#onWarning?.(message);
  }

  /** Stops reading, writes and acknowledges what was received, then disconnects (the session stays). */
  async close(timeoutMs = 10_000): Promise<void> {
    this.#closing = true;
    this.#subscriber.pause();
    for (const lane of this.#lanes) this.#flush(lane);
    const deadline = Date.now() + timeoutMs;
    while (this.stats.inFlightMessages > 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    await this.#subscriber.close();
  }
}

function emptyBatch(generation: number): Batch {
  return { records: [], count: 0, generation, deadLetters: [], bytes: 0, done: false };
}

/** FNV-1a over the device id: the same device always takes the same lane. */
function laneOf(key: string, lanes: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % lanes;
}
