import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileSchema } from '../../../../functions/lib/codec/avro-binary.ts';
import {
  CRC64_AVRO_EMPTY,
  crc64Avro,
  fingerprintOfCanonicalForm,
  parsingCanonicalForm,
  schemaFingerprint,
} from '../../../../functions/lib/codec/crc64-avro.ts';
import { DEFAULT_SCHEMA_DIR } from '../../../../functions/lib/codec/schema-registry.ts';

/**
 * The Avro project's cross-language vectors, share/test/data/schema-tests.txt (apache/avro, commit
 * 0ea74a36cebb2e5fbc37e599814a05c33cb7d424): input schema, its Parsing Canonical Form, and where
 * given, the CRC-64-AVRO fingerprint as Java's signed `long` (SchemaNormalization.parsingFingerprint64,
 * checked there against a direct implementation by TestSchemaNormalization).
 */
const SPEC_VECTORS: ReadonlyArray<{ id: string; input: string; canonical: string; fingerprint?: bigint }> = [
  { id: '000', input: '"null"', canonical: '"null"', fingerprint: 7195948357588979594n },
  { id: '001', input: '{"type":"null"}', canonical: '"null"' },
  { id: '002', input: '"boolean"', canonical: '"boolean"', fingerprint: -6970731678124411036n },
  { id: '003', input: '{"type":"boolean"}', canonical: '"boolean"' },
  { id: '004', input: '"int"', canonical: '"int"', fingerprint: 8247732601305521295n },
  { id: '005', input: '{"type":"int"}', canonical: '"int"' },
  { id: '006', input: '"long"', canonical: '"long"', fingerprint: -3434872931120570953n },
  { id: '007', input: '{"type":"long"}', canonical: '"long"' },
  { id: '008', input: '"float"', canonical: '"float"', fingerprint: 5583340709985441680n },
  { id: '009', input: '{"type":"float"}', canonical: '"float"' },
  { id: '010', input: '"double"', canonical: '"double"', fingerprint: -8181574048448539266n },
  { id: '011', input: '{"type":"double"}', canonical: '"double"' },
  { id: '012', input: '"bytes"', canonical: '"bytes"', fingerprint: 5746618253357095269n },
  { id: '013', input: '{"type":"bytes"}', canonical: '"bytes"' },
  { id: '014', input: '"string"', canonical: '"string"', fingerprint: -8142146995180207161n },
  { id: '015', input: '{"type":"string"}', canonical: '"string"' },
  { id: '016', input: '[  ]', canonical: '[]', fingerprint: -1241056759729112623n },
  { id: '017', input: '[ "int"  ]', canonical: '["int"]', fingerprint: -5232228896498058493n },
  {
    id: '018',
    input: '[ "int" , {"type":"boolean"} ]',
    canonical: '["int","boolean"]',
    fingerprint: 5392556393470105090n,
  },
  {
    id: '019',
    input: '{"fields":[], "type":"record", "name":"foo"}',
    canonical: '{"name":"foo","type":"record","fields":[]}',
    fingerprint: -4824392279771201922n,
  },
  {
    id: '020',
    input: '{"fields":[], "type":"record", "name":"foo", "namespace":"x.y"}',
    canonical: '{"name":"x.y.foo","type":"record","fields":[]}',
    fingerprint: 5916914534497305771n,
  },
  {
    id: '021',
    input: '{"fields":[], "type":"record", "name":"a.b.foo", "namespace":"x.y"}',
    canonical: '{"name":"a.b.foo","type":"record","fields":[]}',
    fingerprint: -4616218487480524110n,
  },
  {
    id: '022',
    input: '{"fields":[], "type":"record", "name":"foo", "doc":"Useful info"}',
    canonical: '{"name":"foo","type":"record","fields":[]}',
    fingerprint: -4824392279771201922n,
  },
  {
    id: '023',
    input: '{"fields":[], "type":"record", "name":"foo", "aliases":["foo","bar"]}',
    canonical: '{"name":"foo","type":"record","fields":[]}',
    fingerprint: -4824392279771201922n,
  },
  {
    id: '024',
    input: '{"fields":[], "type":"record", "name":"foo", "doc":"foo", "aliases":["foo","bar"]}',
    canonical: '{"name":"foo","type":"record","fields":[]}',
    fingerprint: -4824392279771201922n,
  },
  {
    id: '025',
    input: '{"fields":[{"type":{"type":"boolean"}, "name":"f1"}], "type":"record", "name":"foo"}',
    canonical: '{"name":"foo","type":"record","fields":[{"name":"f1","type":"boolean"}]}',
    fingerprint: 7843277075252814651n,
  },
  {
    id: '026',
    input:
      '{ "fields":[{"type":"boolean", "aliases":[], "name":"f1", "default":"true"},\n' +
      '            {"order":"descending","name":"f2","doc":"Hello","type":"int"}],\n' +
      '  "type":"record", "name":"foo"\n}',
    canonical:
      '{"name":"foo","type":"record","fields":[{"name":"f1","type":"boolean"},{"name":"f2","type":"int"}]}',
    fingerprint: -4860222112080293046n,
  },
  {
    id: '027',
    input: '{"type":"enum", "name":"foo", "symbols":["A1"]}',
    canonical: '{"name":"foo","type":"enum","symbols":["A1"]}',
    fingerprint: -6342190197741309591n,
  },
  {
    id: '028',
    input: '{"namespace":"x.y.z", "type":"enum", "name":"foo", "doc":"foo bar", "symbols":["A1", "A2"]}',
    canonical: '{"name":"x.y.z.foo","type":"enum","symbols":["A1","A2"]}',
    fingerprint: -4448647247586288245n,
  },
  {
    id: '029',
    input: '{"name":"foo","type":"fixed","size":15}',
    canonical: '{"name":"foo","type":"fixed","size":15}',
    fingerprint: 1756455273707447556n,
  },
  {
    id: '030',
    input: '{"namespace":"x.y.z", "type":"fixed", "name":"foo", "doc":"foo bar", "size":32}',
    canonical: '{"name":"x.y.z.foo","type":"fixed","size":32}',
    fingerprint: -3064184465700546786n,
  },
  {
    id: '031',
    input: '{ "items":{"type":"null"}, "type":"array"}',
    canonical: '{"type":"array","items":"null"}',
    fingerprint: -589620603366471059n,
  },
  {
    id: '032',
    input: '{ "values":"string", "type":"map"}',
    canonical: '{"type":"map","values":"string"}',
    fingerprint: -8732877298790414990n,
  },
  {
    id: '033',
    input:
      '{"name":"PigValue","type":"record",\n   "fields":[{"name":"value", "type":["null", "int", "long", "PigValue"]}]}',
    canonical:
      '{"name":"PigValue","type":"record","fields":[{"name":"value","type":["null","int","long","PigValue"]}]}',
    fingerprint: -1759257747318642341n,
  },
];

/**
 * Schemas avsc refuses to compile, so they can never reach the registry: 016 is an empty union and
 * 026 gives a boolean field the string default "true" (Java parses it leniently).
 */
const NOT_COMPILABLE_BY_AVSC = new Set(['016', '026']);

/**
 * CRC-64-AVRO column of FINGERPRINT_EXAMPLES in apache/avro lang/py/avro/test/test_schema.py (commit
 * 401125b7775b7067bf0497bfac7b0fcbf1128902): hex of the 8 little-endian bytes, i.e. the order they
 * follow C3 01 in single-object encoding. These exercise the whole path, schema -> PCF -> CRC.
 * HandshakeRequest is left out and tested below: Python expands a named type each time it is used.
 */
const PYTHON_VECTORS: ReadonlyArray<[schema: unknown, hex: string]> = [
  ['"int"', '8f5c393f1ad57572'],
  [{ type: 'int' }, '8f5c393f1ad57572'],
  ['"float"', '90d7a83ecb027c4d'],
  ['"long"', 'b71df49344e154d0'],
  ['"double"', '7e95ab32c035758e'],
  ['"bytes"', '651920c3da16c04f'],
  ['"string"', 'c70345637248018f'],
  ['"boolean"', '64f7d4a478fc429f'],
  ['"null"', '8a8f25cce724dd63'],
  [{ type: 'fixed', name: 'Test', size: 1 }, '6869897b4049355b'],
  [{ type: 'fixed', name: 'MyFixed', namespace: 'org.apache.hadoop.avro', size: 1 }, 'fadbd138e85bdf45'],
  [{ type: 'enum', name: 'Test', symbols: ['A', 'B'] }, '03a2f2c2e27f7a16'],
  [{ type: 'enum', name: 'Test', symbols: ['A', 'B'], doc: 'Doc String' }, '03a2f2c2e27f7a16'],
  [{ type: 'array', items: 'long' }, '715e2ea28bc91654'],
  [{ type: 'array', items: { type: 'enum', name: 'Test', symbols: ['A', 'B'] } }, '10d9ade1fa3a0387'],
  [{ type: 'map', values: 'long' }, '6f74f4e409b1334e'],
  [{ type: 'map', values: { type: 'enum', name: 'Test', symbols: ['A', 'B'] } }, 'df2ab0626f6b812d'],
  [['string', 'null', 'long'], '65a5be410d687566'],
  [{ type: 'record', name: 'Test', fields: [{ name: 'f', type: 'long' }] }, 'ed94e5f5e6eb588e'],
  [
    {
      type: 'record',
      name: 'Node',
      fields: [
        { name: 'label', type: 'string' },
        { name: 'children', type: { type: 'array', items: 'Node' } },
      ],
    },
    '52cba544c3e756b7',
  ],
  [
    {
      type: 'record',
      name: 'Lisp',
      fields: [
        {
          name: 'value',
          type: [
            'null',
            'string',
            {
              type: 'record',
              name: 'Cons',
              fields: [
                { name: 'car', type: 'Lisp' },
                { name: 'cdr', type: 'Lisp' },
              ],
            },
          ],
        },
      ],
    },
    '68d91a23eda0b306',
  ],
  [
    {
      type: 'record',
      name: 'HandshakeResponse',
      namespace: 'org.apache.avro.ipc',
      fields: [
        {
          name: 'match',
          type: { type: 'enum', name: 'HandshakeMatch', symbols: ['BOTH', 'CLIENT', 'NONE'] },
        },
        { name: 'serverProtocol', type: ['null', 'string'] },
        { name: 'serverHash', type: ['null', { name: 'MD5', size: 16, type: 'fixed' }] },
        { name: 'meta', type: ['null', { type: 'map', values: 'bytes' }] },
      ],
    },
    '00feee01de4ea50e',
  ],
  [
    {
      type: 'record',
      name: 'Interop',
      namespace: 'org.apache.avro',
      fields: [
        { name: 'intField', type: 'int' },
        { name: 'longField', type: 'long' },
        { name: 'stringField', type: 'string' },
        { name: 'boolField', type: 'boolean' },
        { name: 'floatField', type: 'float' },
        { name: 'doubleField', type: 'double' },
        { name: 'bytesField', type: 'bytes' },
        { name: 'nullField', type: 'null' },
        { name: 'arrayField', type: { type: 'array', items: 'double' } },
        {
          name: 'mapField',
          type: {
            type: 'map',
            values: { name: 'Foo', type: 'record', fields: [{ name: 'label', type: 'string' }] },
          },
        },
        { name: 'unionField', type: ['boolean', 'double', { type: 'array', items: 'bytes' }] },
        { name: 'enumField', type: { type: 'enum', name: 'Kind', symbols: ['A', 'B', 'C'] } },
        { name: 'fixedField', type: { type: 'fixed', name: 'MD5', size: 16 } },
        {
          name: 'recordField',
          type: {
            type: 'record',
            name: 'Node',
            fields: [
              { name: 'label', type: 'string' },
              { name: 'children', type: { type: 'array', items: 'Node' } },
            ],
          },
        },
      ],
    },
    'e82c0a93a6a0b5a4',
  ],
  [
    {
      type: 'record',
      name: 'ipAddr',
      fields: [
        {
          name: 'addr',
          type: [
            { name: 'IPv6', type: 'fixed', size: 16 },
            { name: 'IPv4', type: 'fixed', size: 4 },
          ],
        },
      ],
    },
    '8d961b4e298a1844',
  ],
  [
    {
      type: 'record',
      name: 'TestDoc',
      doc: 'Doc string',
      fields: [{ name: 'name', type: 'string', doc: 'Doc String' }],
    },
    '0e6660f02bcdc109',
  ],
];

describe('crc64Avro', () => {
  it('is EMPTY for no bytes', () => {
    // Act
    const fingerprint = crc64Avro(new Uint8Array(0));

    // Assess
    expect(fingerprint).toBe(CRC64_AVRO_EMPTY);
    expect(fingerprint).toBe(0xc15d213aa4d7a795n);
  });

  it.each(SPEC_VECTORS.filter((v) => v.fingerprint !== undefined))(
    'matches the Avro spec vector $id ($canonical)',
    ({ canonical, fingerprint }) => {
      // Act
      const value = crc64Avro(Buffer.from(canonical, 'utf8'));

      // Assess: the vectors are Java longs, so compare as signed 64-bit
      expect(BigInt.asIntN(64, value)).toBe(fingerprint);
    },
  );

  it('gives the 8 wire bytes little-endian, as the Java and Python vectors agree', () => {
    // Act
    const fingerprint = fingerprintOfCanonicalForm('"int"');

    // Assess: 8247732601305521295 = 0x7275d51a3f395c8f (Java), 8f5c393f1ad57572 (Python)
    expect(fingerprint.value).toBe(0x7275d51a3f395c8fn);
    expect(fingerprint.value).toBe(8247732601305521295n);
    expect(fingerprint.hex).toBe('8f5c393f1ad57572');
    expect([...fingerprint.bytes]).toEqual([0x8f, 0x5c, 0x39, 0x3f, 0x1a, 0xd5, 0x75, 0x72]);
  });
});

describe('parsingCanonicalForm (avsc schema())', () => {
  it.each(SPEC_VECTORS.filter((v) => !NOT_COMPILABLE_BY_AVSC.has(v.id)))(
    'gives the canonical form of spec vector $id',
    ({ input, canonical }) => {
      // Prepare
      const type = compileSchema(input);

      // Act
      const pcf = parsingCanonicalForm(type);

      // Assess
      expect(pcf).toBe(canonical);
    },
  );

  it.each(PYTHON_VECTORS)('fingerprints %j as %s', (schema, hex) => {
    // Prepare
    const type = compileSchema(schema);

    // Act
    const fingerprint = schemaFingerprint(type);

    // Assess
    expect(fingerprint.hex).toBe(hex);
  });

  it('refers to a named type by its full name after its definition, as Java does', () => {
    // Prepare: Python's HandshakeRequest vector (43818703b7b5d769) repeats MD5's definition in
    // serverHash; Java's SchemaNormalization.build (apache/avro lang/java/avro/.../SchemaNormalization.java,
    // commit 0ea74a36) and spec vector 033 write the name. Java is the reference implementation.
    const md5 = '{"name":"org.apache.avro.ipc.MD5","type":"fixed","size":16}';
    const canonical = (serverHash: string) =>
      '{"name":"org.apache.avro.ipc.HandshakeRequest","type":"record","fields":[' +
      `{"name":"clientHash","type":${md5}},{"name":"clientProtocol","type":["null","string"]},` +
      `{"name":"serverHash","type":${serverHash}},{"name":"meta","type":["null",{"type":"map","values":"bytes"}]}]}`;
    const type = compileSchema({
      type: 'record',
      name: 'HandshakeRequest',
      namespace: 'org.apache.avro.ipc',
      fields: [
        { name: 'clientHash', type: { type: 'fixed', name: 'MD5', size: 16 } },
        { name: 'clientProtocol', type: ['null', 'string'] },
        { name: 'serverHash', type: 'MD5' },
        { name: 'meta', type: ['null', { type: 'map', values: 'bytes' }] },
      ],
    });

    // Act
    const pcf = parsingCanonicalForm(type);

    // Assess: the Java form, and the CRC agrees with Python's vector over Python's form
    expect(pcf).toBe(canonical('"org.apache.avro.ipc.MD5"'));
    expect(fingerprintOfCanonicalForm(canonical(md5)).hex).toBe('43818703b7b5d769');
  });

  it('strips doc and defaults and uses full names for the telemetry schema', () => {
    // Prepare
    const type = compileSchema(readFileSync(join(DEFAULT_SCHEMA_DIR, 'telemetry.avsc'), 'utf8'));

    // Act
    const pcf = parsingCanonicalForm(type);

    // Assess
    const nullableDouble = (name: string) => `{"name":"${name}","type":["null","double"]}`;
    expect(pcf).toBe(
      '{"name":"io.iotingest.telemetry.Reading","type":"record","fields":[' +
        '{"name":"deviceId","type":"string"},{"name":"ts","type":"long"},{"name":"seq","type":"long"},' +
        ['temperature', 'humidity', 'pressure', 'vibration', 'battery'].map(nullableDouble).join(',') +
        ',{"name":"tags","type":["null",{"type":"map","values":"string"}]}]}',
    );
  });

  it('qualifies nested enum names in the alert schema', () => {
    // Prepare
    const type = compileSchema(readFileSync(join(DEFAULT_SCHEMA_DIR, 'alert.avsc'), 'utf8'));

    // Act
    const pcf = JSON.parse(parsingCanonicalForm(type)) as { fields: Array<{ name: string; type: unknown }> };

    // Assess
    expect(pcf.fields.find((f) => f.name === 'status')?.type).toEqual({
      name: 'io.iotingest.alerts.AlertStatus',
      type: 'enum',
      symbols: ['open', 'resolved'],
    });
    expect(pcf.fields.find((f) => f.name === 'repeats')).toEqual({ name: 'repeats', type: 'int' });
  });
});
