/**
 * The detect function's state for one stream partition (Kafka topic-partition, Kinesis shard):
 * its engine, the position of the last record it includes, and an outbox of alert events not yet
 * accepted downstream. Devices are keyed to partitions, so a partition's engine sees all of its
 * devices' readings, in order; partitions run side by side, each one batch at a time.
 *
 * Processing a batch: decode, dead-letter what cannot be decoded, observe each new record (records
 * at or before the saved position are replays and are skipped), tick at the batch's stream time,
 * save the checkpoint, send the outbox, and save the emptied outbox. A failure anywhere throws, the event source retries
 * the batch, and the retry skips what was observed and sends the outbox again: alerts go out at
 * least once, each with its stable id, and no reading is counted twice.
 */
import type { Alert } from '../lib/codec/alert-codec.ts';
import { decodeReading } from '../lib/codec/reading-codec.ts';
import type { SchemaRegistry } from '../lib/codec/schema-registry.ts';
import { deadLetter } from '../lib/dead-letter.ts';
import { errorMessage, IngestError } from '../lib/errors.ts';
import type { SourceRecord } from '../lib/events/types.ts';
import { HEADER, type Reading } from '../lib/reading.ts';
import type { OutRecord } from '../lib/streams/types.ts';
import type { DetectEngine } from './engine.ts';
import { comparePositions, recordPosition } from './positions.ts';
import type { DetectorStateStore } from './state-store.ts';

export interface PartitionIo {
  registry: SchemaRegistry;
  /** Where checkpoints go; without one the state lives in this process only and nothing is saved. */
  store: DetectorStateStore | undefined;
  /** Appends undecodable records to the dead-letter stream. */
  deadLetters(records: readonly OutRecord[]): Promise<void>;
  /** Sends alert events to the alerts stream and the other channels; resolves once all accepted them. */
  publish(alerts: readonly Alert[]): Promise<void>;
}

export interface PartitionStats {
  /** Records at or before the saved position (replays after a restart or retry). */
  skipped: number;
  deadLettered: number;
}

export class PartitionDetector {
  readonly partition: string;
  readonly engine: DetectEngine;
  readonly stats: PartitionStats = { skipped: 0, deadLettered: 0 };
  #position: string | undefined;
  readonly #outbox: Alert[];
  /** Wall-clock time at which the engine's clock was last advanced, to extrapolate stream time when idle. */
  #wallAtClock: number;
  #tail: Promise<unknown> = Promise.resolve();

  constructor(
    partition: string,
    engine: DetectEngine,
    position: string | undefined,
    outbox: readonly Alert[],
    wallNow: number,
  ) {
    this.partition = partition;
    this.engine = engine;
    this.#position = position;
    this.#outbox = [...outbox];
    this.#wallAtClock = wallNow;
  }

  get position(): string | undefined {
    return this.#position;
  }

  #savedAt = 0;

  get pending(): number {
    return this.#outbox.length;
  }

  /** Runs `work` after the partition's previous work finished: one batch or tick at a time. */
  exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(work);
    this.#tail = run.catch(() => {});
    return run;
  }

  /** One batch of this partition's records, in stream order. Call inside `exclusive`. */
  async process(records: readonly SourceRecord[], io: PartitionIo, wallNow: number): Promise<void> {
    const readings: Reading[] = [];
    const kept: SourceRecord[] = [];
    const positions: string[] = [];
    const dead: OutRecord[] = [];
    let last = this.#position;
    for (const record of records) {
      const { position } = recordPosition(record.origin);
      if (last !== undefined && comparePositions(position, last) <= 0) {
        this.stats.skipped++;
        continue;
      }
      last = position;
      try {
        readings.push(decodeReading(record.value, io.registry));
        kept.push(record);
        positions.push(position);
      } catch (error) {
        // telemetry.valid holds only what validate accepted; anything else is kept, not dropped.
        const code = error instanceof IngestError ? error.code : 'READING_INVALID';
        dead.push(deadLetter(record, code, `detect: ${errorMessage(error)}`));
      }
    }
    // Dead letters first: once the engine has moved past them a retry would not see them again.
    if (dead.length > 0) {
      await io.deadLetters(dead);
      this.stats.deadLettered += dead.length;
    }
    const engine = this.engine;
    for (let i = 0; i < readings.length; i++) {
      const record = kept[i]!;
      engine.observe(readings[i]!, this.#outbox, arrivalTime(record), record.headers[HEADER.gatewayId]);
    }
    if (last === undefined || last === this.#position) return this.#flush(io);
    this.#position = last;
    engine.tick(engine.clock, this.#outbox);
    this.#wallAtClock = wallNow;
    // A snapshot of the whole partition with an fsync on every batch held detection to about two
    // thousand readings a second. The state is saved when alerts are waiting to go out (so they
    // are sent at least once) and otherwise at most every SAVE_INTERVAL_MS. A crash then loses at
    // most that interval of detector progress: the replay skips what the saved position covers, so
    // nothing is counted twice, and readings the runner had already checkpointed are not seen again.
    const due = this.#outbox.length > 0 || wallNow - this.#savedAt >= SAVE_INTERVAL_MS;
    await this.#flush(io, due ? await this.#save(io) : undefined);
  }

  /**
   * Clock-driven checks while no batch comes: the stream time is extrapolated from the last batch
   * (its newest arrival plus the wall time since), so a partition that is catching up on a backlog
   * is not taken for silent. Call inside `exclusive`.
   */
  async tick(io: PartitionIo, wallNow: number): Promise<void> {
    const engine = this.engine;
    if (!Number.isFinite(engine.clock) || this.#position === undefined) return this.#flush(io);
    engine.tick(engine.clock + (wallNow - this.#wallAtClock), this.#outbox);
    this.#wallAtClock = wallNow;
    if (this.#outbox.length === 0) return;
    await this.#flush(io, await this.#save(io));
  }

  /** Saves the checkpoint; `engine` is the snapshot to save when the caller already has one. */
  async #save(io: PartitionIo, engine?: Uint8Array): Promise<Uint8Array | undefined> {
    if (io.store === undefined) return undefined;
    const bytes = engine ?? this.engine.snapshot();
    await io.store.save(this.partition, { position: this.#position!, engine: bytes, pending: this.#outbox });
    this.#savedAt = Date.now();
    return bytes;
  }

  /**
   * Sends the outbox, then saves again so that the next process does not send it a second time
   * (a crash between the two still does: at least once, same ids). Alerts are rare; the extra
   * save is paid only for batches that raised some.
   */
  async #flush(io: PartitionIo, saved?: Uint8Array): Promise<void> {
    if (this.#outbox.length === 0) return;
    const alerts = this.#outbox.slice();
    await io.publish(alerts);
    this.#outbox.splice(0, alerts.length);
    if (this.#position !== undefined) await this.#save(io, saved);
  }
}

/** Longest time between two state saves of a partition while no alert is waiting. */
const SAVE_INTERVAL_MS = 1_000;

/** When the reading reached the pipeline: the bridge's receive time, else the stream's. */
function arrivalTime(record: SourceRecord): number {
  const header = record.headers[HEADER.receivedAt];
  const receivedAt = header === undefined ? Number.NaN : Number(header);
  return Number.isFinite(receivedAt) ? receivedAt : record.arrivedAt;
}
