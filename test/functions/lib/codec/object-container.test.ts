import { Readable } from 'node:stream';
import avsc from 'avsc';
import { describe, expect, it } from 'vitest';
import { type AvroReader, compileSchema } from '../../../../functions/lib/codec/avro-binary.ts';
import {
  type ContainerReadLimits,
  type ContainerWriterBinding,
  isContainer,
  readContainer,
  writeContainer,
} from '../../../../functions/lib/codec/object-container.ts';
import { rejectionOf } from './codec-fixtures.ts';

const SCHEMA = {
  type: 'record',
  name: 'Point',
  fields: [
    { name: 'x', type: 'long' },
    { name: 'label', type: 'string' },
  ],
};
const TYPE = compileSchema(SCHEMA);
const SCHEMA_TEXT = JSON.stringify(SCHEMA);
const LIMITS: ContainerReadLimits = { maxRecords: 10_000, maxInflatedBytes: 1 << 20 };

/** Reads with the writer schema itself; the registry's resolution is tested with readings. */
function bindSelf(schemaText: string): ContainerWriterBinding {
  const type = compileSchema(schemaText);
  return { reader: type as unknown as AvroReader, writerType: type, label: 'Point' };
}

function points(count: number): Array<{ x: number; label: string }> {
  return Array.from({ length: count }, (_, i) => ({ x: i * 1000, label: `p${i}` }));
}

/** Runs avsc's own streaming decoder, an independent reading of the spec. */
async function decodeWithAvsc(bytes: Buffer): Promise<unknown[]> {
  const out: unknown[] = [];
  const decoder = new avsc.streams.BlockDecoder();
  Readable.from([bytes]).pipe(decoder);
  for await (const value of decoder) out.push(value);
  return out;
}

async function encodeWithAvsc(values: unknown[], codec: string, blockSize: number): Promise<Buffer> {
  const encoder = new avsc.streams.BlockEncoder(TYPE, { codec, blockSize });
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const chunk of encoder) chunks.push(chunk as Buffer);
  })();
  for (const value of values) encoder.write(value);
  encoder.end();
  await done;
  return Buffer.concat(chunks);
}

describe.each(['deflate', 'null'] as const)('object containers with the %s codec', (codec) => {
  it('are read back by avsc BlockDecoder', async () => {
    // Prepare
    const values = points(100);

    // Act
    const decoded = await decodeWithAvsc(writeContainer(TYPE, SCHEMA_TEXT, values, { codec }));

    // Assess
    expect(decoded).toEqual(values);
  });

  it.each([
    ["one object larger than the writer's reused buffer", [20_000]],
    ['objects that outgrow it several times over', Array.from({ length: 40 }, () => 40_000)],
  ])('are read back by avsc with %s', async (_, sizes) => {
    // Prepare: labels of the given lengths between short ones, so objects straddle each growth
    const values = sizes.flatMap((size, i) => [
      { x: i, label: String.fromCharCode(97 + (i % 26)).repeat(size) },
      { x: 1_000 + i, label: `short${i}` },
    ]);

    // Act
    const decoded = await decodeWithAvsc(writeContainer(TYPE, SCHEMA_TEXT, values, { codec }));

    // Assess
    expect(decoded).toEqual(values);
  });

  it('name the object that cannot be encoded', () => {
    // Prepare
    const values = [...points(2), { x: 'not a long', label: 'bad' }];

    // Act
    const error = rejectionOf(() => writeContainer(TYPE, SCHEMA_TEXT, values, { codec }));

    // Assess
    expect(error.code).toBe('AVRO_INVALID');
    expect(error.message).toContain('object 2 of the container');
  });

  it('read what avsc BlockEncoder writes, across many blocks', async () => {
    // Prepare: a 64-byte block size forces a block every few records
    const values = points(200);
    const bytes = await encodeWithAvsc(values, codec, 64);

    // Act
    const decoded = readContainer(bytes, bindSelf, LIMITS);

    // Assess
    expect(decoded).toEqual(values);
  });

  it('reject a corrupt sync marker', () => {
    // Prepare
    const bytes = writeContainer(TYPE, SCHEMA_TEXT, points(3), { codec });
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 0xff;

    // Act
    const error = rejectionOf(() => readContainer(bytes, bindSelf, LIMITS));

    // Assess
    expect(error.code).toBe('AVRO_INVALID');
    expect(error.message).toContain('sync marker');
  });

  it('reject more records than the limit', () => {
    // Prepare
    const bytes = writeContainer(TYPE, SCHEMA_TEXT, points(11), { codec });

    // Act
    const error = rejectionOf(() => readContainer(bytes, bindSelf, { ...LIMITS, maxRecords: 10 }));

    // Assess
    expect(error.code).toBe('PAYLOAD_TOO_LARGE');
  });
});

describe('object containers', () => {
  it('write the header the spec describes: magic, metadata, a 16-byte sync marker', () => {
    // Prepare
    const sync = Buffer.alloc(16, 0xab);

    // Act
    const bytes = writeContainer(TYPE, SCHEMA_TEXT, points(1), { codec: 'null', syncMarker: sync });

    // Assess
    expect(isContainer(bytes)).toBe(true);
    expect(bytes.subarray(0, 4).toString('latin1')).toBe('Obj\x01');
    expect(bytes.includes(Buffer.from('avro.schema'))).toBe(true);
    expect(bytes.includes(Buffer.from('avro.codec'))).toBe(true);
    expect(bytes.subarray(-16)).toEqual(sync);
  });

  it('give every container a sync marker of its own, in its header and after its block', () => {
    // Prepare: more containers than one refill of the writer's pool of random markers
    const containers = Array.from({ length: 600 }, (_, i) =>
      writeContainer(TYPE, SCHEMA_TEXT, points(1 + (i % 3))),
    );

    // Act
    const markers = containers.map((bytes) => bytes.subarray(-16).toString('hex'));
    const decoded = containers.map((bytes) => readContainer(bytes, bindSelf, LIMITS).length);

    // Assess: readContainer checks the block's marker against the header's
    expect(new Set(markers).size).toBe(containers.length);
    expect(decoded).toEqual(containers.map((_, i) => 1 + (i % 3)));
  });

  it('read an empty container (a header and no blocks)', () => {
    // Act
    const decoded = readContainer(writeContainer(TYPE, SCHEMA_TEXT, []), bindSelf, LIMITS);

    // Assess
    expect(decoded).toEqual([]);
  });

  it('reject a codec they cannot read, naming it', async () => {
    // Prepare: avsc writes any codec it is given a function for; this one is a pass-through
    const encoder = new avsc.streams.BlockEncoder(TYPE, {
      codec: 'snappy',
      codecs: { snappy: (buf: Buffer, cb: (err: null, out: Buffer) => void) => cb(null, buf) },
    } as never);
    const chunks: Buffer[] = [];
    const done = (async () => {
      for await (const chunk of encoder) chunks.push(chunk as Buffer);
    })();
    encoder.end({ x: 1, label: 'a' });
    await done;

    // Act
    const error = rejectionOf(() => readContainer(Buffer.concat(chunks), bindSelf, LIMITS));

    // Assess
    expect(error.code).toBe('AVRO_INVALID');
    expect(error.message).toContain("'snappy'");
  });

  it('reject deflate data that inflates past the limit (a deflate bomb)', () => {
    // Prepare: 200 records of 10 kB of zeros deflate to little
    const values = Array.from({ length: 200 }, (_, i) => ({ x: i, label: '0'.repeat(10_000) }));
    const bytes = writeContainer(TYPE, SCHEMA_TEXT, values, { codec: 'deflate' });

    // Act
    const error = rejectionOf(() => readContainer(bytes, bindSelf, { ...LIMITS, maxInflatedBytes: 100_000 }));

    // Assess
    expect(bytes.length).toBeLessThan(20_000);
    expect(error.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('reject corrupt deflate data', () => {
    // Prepare: overwrite the compressed block with bytes that are not a deflate stream
    const bytes = writeContainer(TYPE, SCHEMA_TEXT, points(20), { codec: 'deflate' });
    const headerLength = writeContainer(TYPE, SCHEMA_TEXT, [], { codec: 'deflate' }).length;
    bytes.fill(0xff, headerLength + 3, bytes.length - 16);

    // Act
    const error = rejectionOf(() => readContainer(bytes, bindSelf, LIMITS));

    // Assess
    expect(error.code).toBe('AVRO_INVALID');
    expect(error.message).toContain('deflate');
  });

  it('reject a block that claims more objects than it has bytes', () => {
    // Prepare: rewrite the block's object count (first byte after the header) to 63
    const bytes = writeContainer(TYPE, SCHEMA_TEXT, points(2), { codec: 'null' });
    const headerLength = writeContainer(TYPE, SCHEMA_TEXT, [], { codec: 'null' }).length;
    bytes[headerLength] = 63 << 1;

    // Act
    const error = rejectionOf(() => readContainer(bytes, bindSelf, LIMITS));

    // Assess
    expect(error.code).toBe('AVRO_INVALID');
  });

  it('name the block and object a bad record is in', () => {
    // Prepare: one record too few for the count: object 2 runs past the block's end
    const bytes = writeContainer(TYPE, SCHEMA_TEXT, points(3), { codec: 'null' });
    const headerLength = writeContainer(TYPE, SCHEMA_TEXT, [], { codec: 'null' }).length;
    bytes[headerLength] = 4 << 1;

    // Act
    const error = rejectionOf(() => readContainer(bytes, bindSelf, LIMITS));

    // Assess
    expect(error.code).toBe('AVRO_TRUNCATED');
    expect(error.message).toContain('block 0, object 3');
  });
});
