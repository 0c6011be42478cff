/**
 * The hot path reads metrics (`["null", "double"]`), longs and telemetry strings with readers of its
 * own (avro-binary.ts, string-table.ts) in place of avsc's generic ones. They must decode exactly what
 * avsc decodes and fail exactly where avsc fails: checked here against avsc's own types, on random
 * readings and on the same bytes truncated and corrupted.
 */
import type { Schema, Type } from 'avsc';
import { describe, expect, it } from 'vitest';
import { type AvroReader, compileSchema, decodeBody } from '../../../../functions/lib/codec/avro-binary.ts';
import { SchemaRegistry } from '../../../../functions/lib/codec/schema-registry.ts';
import { BYPASS_LOOKUPS, StringTable, WINDOW } from '../../../../functions/lib/codec/string-table.ts';
import { RejectedRecordError } from '../../../../functions/lib/errors.ts';
import { Random } from '../../../../simulators/random.ts';

const registry = SchemaRegistry.load();
const SCHEMA = JSON.parse(registry.current.canonicalForm) as Schema;
/** avsc's own readers (with the bounded collections every compiled schema has). */
const plain = compileSchema(SCHEMA, { avscReaders: true });
/** The hot path's: what the registry compiles telemetry with. */
const fast = compileSchema(SCHEMA, { internStrings: true });

const ID_PARTS = ['dev-', 'gw/7', 'sensor', 'ünïcödé-', '温度计', '😀', ''];

function randomId(random: Random): string {
  let id = '';
  const parts = 1 + Math.floor(random.next() * 4);
  for (let i = 0; i < parts; i++) id += ID_PARTS[Math.floor(random.next() * ID_PARTS.length)]!;
  // Sometimes longer than the string table takes (32 bytes), sometimes many distinct ids.
  if (random.next() < 0.1) id += 'x'.repeat(30);
  return `${id}${Math.floor(random.next() * 5_000)}`;
}

const SPECIAL = [0, -0, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 5e-324, 1.7e308];

function randomMetric(random: Random): number | null {
  const p = random.next();
  if (p < 0.2) return null;
  if (p < 0.3) return SPECIAL[Math.floor(random.next() * SPECIAL.length)]!;
  return (random.next() - 0.5) * 10 ** Math.floor(random.next() * 8);
}

/** A long of every varint length: 1 to 7 bytes (the fast reader's), 8 to 10 (avsc's), either sign. */
function randomLong(random: Random): number {
  const magnitude = Math.floor(random.next() * 2 ** Math.floor(random.next() * 54));
  const value = Math.min(magnitude, Number.MAX_SAFE_INTEGER);
  return random.next() < 0.3 ? -value : value;
}

function randomReading(random: Random): Record<string, unknown> {
  return {
    deviceId: randomId(random),
    ts: random.next() < 0.7 ? 1_790_000_000_000 + Math.floor(random.next() * 1e9) : randomLong(random),
    seq: random.next() < 0.5 ? Math.floor(random.next() * 2 ** 40) : randomLong(random),
    temperature: randomMetric(random),
    humidity: randomMetric(random),
    pressure: randomMetric(random),
    vibration: randomMetric(random),
    battery: randomMetric(random),
    tags: random.next() < 0.3 ? { site: randomId(random), [randomId(random)]: 'v' } : null,
  };
}

type Outcome = { value: unknown } | { code: string };

function outcome(reader: Type, body: Buffer): Outcome {
  try {
    return {
      value: decodeBody(reader as unknown as AvroReader, body, 0, { label: 'body', writerType: plain }),
    };
  } catch (error) {
    if (error instanceof RejectedRecordError) return { code: error.code };
    throw error;
  }
}

describe('the hot-path readers against avsc', () => {
  it('decode 5,000 random readings exactly as avsc does (ids of every length and script, every special double)', () => {
    // Arrange
    const random = new Random(42);
    const bodies = Array.from({ length: 5_000 }, () => plain.toBuffer(randomReading(random)));

    // Act
    const decoded = bodies.map((body) => outcome(fast, body));

    // Assert
    expect(decoded).toEqual(bodies.map((body) => outcome(plain, body)));
    expect(decoded.every((d) => 'value' in d)).toBe(true);
  });

  it('reject truncated and corrupted bodies where avsc does, with the same reason', () => {
    // Arrange
    const random = new Random(7);
    const bodies: Buffer[] = [];
    for (let i = 0; i < 300; i++) {
      const body = plain.toBuffer(randomReading(random));
      for (let end = 0; end < body.length; end += 3) bodies.push(body.subarray(0, end));
      for (let k = 0; k < 10; k++) {
        const corrupt = Buffer.from(body);
        corrupt[Math.floor(random.next() * corrupt.length)] = Math.floor(random.next() * 256);
        bodies.push(corrupt);
      }
    }

    // Act
    const decoded = bodies.map((body) => outcome(fast, body));

    // Assert
    expect(decoded).toEqual(bodies.map((body) => outcome(plain, body)));
    expect(decoded.filter((d) => 'code' in d).length).toBeGreaterThan(bodies.length / 3);
  });
});

describe('the hot-path metric writer against avsc', () => {
  it("encodes 5,000 random readings to avsc's exact bytes, and into buffers too small as avsc does", () => {
    // Arrange
    const random = new Random(11);
    const readings = Array.from({ length: 5_000 }, () => randomReading(random));

    // Act: whole, then into a buffer one byte short and one a third of the size
    const encode = (type: Type, reading: unknown, size: number) => {
      const buf = Buffer.alloc(size);
      const end = type.encode(reading, buf, 0);
      return { end, bytes: end > 0 ? buf.subarray(0, end).toString('hex') : '' };
    };
    const whole = readings.map((r) => fast.toBuffer(r).toString('hex'));
    const short = readings.flatMap((r) => {
      const size = plain.toBuffer(r).length;
      return [encode(fast, r, size - 1), encode(fast, r, Math.floor(size / 3))];
    });

    // Assert
    expect(whole).toEqual(readings.map((r) => plain.toBuffer(r).toString('hex')));
    expect(short).toEqual(
      readings.flatMap((r) => {
        const size = plain.toBuffer(r).length;
        return [encode(plain, r, size - 1), encode(plain, r, Math.floor(size / 3))];
      }),
    );
    expect(short.every((s) => s.end < 0)).toBe(true);
  });

  it.each([
    ['a string', 'warm'],
    ['undefined', undefined],
    ['a boolean', true],
  ])('refuses a metric that is %s, as avsc does', (_, value) => {
    // Arrange
    const reading = { ...randomReading(new Random(3)), temperature: value };

    // Act
    const fastError = (() => {
      try {
        fast.toBuffer(reading);
      } catch (error) {
        return (error as Error).message;
      }
      return 'encoded';
    })();

    // Assert
    expect(fastError).not.toBe('encoded');
    expect(() => plain.toBuffer(reading)).toThrow(fastError);
  });
});

describe('StringTable', () => {
  it('gives back each string right when far more distinct strings than slots pass through it', () => {
    // Arrange
    const table = new StringTable();
    const strings = Array.from({ length: 40_000 }, (_, i) => `device-${(i * 7919) % 40_000}`);
    const encoded = strings.map((s) => Buffer.from(`..${s}`));

    // Act: twice over, so later passes hit entries that collided and were overwritten
    const read = [...encoded, ...encoded].map((buf) => table.get(buf, 2, buf.length - 2));

    // Assert
    expect(read).toEqual([...strings, ...strings]);
  });

  it('keeps a fleet that fits it, and steps aside for one that does not, then tries again', () => {
    // Arrange
    const table = new StringTable();
    const ids = (count: number) => Array.from({ length: count }, (_, i) => Buffer.from(`gw-sensor-${i}`));
    const small = ids(1_000);
    const large = ids(40_000);
    const read = (bufs: Buffer[], times: number) => {
      const out: string[] = [];
      for (let t = 0; t < times; t++) for (const buf of bufs) out.push(table.get(buf, 0, buf.length));
      return out;
    };

    // Act
    const smallRead = read(small, 20);
    const afterSmall = { ...table.stats };
    const largeRead = read(large, 2);
    const afterLarge = { ...table.stats };
    read(small, Math.ceil((BYPASS_LOOKUPS + 2 * WINDOW) / small.length));

    // Assert: right strings throughout; the small fleet interned, the large one mostly bypassed
    expect(smallRead).toEqual(Array.from({ length: 20 }, () => small.map(String)).flat());
    expect(largeRead).toEqual([...large.map(String), ...large.map(String)]);
    expect(afterSmall.bypassed).toBe(0);
    expect(afterSmall.hits).toBeGreaterThan(0.9 * 20_000);
    expect(afterLarge.bypassed).toBeGreaterThan(0.9 * 80_000);
    expect(table.stats.hits - afterLarge.hits).toBeGreaterThan(0);
  });

  it('tells apart strings of equal length that differ in one byte, and the empty string', () => {
    // Arrange
    const table = new StringTable();
    const a = Buffer.from('abcdefgh');
    const b = Buffer.from('abcdefgi');

    // Act
    const read = [table.get(a, 0, 8), table.get(b, 0, 8), table.get(a, 0, 8), table.get(a, 3, 0)];

    // Assert
    expect(read).toEqual(['abcdefgh', 'abcdefgi', 'abcdefgh', '']);
  });
});
