import type { PipelineConfig } from '../lib/config.ts';
import { errorMessage } from '../lib/errors.ts';
import { STREAMS, type StreamProducer } from '../lib/streams/types.ts';
import { type BatchSink, Bridge } from './bridge.ts';
import { summarise } from './bridge-stats.ts';
import { MqttSubscriber } from './mqtt-subscriber.ts';

/** One JSON object per line on stderr: what a log shipper (CloudWatch, Loki) reads as it is. */
export type Log = (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;

export const jsonLog: Log = (level, msg, fields) => {
  process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields })}\n`);
};

export interface RunningBridge {
  readonly bridge: Bridge;
  readonly producer: StreamProducer;
  /** Flushes and acknowledges what was received, disconnects (the session stays), closes the stream. */
  stop(): Promise<void>;
}

/**
 * The bridge as a process of its own, from the pipeline config: checks that the stream exists,
 * connects to the broker, and logs its counters every `bridge.statsIntervalSeconds`. Credentials
 * are passed on to the clients and never logged.
 */
export async function runBridge(config: PipelineConfig, log: Log = jsonLog): Promise<RunningBridge> {
  let bridgeRef: Bridge | undefined;
  // Kinesis retries single entries inside one send; they count towards the bridge's `retried`.
  const producer = await createBridgeProducer(config, log, (entries) => {
    if (bridgeRef) bridgeRef.stats.retried += entries;
  });
  const stack: Array<() => Promise<void>> = [() => producer.close()];
  const unwind = async () => {
    for (const step of stack.reverse())
      await step().catch((error: unknown) => log('error', errorMessage(error)));
  };
  try {
    await producer.check?.(STREAMS.raw);
    let sink: BatchSink | undefined;
    if (config.bridge.spoolDir !== undefined) {
      const { Spool } = await import('./spool.ts');
      const spool = await Spool.open({
        dir: config.bridge.spoolDir,
        maxBytes: config.bridge.spoolMaxBytes,
        producer,
        maxBatchRecords: config.bridge.maxBatchRecords,
        maxBatchBytes: config.bridge.maxBatchBytes,
        onError: (error) => log('warn', errorMessage(error)),
      });
      stack.push(() => spool.close());
      sink = spool;
      log('info', 'spool open', { dir: config.bridge.spoolDir, pendingBytes: spool.pendingBytes });
    }
    const m = config.mqtt;
    const subscriber = new MqttSubscriber({
      url: m.url,
      clientId: m.clientId,
      topics: m.topics,
      protocolVersion: m.protocolVersion,
      username: m.username,
      password: m.password,
      keepaliveSeconds: m.keepaliveSeconds,
      receiveMaximum: m.receiveMaximum,
      sessionExpirySeconds: m.sessionExpirySeconds,
      tls: {
        ...(m.tls.ca !== undefined ? { ca: m.tls.ca } : {}),
        ...(m.tls.cert !== undefined ? { cert: m.tls.cert } : {}),
        ...(m.tls.key !== undefined ? { key: m.tls.key } : {}),
      },
    });
    subscriber.on('connect', (sessionPresent) =>
      log('info', 'connected to the MQTT broker', { sessionPresent }),
    );
    subscriber.on('disconnect', (reason) =>
      log('warn', `disconnected from the MQTT broker: ${reason}; reconnecting`),
    );
    subscriber.on('warning', (message) => log('warn', message));
    subscriber.on('error', (error) => log('error', error.message));
    const b = config.bridge;
    const bridge = new Bridge(subscriber, producer, {
      lingerMs: b.lingerMs,
      maxBatchRecords: b.maxBatchRecords,
      maxBatchBytes: b.maxBatchBytes,
      maxInFlightBatches: b.maxInFlightBatches,
      maxInFlightBytes: b.maxInFlightBytes,
      maxPayloadBytes: config.maxPayloadBytes,
      ...(sink !== undefined ? { sink } : {}),
      onError: (error) => log('warn', errorMessage(error)),
      onWarning: (message) => log('warn', message),
    });
    bridgeRef = bridge;
    log('info', 'bridge starting', {
      mqtt: m.url,
      clientId: m.clientId,
      topics: m.topics,
      protocolVersion: m.protocolVersion,
      stream: config.stream,
      ...b,
    });
    await bridge.start();
    stack.push(() => bridge.close());
    log('info', 'bridge running');
    logStats(bridge, log);
    let timer: NodeJS.Timeout | undefined;
    if (b.statsIntervalSeconds > 0) {
      timer = setInterval(() => logStats(bridge, log), b.statsIntervalSeconds * 1000);
      timer.unref();
    }
    return {
      bridge,
      producer,
      stop: async () => {
        clearInterval(timer);
        await unwind();
        logStats(bridge, log);
      },
    };
  } catch (error) {
    await unwind();
    throw error;
  }
}

export function logStats(bridge: Bridge, log: Log): void {
  log('info', 'bridge stats', {
    ...bridge.stats,
    produceLatency: summarise(bridge.produceLatency),
    rssBytes: process.memoryUsage.rss(),
  });
}

async function createBridgeProducer(
  config: PipelineConfig,
  log: Log,
  countRetries: (entries: number) => void,
): Promise<StreamProducer> {
  if (config.stream === 'kafka') {
    const { createKafka } = await import('../lib/streams/kafka-client.ts');
    const { KafkaStreamProducer } = await import('../lib/streams/kafka-producer.ts');
    return new KafkaStreamProducer(createKafka(config.kafka, '-bridge'), {
      compression: config.kafka.compression,
    });
  }
  const { createKinesisClient } = await import('../lib/streams/kinesis-client.ts');
  const { KinesisStreamProducer } = await import('../lib/streams/kinesis-producer.ts');
  let lastRetryLog = 0;
  return new KinesisStreamProducer(
    createKinesisClient({
      endpoint: config.kinesis.endpoint,
      region: config.kinesis.region,
      local: config.kinesis.local,
    }),
    {
      onRetry: (entries, reason) => {
        countRetries(entries);
        if (Date.now() - lastRetryLog < 1_000) return;
        lastRetryLog = Date.now();
        log('warn', `Kinesis PutRecords: retrying ${entries} entries: ${reason}`);
      },
    },
  );
}
