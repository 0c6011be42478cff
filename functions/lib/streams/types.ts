/** Stream names. On Kafka they are topics, on Kinesis stream names. */
export const STREAMS = {
  raw: 'telemetry.raw',
  valid: 'telemetry.valid',
  dlq: 'telemetry.dlq',
  alerts: 'alerts',
} as const;
export type StreamName = (typeof STREAMS)[keyof typeof STREAMS];
export const ALL_STREAMS: readonly StreamName[] = Object.values(STREAMS);

export type StreamKind = 'kafka' | 'kinesis';

/** A record to append: `key` picks the partition/shard (the device id keeps per-device order). */
export interface OutRecord {
  key: string;
  value: Uint8Array;
  headers?: Record<string, string> | undefined;
}

/**
 * Appends records to a stream. `send` resolves only once the stream has acknowledged every record
 * (Kafka acks=all, every Kinesis PutRecords entry succeeded); it rejects otherwise, so callers that
 * acknowledge upstream (the bridge's PUBACK) can wait on it.
 */
export interface StreamProducer {
  readonly kind: StreamKind;
  send(stream: StreamName, records: readonly OutRecord[]): Promise<void>;
  /**
   * Optional: rejects with a message that says what to do when `stream` does not exist or the
   * service cannot be reached, so a long-running process (the bridge) fails at start, not later.
   */
  check?(stream: StreamName): Promise<void>;
  close(): Promise<void>;
}
