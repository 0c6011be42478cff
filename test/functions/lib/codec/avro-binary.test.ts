import { describe, expect, it } from 'vitest';
import {
  type AvroReader,
  asBuffer,
  compileSchema,
  decodeBody,
  encodeWithPrefix,
} from '../../../../functions/lib/codec/avro-binary.ts';
import { rejectionOf } from './codec-fixtures.ts';

/** Zig-zag varint of an Avro long, for hand-built hostile bodies. */
function long(value: bigint): Buffer {
  let n = value >= 0n ? value << 1n : (-value << 1n) - 1n;
  const out: number[] = [];
  while (n >= 0x80n) {
    out.push(Number((n & 0x7fn) | 0x80n));
    n >>= 7n;
  }
  out.push(Number(n));
  return Buffer.from(out);
}

function decodeAs(schema: object, body: Buffer, writerSchema: object = schema): unknown {
  const reader = compileSchema(schema);
  const writer = writerSchema === schema ? reader : compileSchema(writerSchema);
  const binding =
    writer === reader
      ? (reader as unknown as AvroReader)
      : (reader.createResolver(writer) as unknown as AvroReader);
  return decodeBody(binding, body, 0, { label: 'test body', writerType: writer });
}

describe('collections with hostile block counts', () => {
  it.each([
    ['a map', { type: 'map', values: 'string' }],
    ['an array', { type: 'array', items: 'long' }],
    ['an array of nulls', { type: 'array', items: 'null' }],
  ])('reject %s claiming 2^60 entries in a few bytes', (_name, schema) => {
    // Act
    const error = rejectionOf(() => decodeAs(schema, long(2n ** 60n)));

    // Assess
    expect(error.code).toBe('AVRO_TRUNCATED');
  });

  it('reject a negative block size when skipping a field the reader dropped', () => {
    // Prepare: the writer has a map field the reader does not; its block says count -1, size -2,
    // which sends avsc's skip back to the block's first byte, forever
    const writer = {
      type: 'record',
      name: 'R',
      fields: [
        { name: 'extra', type: { type: 'map', values: 'string' } },
        { name: 'a', type: 'long' },
      ],
    };
    const reader = { type: 'record', name: 'R', fields: [{ name: 'a', type: 'long' }] };
    const body = Buffer.concat([long(-1n), long(-2n), long(0n), long(7n)]);

    // Act
    const error = rejectionOf(() => decodeAs(reader, body, writer));

    // Assess
    expect(error.code).toBe('AVRO_TRUNCATED');
  });

  it('still read zero-width items that outnumber the bytes', () => {
    // Prepare: 100 nulls take no bytes at all
    const body = Buffer.concat([long(100n), long(0n)]);

    // Act
    const value = decodeAs({ type: 'array', items: 'null' }, body);

    // Assess
    expect(value).toEqual(new Array(100).fill(null));
  });

  it('read blocks that carry a byte size (negative count)', () => {
    // Prepare: one block of two entries with its size, then the end marker
    const entries = Buffer.concat([
      long(1n),
      Buffer.from('a'),
      long(1n),
      Buffer.from('b'),
      long(1n),
      Buffer.from('c'),
      long(1n),
      Buffer.from('d'),
    ]);
    const body = Buffer.concat([long(-2n), long(BigInt(entries.length)), entries, long(0n)]);

    // Act
    const value = decodeAs({ type: 'map', values: 'string' }, body);

    // Assess
    expect(value).toEqual({ a: 'b', c: 'd' });
  });

  it('keep a map key named __proto__ as an own entry', () => {
    // Prepare
    const type = compileSchema({ type: 'map', values: 'string' });
    const body = type.toBuffer(JSON.parse('{"__proto__": "x"}'));

    // Act
    const value = decodeAs({ type: 'map', values: 'string' }, body) as Record<string, string>;

    // Assess
    expect(Object.keys(value)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
  });
});

describe('decodeBody', () => {
  const NESTED = {
    type: 'record',
    name: 'Outer',
    fields: [
      { name: 'id', type: 'string' },
      {
        name: 'inner',
        type: {
          type: 'record',
          name: 'Inner',
          fields: [{ name: 'kind', type: { type: 'enum', name: 'Kind', symbols: ['A', 'B'] } }],
        },
      },
    ],
  };

  it('names the nested field a bad value is in', () => {
    // Prepare: id "x", then enum index 5
    const body = Buffer.concat([long(1n), Buffer.from('x'), long(5n)]);

    // Act
    const error = rejectionOf(() => decodeAs(NESTED, body));

    // Assess
    expect(error.code).toBe('AVRO_INVALID');
    expect(error.message).toContain("field 'inner.kind' at byte 2");
  });

  it('says where a truncated body ends and what it needs', () => {
    // Prepare: id claims 10 bytes, 3 are there
    const body = Buffer.concat([long(10n), Buffer.from('abc')]);

    // Act
    const error = rejectionOf(() => decodeAs(NESTED, body));

    // Assess
    expect(error.code).toBe('AVRO_TRUNCATED');
    expect(error.message).toBe("test body: truncated at byte 4 of at least 12, in field 'id'");
  });
});

describe('encodeWithPrefix', () => {
  const STRING = compileSchema('"string"');
  const PREFIX = Buffer.from([0xc3, 0x01, 1, 2, 3, 4, 5, 6, 7, 8]);

  it('writes bodies larger than its scratch buffer', () => {
    // Prepare
    const text = 'y'.repeat(100_000);

    // Act
    const bytes = encodeWithPrefix(STRING, PREFIX, text, 'a string', 'AVRO_INVALID');

    // Assess
    expect(bytes.subarray(0, 10)).toEqual(PREFIX);
    expect(STRING.fromBuffer(bytes.subarray(10))).toBe(text);
  });

  it('returns buffers that later encodes do not overwrite', () => {
    // Act
    const first = encodeWithPrefix(STRING, PREFIX, 'first', 'a string', 'AVRO_INVALID');
    encodeWithPrefix(STRING, PREFIX, 'second', 'a string', 'AVRO_INVALID');

    // Assess
    expect(STRING.fromBuffer(first.subarray(10))).toBe('first');
  });
});

describe('asBuffer', () => {
  it('views the same memory instead of copying', () => {
    // Prepare
    const backing = new Uint8Array([1, 2, 3, 4, 5]);
    const view = backing.subarray(1, 4);

    // Act
    const buffer = asBuffer(view);
    backing[2] = 99;

    // Assess
    expect([...buffer]).toEqual([2, 99, 4]);
  });
});
