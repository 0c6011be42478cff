import { cpSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import avsc from 'avsc';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { crc64Avro } from '../../../../functions/lib/codec/crc64-avro.ts';
import {
  decodeReading,
  encodeConfluent,
  encodeReading,
} from '../../../../functions/lib/codec/reading-codec.ts';
import { DEFAULT_SCHEMA_DIR, SchemaRegistry } from '../../../../functions/lib/codec/schema-registry.ts';
import { ConfigError, IngestError } from '../../../../functions/lib/errors.ts';
import { aReading, aV1Value, singleObjectWith, thrownBy } from './codec-fixtures.ts';

const dirs: string[] = [];

/** A copy of schemas/ to break on purpose. */
function schemaDirCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'schemas-'));
  cpSync(DEFAULT_SCHEMA_DIR, dir, { recursive: true });
  dirs.push(dir);
  return dir;
}

afterEach(() => {
  vi.restoreAllMocks();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe.each([
  ['load', async (dir?: string) => SchemaRegistry.load(dir)],
  ['loadAsync', (dir?: string) => SchemaRegistry.loadAsync(dir)],
])('SchemaRegistry.%s', (_name, load) => {
  it('loads the current schema, the history and the Confluent ids', async () => {
    // Act
    const registry = await load();

    // Assess
    const v1 = registry.lookupConfluentId(2);
    expect(registry.current.source).toBe('telemetry.avsc');
    expect(registry.lookupConfluentId(1)).toBe(registry.current);
    expect(v1?.source).toBe('history/telemetry-v1.avsc');
    expect(registry.fingerprints()).toEqual([registry.readerFingerprint, v1?.fingerprint]);
  });

  it('keys each writer by the CRC-64-AVRO fingerprint of its canonical form', async () => {
    // Prepare
    const registry = await load();

    // Act
    const value = crc64Avro(Buffer.from(registry.current.canonicalForm, 'utf8'));

    // Assess
    expect(registry.current.fingerprintValue).toBe(value);
    expect(registry.lookupFingerprint(value)).toBe(registry.current);
    expect(registry.lookupFingerprint(registry.readerFingerprint)).toBe(registry.current);
    expect(registry.lookupFingerprint(registry.current.fingerprintBytes)).toBe(registry.current);
    expect(registry.lookupFingerprint('0000000000000000')).toBeUndefined();
  });

  it('names the file when a history schema cannot be read as the current one', async () => {
    // Prepare
    const dir = schemaDirCopy();
    writeFileSync(
      join(dir, 'history', 'telemetry-v0.avsc'),
      JSON.stringify({
        type: 'record',
        name: 'io.iotingest.telemetry.Reading',
        fields: [{ name: 'deviceId', type: 'int' }],
      }),
    );

    // Act
    const error = await load(dir).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain('history/telemetry-v0.avsc');
    expect((error as Error).message).toContain('cannot read');
  });

  it('names a Confluent id whose file does not exist', async () => {
    // Prepare
    const dir = schemaDirCopy();
    writeFileSync(join(dir, 'confluent-ids.json'), JSON.stringify({ 7: 'history/telemetry-v9.avsc' }));

    // Act
    const error = await load(dir).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain('id 7 names history/telemetry-v9.avsc');
  });

  it('fails with the path when the current schema is missing', async () => {
    // Prepare
    const dir = schemaDirCopy();
    unlinkSync(join(dir, 'telemetry.avsc'));

    // Act
    const error = await load(dir).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain(join(dir, 'telemetry.avsc'));
  });

  it('works without history or Confluent ids', async () => {
    // Prepare
    const dir = schemaDirCopy();
    rmSync(join(dir, 'history'), { recursive: true });
    unlinkSync(join(dir, 'confluent-ids.json'));

    // Act
    const registry = await load(dir);

    // Assess
    expect(registry.fingerprints()).toEqual([registry.readerFingerprint]);
    expect(registry.confluentIds()).toEqual([]);
  });
});

describe('SchemaRegistry.register', () => {
  it('is idempotent and returns the fingerprint', () => {
    // Prepare
    const registry = SchemaRegistry.load();
    const schema = {
      type: 'record',
      name: 'io.iotingest.telemetry.Reading',
      fields: [
        { name: 'deviceId', type: 'string' },
        { name: 'ts', type: 'long' },
        { name: 'seq', type: 'long' },
      ],
    };

    // Act
    const first = registry.register(JSON.stringify(schema));
    const second = registry.register(schema);

    // Assess
    expect(second).toBe(first);
    expect(first.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect(registry.lookupFingerprint(first.fingerprint)).toBe(first);
  });

  it('returns the known writer for a schema that only differs in docs and defaults', () => {
    // Prepare
    const registry = SchemaRegistry.load();
    const annotated = JSON.parse(registry.current.canonicalForm) as { doc?: string };
    annotated.doc = 'same schema, other words';

    // Act
    const writer = registry.register(annotated);

    // Assess
    expect(writer).toBe(registry.current);
  });

  it('rejects a schema that cannot be read as the current one with SCHEMA_MISMATCH', () => {
    // Prepare
    const registry = SchemaRegistry.load();

    // Act
    const error = thrownBy(() => registry.register({ type: 'record', name: 'Other', fields: [] }));

    // Assess
    expect(error).toBeInstanceOf(IngestError);
    expect((error as IngestError).code).toBe('SCHEMA_MISMATCH');
    expect((error as Error).message).toContain('no alias found for Other');
  });
});

describe('SchemaRegistry on the hot path', () => {
  it('compiles no schema and builds no resolver while decoding', () => {
    // Prepare
    const registry = SchemaRegistry.load();
    const v1 = registry.lookupConfluentId(2)!;
    const payloads = [
      encodeReading(aReading(), registry),
      encodeConfluent(aReading(), 1, registry),
      singleObjectWith(v1, aV1Value()),
      Buffer.from(JSON.stringify(aReading())),
    ];
    const forSchema = vi.spyOn(avsc.Type, 'forSchema');
    const createResolver = vi.spyOn(avsc.Type.prototype, 'createResolver');

    // Act
    for (let i = 0; i < 1000; i++) for (const payload of payloads) decodeReading(payload, registry);

    // Assess, with a control that the spies see the registry's own compilation
    expect(forSchema).not.toHaveBeenCalled();
    expect(createResolver).not.toHaveBeenCalled();
    SchemaRegistry.load();
    expect(forSchema).toHaveBeenCalled();
    expect(createResolver).toHaveBeenCalled();
  });
});
