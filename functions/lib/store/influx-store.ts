/**
 * InfluxDB line protocol over HTTP: InfluxDB OSS 1.x (`/write`), 2.x and 3.x and Timestream for
 * InfluxDB (`/api/v2/write`). The point layout and why it makes redelivery idempotent are in
 * influx-line-protocol.ts.
 *
 * A batch goes out in requests of at most 5,000 lines (InfluxDB's advice), a few at a time.
 * A request that fails on the way (no answer, 429, 5xx) is retried with exponential backoff and
 * jitter, honouring Retry-After. A request InfluxDB refuses for its content (400, 413, 422: a line
 * it cannot parse, a point outside the retention policy, a body too large) may have been written
 * in part, so its halves are sent again, recursively, until each refused reading stands alone; it
 * then goes back in `rejected` with InfluxDB's words. Rewriting the accepted readings on the way is
 * harmless: a point written twice is stored once.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import pLimit, { type LimitFunction } from 'p-limit';
import type { InfluxStoreConfig } from '../config.ts';
import { errorMessage, IngestError } from '../errors.ts';
import { type InfluxTarget, influxError, influxHeaders, influxWriteUrl } from './influx-http.ts';
import { toLine } from './influx-line-protocol.ts';
import type { RejectedReading, StoredReading, TelemetryStore, WriteResult } from './types.ts';

export interface InfluxStoreOptions {
  /** Lines per write request. Default 5,000. */
  maxLinesPerRequest?: number;
  /** Write requests in flight at once, across batches. Default 2. */
  concurrency?: number;
  /** Attempts per request when it fails on the way. Default 5. */
  attempts?: number;
  /** First backoff, doubled per attempt up to maxDelayMs, with full jitter. Default 200 ms. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Per request. Default 30 s. */
  timeoutMs?: number;
}

interface Line {
  readonly text: string;
  readonly reading: StoredReading;
}

/** Statuses that mean "this content is refused", as opposed to "try again later". */
const REFUSED = new Set([400, 413, 422]);

export class InfluxStore implements TelemetryStore {
  readonly kind = 'influxdb';
  readonly redelivery = 'upserted';
  private readonly target: InfluxTarget;
  private readonly writeUrl: URL;
  private readonly headers: Record<string, string>;
  private readonly options: Required<InfluxStoreOptions>;
  private readonly limit: LimitFunction;
  private readonly inFlight = new Set<Promise<unknown>>();
  private closed = false;

  constructor(target: InfluxTarget, options: InfluxStoreOptions = {}) {
    this.target = target;
    this.writeUrl = influxWriteUrl(target);
    this.headers = { ...influxHeaders(target), 'content-type': 'text/plain; charset=utf-8' };
    this.options = {
      maxLinesPerRequest: 5_000,
      concurrency: 2,
      attempts: 5,
      baseDelayMs: 200,
      maxDelayMs: 10_000,
      timeoutMs: 30_000,
      ...options,
    };
    this.limit = pLimit(this.options.concurrency);
  }

  static open(config: InfluxStoreConfig, options: InfluxStoreOptions = {}): InfluxStore {
    return new InfluxStore(config, options);
  }

  async writeReadings(readings: readonly StoredReading[]): Promise<WriteResult> {
    if (this.closed) {
      throw new IngestError(
        'STORE_WRITE_FAILED',
        `Cannot write ${readings.length} readings: the InfluxDB store is closed.`,
      );
    }
    const rejected: RejectedReading[] = [];
    const lines: Line[] = [];
    const seen = new Set<string>();
    for (const reading of readings) {
      const key = `${reading.deviceId}\u0000${reading.ts}\u0000${reading.seq}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const encoded = toLine(reading);
      if ('reason' in encoded) rejected.push({ reading, reason: encoded.reason });
      else lines.push({ text: encoded.line, reading });
    }
    const size = this.options.maxLinesPerRequest;
    const requests: Promise<RejectedReading[]>[] = [];
    for (let i = 0; i < lines.length; i += size) {
      const chunk = lines.slice(i, i + size);
      requests.push(this.limit(() => this.writeLines(chunk)));
    }
    const all = Promise.allSettled(requests);
    this.inFlight.add(all);
    let settled: PromiseSettledResult<RejectedReading[]>[];
    try {
      settled = await all;
    } finally {
      this.inFlight.delete(all);
    }
    const failed = settled.find((s) => s.status === 'rejected');
    if (failed) throw failed.reason;
    for (const s of settled as PromiseFulfilledResult<RejectedReading[]>[]) rejected.push(...s.value);
    const duplicates = readings.length - seen.size;
    const written = seen.size - rejected.length;
    return rejected.length === 0 ? { written, duplicates } : { written, duplicates, rejected };
  }

  /** Waits for writes in flight; there is no connection to release beyond fetch's pool. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled(this.inFlight);
  }

  /** Writes the lines; resolves to the readings InfluxDB refused, each isolated by halving. */
  private async writeLines(lines: Line[]): Promise<RejectedReading[]> {
    const refusal = await this.post(lines);
    if (refusal === undefined) return [];
    if (lines.length === 1) return [{ reading: lines[0]!.reading, reason: refusal }];
    const half = Math.ceil(lines.length / 2);
    // One half after the other: this runs inside a concurrency slot already.
    const first = await this.writeLines(lines.slice(0, half));
    const second = await this.writeLines(lines.slice(half));
    return [...first, ...second];
  }

  /** POSTs the lines: undefined when written, InfluxDB's reason when it refused them. */
  private async post(lines: Line[]): Promise<string | undefined> {
    const body = lines.map((l) => l.text).join('\n');
    let lastFailure = '';
    for (let attempt = 1; ; attempt++) {
      let response: Response | undefined;
      try {
        response = await fetch(this.writeUrl, {
          method: 'POST',
          headers: this.headers,
          body,
          signal: AbortSignal.timeout(this.options.timeoutMs),
        });
      } catch (error) {
        lastFailure = `no answer: ${errorMessage((error as Error).cause ?? error)}`;
      }
      if (response !== undefined) {
        if (response.ok) {
          await response.body?.cancel();
          return undefined;
        }
        const reason = await influxError(response);
        if (REFUSED.has(response.status)) return reason;
        if (response.status !== 429 && response.status < 500)
          throw this.failed(lines.length, response.status, reason);
        lastFailure = `HTTP ${response.status}: ${reason}`;
      }
      if (attempt >= this.options.attempts) {
        throw new IngestError(
          'STORE_WRITE_FAILED',
          `Writing ${lines.length} readings to InfluxDB ${this.writeUrl.origin} failed after ${attempt} attempts: ${lastFailure}`,
          { retryable: true },
        );
      }
      await sleep(this.backoff(attempt, response?.headers.get('retry-after')));
    }
  }

  private backoff(attempt: number, retryAfter: string | null | undefined): number {
    const asked = Number(retryAfter);
    if (retryAfter && Number.isFinite(asked) && asked >= 0)
      return Math.min(asked * 1000, this.options.maxDelayMs);
    const ceiling = Math.min(this.options.maxDelayMs, this.options.baseDelayMs * 2 ** (attempt - 1));
    return Math.random() * ceiling;
  }

  private failed(count: number, status: number, reason: string): IngestError {
    const hint =
      status === 404
        ? ` Create it, or check INFLUXDB_DATABASE / INFLUXDB_BUCKET (${this.target.bucket ?? this.target.database}).`
        : status === 401 || status === 403
          ? ' Check INFLUXDB_TOKEN, or INFLUXDB_USERNAME and INFLUXDB_PASSWORD, and that they may write there.'
          : '';
    return new IngestError(
      'STORE_WRITE_FAILED',
      `Writing ${count} readings to InfluxDB ${this.writeUrl.origin} failed: HTTP ${status}: ${reason}.${hint}`,
    );
  }
}
