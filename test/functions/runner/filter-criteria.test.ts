import { describe, expect, it } from 'vitest';
import { compileFilterCriteria, jsonOrUndefined } from '../../../functions/runner/filter-criteria.ts';

const filter = (...patterns: unknown[]) =>
  compileFilterCriteria({ Filters: patterns.map((p) => ({ Pattern: JSON.stringify(p) })) })!;

describe('compileFilterCriteria', () => {
  const reading = { deviceId: 'dev-17', temperature: 91.5, status: 'OK', tags: ['a', 'b'], site: null };

  it.each([
    ['exact string', { data: { deviceId: ['dev-17'] } }, true],
    ['exact miss', { data: { deviceId: ['dev-18'] } }, false],
    ['one of several', { data: { deviceId: ['x', 'dev-17'] } }, true],
    ['null', { data: { site: [null] } }, true],
    ['prefix', { data: { deviceId: [{ prefix: 'dev-1' }] } }, true],
    ['suffix', { data: { deviceId: [{ suffix: '-17' }] } }, true],
    ['equals-ignore-case', { data: { status: [{ 'equals-ignore-case': 'ok' }] } }, true],
    ['anything-but', { data: { status: [{ 'anything-but': ['FAULT'] }] } }, true],
    ['anything-but miss', { data: { status: [{ 'anything-but': 'OK' }] } }, false],
    ['anything-but prefix', { data: { deviceId: [{ 'anything-but': { prefix: 'gw-' } }] } }, true],
    ['numeric range', { data: { temperature: [{ numeric: ['>', 85, '<=', 100] }] } }, true],
    ['numeric miss', { data: { temperature: [{ numeric: ['<', 85] }] } }, false],
    ['exists', { data: { temperature: [{ exists: true }] } }, true],
    ['not exists', { data: { battery: [{ exists: false }] } }, true],
    ['array field, any element', { data: { tags: ['b'] } }, true],
    ['all keys must match', { data: { deviceId: ['dev-17'], status: ['FAULT'] } }, false],
    ['metadata', { partitionKey: ['dev-17'] }, true],
  ])('%s', (_name, pattern, expected) => {
    expect(filter(pattern).matches({ partitionKey: 'dev-17', data: reading })).toBe(expected);
  });

  it('passes a record when any of its filters matches', () => {
    const f = filter({ partitionKey: ['a'] }, { partitionKey: ['b'] });
    expect(f.matches({ partitionKey: 'b' })).toBe(true);
    expect(f.matches({ partitionKey: 'c' })).toBe(false);
  });

  it('does not match a data pattern against a payload that is not JSON', () => {
    const f = filter({ data: { temperature: [{ numeric: ['>', 0] }] } });
    expect(f.fields.has('data')).toBe(true);
    expect(f.matches({ partitionKey: 'x' })).toBe(false);
  });

  it('compiles nothing for no filters, and refuses what it does not support, saying where', () => {
    expect(compileFilterCriteria(undefined)).toBeUndefined();
    expect(compileFilterCriteria({ Filters: [] })).toBeUndefined();
    expect(() => filter({ $or: [{ a: [1] }] })).toThrow(/pattern 1\.\$or.*not supported/);
    expect(() => filter({ data: { ip: [{ cidr: '10.0.0.0/8' }] } })).toThrow(/"cidr" is not supported/);
    expect(() => filter({ data: { t: [{ numeric: ['>'] }] } })).toThrow(/numeric/);
    expect(() => filter({ data: 5 })).toThrow(/list of values or a nested object/);
    expect(() => compileFilterCriteria({ Filters: [{ Pattern: '{' }] })).toThrow(/not JSON/);
    expect(() => filter({}, {}, {}, {}, {}, {})).toThrow(/at most 5/);
  });
});

describe('jsonOrUndefined', () => {
  it('parses JSON objects and arrays, and nothing else', () => {
    expect(jsonOrUndefined(Buffer.from(' {"a":1}'))).toEqual({ a: 1 });
    expect(jsonOrUndefined(Buffer.from('[1]'))).toEqual([1]);
    expect(jsonOrUndefined(Buffer.from([0xc3, 0x01, 0x7b]))).toBeUndefined();
    expect(jsonOrUndefined(Buffer.from('{"a":'))).toBeUndefined();
  });
});
