import { describe, expect, it } from 'vitest';
import { compileSchema } from '../../../../functions/lib/codec/avro-binary.ts';
import { compileJsonReader } from '../../../../functions/lib/codec/json-reader.ts';
import { rejectionOf } from './codec-fixtures.ts';

const SCHEMA = {
  type: 'record',
  name: 'io.example.Device',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'port', type: 'int' },
    { name: 'mode', type: { type: 'enum', name: 'Mode', symbols: ['ON', 'OFF'] }, default: 'OFF' },
    { name: 'samples', type: { type: 'array', items: 'double' }, default: [] },
    { name: 'parent', type: ['null', 'io.example.Device'], default: null },
    { name: 'either', type: ['null', 'long', 'string'], default: null },
  ],
};

const read = compileJsonReader(compileSchema(SCHEMA));

describe('compileJsonReader', () => {
  it('fills defaults, reads nested and recursive records', () => {
    // Act
    const value = read({ id: 'a', port: 1, parent: { id: 'b', port: 2, mode: 'ON' } });

    // Assess
    expect(value).toEqual({
      id: 'a',
      port: 1,
      mode: 'OFF',
      samples: [],
      parent: { id: 'b', port: 2, mode: 'ON', samples: [], parent: null, either: null },
      either: null,
    });
  });

  it('gives each record its own copy of an object default', () => {
    // Act
    const first = read({ id: 'a', port: 1 }) as { samples: number[] };
    first.samples.push(1);
    const second = read({ id: 'b', port: 1 }) as { samples: number[] };

    // Assess
    expect(second.samples).toEqual([]);
  });

  it.each([
    [{ either: 5 }, 5],
    [{ either: 'five' }, 'five'],
    [{ either: { string: 'wrapped' } }, 'wrapped'],
    [{ either: { long: 6 } }, 6],
  ])('reads a union member from %j', (fields, expected) => {
    // Act
    const value = read({ id: 'a', port: 1, ...fields }) as { either: unknown };

    // Assess
    expect(value.either).toBe(expected);
  });

  it.each([
    [{ port: 2 ** 31 }, "field 'port': expected an integer (int, 32-bit)"],
    [{ mode: 'DIM' }, 'field \'mode\': expected one of ON, OFF, got the string "DIM"'],
    [{ samples: [1, 'x'] }, "field 'samples[1]': expected a number (double)"],
    [{ parent: { id: 'b' } }, "missing required field 'parent.port'"],
    [{ parent: { id: 'b', port: 1, colour: 'red' } }, "unknown field 'parent.colour'"],
    [{ either: true }, "field 'either': expected null or long or string, got the boolean true"],
  ])('rejects %j naming the path', (fields, message) => {
    // Act
    const error = rejectionOf(() => read({ id: 'a', port: 1, ...fields }));

    // Assess
    expect(error.code).toBe('JSON_INVALID');
    expect(error.message).toContain(message);
  });

  it('rejects a value that is not an object', () => {
    // Act
    const error = rejectionOf(() => read([1, 2]));

    // Assess
    expect(error.message).toBe("field '(root)': expected an object (io.example.Device), got an array");
  });
});
