import {
  DescribeStreamSummaryCommand,
  type KinesisClient,
  PutRecordsCommand,
  type PutRecordsRequestEntry,
} from '@aws-sdk/client-kinesis';
import { wrapEnvelope } from '../codec/envelope.ts';
import { errorMessage, IngestError } from '../errors.ts';
import type { OutRecord, StreamName, StreamProducer } from './types.ts';

// PutRecords limits: https://docs.aws.amazon.com/kinesis/latest/APIReference/API_PutRecords.html
// 500 entries and 5 MiB (data plus partition keys) per request.
const MAX_RECORDS = 500;
const MAX_BYTES = 5 * 1024 * 1024;

export interface KinesisProducerOptions {
  maxAttempts?: number;
  baseBackoffMs?: number;
  /** Called with how many entries are tried again and why (ProvisionedThroughputExceeded, ...). */
  onRetry?: (entries: number, reason: string) => void;
}

/**
 * Kinesis side of StreamProducer. Kinesis has no headers, so a record with headers travels inside
 * the small Avro envelope (schemas/envelope.avsc). PutRecords succeeds per entry: only the failed
 * entries are retried, with exponential backoff and jitter, and `send` rejects if any is still
 * failing at the end. A request that fails as a whole (throttled, endpoint down) is retried the same.
 */
export class KinesisStreamProducer implements StreamProducer {
  readonly kind = 'kinesis' as const;
  readonly #client: KinesisClient;
  readonly #maxAttempts: number;
  readonly #baseBackoffMs: number;
  readonly #onRetry: ((entries: number, reason: string) => void) | undefined;

  constructor(client: KinesisClient, options: KinesisProducerOptions = {}) {
    this.#client = client;
    this.#maxAttempts = options.maxAttempts ?? 8;
    this.#baseBackoffMs = options.baseBackoffMs ?? 50;
    this.#onRetry = options.onRetry;
  }

  async send(stream: StreamName, records: readonly OutRecord[]): Promise<void> {
    let chunk: PutRecordsRequestEntry[] = [];
    let bytes = 0;
    for (const record of records) {
      const data = record.headers ? wrapEnvelope(record.headers, record.value) : record.value;
      const size = data.byteLength + Buffer.byteLength(record.key);
      if (chunk.length === MAX_RECORDS || (chunk.length > 0 && bytes + size > MAX_BYTES)) {
        await this.#put(stream, chunk);
        chunk = [];
        bytes = 0;
      }
      chunk.push({ PartitionKey: record.key, Data: data });
      bytes += size;
    }
    if (chunk.length > 0) await this.#put(stream, chunk);
  }

  async check(stream: StreamName): Promise<void> {
    try {
      await this.#client.send(new DescribeStreamSummaryCommand({ StreamName: stream }));
    } catch (error) {
      if ((error as { name?: string }).name === 'ResourceNotFoundException') {
        throw new IngestError(
          'STREAM_WRITE_FAILED',
          `Kinesis stream "${stream}" does not exist: create it first.`,
        );
      }
      throw new IngestError('SERVICE_UNAVAILABLE', `cannot reach Kinesis: ${errorMessage(error)}`, {
        retryable: true,
        cause: error,
      });
    }
  }

  async #put(stream: string, entries: PutRecordsRequestEntry[]): Promise<void> {
    let pending = entries;
    let lastError = '';
    for (let attempt = 1; attempt <= this.#maxAttempts; attempt++) {
      try {
        const result = await this.#client.send(
          new PutRecordsCommand({ StreamName: stream, Records: pending }),
        );
        if (!result.FailedRecordCount) return;
        const failed: PutRecordsRequestEntry[] = [];
        const results = result.Records ?? [];
        for (let i = 0; i < results.length; i++) {
          const entry = results[i]!;
          if (entry.ErrorCode) {
            failed.push(pending[i]!);
            lastError = `${entry.ErrorCode}: ${entry.ErrorMessage ?? ''}`;
          }
        }
        pending = failed;
      } catch (error) {
        lastError = errorMessage(error);
        if ((error as { name?: string }).name === 'ResourceNotFoundException') {
          throw new IngestError(
            'STREAM_WRITE_FAILED',
            `Kinesis stream "${stream}" does not exist: create it first.`,
            {
              cause: error,
            },
          );
        }
      }
      if (attempt === this.#maxAttempts) break;
      this.#onRetry?.(pending.length, lastError);
      await sleep(Math.min(this.#baseBackoffMs * 2 ** (attempt - 1), 2_000) * (0.5 + Math.random() / 2));
    }
    throw new IngestError(
      'STREAM_WRITE_FAILED',
      `Kinesis PutRecords to ${stream}: ${pending.length} records still failing after ${this.#maxAttempts} attempts (${lastError})`,
      { retryable: true },
    );
  }

  async close(): Promise<void> {
    this.#client.destroy();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
