/**
 * Reads a parsed JSON value as a value of an Avro record type, the way a person typing into
 * mosquitto_pub would write it: union members as plain values (`"temperature": 21.5`), with the
 * Avro JSON encoding (`"temperature": {"double": 21.5}`, spec "JSON Encoding") accepted too; a
 * missing field takes its schema default (null for the nullable metrics); unknown fields and
 * non-integer ints/longs are errors that name the field.
 *
 * The checks are compiled once per type into a tree of small converters; a record costs one walk.
 * avsc's `isValid` would accept the value only after defaults were filled in and reports no reason,
 * so this is written by hand.
 */
import type { Type, types } from 'avsc';
import { RejectedRecordError } from '../errors.ts';
import { formatValue } from './avro-binary.ts';

/** Converts one JSON value at `path` or throws a RejectedRecordError (JSON_INVALID) naming it. */
type Converter = (value: unknown, path: string) => unknown;

const INT_MIN = -(2 ** 31);
const INT_MAX = 2 ** 31 - 1;

function mismatch(path: string, expected: string, value: unknown): RejectedRecordError {
  return new RejectedRecordError(
    'JSON_INVALID',
    `field '${path}': expected ${expected}, got ${formatValue(value)}`,
  );
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

/** A short name for messages: `long`, `map<string>`, `io.iotingest.telemetry.Reading`. */
function describe(type: Type): string {
  if (type.typeName === 'map') return `map<${describe((type as types.MapType).valuesType as Type)}>`;
  if (type.typeName === 'array') return `array<${describe((type as types.ArrayType).itemsType)}>`;
  return type.name ?? type.typeName;
}

export function compileJsonReader(type: Type): (value: unknown) => unknown {
  const convert = compile(type, new Map());
  return (value) => convert(value, '');
}

function compile(type: Type, named: Map<string, Converter>): Converter {
  switch (type.typeName) {
    case 'null':
      return (value, path) => {
        if (value !== null) throw mismatch(path, 'null', value);
        return null;
      };
    case 'boolean':
      return (value, path) => {
        if (typeof value !== 'boolean') throw mismatch(path, 'a boolean', value);
        return value;
      };
    case 'int':
      return (value, path) => {
        if (!Number.isInteger(value) || (value as number) < INT_MIN || (value as number) > INT_MAX) {
          throw mismatch(path, 'an integer (int, 32-bit)', value);
        }
        return value;
      };
    case 'long':
      return (value, path) => {
        if (!Number.isSafeInteger(value)) throw mismatch(path, 'an integer (long)', value);
        return value;
      };
    case 'float':
    case 'double':
      return (value, path) => {
        if (typeof value !== 'number') throw mismatch(path, `a number (${type.typeName})`, value);
        return value;
      };
    case 'string':
      return (value, path) => {
        if (typeof value !== 'string') throw mismatch(path, 'a string', value);
        return value;
      };
    case 'bytes':
      // Avro JSON encoding: each byte is one code point 0-255.
      return (value, path) => {
        if (typeof value !== 'string') throw mismatch(path, 'a string of bytes', value);
        return Buffer.from(value, 'latin1');
      };
    case 'fixed': {
      const size = (type as types.FixedType).size;
      return (value, path) => {
        if (typeof value !== 'string' || value.length !== size)
          throw mismatch(path, `a string of ${size} bytes`, value);
        return Buffer.from(value, 'latin1');
      };
    }
    case 'enum': {
      const symbols = new Set((type as types.EnumType).symbols);
      const expected = `one of ${[...symbols].join(', ')}`;
      return (value, path) => {
        if (typeof value !== 'string' || !symbols.has(value)) throw mismatch(path, expected, value);
        return value;
      };
    }
    case 'array': {
      const items = compile((type as types.ArrayType).itemsType, named);
      return (value, path) => {
        if (!Array.isArray(value)) throw mismatch(path, 'an array', value);
        return value.map((item, i) => items(item, `${path}[${i}]`));
      };
    }
    case 'map': {
      const values = compile((type as types.MapType).valuesType as Type, named);
      return (value, path) => {
        if (!isPlainObject(value)) throw mismatch(path, 'an object (map)', value);
        const map: Record<string, unknown> = {};
        for (const key of Object.keys(value)) {
          const converted = values(value[key], join(path, key));
          if (key === '__proto__') {
            Object.defineProperty(map, key, {
              value: converted,
              enumerable: true,
              writable: true,
              configurable: true,
            });
          } else map[key] = converted;
        }
        return map;
      };
    }
    case 'record':
    case 'error':
      return compileRecord(type as types.RecordType, named);
    default:
      if (type.typeName.startsWith('union'))
        return compileUnion((type as types.UnwrappedUnionType).types, named);
      if (type.typeName.startsWith('logical'))
        return compile((type as types.LogicalType).underlyingType, named);
      throw new Error(`JSON reading of Avro type ${type.typeName} is not supported`);
  }
}

function compileRecord(type: types.RecordType, named: Map<string, Converter>): Converter {
  const name = type.name ?? 'record';
  const existing = named.get(name);
  if (existing) return existing;
  // Registered before the fields compile so a recursive record refers to itself.
  let self: Converter = () => undefined;
  named.set(name, (value, path) => self(value, path));
  const fields = type.fields.map((field) => {
    const fallback = field.defaultValue() as unknown;
    return {
      name: field.name,
      convert: compile(field.type, named),
      hasDefault: fallback !== undefined,
      // Defaults are immutable in avsc's hands only if primitive; copy objects per record.
      fallback: () =>
        fallback !== null && typeof fallback === 'object' ? (field.defaultValue() as unknown) : fallback,
    };
  });
  const known = new Set(fields.map((field) => field.name));
  self = (value, path) => {
    if (!isPlainObject(value)) throw mismatch(path || '(root)', `an object (${name})`, value);
    for (const key of Object.keys(value)) {
      if (!known.has(key)) {
        throw new RejectedRecordError(
          'JSON_INVALID',
          `unknown field '${join(path, key)}': ${name} has ${[...known].join(', ')}`,
        );
      }
    }
    const record: Record<string, unknown> = {};
    for (const field of fields) {
      const fieldPath = join(path, field.name);
      const given = value[field.name];
      if (given === undefined) {
        if (!field.hasDefault)
          throw new RejectedRecordError('JSON_INVALID', `missing required field '${fieldPath}'`);
        record[field.name] = field.fallback();
      } else {
        record[field.name] = field.convert(given, fieldPath);
      }
    }
    return record;
  };
  return self;
}

function compileUnion(branches: readonly Type[], named: Map<string, Converter>): Converter {
  const hasNull = branches.some((branch) => branch.typeName === 'null');
  const others = branches.filter((branch) => branch.typeName !== 'null');
  const converters = others.map((branch) => compile(branch, named));
  // Avro JSON encoding names the branch: {"double": 1.5}, {"map": {...}}, {"ns.Record": {...}}.
  const byBranchName = new Map<string, Converter>();
  others.forEach((branch, i) => {
    byBranchName.set(branch.branchName ?? branch.typeName, converters[i] as Converter);
  });
  const expected = branches.map(describe).join(' or ');
  return (value, path) => {
    if (value === null) {
      if (hasNull) return null;
      throw mismatch(path, expected, value);
    }
    let firstError: unknown;
    for (const convert of converters) {
      try {
        return convert(value, path);
      } catch (error) {
        firstError ??= error;
      }
    }
    if (isPlainObject(value)) {
      const keys = Object.keys(value);
      const wrapped = keys.length === 1 ? byBranchName.get(keys[0] as string) : undefined;
      if (wrapped) return wrapped(value[keys[0] as string], path);
    }
    // With one non-null branch its own message is the precise one (e.g. the bad map entry).
    if (converters.length === 1) throw firstError;
    throw mismatch(path, expected, value);
  };
}
