/**
 * Timestream for LiveAnalytics through `@aws-sdk/client-timestream-write`.
 *
 * Table layout (one multi-measure record per reading, measure name `reading`):
 *   dimensions  device_id (in CommonAttributes when a request holds one device), seq
 *   time        the device timestamp, ms
 *   measures    temperature, humidity, pressure, vibration, battery (DOUBLE, absent when null),
 *               tags (VARCHAR, the tags as JSON, absent when null), received_at (TIMESTAMP, absent when unknown)
 * A Timestream record is identified by its dimensions, time and measure name, so (device_id, seq,
 * time) is exactly the reading's identity. seq is a dimension rather than a measure because two
 * readings of one device in the same millisecond must not be one record.
 *
 * Redelivery is an idempotent upsert through the record Version. Every copy of a reading carries
 * the same values and the same version, so a redelivery is a no-op. Version falls as the receive
 * time rises (MAX_SAFE_INTEGER - receivedAt), so the earliest receipt of a reading wins, as in
 * DuckDB: a later copy of a reading the device published twice has a lower version and Timestream
 * refuses it with ExistingVersion above its own, which is how we know it is a duplicate. Any other
 * refused record goes back in `rejected` with Timestream's reason (for the dead-letter stream).
 *
 * https://docs.aws.amazon.com/timestream/latest/developerguide/API_WriteRecords.html
 * https://docs.aws.amazon.com/timestream/latest/developerguide/writes.html#writes.writing-data-multi-measure
 */
import {
  type _Record,
  type MeasureValue,
  RejectedRecordsException,
  TimestreamWriteClient,
  TimestreamWriteServiceException,
  WriteRecordsCommand,
} from '@aws-sdk/client-timestream-write';
import pLimit, { type LimitFunction } from 'p-limit';
import type { TimestreamStoreConfig } from '../config.ts';
import { errorMessage, IngestError } from '../errors.ts';
import { METRICS } from '../reading.ts';
import { type TimestreamSdkConfig, timestreamSdkConfig } from './timestream-client.ts';
import type { RejectedReading, StoredReading, TelemetryStore, WriteResult } from './types.ts';

/** WriteRecords takes at most 100 records per call. */
export const MAX_RECORDS_PER_WRITE = 100;
export const MEASURE_NAME = 'reading';
/** The version of a reading whose receive time is unknown: below that of any received copy. */
const UNKNOWN_RECEIPT_VERSION = 1;

export interface TimestreamStoreOptions {
  database: string;
  table: string;
  client: TimestreamWriteClient;
  /** WriteRecords calls in flight at once, across batches. Default 8. */
  concurrency?: number;
}

interface ChunkResult {
  duplicates: number;
  rejected: RejectedReading[];
}

export class TimestreamStore implements TelemetryStore {
  readonly kind = 'timestream';
  readonly redelivery = 'upserted';
  readonly database: string;
  readonly table: string;
  private readonly client: TimestreamWriteClient;
  private readonly limit: LimitFunction;
  private readonly inFlight = new Set<Promise<unknown>>();
  private closed = false;

  constructor(options: TimestreamStoreOptions) {
    this.database = options.database;
    this.table = options.table;
    this.client = options.client;
    this.limit = pLimit(options.concurrency ?? 8);
  }

  /** A store on the configured table; `sdk` overrides client settings (tests route to a local endpoint). */
  static open(config: TimestreamStoreConfig, sdk: TimestreamSdkConfig = {}): TimestreamStore {
    const client = new TimestreamWriteClient(timestreamSdkConfig(config, sdk));
    return new TimestreamStore({ database: config.database, table: config.table, client });
  }

  async writeReadings(readings: readonly StoredReading[]): Promise<WriteResult> {
    if (this.closed) {
      throw new IngestError(
        'STORE_WRITE_FAILED',
        `Cannot write ${readings.length} readings: the Timestream store is closed.`,
      );
    }
    const unique = firstReceipts(readings);
    const chunks = chunksByDevice(unique);
    const write = Promise.allSettled(chunks.map((chunk) => this.limit(() => this.writeChunk(chunk))));
    this.inFlight.add(write);
    let settled: PromiseSettledResult<ChunkResult>[];
    try {
      settled = await write;
    } finally {
      this.inFlight.delete(write);
    }
    // Every chunk has settled before a failure is reported: none is still writing behind the caller's back.
    const failed = settled.find((s) => s.status === 'rejected');
    if (failed) throw failed.reason;
    let duplicates = readings.length - unique.length;
    const rejected: RejectedReading[] = [];
    for (const s of settled as PromiseFulfilledResult<ChunkResult>[]) {
      duplicates += s.value.duplicates;
      rejected.push(...s.value.rejected);
    }
    const written = readings.length - duplicates - rejected.length;
    return rejected.length === 0 ? { written, duplicates } : { written, duplicates, rejected };
  }

  /** Waits for writes in flight, then releases the client's sockets. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled(this.inFlight);
    this.client.destroy();
  }

  private async writeChunk(chunk: StoredReading[]): Promise<ChunkResult> {
    const device = chunk.every((r) => r.deviceId === chunk[0]!.deviceId) ? chunk[0]!.deviceId : undefined;
    const command = new WriteRecordsCommand({
      DatabaseName: this.database,
      TableName: this.table,
      CommonAttributes: {
        MeasureName: MEASURE_NAME,
        MeasureValueType: 'MULTI',
        TimeUnit: 'MILLISECONDS',
        ...(device === undefined ? {} : { Dimensions: [{ Name: 'device_id', Value: device }] }),
      },
      Records: chunk.map((reading) => toRecord(reading, device === undefined)),
    });
    try {
      await this.client.send(command);
      return { duplicates: 0, rejected: [] };
    } catch (error) {
      if (!(error instanceof RejectedRecordsException)) throw this.writeFailed(chunk.length, error);
      const result: ChunkResult = { duplicates: 0, rejected: [] };
      for (const refused of error.RejectedRecords ?? []) {
        const reading = chunk[refused.RecordIndex ?? -1];
        if (reading === undefined) throw this.writeFailed(chunk.length, error); // an index we never sent
        if (refused.ExistingVersion !== undefined && refused.ExistingVersion > version(reading)) {
          result.duplicates++; // an earlier receipt of this reading is stored
        } else {
          result.rejected.push({
            reading,
            reason: refused.Reason ?? 'rejected by Timestream (no reason given)',
          });
        }
      }
      return result;
    }
  }

  private writeFailed(count: number, cause: unknown): IngestError {
    const name = cause instanceof TimestreamWriteServiceException ? cause.name : undefined;
    // Throttled still after the SDK's retries, a server fault, or no answer: a later retry can help.
    const retryable =
      name === undefined ||
      name === 'ThrottlingException' ||
      (cause as TimestreamWriteServiceException).$fault === 'server';
    const hint =
      name === 'ResourceNotFoundException'
        ? ` Check TIMESTREAM_DATABASE and TIMESTREAM_TABLE (${this.database}.${this.table}) and that the table exists.`
        : name === 'AccessDeniedException'
          ? ' The role needs timestream:WriteRecords on the table and timestream:DescribeEndpoints.'
          : '';
    return new IngestError(
      'STORE_WRITE_FAILED',
      `Writing ${count} readings to Timestream ${this.database}.${this.table} failed: ${name ? `${name}: ` : ''}${errorMessage(cause)}${hint}`,
      { retryable, cause },
    );
  }
}

function key(r: StoredReading): string {
  return `${r.deviceId}\u0000${r.ts}\u0000${r.seq}`;
}

function version(r: StoredReading): number {
  return r.receivedAt === undefined ? UNKNOWN_RECEIPT_VERSION : Number.MAX_SAFE_INTEGER - r.receivedAt;
}

/** One copy of each reading, the earliest received (highest version), in first-seen order. */
function firstReceipts(readings: readonly StoredReading[]): StoredReading[] {
  const byKey = new Map<string, StoredReading>();
  for (const reading of readings) {
    const k = key(reading);
    const seen = byKey.get(k);
    if (seen === undefined || version(reading) > version(seen)) byKey.set(k, reading);
  }
  return [...byKey.values()];
}

/**
 * Requests of at most 100 records, a device's readings kept together so most requests carry one
 * device, whose dimension then goes once into CommonAttributes instead of into every record.
 */
function chunksByDevice(readings: StoredReading[]): StoredReading[][] {
  const sorted = readings.toSorted((a, b) =>
    a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : 0,
  );
  const chunks: StoredReading[][] = [];
  for (let i = 0; i < sorted.length; i += MAX_RECORDS_PER_WRITE)
    chunks.push(sorted.slice(i, i + MAX_RECORDS_PER_WRITE));
  return chunks;
}

function toRecord(reading: StoredReading, withDevice: boolean): _Record {
  const measures: MeasureValue[] = [];
  for (const metric of METRICS) {
    const value = reading[metric];
    if (value !== null) measures.push({ Name: metric, Value: String(value), Type: 'DOUBLE' });
  }
  if (reading.tags !== null)
    measures.push({ Name: 'tags', Value: JSON.stringify(reading.tags), Type: 'VARCHAR' });
  if (reading.receivedAt !== undefined) {
    measures.push({ Name: 'received_at', Value: String(reading.receivedAt), Type: 'TIMESTAMP' });
  }
  // A multi-measure record needs a measure; a reading with nothing in it keeps its place with
  // tags = 'null', the JSON for "no tags", so it still reads back as it was written.
  if (measures.length === 0) measures.push({ Name: 'tags', Value: 'null', Type: 'VARCHAR' });
  const seq = { Name: 'seq', Value: String(reading.seq) };
  return {
    Dimensions: withDevice ? [{ Name: 'device_id', Value: reading.deviceId }, seq] : [seq],
    Time: String(reading.ts),
    Version: version(reading),
    MeasureValues: measures,
  };
}
