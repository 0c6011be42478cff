import { Kafka, type KafkaConfig, logLevel } from 'kafkajs';
import type { PipelineConfig } from '../config.ts';

/** One kafkajs client per process, configured from the pipeline config (TLS and SASL included). */
export function createKafka(config: PipelineConfig['kafka'], clientIdSuffix = ''): Kafka {
  const options: KafkaConfig = {
    clientId: config.clientId + clientIdSuffix,
    brokers: [...config.brokers],
    // A private CA (self-hosted Kafka, Redpanda) is passed through; otherwise the system CAs (MSK).
    ssl: config.sslCa !== undefined ? { ca: [config.sslCa] } : config.ssl,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 3_000,
    // Bounded attempts: a send fails within about 20 s so the caller (the bridge retries forever,
    // the runner per its mapping) decides, instead of a request hanging for kafkajs's default 30 s.
    requestTimeout: 10_000,
    retry: { initialRetryTime: 100, retries: 5, maxRetryTime: 2_000 },
  };
  if (config.sasl) {
    const { mechanism, username, password } = config.sasl;
    options.sasl = { mechanism, username, password } as KafkaConfig['sasl'];
  }
  return new Kafka(options);
}
