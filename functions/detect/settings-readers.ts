/**
 * Small checked readers for JSON settings: each names the field (`where`) and what it expects, so a
 * bad value stops the start with a message that says what to fix (ConfigError).
 */
import type { Severity } from '../lib/codec/alert-codec.ts';
import { ConfigError } from '../lib/errors.ts';

export type Json = Record<string, unknown>;

const SEVERITIES: readonly Severity[] = ['info', 'warning', 'critical'];

export function object(value: unknown, where: string): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError(`${where} must be an object, got ${show(value)}`);
  }
  return value as Json;
}

export function allowKeys(value: Json, allowed: readonly string[], source: string, path: string): void {
  for (const key of Object.keys(value)) {
    if (key.startsWith('$')) continue; // "$comment" and the like
    if (!allowed.includes(key)) {
      const field = path === '' ? key : `${path}.${key}`;
      throw new ConfigError(`${source}: unknown field ${field}; expected one of ${allowed.join(', ')}`);
    }
  }
}

export function num(
  value: unknown,
  where: string,
  limits: { min?: number; gt?: number; integer?: boolean },
): number {
  if (typeof value !== 'number' || !Number.isFinite(value))
    throw new ConfigError(`${where} must be a number, got ${show(value)}`);
  if (limits.min !== undefined && value < limits.min)
    throw new ConfigError(`${where} must be >= ${limits.min}, got ${value}`);
  if (limits.gt !== undefined && value <= limits.gt)
    throw new ConfigError(`${where} must be > ${limits.gt}, got ${value}`);
  if (limits.integer === true && !Number.isInteger(value))
    throw new ConfigError(`${where} must be an integer, got ${value}`);
  return value;
}

export function nullableNum(value: unknown, where: string, limits: { gt?: number }): number | null {
  return value === null ? null : num(value, `${where} (or null for none)`, limits);
}

export function bool(value: unknown, where: string): boolean {
  if (typeof value !== 'boolean') throw new ConfigError(`${where} must be true or false, got ${show(value)}`);
  return value;
}

export function severity(value: unknown, where: string): Severity {
  if (!SEVERITIES.includes(value as Severity))
    throw new ConfigError(`${where} must be one of ${SEVERITIES.join(', ')}, got ${show(value)}`);
  return value as Severity;
}

export function show(value: unknown): string {
  return value === undefined ? 'nothing' : JSON.stringify(value);
}

/** Field-by-field merge of plain objects; `over` wins; arrays and scalars replace. */
export function merge(base: Readonly<Json>, over: Readonly<Json>): Json {
  const out: Json = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const prior = out[key];
    out[key] = isPlainObject(prior) && isPlainObject(value) ? merge(prior as Json, value as Json) : value;
  }
  return out;
}

function isPlainObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
