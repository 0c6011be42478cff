/**
 * Where the detect function keeps detector state across restarts: per mapping and partition (Kafka
 * topic-partition, Kinesis shard), the engine snapshot together with the stream position of the
 * last record it includes and the alert events not yet confirmed delivered. Saved after every
 * batch, before the batch is reported done, so the saved position is never behind the runner's
 * checkpoint: on restart, records at or before it are skipped (no double counting, no incident
 * opened twice) and the pending alerts are sent again (at least once, idempotent by id).
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import avro from 'avsc';
import { writeFileAtomic } from '../lib/atomic-file.ts';
import { type Alert, decodeAlert, encodeAlert } from '../lib/codec/alert-codec.ts';
import { errorMessage, IngestError } from '../lib/errors.ts';

export interface DetectorCheckpoint {
  /** Stream position of the last record the state includes: a Kafka offset or Kinesis sequence number. */
  readonly position: string;
  /** DetectEngine.snapshot() */
  readonly engine: Uint8Array;
  /** Alert events produced but not yet accepted by the alerts stream and delivered. */
  readonly pending: readonly Alert[];
}

export interface DetectorStateStore {
  load(partition: string): Promise<DetectorCheckpoint | undefined>;
  /** Resolves once the checkpoint is durable. */
  save(partition: string, checkpoint: DetectorCheckpoint): Promise<void>;
}

/** Keeps checkpoints in memory only: detector state does not survive the process (tests, Lambda). */
export class MemoryDetectorStateStore implements DetectorStateStore {
  readonly #checkpoints = new Map<string, DetectorCheckpoint>();

  async load(partition: string): Promise<DetectorCheckpoint | undefined> {
    return this.#checkpoints.get(partition);
  }

  async save(partition: string, checkpoint: DetectorCheckpoint): Promise<void> {
    this.#checkpoints.set(partition, {
      ...checkpoint,
      engine: checkpoint.engine.slice(),
      pending: [...checkpoint.pending],
    });
  }
}

const MAGIC = Buffer.from('IDC1', 'latin1');
const FILE_TYPE = avro.Type.forSchema({
  type: 'record',
  name: 'DetectorCheckpoint',
  namespace: 'io.iotingest.detect',
  fields: [
    { name: 'position', type: 'string' },
    { name: 'pending', type: { type: 'array', items: 'bytes' }, doc: 'alerts, single-object encoded' },
    { name: 'engine', type: 'bytes' },
  ],
});

/**
 * One file per partition under `<dir>/<mappingName>/`, replaced atomically (write, fsync, rename,
 * fsync of the directory) so a crash leaves the previous checkpoint or the new one, never a torn one.
 */
export class FileDetectorStateStore implements DetectorStateStore {
  readonly dir: string;
  #ready: Promise<unknown> | undefined;

  constructor(dir: string, mappingName: string) {
    this.dir = join(dir, mappingName);
  }

  fileFor(partition: string): string {
    return join(this.dir, `${encodeURIComponent(partition)}.state`);
  }

  async load(partition: string): Promise<DetectorCheckpoint | undefined> {
    const file = this.fileFor(partition);
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new IngestError(
        'SERVICE_UNAVAILABLE',
        `cannot read detector state ${file}: ${errorMessage(error)}`,
        { retryable: true, cause: error },
      );
    }
    if (!bytes.subarray(0, MAGIC.length).equals(MAGIC)) {
      throw new IngestError(
        'CONFIG_INVALID',
        `${file} is not a detector state file; move it away to start afresh`,
      );
    }
    try {
      const decoded = FILE_TYPE.fromBuffer(bytes.subarray(MAGIC.length)) as {
        position: string;
        pending: Buffer[];
        engine: Buffer;
      };
      return {
        position: decoded.position,
        engine: decoded.engine,
        pending: decoded.pending.map((a) => decodeAlert(a)),
      };
    } catch (error) {
      throw new IngestError(
        'CONFIG_INVALID',
        `${file} is damaged (${errorMessage(error)}); move it away to start afresh`,
        { cause: error },
      );
    }
  }

  async save(partition: string, checkpoint: DetectorCheckpoint): Promise<void> {
    this.#ready ??= mkdir(this.dir, { recursive: true });
    await this.#ready;
    const file = this.fileFor(partition);
    const body = FILE_TYPE.toBuffer({
      position: checkpoint.position,
      pending: checkpoint.pending.map((a) => encodeAlert(a)),
      engine: Buffer.from(
        checkpoint.engine.buffer,
        checkpoint.engine.byteOffset,
        checkpoint.engine.byteLength,
      ),
    });
    try {
      await writeFileAtomic(file, [MAGIC, body], { durable: true });
    } catch (error) {
      throw new IngestError(
        'SERVICE_UNAVAILABLE',
        `cannot save detector state ${file}: ${errorMessage(error)}`,
        { retryable: true, cause: error },
      );
    }
  }
}
