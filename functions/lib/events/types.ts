import type { KinesisStreamEvent, MSKEvent, SelfManagedKafkaEvent } from 'aws-lambda';

/** The batch events our functions accept: exactly what Lambda event source mappings deliver. */
export type StreamEvent = KinesisStreamEvent | MSKEvent | SelfManagedKafkaEvent;

export interface BatchItemFailure {
  itemIdentifier: string;
}
export interface BatchResponse {
  batchItemFailures: BatchItemFailure[];
}

export type BatchHandler = (event: StreamEvent) => Promise<BatchResponse>;

/** One stream record, whatever the event source, as the function logic sees it. */
export interface SourceRecord {
  /** What to put in `batchItemFailures` for this record. */
  itemIdentifier: string;
  /** Partition key (the device id on our streams). */
  key: string;
  /** The device's bytes, untouched (Kinesis envelope removed). */
  value: Buffer;
  /** Kafka headers, or the Kinesis envelope's map. */
  headers: Record<string, string>;
  /** Where the record sits: `topic/partition@offset` or `stream/shard@sequence`. */
  origin: string;
  /** Time the stream received the record, ms since epoch. */
  arrivedAt: number;
}
