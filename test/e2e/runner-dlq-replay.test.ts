/**
 * Schema evolution through the whole topology (raw -> validate -> valid -> write -> DuckDB) over
 * both streams, and the dead-letter workflow an operator follows: an unknown writer schema lands in
 * telemetry.dlq with a reason naming its fingerprint; `iot-ingest dlq list | show` explain it; the
 * schema file is dropped into schemas/history/; `iot-ingest dlq replay` puts the readings in the
 * store, once, however often it is run.
 */
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dlqCommand } from '../../functions/cli/dlq.ts';
import { encodeConfluent } from '../../functions/lib/codec/reading-codec.ts';
import { DEFAULT_SCHEMA_DIR, SchemaRegistry } from '../../functions/lib/codec/schema-registry.ts';
import type { Reading } from '../../functions/lib/reading.ts';
import { DuckDbStore } from '../../functions/lib/store/duckdb-store.ts';
import { STREAMS } from '../../functions/lib/streams/types.ts';
import { startTopology, type Topology } from '../../functions/runner/topology.ts';
import { bridgeHeaders } from '../fixtures/fakes.ts';
import { singleObjectWith } from '../functions/lib/codec/codec-fixtures.ts';
import { newerWriterSchema, unregisteredWriterSchema } from '../functions/validate/schemas.ts';
import { aReading, waitFor } from '../support/readings.ts';
import { availableStreams, type StreamHarness, startStreams, streamRecord } from './runner-harness.ts';

const streams = await availableStreams();

function cli(env: Record<string, string>) {
  return async (...argv: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await dlqCommand(argv, env, { out: (l) => out.push(l), err: (l) => err.push(l) });
    return { code, out: out.join('\n'), err: err.join('\n') };
  };
}

describe.each(streams)('schemas and dead letters over $kind', ({ kind, available }) => {
  let h: StreamHarness;
  let schemaDir: string;
  let store: DuckDbStore;
  let topology: Topology;
  let registry: SchemaRegistry;

  beforeAll(async () => {
    if (!available) return;
    h = await startStreams(kind);
    // The runner's own schema directory: the current schema, v1, and a newer firmware's v3
    schemaDir = mkdtempSync(join(tmpdir(), 'iot-schemas-'));
    cpSync(DEFAULT_SCHEMA_DIR, schemaDir, { recursive: true });
    writeFileSync(join(schemaDir, 'history', 'telemetry-v3.avsc'), JSON.stringify(newerWriterSchema()));
    registry = SchemaRegistry.load(schemaDir);
    store = await DuckDbStore.open(':memory:');
    topology = await startTopology({
      source: h.source,
      producer: h.producer,
      registry,
      store,
      reloadRegistry: () => SchemaRegistry.loadAsync(schemaDir),
      reloadIntervalMs: 0,
      retryDelayMs: () => 20,
    });
  });

  afterAll(async () => {
    await topology?.stop();
    await store?.close();
    await h?.stop();
    if (schemaDir) rmSync(schemaDir, { recursive: true, force: true });
  });

  const count = async (where: string) =>
    Number((await store.query(`SELECT count(*) FROM readings WHERE ${where}`)).rows[0]![0]);

  it.skipIf(!available)(
    'resolves older and newer writers, dead-letters an unknown one, and replays it once its schema is added',
    async () => {
      // Prepare: readings from four firmware generations
      const ts = Date.now() - 60_000;
      const one = (deviceId: string, seq: number, extra: Partial<Reading> = {}) =>
        aReading({
          deviceId,
          ts: ts + seq,
          seq,
          temperature: 21.5,
          humidity: 40.25,
          pressure: 1013.5,
          ...extra,
        });
      const v1 = registry.lookupConfluentId(2)!;
      const v3 = registry.lookupFingerprint(SchemaRegistry.load().register(newerWriterSchema()).fingerprint)!;
      const v4 = SchemaRegistry.load().register(unregisteredWriterSchema());
      const raw = (deviceId: string, value: Uint8Array) => ({
        key: deviceId,
        value,
        headers: bridgeHeaders(`telemetry/${deviceId}`),
      });
      const withoutV1Fields = ({ battery: _b, tags: _t, ...rest }: Reading) => rest;
      const withoutPressure = ({ pressure: _p, ...rest }: Reading) => rest;
      await h.producer.send(STREAMS.raw, [
        streamRecord(one('cur-1', 1, { battery: 80 }), registry),
        raw('v1-1', singleObjectWith(v1, withoutV1Fields(one('v1-1', 1)))),
        raw('v1-1', encodeConfluent(one('v1-1', 2), 2, registry)),
        raw('v3-1', singleObjectWith(v3, { ...withoutPressure(one('v3-1', 1)), firmware: '3.0.1' })),
        raw('json-1', Buffer.from(JSON.stringify(one('json-1', 1)))),
        ...[1, 2, 3].map((seq) =>
          raw('v4-1', singleObjectWith(v4, { ...one('v4-1', seq), site: 'plant-9' })),
        ),
      ]);

      // Act 1: the topology runs
      await waitFor(
        () => count('true'),
        (n) => n >= 5,
        { timeoutMs: 15_000 },
      );
      await waitFor(
        async () => topology.counters.rejected,
        (n) => n >= 3,
        { timeoutMs: 5_000 },
      );

      // Assess 1: every known writer resolved to the reader schema
      const rows = (
        await store.query(
          'SELECT device_id, seq, temperature, humidity, pressure, battery FROM readings ORDER BY device_id, seq',
        )
      ).rows;
      expect(rows).toEqual([
        ['cur-1', 1, 21.5, 40.25, 1013.5, 80],
        ['json-1', 1, 21.5, 40.25, 1013.5, 88],
        ['v1-1', 1, 21.5, 40.25, 1013.5, null],
        ['v1-1', 2, 21.5, 40.25, 1013.5, null],
        ['v3-1', 1, 21.5, 40.25, null, 88],
      ]);

      // Act 2: the operator looks at the dead letters
      const dlq = cli(h.env);
      const listed = await dlq('list', '--json');
      const summary = JSON.parse(listed.out) as {
        byReason: Record<string, number>;
        recent: { position: string; detail: string }[];
      };

      // Assess 2: the reason names the unknown fingerprint
      expect(listed.code).toBe(0);
      expect(summary.byReason).toEqual({ SCHEMA_UNKNOWN: 3 });
      expect(summary.recent[0]!.detail).toContain(v4.fingerprint);
      const shown = await dlq('show', summary.recent[0]!.position);
      expect(shown.code).toBe(0);
      expect(shown.out).toMatch(/reason\s+SCHEMA_UNKNOWN/);
      expect(shown.out).toContain('mqtt-topic: telemetry/v4-1');
      expect(shown.out).toMatch(/000000 {2}c3 01 /);

      // Act 3: the schema is added to the registry directory, the dead letters replayed, twice
      writeFileSync(
        join(schemaDir, 'history', 'telemetry-v4.avsc'),
        JSON.stringify(unregisteredWriterSchema()),
      );
      const replayed = await dlq('replay', '--reason', 'SCHEMA_UNKNOWN');
      await waitFor(
        () => count("device_id = 'v4-1'"),
        (n) => n >= 3,
        { timeoutMs: 15_000 },
      );
      const again = await dlq('replay', '--reason', 'SCHEMA_UNKNOWN', '--since', '1h');
      await waitFor(
        async () => topology.counters.duplicates,
        (n) => n >= 3,
        { timeoutMs: 15_000 },
      );

      // Assess 3: in the store, each exactly once
      expect(replayed.out).toMatch(/replayed 3 dead letter\(s\) into telemetry.raw/);
      expect(again.code).toBe(0);
      const v4Rows = (
        await store.query(
          "SELECT seq, count(*) FROM readings WHERE device_id = 'v4-1' GROUP BY seq ORDER BY seq",
        )
      ).rows;
      expect(v4Rows).toEqual([
        [1, 1],
        [2, 1],
        [3, 1],
      ]);
    },
  );
});
