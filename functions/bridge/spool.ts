import { type FileHandle, mkdir, open, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { writeFileAtomic } from '../lib/atomic-file.ts';
import { errorMessage } from '../lib/errors.ts';
import { type OutRecord, STREAMS, type StreamProducer } from '../lib/streams/types.ts';
import type { BatchSink } from './bridge.ts';

/**
 * A local write-ahead log in front of the stream, for devices and brokers that cannot queue (QoS 0,
 * clean sessions): `write` returns once the records are fsynced, so the bridge may acknowledge them,
 * and a drainer writes them to telemetry.raw in order and then moves a checkpoint past them. After
 * a crash (`kill -9`) the next start drains everything past the checkpoint again: records written
 * to the stream but not yet checkpointed arrive twice (the store drops duplicates), none is lost.
 *
 * Layout: `<dir>/<segment>.wal`, appended to and rotated at SEGMENT_BYTES, and `<dir>/checkpoint`
 * ({segment, offset} drained so far). A record is [u32 body length][u32 CRC-32 of body][body], the
 * body [u16 key length][key][u8 header count]([u16 length][name][u16 length][value])*[payload].
 * A torn record at the end of the last segment (a crash mid-append, never acknowledged) is cut off.
 * Written by hand because no maintained npm package offers an fsync'ed append-only log without a
 * native module, and the hot path must run on an ARM gateway as it is.
 */
export interface SpoolOptions {
  dir: string;
  /** Bytes written but not yet drained; past it `write` waits (the bridge then stops reading). */
  maxBytes: number;
  producer: StreamProducer;
  maxBatchRecords: number;
  maxBatchBytes: number;
  onError?: (error: unknown) => void;
}

const SEGMENT_BYTES = 64 * 1024 * 1024;
const FRAME_HEADER = 8;
const MAX_BACKOFF_MS = 5_000;

interface Position {
  segment: number;
  offset: number;
}

interface PendingWrite {
  buffer: Buffer;
  resolve: () => void;
  reject: (error: unknown) => void;
}

export class Spool implements BatchSink {
  readonly #options: SpoolOptions;
  /** Segment numbers on disk, oldest first; the last one is appended to. */
  readonly #segments: number[];
  #file: FileHandle;
  /** Durable length of the active segment. */
  #end: number;
  #drained: Position;
  #pendingBytes: number;
  #queue: PendingWrite[] = [];
  #flushing = false;
  #spaceWaiters: Array<() => void> = [];
  #wakeDrainer: (() => void) | undefined;
  #closed = false;
  #drainer: Promise<void>;

  private constructor(
    options: SpoolOptions,
    segments: number[],
    file: FileHandle,
    end: number,
    drained: Position,
    pendingBytes: number,
  ) {
    this.#options = options;
    this.#segments = segments;
    this.#file = file;
    this.#end = end;
    this.#drained = drained;
    this.#pendingBytes = pendingBytes;
    this.#drainer = this.#drain();
  }

  static async open(options: SpoolOptions): Promise<Spool> {
    await mkdir(options.dir, { recursive: true });
    const segments = (await readdir(options.dir))
      .filter((name) => /^\d{16}\.wal$/.test(name))
      .map((name) => Number(name.slice(0, 16)))
      .sort((a, b) => a - b);
    if (segments.length === 0) segments.push(0);
    const drained = await readCheckpoint(options.dir, segments[0]!);
    const last = segments[segments.length - 1]!;
    const file = await open(segmentPath(options.dir, last), 'a+');
    const end = await validEnd(file);
    await file.truncate(end);
    let pending = 0;
    for (const segment of segments) {
      if (segment < drained.segment) continue;
      const size = segment === last ? end : await statSize(segmentPath(options.dir, segment));
      pending += size - (segment === drained.segment ? drained.offset : 0);
    }
    return new Spool(options, segments, file, end, drained, Math.max(0, pending));
  }

  /** Bytes fsynced and not yet confirmed by the stream. */
  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  /** Appends and fsyncs; concurrent writes share one fsync (group commit). */
  async write(records: readonly OutRecord[]): Promise<void> {
    while (this.#pendingBytes >= this.#options.maxBytes && !this.#closed) {
      await new Promise<void>((resolve) => this.#spaceWaiters.push(resolve));
    }
    if (this.#closed) throw new Error('spool is closed');
    const buffer = encode(records);
    await new Promise<void>((resolve, reject) => {
      this.#queue.push({ buffer, resolve, reject });
      if (!this.#flushing) void this.#flush();
    });
  }

  async #flush(): Promise<void> {
    this.#flushing = true;
    while (this.#queue.length > 0) {
      const writes = this.#queue;
      this.#queue = [];
      try {
        const buffer = Buffer.concat(writes.map((w) => w.buffer));
        await this.#file.write(buffer, 0, buffer.length, this.#end);
        await this.#file.datasync();
        this.#end += buffer.length;
        this.#pendingBytes += buffer.length;
        for (const w of writes) w.resolve();
        this.#wakeDrainer?.();
        if (this.#end >= SEGMENT_BYTES) await this.#rotate();
      } catch (error) {
        for (const w of writes) w.reject(error);
      }
    }
    this.#flushing = false;
  }

  async #rotate(): Promise<void> {
    const next = this.#segments[this.#segments.length - 1]! + 1;
    const file = await open(segmentPath(this.#options.dir, next), 'a+');
    await this.#file.close();
    this.#file = file;
    this.#segments.push(next);
    this.#end = 0;
  }

  /** Writes what is spooled to telemetry.raw, in order, one batch at a time, then checkpoints. */
  async #drain(): Promise<void> {
    let attempt = 0;
    while (!this.#closed) {
      const batch = await this.#read();
      if (batch === undefined) {
        await new Promise<void>((resolve) => {
          this.#wakeDrainer = resolve;
        });
        this.#wakeDrainer = undefined;
        continue;
      }
      if (batch.records.length > 0) {
        try {
          await this.#options.producer.send(STREAMS.raw, batch.records);
          attempt = 0;
        } catch (error) {
          this.#options.onError?.(
            new Error(`spool: write to ${STREAMS.raw} failed, retrying: ${errorMessage(error)}`),
          );
          await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** attempt++, MAX_BACKOFF_MS)));
          continue;
        }
      }
      if (batch.next.segment === this.#drained.segment)
        this.#pendingBytes -= batch.next.offset - this.#drained.offset;
      await this.#advance(batch.next);
      for (const wake of this.#spaceWaiters.splice(0)) wake();
    }
  }

  /** The next batch past the checkpoint; undefined when everything durable has been drained. */
  async #read(): Promise<{ records: OutRecord[]; next: Position } | undefined> {
    const { segment, offset } = this.#drained;
    const active = this.#segments[this.#segments.length - 1]!;
    // Read synchronously before any await: a rotation may change both.
    let limit = this.#end;
    if (segment !== active) {
      limit = await statSize(segmentPath(this.#options.dir, segment));
      if (offset >= limit) {
        // Finished an old segment: move on to the next one (#advance deletes this one).
        const next = this.#segments[this.#segments.indexOf(segment) + 1]!;
        return { records: [], next: { segment: next, offset: 0 } };
      }
    } else if (offset >= limit) {
      return undefined;
    }
    // A handle of its own: the append handle is closed by a rotation at any time.
    const file = await open(segmentPath(this.#options.dir, segment), 'r');
    try {
      const want = Math.min(this.#options.maxBatchBytes, limit - offset);
      const buffer = Buffer.allocUnsafe(Math.max(want, FRAME_HEADER));
      const { bytesRead } = await file.read(buffer, 0, want, offset);
      const records: OutRecord[] = [];
      let p = 0;
      while (records.length < this.#options.maxBatchRecords && p + FRAME_HEADER <= bytesRead) {
        const length = buffer.readUInt32BE(p);
        if (p + FRAME_HEADER + length > bytesRead) break;
        records.push(decode(buffer.subarray(p + FRAME_HEADER, p + FRAME_HEADER + length)));
        p += FRAME_HEADER + length;
      }
      if (p === 0) {
        // One record larger than a batch: read exactly it.
        const whole = Buffer.allocUnsafe(FRAME_HEADER + buffer.readUInt32BE(0));
        await file.read(whole, 0, whole.length, offset);
        return {
          records: [decode(whole.subarray(FRAME_HEADER))],
          next: { segment, offset: offset + whole.length },
        };
      }
      return { records, next: { segment, offset: offset + p } };
    } finally {
      await file.close();
    }
  }

  async #advance(next: Position): Promise<void> {
    const previous = this.#drained;
    this.#drained = next;
    await writeFileAtomic(join(this.#options.dir, 'checkpoint'), JSON.stringify(next));
    if (next.segment !== previous.segment) {
      this.#segments.splice(this.#segments.indexOf(previous.segment), 1);
      await rm(segmentPath(this.#options.dir, previous.segment), { force: true });
    }
  }

  /** Stops draining (what is left stays on disk for the next start) and closes the file. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#wakeDrainer?.();
    for (const wake of this.#spaceWaiters.splice(0)) wake();
    await this.#drainer;
    while (this.#flushing) await new Promise((r) => setTimeout(r, 5));
    await this.#file.close();
  }
}

function segmentPath(dir: string, segment: number): string {
  return join(dir, `${String(segment).padStart(16, '0')}.wal`);
}

async function statSize(path: string): Promise<number> {
  const file = await open(path, 'r');
  try {
    return (await file.stat()).size;
  } finally {
    await file.close();
  }
}

async function readCheckpoint(dir: string, first: number): Promise<Position> {
  try {
    const saved = JSON.parse(await readFile(join(dir, 'checkpoint'), 'utf8')) as Position;
    // A checkpoint older than the oldest segment left means that segment was fully drained.
    return saved.segment < first ? { segment: first, offset: 0 } : saved;
  } catch {
    return { segment: first, offset: 0 };
  }
}

/** Length of the whole, intact records at the start of the file. */
async function validEnd(file: FileHandle): Promise<number> {
  const data = await file.readFile();
  let p = 0;
  while (p + FRAME_HEADER <= data.length) {
    const length = data.readUInt32BE(p);
    const end = p + FRAME_HEADER + length;
    if (end > data.length || crc32(data.subarray(p + FRAME_HEADER, end)) !== data.readUInt32BE(p + 4)) break;
    p = end;
  }
  return p;
}

function encode(records: readonly OutRecord[]): Buffer {
  let size = 0;
  for (const r of records) {
    size += FRAME_HEADER + 2 + Buffer.byteLength(r.key) + 1 + r.value.byteLength;
    for (const [name, value] of Object.entries(r.headers ?? {}))
      size += 4 + Buffer.byteLength(name) + Buffer.byteLength(value);
  }
  const out = Buffer.allocUnsafe(size);
  let p = 0;
  for (const r of records) {
    const start = p;
    p += FRAME_HEADER;
    p = writeString(out, p, r.key);
    const headers = Object.entries(r.headers ?? {});
    out[p++] = headers.length;
    for (const [name, value] of headers) {
      p = writeString(out, p, name);
      p = writeString(out, p, value);
    }
    out.set(r.value, p);
    p += r.value.byteLength;
    out.writeUInt32BE(p - start - FRAME_HEADER, start);
    out.writeUInt32BE(crc32(out.subarray(start + FRAME_HEADER, p)), start + 4);
  }
  return out;
}

function writeString(out: Buffer, p: number, text: string): number {
  const length = out.write(text, p + 2, 'utf8');
  out.writeUInt16BE(length, p);
  return p + 2 + length;
}

function decode(body: Buffer): OutRecord {
  let p = 0;
  const readString = (): string => {
    const length = body.readUInt16BE(p);
    const text = body.toString('utf8', p + 2, p + 2 + length);
    p += 2 + length;
    return text;
  };
  const key = readString();
  const count = body[p++]!;
  const headers: Record<string, string> = {};
  for (let i = 0; i < count; i++) {
    const name = readString();
    headers[name] = readString();
  }
  return { key, value: body.subarray(p), headers };
}
