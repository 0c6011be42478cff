import { CompressionTypes, type Kafka, type Message, type Producer } from 'kafkajs';
import { IngestError } from '../errors.ts';
import type { OutRecord, StreamName, StreamProducer } from './types.ts';

export interface KafkaProducerOptions {
  /** Default none. kafkajs has gzip built in; snappy, lz4 and zstd would need extra codec packages. */
  compression?: 'none' | 'gzip';
  /** Produce requests kafkajs may have in flight per broker connection. Default 5. */
  maxInFlightRequests?: number;
  /** How long a broker may take to have every in-sync replica acknowledge a write. Default 30 s. */
  ackTimeoutMs?: number;
}

/**
 * Kafka side of StreamProducer. `send` uses acks=all (-1): it resolves only when every in-sync
 * replica has the batch, which is what lets the bridge acknowledge a QoS 1 PUBLISH afterwards.
 * Retriable broker errors (leader elections, NOT_ENOUGH_REPLICAS, timeouts) are retried by kafkajs
 * with backoff (`retry` in kafka-client.ts); what still fails rejects with STREAM_WRITE_FAILED,
 * `retryable` as kafkajs classified it.
 */
export class KafkaStreamProducer implements StreamProducer {
  readonly kind = 'kafka' as const;
  readonly #kafka: Kafka;
  #producer: Producer;
  readonly #maxInFlightRequests: number;
  readonly #compression: CompressionTypes;
  readonly #ackTimeoutMs: number;
  #connected: Promise<void> | undefined;

  constructor(kafka: Kafka, options: KafkaProducerOptions = {}) {
    this.#kafka = kafka;
    this.#maxInFlightRequests = options.maxInFlightRequests ?? 5;
    this.#producer = this.#newProducer();
    this.#compression = options.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None;
    this.#ackTimeoutMs = options.ackTimeoutMs ?? 30_000;
  }

  async send(stream: StreamName, records: readonly OutRecord[]): Promise<void> {
    if (records.length === 0) return;
    try {
      // A failed connect is forgotten, so the next send tries again.
      this.#connected ??= this.#producer.connect().catch((error: unknown) => {
        this.#connected = undefined;
        throw error;
      });
      await this.#connected;
      const messages: Message[] = new Array(records.length);
      for (let i = 0; i < records.length; i++) {
        const record = records[i]!;
        const value = record.value;
        messages[i] = {
          key: record.key,
          value: Buffer.isBuffer(value)
            ? value
            : Buffer.from(value.buffer, value.byteOffset, value.byteLength),
          headers: record.headers,
        };
      }
      await this.#producer.send({
        topic: stream,
        messages,
        acks: -1,
        timeout: this.#ackTimeoutMs,
        compression: this.#compression,
      });
    } catch (error) {
      this.#reset();
      throw new IngestError('STREAM_WRITE_FAILED', `Kafka produce to ${stream} failed: ${describe(error)}`, {
        retryable: (error as { retriable?: boolean }).retriable !== false,
        cause: error,
      });
    }
  }

  #newProducer(): Producer {
    return this.#kafka.producer({
      allowAutoTopicCreation: false,
      maxInFlightRequests: this.#maxInFlightRequests,
    });
  }

  /**
   * After a failed send, the next one starts from a new producer: kafkajs can keep a connection or
   * metadata from before a broker outage and leave later sends hanging on it (seen against the
   * mock cluster after a broker went down and came back). The old one is closed in the background.
   */
  #reset(): void {
    const old = this.#producer;
    const wasConnected = this.#connected !== undefined;
    this.#producer = this.#newProducer();
    this.#connected = undefined;
    if (wasConnected) void old.disconnect().catch(() => undefined);
  }

  /** Fails with a message that says what to do when the topic does not exist or cannot be reached. */
  async check(stream: StreamName): Promise<void> {
    const admin = this.#kafka.admin();
    try {
      await admin.connect();
      const topics = await admin.listTopics();
      if (!topics.includes(stream)) {
        throw new IngestError(
          'STREAM_WRITE_FAILED',
          `Kafka topic "${stream}" does not exist: create it first (the bridge does not create topics).`,
        );
      }
    } catch (error) {
      if (error instanceof IngestError) throw error;
      throw new IngestError('SERVICE_UNAVAILABLE', `cannot reach Kafka: ${describe(error)}`, {
        retryable: true,
        cause: error,
      });
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    if (this.#connected) await this.#producer.disconnect().catch(() => undefined);
    this.#connected = undefined;
  }
}

/** kafkajs nests the useful message (e.g. SASL authentication failed) in `cause`. */
function describe(error: unknown): string {
  const e = error as { message?: string; cause?: { message?: string } };
  const cause = e.cause?.message;
  return cause && cause !== e.message ? `${e.message} (${cause})` : String(e.message ?? error);
}
