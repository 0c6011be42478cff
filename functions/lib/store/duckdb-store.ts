import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  type DuckDBAppender,
  type DuckDBConnection,
  DuckDBInstance,
  type DuckDBPreparedStatement,
} from '@duckdb/node-api';
import pLimit, { type LimitFunction } from 'p-limit';
import type { Alert } from '../codec/alert-codec.ts';
import type { DuckDbSettings } from '../config.ts';
import { errorMessage, IngestError } from '../errors.ts';
import { copyToParquet, runReadQuery } from './duckdb-reader.ts';
import { CHUNK_ROWS, StagingChunk } from './staging-chunk.ts';
import type {
  ParquetExporter,
  QueryOptions,
  QueryResult,
  SqlQueryable,
  StoredReading,
  TelemetryStore,
  WriteResult,
} from './types.ts';

export const READINGS_DDL = `CREATE TABLE IF NOT EXISTS readings (
  device_id   VARCHAR   NOT NULL,
  ts          TIMESTAMP NOT NULL, -- device time, UTC, ms precision
  seq         BIGINT    NOT NULL,
  temperature DOUBLE,
  humidity    DOUBLE,
  pressure    DOUBLE,
  vibration   DOUBLE,
  battery     DOUBLE,
  tags        MAP(VARCHAR, VARCHAR),
  received_at TIMESTAMP,          -- bridge receive time, UTC
  written_at  TIMESTAMP NOT NULL  -- store write time, UTC
)`;

/** One row per incident, holding its latest state (see ALERTS_UPSERT). */
export const ALERTS_DDL = `CREATE TABLE IF NOT EXISTS alerts (
  id         VARCHAR   PRIMARY KEY,
  dedup_key  VARCHAR   NOT NULL,
  device_id  VARCHAR   NOT NULL,
  metric     VARCHAR   NOT NULL,
  rule       VARCHAR   NOT NULL,
  status     VARCHAR   NOT NULL CHECK (status IN ('open', 'resolved')),
  severity   VARCHAR   NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
  value      DOUBLE,
  score      DOUBLE,
  ts         TIMESTAMP NOT NULL,
  opened_at  TIMESTAMP NOT NULL,
  repeats    INTEGER   NOT NULL,
  message    VARCHAR   NOT NULL,
  written_at TIMESTAMP NOT NULL
)`;

// Batches are appended to a connection-local temp table, then moved with one INSERT ... SELECT that
// drops duplicates. Measured against a PRIMARY KEY with INSERT OR IGNORE / ON CONFLICT DO NOTHING,
// this stays fast as the table grows: the anti join only reads row groups whose ts range overlaps
// the batch (zone maps), while the key index costs more per batch with every row stored.
// Times travel as DOUBLE ms (exact below 2^53) so no BigInt is made per value; tags travel as JSON.
const READINGS_STAGING_DDL = `CREATE OR REPLACE TEMP TABLE readings_staging (
  device_id VARCHAR, ts_ms DOUBLE, seq DOUBLE, temperature DOUBLE, humidity DOUBLE, pressure DOUBLE,
  vibration DOUBLE, battery DOUBLE, tags_json VARCHAR, received_ms DOUBLE)`;

// $1 written_at, $2 and $3 the batch's lowest and highest device ts (ms). DISTINCT ON drops repeats
// within the batch (redeliveries carry the same values, so which copy wins does not matter); the
// anti join drops readings already stored.
const READINGS_INSERT = `INSERT INTO readings
SELECT s.device_id, s.ts, s.seq, s.temperature, s.humidity, s.pressure, s.vibration, s.battery, s.tags,
       s.received_at, epoch_ms($1::BIGINT)
FROM (
  SELECT DISTINCT ON (device_id, ts, seq)
         device_id, epoch_ms(ts_ms::BIGINT) AS ts, seq::BIGINT AS seq, temperature, humidity, pressure,
         vibration, battery, tags_json::JSON::MAP(VARCHAR, VARCHAR) AS tags,
         epoch_ms(received_ms::BIGINT) AS received_at
  FROM readings_staging
) s
ANTI JOIN (
  SELECT device_id, ts, seq FROM readings WHERE ts BETWEEN epoch_ms($2::BIGINT) AND epoch_ms($3::BIGINT)
) r USING (device_id, ts, seq)`;

const ALERTS_STAGING_DDL = `CREATE OR REPLACE TEMP TABLE alerts_staging (
  id VARCHAR, dedup_key VARCHAR, device_id VARCHAR, metric VARCHAR, rule VARCHAR, status VARCHAR,
  severity VARCHAR, value DOUBLE, score DOUBLE, ts_ms DOUBLE, opened_ms DOUBLE, repeats INTEGER, message VARCHAR)`;

// Alert events arrive at least once and possibly out of order, so a row only moves forward:
// open -> resolved, or a later event of the still open incident (more repeats, later ts).
const ALERTS_UPSERT = `INSERT INTO alerts
SELECT id, dedup_key, device_id, metric, rule, status, severity, value, score, epoch_ms(ts_ms::BIGINT),
       epoch_ms(opened_ms::BIGINT), repeats, message, epoch_ms($1::BIGINT)
FROM alerts_staging
QUALIFY row_number() OVER (PARTITION BY id ORDER BY status = 'resolved' DESC, repeats DESC, ts_ms DESC) = 1
ON CONFLICT (id) DO UPDATE SET
  status = excluded.status, severity = excluded.severity, value = excluded.value, score = excluded.score,
  ts = excluded.ts, repeats = excluded.repeats, message = excluded.message, written_at = excluded.written_at
WHERE alerts.status = 'open' AND (excluded.status = 'resolved' OR excluded.repeats > alerts.repeats
  OR (excluded.repeats = alerts.repeats AND excluded.ts > alerts.ts))`;

/** Readings one group commit takes at most; more waiting go in the next group. */
const GROUP_MAX_READINGS = 20_000;

/** A readings batch waiting for its turn to be written. */
interface PendingWrite {
  readonly readings: readonly StoredReading[];
  resolve(result: WriteResult): void;
  reject(error: unknown): void;
}

/**
 * The embedded store: one DuckDB file, written through one connection (DuckDB has one writer per
 * file), with writes queued one at a time. Queries run on their own short-lived connections and see
 * committed data while writes go on.
 *
 * Group commit: a write costs ~3 ms whatever its size (statements, the de-duplicating INSERT's
 * plan, the commit), so the small batches of many partitions written one by one capped the store
 * near 30,000 readings/s. Batches that queue while a write runs are written together, in one
 * transaction. When the group turns out to hold a duplicate, it is rolled back and its batches
 * written one by one, so each caller still gets its own exact counts (redeliveries are rare; the
 * common case pays one INSERT for the whole group).
 */
export class DuckDbStore implements TelemetryStore, SqlQueryable, ParquetExporter {
  readonly kind = 'duckdb';
  readonly path: string;
  private readonly instance: DuckDBInstance;
  private readonly writer: DuckDBConnection;
  private readonly readingsStaging: StagingTable;
  private readonly readingsInsert: DuckDBPreparedStatement;
  private readonly alertsStaging: StagingTable;
  private readonly alertsUpsert: DuckDBPreparedStatement;
  private readonly staging = new StagingChunk();
  private readonly serial: LimitFunction = pLimit(1);
  /** Readings batches waiting; while it is not empty, one flushPending task is queued on `serial`. */
  private pending: PendingWrite[] = [];
  private closed = false;
  /** Readings batches written, and the INSERTs that took them (fewer when batches were grouped). */
  readonly counters = { readingBatches: 0, readingInserts: 0 };

  private constructor(
    path: string,
    instance: DuckDBInstance,
    writer: DuckDBConnection,
    statements: {
      readingsStaging: StagingTable;
      readingsInsert: DuckDBPreparedStatement;
      alertsStaging: StagingTable;
      alertsUpsert: DuckDBPreparedStatement;
    },
  ) {
    this.path = path;
    this.instance = instance;
    this.writer = writer;
    this.readingsStaging = statements.readingsStaging;
    this.readingsInsert = statements.readingsInsert;
    this.alertsStaging = statements.alertsStaging;
    this.alertsUpsert = statements.alertsUpsert;
  }

  /**
   * Opens (creating it and its parent directories if needed) the DuckDB file at `path`; `:memory:`
   * works too. `memoryLimit` (DuckDB notation, e.g. "256MB") bounds DuckDB's buffers; without it
   * DuckDB may take 80% of the machine's memory, too much beside the runner on a small gateway.
   * `threads` (see DuckDbSettings) defaults to one per core.
   */
  static async open(path: string, options: DuckDbSettings = {}): Promise<DuckDbStore> {
    let instance: DuckDBInstance | undefined;
    try {
      if (path !== ':memory:') await mkdir(dirname(path), { recursive: true });
      instance = await DuckDBInstance.create(path, {
        ...(options.memoryLimit !== undefined ? { memory_limit: options.memoryLimit } : {}),
        ...(options.threads !== undefined ? { threads: String(options.threads) } : {}),
      });
      const writer = await instance.connect();
      for (const ddl of [READINGS_DDL, ALERTS_DDL]) await writer.run(ddl);
      const readingsStaging = new StagingTable(writer, 'readings_staging', READINGS_STAGING_DDL);
      const alertsStaging = new StagingTable(writer, 'alerts_staging', ALERTS_STAGING_DDL);
      await readingsStaging.replace();
      await alertsStaging.replace();
      return new DuckDbStore(path, instance, writer, {
        readingsStaging,
        readingsInsert: await writer.prepare(READINGS_INSERT),
        alertsStaging,
        alertsUpsert: await writer.prepare(ALERTS_UPSERT),
      });
    } catch (cause) {
      instance?.closeSync();
      const message = errorMessage(cause);
      const hint = message.includes('lock')
        ? ' Another process holds it: stop it, or give this one its own data directory.'
        : '';
      throw new IngestError('STORE_WRITE_FAILED', `Cannot open the DuckDB store ${path}: ${message}${hint}`, {
        cause,
      });
    }
  }

  writeReadings(readings: readonly StoredReading[]): Promise<WriteResult> {
    this.counters.readingBatches++;
    return new Promise((resolve, reject) => {
      this.pending.push({ readings, resolve, reject });
      if (this.pending.length === 1) void this.serial(this.flushPending);
    });
  }

  /** Upserts alert events into `alerts`; `duplicates` counts events that did not move an incident forward. */
  writeAlerts(alerts: readonly Alert[]): Promise<WriteResult> {
    return this.serial(this.appendAlerts, alerts);
  }

  query(sql: string, options: QueryOptions = {}): Promise<QueryResult> {
    return this.withReader((connection) => runReadQuery(connection, sql, options));
  }

  /** COPY of a SELECT to a new Parquet file, on a connection of its own while writes go on. */
  exportParquet(
    sql: string,
    path: string,
    options: { signal?: AbortSignal | undefined } = {},
  ): Promise<number> {
    return this.withReader((connection) => copyToParquet(connection, sql, path, options));
  }

  private async withReader<T>(use: (connection: DuckDBConnection) => Promise<T>): Promise<T> {
    if (this.closed) throw new IngestError('QUERY_FAILED', `The DuckDB store ${this.path} is closed.`);
    const connection = await this.instance.connect();
    try {
      return await use(connection);
    } finally {
      connection.closeSync();
    }
  }

  /** Waits for queued writes, checkpoints (so readers need no WAL replay) and releases the file. */
  close(): Promise<void> {
    return this.serial(async () => {
      if (this.closed) return;
      this.closed = true;
      try {
        this.readingsStaging.close();
        this.alertsStaging.close();
        this.readingsInsert.destroySync();
        this.alertsUpsert.destroySync();
        if (this.path !== ':memory:') await this.writer.run('CHECKPOINT');
      } finally {
        this.writer.closeSync();
        this.instance.closeSync();
      }
    });
  }

  /** Writes every batch waiting (queued on `serial`), in groups of at most GROUP_MAX_READINGS. */
  private readonly flushPending = async (): Promise<void> => {
    const writes = this.pending;
    this.pending = [];
    for (let from = 0; from < writes.length; ) {
      let to = from + 1;
      let rows = writes[from]!.readings.length;
      while (to < writes.length && rows + writes[to]!.readings.length <= GROUP_MAX_READINGS)
        rows += writes[to++]!.readings.length;
      await this.commitGroup(writes.slice(from, to));
      from = to;
    }
  };

  private async commitGroup(group: readonly PendingWrite[]): Promise<void> {
    if (group.length > 1 && !this.closed && (await this.tryGroup(group))) return;
    for (const w of group) {
      try {
        const written = await this.appendReadings([w.readings]);
        w.resolve({ written, duplicates: w.readings.length - written });
      } catch (error) {
        w.reject(error);
      }
    }
  }

  /**
   * The group in one transaction. True when it committed (every reading was new) or when its
   * writes were rejected; false when each batch should be written alone (a duplicate in the group,
   * or a batch the store refused).
   */
  private async tryGroup(group: readonly PendingWrite[]): Promise<boolean> {
    let total = 0;
    for (const w of group) total += w.readings.length;
    try {
      await this.writer.run('BEGIN TRANSACTION');
    } catch {
      return false;
    }
    try {
      if ((await this.appendReadings(group.map((w) => w.readings))) === total) {
        await this.writer.run('COMMIT');
        for (const w of group) w.resolve({ written: w.readings.length, duplicates: 0 });
        return true;
      }
    } catch {
      // A batch the store refused: rolled back below, then each batch is tried alone.
    }
    try {
      await this.writer.run('ROLLBACK');
      return false;
    } catch (cause) {
      // The transaction state is unknown, so no batch of the group counts as written: the runner
      // retries them, and the store drops whatever did land.
      const error = writeFailed(`${total} readings`, this.path, cause);
      for (const w of group) w.reject(error);
      return true;
    }
  }

  /** Stages the batches and moves the readings not yet stored into `readings`; returns how many. */
  private async appendReadings(batches: readonly (readonly StoredReading[])[]): Promise<number> {
    let total = 0;
    for (const batch of batches) total += batch.length;
    this.assertOpen(total);
    if (total === 0) return 0;
    try {
      const appender = await this.readingsStaging.replace();
      let lo = Number.POSITIVE_INFINITY;
      let hi = Number.NEGATIVE_INFINITY;
      // A cursor over the batches as one run of rows, cut into chunks of CHUNK_ROWS.
      let b = 0;
      let n = 0;
      const next = (): StoredReading => {
        while (n === batches[b]!.length) {
          b++;
          n = 0;
        }
        const r = batches[b]![n++]!;
        if (r.ts < lo) lo = r.ts;
        if (r.ts > hi) hi = r.ts;
        return r;
      };
      for (let offset = 0; offset < total; offset += CHUNK_ROWS) {
        this.staging.fill(Math.min(CHUNK_ROWS, total - offset), next);
        appender.appendDataChunk(this.staging.chunk);
      }
      appender.flushSync();
      const insert = this.readingsInsert;
      insert.bindDouble(1, Date.now());
      insert.bindDouble(2, lo);
      insert.bindDouble(3, hi);
      this.counters.readingInserts++;
      return (await insert.run()).rowsChanged;
    } catch (cause) {
      throw writeFailed(`${total} readings`, this.path, cause);
    }
  }

  private readonly appendAlerts = async (alerts: readonly Alert[]): Promise<WriteResult> => {
    this.assertOpen(alerts.length);
    if (alerts.length === 0) return { written: 0, duplicates: 0 };
    try {
      const appender = await this.alertsStaging.replace();
      // Alerts are few (one per incident change), so the simple row-at-a-time appender is enough.
      for (const a of alerts) {
        appender.appendVarchar(a.id);
        appender.appendVarchar(a.dedupKey);
        appender.appendVarchar(a.deviceId);
        appender.appendVarchar(a.metric);
        appender.appendVarchar(a.rule);
        appender.appendVarchar(a.status);
        appender.appendVarchar(a.severity);
        appendNullableDouble(appender, a.value);
        appendNullableDouble(appender, a.score);
        appender.appendDouble(a.ts);
        appender.appendDouble(a.openedAt);
        appender.appendInteger(a.repeats);
        appender.appendVarchar(a.message);
        appender.endRow();
      }
      appender.flushSync();
      this.alertsUpsert.bindDouble(1, Date.now());
      const written = (await this.alertsUpsert.run()).rowsChanged;
      return { written, duplicates: alerts.length - written };
    } catch (cause) {
      throw writeFailed(`${alerts.length} alerts`, this.path, cause);
    }
  };

  private assertOpen(count: number): void {
    if (this.closed) {
      throw new IngestError(
        'STORE_WRITE_FAILED',
        `Cannot write ${count} records: the DuckDB store ${this.path} is closed.`,
      );
    }
  }
}

/**
 * A connection-local temp table that each write fills afresh through an appender. It is replaced
 * (CREATE OR REPLACE) before each write rather than emptied: DuckDB 1.5 keeps a truncated temp
 * table's deleted rows (a table's space comes back at checkpoint, and temp tables are never
 * checkpointed), so with TRUNCATE the process grew by ~90 bytes for every row ever staged (1.8 GB
 * after 15 M rows of 5,000-row batches) and each truncate and each scan of the table grew with it
 * (1.6 ms and 2.1 ms per 5,000-row batch after 500 batches, 8.7 and 9.2 ms after 3,000). A
 * replacement costs ~0.9 ms at any age, appender included.
 *
 * The replacement is part of the writer's transaction: a rollback brings back the table it
 * replaced, which the current appender does not point at. So every write replaces the table and
 * takes a new appender, and none reuses an appender across writes. That also drops what a failed
 * write left unflushed in the old one: replace() discards it before anything else is appended.
 */
class StagingTable {
  readonly #writer: DuckDBConnection;
  readonly #name: string;
  readonly #ddl: string;
  #appender: DuckDBAppender | undefined;

  constructor(writer: DuckDBConnection, name: string, ddl: string) {
    this.#writer = writer;
    this.#name = name;
    this.#ddl = ddl;
  }

  /** An empty table and an appender to it. */
  async replace(): Promise<DuckDBAppender> {
    this.close();
    await this.#writer.run(this.#ddl);
    this.#appender = await this.#writer.createAppender(this.#name, 'main', 'temp');
    return this.#appender;
  }

  /**
   * Closes the appender, discarding rows appended but not flushed: a write flushes its rows itself,
   * before its INSERT, so the only such rows are a failed write's.
   */
  close(): void {
    const appender = this.#appender;
    this.#appender = undefined;
    // Either call may throw when a rollback removed the appender's table; nothing in it is worth
    // keeping, and the second call still releases the appender.
    try {
      appender?.clear();
    } catch {}
    try {
      appender?.closeSync();
    } catch {}
  }
}

function appendNullableDouble(appender: DuckDBAppender, value: number | null): void {
  if (value === null) appender.appendNull();
  else appender.appendDouble(value);
}

function writeFailed(what: string, path: string, cause: unknown): IngestError {
  const message = `Writing ${what} to DuckDB (${path}) failed: ${errorMessage(cause)}`;
  return new IngestError('STORE_WRITE_FAILED', message, { retryable: true, cause });
}
