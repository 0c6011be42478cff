import type { PipelineConfig } from '../config.ts';
import type { StreamProducer } from './types.ts';

/** The configured stream's producer; the unused client is never imported (cold starts). */
export async function createProducer(config: PipelineConfig): Promise<StreamProducer> {
  if (config.stream === 'kafka') {
    const { createKafka } = await import('./kafka-client.ts');
    const { KafkaStreamProducer } = await import('./kafka-producer.ts');
    return new KafkaStreamProducer(createKafka(config.kafka, '-producer'));
  }
  const { createKinesisClient } = await import('./kinesis-client.ts');
  const { KinesisStreamProducer } = await import('./kinesis-producer.ts');
  return new KinesisStreamProducer(
    createKinesisClient({
      endpoint: config.kinesis.endpoint,
      region: config.kinesis.region,
      local: config.kinesis.local,
    }),
  );
}
