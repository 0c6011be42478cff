/**
 * infra/patches/kafkajs+2.2.4.patch, applied by `npm install` (postinstall: patch-package), makes
 * kafkajs's produce encoding, partitioning and record decoding cheaper without changing a byte:
 * checked here against what kafkajs 2.2.4 as published produced (a digest of its output for the
 * same messages), Kafka's own murmur2 test vectors, and a decode of every field.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { Random } from '../../../simulators/random.ts';

const require = createRequire(import.meta.url);
const KAFKAJS = path.dirname(require.resolve('kafkajs/package.json'));
const PATCH = path.join(import.meta.dirname, '../../../infra/patches/kafkajs+2.2.4.patch');

type Headers = Record<string, string | Buffer | null | Array<string | Buffer>>;
interface Message {
  key?: string | Buffer | null;
  value: string | Buffer | null;
  headers?: Headers;
  timestamp?: string;
  partition?: number;
}
interface PartitionMetadata {
  partitionId: number;
  leader: number;
}
type Partitioner = (args: {
  topic: string;
  partitionMetadata: PartitionMetadata[];
  message: Message;
}) => number;

const load = <T>(file: string): T => require(path.join(KAFKAJS, 'src', file)) as T;
const murmur2 = load<(key: string | Buffer) => number>('producer/partitioners/default/murmur2.js');
const createPartitioner = load<() => Partitioner>('producer/partitioners/default/index.js');
const groupMessagesPerPartition = load<
  (args: {
    topic: string;
    partitionMetadata: PartitionMetadata[];
    messages: Message[];
    partitioner: Partitioner;
  }) => Record<string, Message[]>
>('producer/groupMessagesPerPartition.js');
const produceRequest = load<
  (args: {
    acks: number;
    timeout: number;
    topicData: Array<{
      topic: string;
      partitions: Array<{ partition: number; firstSequence: number; messages: Message[] }>;
    }>;
  }) => { encode(): Promise<{ buffer: Buffer }> }
>('protocol/requests/produce/v3/request.js');
const Record = load<(r: Message & { offsetDelta: number; timestampDelta: number }) => unknown>(
  'protocol/recordBatch/record/v0/index.js',
);
const { RecordBatch } = load<{
  RecordBatch(args: Record<string, unknown>): Promise<{ buffer: Buffer }>;
}>('protocol/recordBatch/v0/index.js');
const decodeBatch = load<(decoder: unknown) => Promise<{ records: DecodedRecord[] }>>(
  'protocol/recordBatch/v0/decoder.js',
);
const Decoder = load<new (buffer: Buffer) => unknown>('protocol/decoder.js');
const Long = load<{ fromString(s: string): unknown; fromNumber(n: number): unknown }>('utils/long.js');

interface DecodedRecord {
  offset: string;
  timestamp: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer | null | Buffer[]>;
}

const HEADER_VALUES = ['telemetry/dev-1', '1763870000000', 'ü', ''];

/** Messages of every shape the encoder takes: string and Buffer keys and values, nulls, header lists, timestamps. */
function messages(seed: number, count: number, keyed = true): Message[] {
  const random = new Random(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random.next() * items.length)]!;
  return Array.from({ length: count }, (_, i) => {
    const r = random.next();
    const message: Message = {
      value:
        r < 0.05
          ? null
          : r < 0.5
            ? Buffer.alloc(Math.floor(random.next() * 300), i)
            : `v${i}é${'x'.repeat(Math.floor(random.next() * 200))}`,
    };
    if (keyed) message.key = random.next() < 0.5 ? `dev-${i % 97}` : Buffer.from(`bk-${i % 13}`);
    const h = random.next();
    if (h < 0.6)
      message.headers = { 'mqtt-topic': `telemetry/dev-${i}`, 'received-at': String(1763870000000 + i) };
    else if (h < 0.7)
      message.headers = { multi: [pick(HEADER_VALUES), Buffer.from('two')], z: pick(HEADER_VALUES) };
    else if (h < 0.8) message.headers = {};
    if (random.next() < 0.3)
      message.timestamp = String(
        1763870000000 - Math.floor(random.next() * (random.next() < 0.5 ? 1e9 : 1e11)),
      );
    if (random.next() < 0.05) message.partition = 5;
    return message;
  });
}

const PARTITIONS: PartitionMetadata[] = Array.from({ length: 7 }, (_, i) => ({ partitionId: i, leader: 0 }));

async function encodeProduce(batch: Message[]): Promise<Buffer> {
  const grouped = groupMessagesPerPartition({
    topic: 'telemetry.raw',
    partitionMetadata: PARTITIONS,
    messages: batch,
    partitioner: createPartitioner(),
  });
  const partitions = Object.keys(grouped).map((p) => ({
    partition: Number(p),
    firstSequence: 0,
    messages: grouped[p]!,
  }));
  const request = produceRequest({
    acks: -1,
    timeout: 30_000,
    topicData: [{ topic: 'telemetry.raw', partitions }],
  });
  return (await request.encode()).buffer;
}

describe('the kafkajs patch', () => {
  it('was applied by the install to every file it changes', () => {
    const files = [
      ...fs.readFileSync(PATCH, 'utf8').matchAll(/^diff --git a\/node_modules\/kafkajs\/(\S+)/gm),
    ].map((m) => m[1]!);
    expect(files.length).toBeGreaterThanOrEqual(7);
    for (const file of files)
      expect(fs.readFileSync(path.join(KAFKAJS, file), 'utf8'), file).toContain('iot-ingest patch');
  });

  it("hashes keys as Kafka's Java client does (its murmur2 test vectors)", () => {
    // org.apache.kafka.common.utils.UtilsTest#testMurmur2
    const vectors: Array<[string, number]> = [
      ['21', -973932308],
      ['foobar', -790332482],
      ['a-little-bit-long-string', -985981536],
      ['a-little-bit-longer-string', -1486304829],
      ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
      ['abc', 479470107],
    ];
    for (const [key, hash] of vectors) {
      expect(murmur2(key)).toBe(hash);
      expect(murmur2(Buffer.from(key))).toBe(hash);
    }
  });

  it('encodes produce requests to the bytes kafkajs 2.2.4 as published did', async () => {
    // SHA-256 of each request, computed with kafkajs 2.2.4 before the patch, on these messages.
    const published: Record<number, string> = {
      1: '8025a99edb3b5287f76b49ce03142a6f8e875084d045941a48634586200e8c6b',
      2: 'eb704db493d4644487601145e121ac3e01d51af1b43cbc520d878739b4967279',
    };
    // Messages without a timestamp are stamped with Date.now().
    vi.spyOn(Date, 'now').mockReturnValue(1763870000000);
    for (const seed of [1, 2]) {
      const bytes = await encodeProduce(messages(seed, 3_000));
      expect(createHash('sha256').update(bytes).digest('hex'), `seed ${seed}`).toBe(published[seed]);
    }
    vi.restoreAllMocks();
  });

  it('groups messages by partition in their order, keyless ones only to partitions with a leader', () => {
    const batch = [...messages(3, 2_000), ...messages(4, 500, false)];
    batch.forEach((m, i) => {
      m.headers = { seq: String(i) };
    });
    const metadata = PARTITIONS.map((p) => (p.partitionId === 3 ? { ...p, leader: -1 } : p));
    const partitioner = createPartitioner();
    const grouped = groupMessagesPerPartition({
      topic: 't',
      partitionMetadata: metadata,
      messages: batch,
      partitioner,
    });
    let total = 0;
    for (const [partition, list] of Object.entries(grouped)) {
      total += list.length;
      const order = list.map((m) => Number(m.headers!.seq));
      expect(order).toEqual([...order].sort((a, b) => a - b));
      for (const m of list) {
        if (m.partition !== undefined) expect(Number(partition)).toBe(m.partition);
        else if (m.key !== undefined && m.key !== null)
          expect(Number(partition)).toBe((murmur2(m.key) & 0x7fffffff) % metadata.length);
        else expect(partition).not.toBe('3');
      }
    }
    expect(total).toBe(batch.length);
  });

  it('decodes every field of every record, past 2^53 offsets and repeated or odd header names included', async () => {
    const random = new Random(9);
    for (const [firstOffset, firstTimestamp] of [
      ['41', 1763870000000],
      ['9007199254740900', 1763870000000],
      ['0', -1],
    ] as const) {
      const written = messages(Math.floor(random.next() * 1e6), 300);
      const headersOf = (i: number): Headers =>
        i % 50 === 0
          ? { ['__proto__']: 'own', constructor: 'c', n: null, r: ['a', 'b', 'c'] }
          : (written[i]!.headers ?? {});
      const deltas = written.map(() => Math.floor(random.next() * (random.next() < 0.1 ? 1e11 : 1e3)));
      const records = written.map((m, i) =>
        Record({
          key: m.key ?? null,
          value: m.value,
          headers: headersOf(i),
          offsetDelta: i,
          timestampDelta: deltas[i]!,
        }),
      );
      const batch = await RecordBatch({
        records,
        firstOffset: Long.fromString(firstOffset),
        firstTimestamp,
        maxTimestamp: firstTimestamp,
        lastOffsetDelta: records.length - 1,
      });
      const decoded = (await decodeBatch(new Decoder(batch.buffer))).records;
      expect(decoded).toHaveLength(written.length);
      const asBuffer = (v: string | Buffer) => (typeof v === 'string' ? Buffer.from(v) : v);
      decoded.forEach((record, i) => {
        const m = written[i]!;
        expect(record.offset).toBe(String(BigInt(firstOffset) + BigInt(i)));
        expect(record.timestamp).toBe(String(BigInt(firstTimestamp) + BigInt(deltas[i]!)));
        expect(record.key).toEqual(m.key === undefined || m.key === null ? null : asBuffer(m.key));
        expect(record.value).toEqual(m.value === null ? null : asBuffer(m.value));
        const expected = Object.entries(headersOf(i)).map(([name, v]) => [
          name,
          v === null ? null : Array.isArray(v) ? v.map(asBuffer) : asBuffer(v),
        ]);
        expect(Object.entries(record.headers)).toEqual(expected);
        expect(Object.getPrototypeOf(record.headers)).toBe(Object.prototype);
      });
    }
  });
});
