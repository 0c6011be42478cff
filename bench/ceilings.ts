import { loadConfig } from '../functions/lib/config.ts';
import { createKafka } from '../functions/lib/streams/kafka-client.ts';
import { KafkaStreamProducer } from '../functions/lib/streams/kafka-producer.ts';
import { createKinesisClient } from '../functions/lib/streams/kinesis-client.ts';
import { KinesisStreamProducer } from '../functions/lib/streams/kinesis-producer.ts';
import { type OutRecord, STREAMS, type StreamProducer } from '../functions/lib/streams/types.ts';
import { startLocalServices } from '../infra/local/services.ts';

export interface StreamCeiling {
  stream: 'kafka' | 'kinesis';
  recordsPerSec: number;
  records: number;
}

/**
 * The stream's own ceiling: raw produce calls of ~80-byte records with headers, in batches of 500
 * with 4 in flight, through the same producer classes the bridge uses (acks=all on Kafka), into a
 * Kafka mock cluster of `kafkaBrokers`.
 */
export async function measureStreamCeiling(
  stream: 'kafka' | 'kinesis',
  seconds: number,
  kafkaBrokers = 1,
): Promise<StreamCeiling> {
  const services = await startLocalServices({
    broker: false,
    kafka: stream === 'kafka' && { brokers: kafkaBrokers },
    kinesis: stream === 'kinesis',
  });
  let producer: StreamProducer;
  if (stream === 'kafka') {
    producer = new KafkaStreamProducer(
      createKafka(
        loadConfig({ IOT_STREAM: 'kafka', KAFKA_BROKERS: services.kafka!.brokers.join(',') }).kafka,
      ),
    );
  } else {
    producer = new KinesisStreamProducer(
      createKinesisClient({ endpoint: services.kinesis!.endpoint, local: true }),
    );
  }
  try {
    const batch: OutRecord[] = Array.from({ length: 500 }, (_, i) => ({
      key: `dev-${i % 100}`,
      value: Buffer.alloc(80, i),
      headers: { 'mqtt-topic': `telemetry/dev-${i % 100}`, 'received-at': String(Date.now()) },
    }));
    await producer.send(STREAMS.raw, batch.slice(0, 10)); // connect and warm up
    let records = 0;
    const deadline = Date.now() + seconds * 1000;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (Date.now() < deadline) {
          await producer.send(STREAMS.raw, batch);
          records += batch.length;
        }
      }),
    );
    const elapsed = (performance.now() - started) / 1000;
    return { stream, recordsPerSec: records / elapsed, records };
  } finally {
    await producer.close();
    await services.stop();
  }
}
