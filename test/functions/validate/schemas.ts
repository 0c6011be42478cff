/** Writer schemas other firmware versions use, for the schema evolution tests. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_SCHEMA_DIR } from '../../../functions/lib/codec/schema-registry.ts';

interface RecordSchema {
  type: 'record';
  name: string;
  namespace?: string;
  doc?: string;
  fields: { name: string; type: unknown; default?: unknown; doc?: string }[];
}

export function currentSchema(): RecordSchema {
  return JSON.parse(readFileSync(join(DEFAULT_SCHEMA_DIR, 'telemetry.avsc'), 'utf8')) as RecordSchema;
}

/**
 * A newer firmware's writer: adds `firmware` (with a default, unknown to the reader) and no longer
 * sends the optional `pressure` (the reader fills its default, null).
 */
export function newerWriterSchema(): RecordSchema {
  const schema = currentSchema();
  schema.doc = 'v3 (test): adds firmware, drops pressure';
  schema.fields = schema.fields.filter((f) => f.name !== 'pressure');
  schema.fields.push({ name: 'firmware', type: ['null', 'string'], default: null });
  return schema;
}

/** A writer no registry knows until it is registered: adds a `site` field. */
export function unregisteredWriterSchema(): RecordSchema {
  const schema = currentSchema();
  schema.doc = 'v4 (test): adds site';
  schema.fields.push({ name: 'site', type: 'string', default: 'plant-1' });
  return schema;
}
