import type { KinesisStreamEvent, MSKEvent, SelfManagedKafkaEvent } from 'aws-lambda';

/** The batch events our functions accept: exactly what Lambda event source mappings deliver. */
export type StreamEvent = KinesisStreamEvent | MSKEvent | SelfManagedKafkaEvent;
export type KafkaEvent = MSKEvent | SelfManagedKafkaEvent;

/**
 * How a Kafka record is named in a partial batch response: an object, not a string, as AWS
 * documents it for MSK and self-managed Kafka ("PartialBatchResponse",
 * https://docs.aws.amazon.com/lambda/latest/dg/kafka-retry-configurations.html):
 *   { "itemIdentifier": { "topic-partition": "<topic>-<partition>", "offset": 100 } }
 * An identifier naming no record of the invoked event fails the whole batch.
 */
export interface KafkaItemIdentifier {
  'topic-partition': string;
  offset: number;
}

/** Kinesis: the record's sequence number. Kafka: see KafkaItemIdentifier. */
export type ItemIdentifier = string | KafkaItemIdentifier;

export interface BatchItemFailure {
  itemIdentifier: ItemIdentifier;
}
export interface BatchResponse {
  batchItemFailures: BatchItemFailure[];
}

export type BatchHandler = (event: StreamEvent) => Promise<BatchResponse>;

/** One stream record, whatever the event source, as the function logic sees it. */
export interface SourceRecord {
  /** What to put in `batchItemFailures` for this record. */
  itemIdentifier: ItemIdentifier;
  /** Partition key (the device id on our streams). */
  key: string;
  /** The device's bytes, untouched (Kinesis envelope removed). */
  value: Buffer;
  /** Kafka headers, or the Kinesis envelope's map. */
  headers: Record<string, string>;
  /** Where the record sits: `topic-partition@offset` or `stream/shard@sequence`. */
  origin: string;
  /** Time the stream received the record, ms since epoch. */
  arrivedAt: number;
}
