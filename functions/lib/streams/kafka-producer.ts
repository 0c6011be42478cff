import { CompressionTypes, type Kafka, type Message, type Producer } from 'kafkajs';
import { IngestError } from '../errors.ts';
import type { OutRecord, StreamName, StreamProducer } from './types.ts';

export interface KafkaProducerOptions {
  compression?: 'none' | 'gzip';
}

/**
 * Kafka side of StreamProducer. `send` uses acks=all (-1): it resolves only when every in-sync
 * replica has the batch, which is what lets the bridge acknowledge a QoS 1 PUBLISH afterwards.
 */
export class KafkaStreamProducer implements StreamProducer {
  readonly kind = 'kafka' as const;
  readonly #producer: Producer;
  readonly #compression: CompressionTypes;
  #connected: Promise<void> | undefined;

  constructor(kafka: Kafka, options: KafkaProducerOptions = {}) {
    this.#producer = kafka.producer({ allowAutoTopicCreation: false, maxInFlightRequests: 5 });
    this.#compression = options.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None;
  }

  async send(stream: StreamName, records: readonly OutRecord[]): Promise<void> {
    if (records.length === 0) return;
    this.#connected ??= this.#producer.connect();
    await this.#connected;
    const messages: Message[] = new Array(records.length);
    for (let i = 0; i < records.length; i++) {
      const record = records[i]!;
      messages[i] = {
        key: record.key,
        value: Buffer.from(record.value.buffer, record.value.byteOffset, record.value.byteLength),
        headers: record.headers,
      };
    }
    try {
      await this.#producer.send({ topic: stream, messages, acks: -1, compression: this.#compression });
    } catch (error) {
      throw new IngestError(
        'STREAM_WRITE_FAILED',
        `Kafka produce to ${stream} failed: ${(error as Error).message}`,
        {
          retryable: true,
          cause: error,
        },
      );
    }
  }

  async close(): Promise<void> {
    if (this.#connected) await this.#producer.disconnect();
    this.#connected = undefined;
  }
}
