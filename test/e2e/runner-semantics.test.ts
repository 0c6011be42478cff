/**
 * The runner's Lambda event source mapping semantics over real streams, Kinesis and Kafka alike:
 * partial batch responses, retries, bisect, the dead-letter destination, record age, filtering,
 * and (Kinesis) ParallelizationFactor with per-key order.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SchemaRegistry } from '../../functions/lib/codec/schema-registry.ts';
import { itemKey, sourceRecords } from '../../functions/lib/events/source-records.ts';
import type { BatchHandler, StreamEvent } from '../../functions/lib/events/types.ts';
import { HEADER } from '../../functions/lib/reading.ts';
import { STREAMS } from '../../functions/lib/streams/types.ts';
import { defineMapping } from '../../functions/runner/mapping.ts';
import { createWriteHandler } from '../../functions/write/handler.ts';
import { MemoryStore } from '../fixtures/fakes.ts';
import { aReading, waitFor } from '../support/readings.ts';
import {
  availableStreams,
  onlyKeysStartingWith,
  type StreamHarness,
  startStreams,
  streamRecord,
} from './runner-harness.ts';

const streams = await availableStreams();
const registry = SchemaRegistry.load();

/** Wraps a handler to log, per invocation, the seq of every record it completed (those before the first failure). */
function recording(handler: BatchHandler) {
  const completed: { key: string; seq: number }[] = [];
  const invocations: number[] = [];
  const wrapped: BatchHandler = async (event: StreamEvent) => {
    const records = sourceRecords(event);
    invocations.push(records.length);
    const response = await handler(event);
    const failed = new Set(response.batchItemFailures.map((f) => itemKey(f.itemIdentifier)));
    for (const r of records) {
      if (failed.has(itemKey(r.itemIdentifier))) break;
      completed.push({ key: r.key, seq: Number(r.headers.seq ?? -1) });
    }
    return response;
  };
  return { wrapped, completed, invocations };
}

describe.each(streams)('runner over $kind', ({ kind, available }) => {
  let h: StreamHarness;
  beforeAll(async () => {
    if (available) h = await startStreams(kind);
  });
  afterAll(async () => {
    await h?.stop();
  });

  it.skipIf(!available)(
    'reports exactly the bad records; a poison record is retried, bisected and dead-lettered with its reason while the records behind it go on in order',
    async () => {
      // Prepare: 30 readings of one device (one partition / shard), two of them undecodable
      const device = `${kind}-poison-1`;
      const records = Array.from({ length: 30 }, (_, seq) => {
        const r = streamRecord(aReading({ deviceId: device, seq }), registry);
        r.headers = { ...r.headers, seq: String(seq) };
        return r;
      });
      const poison = [12, 25];
      for (const i of poison)
        records[i] = { ...records[i]!, value: Buffer.from([0xc3, 0x01, 0xba, 0xd0, i]) };
      await h.producer.send(STREAMS.valid, records);
      const store = new MemoryStore();
      const notes = new Map<string, string>();
      const write = recording(
        createWriteHandler({
          store,
          registry,
          onRecordFailure: (f) => notes.set(itemKey(f.record.itemIdentifier)!, `${f.code}: ${f.detail}`),
        }),
      );

      // Act
      const running = await h.start({
        mapping: defineMapping({
          FunctionName: `${kind}-poison`,
          EventSource: STREAMS.valid,
          BatchSize: 10,
          BisectBatchOnFunctionError: true,
          MaximumRetryAttempts: 2,
          FunctionResponseTypes: ['ReportBatchItemFailures'],
          DestinationConfig: { OnFailure: { Destination: STREAMS.dlq } },
          FilterCriteria: onlyKeysStartingWith(kind, `${kind}-poison-`),
        }),
        handler: write.wrapped,
        failureDetail: (key) => notes.get(key),
      });
      await waitFor(
        async () => running.stats.sentToDestination + write.completed.length,
        (n) => n >= 30,
        { timeoutMs: 20_000, intervalMs: 50 },
      );
      const dead = await h.deadLetters(`${kind}-poison-`);

      // Assess: the store has every good reading once
      expect(store.rows.size).toBe(28);
      // Each poison record, alone, went to the dead-letter stream: original bytes, reason, origin
      expect(dead.map((d) => Number(d.headers.seq)).sort((a, b) => a - b)).toEqual(poison);
      for (const d of dead) {
        expect(d.headers[HEADER.reason]).toBe('RETRIES_EXHAUSTED');
        expect(d.headers[HEADER.detail]).toMatch(/AVRO_(INVALID|TRUNCATED).*\(3 attempts\)/);
        expect(d.headers[HEADER.origin]).not.toBe('');
        expect(d.value.equals(records[Number(d.headers.seq)]!.value as Buffer)).toBe(true);
        expect(d.headers[HEADER.mqttTopic]).toBe(`telemetry/${device}`);
      }
      // Records completed in stream order, none skipped
      const firstSeen = [...new Set(write.completed.map((c) => c.seq))];
      expect(firstSeen).toEqual([...Array(30).keys()].filter((s) => !poison.includes(s)));
      expect(running.stats.bisections).toBeGreaterThan(0);
      expect(running.stats.retries).toBe(4);
      expect(running.stats.sentToDestination).toBe(2);
    },
  );

  it.skipIf(!available)(
    'sends records older than MaximumRecordAgeInSeconds to the destination without invoking',
    async () => {
      // Prepare: records 1.5 s old by the time the mapping reads them
      const prefix = `${kind}-old-`;
      await h.producer.send(
        STREAMS.valid,
        [0, 1, 2].map((seq) => streamRecord(aReading({ deviceId: `${prefix}1`, seq }), registry)),
      );
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      let invoked = 0;

      // Act
      const running = await h.start({
        mapping: defineMapping({
          FunctionName: `${kind}-old`,
          EventSource: STREAMS.valid,
          MaximumRecordAgeInSeconds: 1,
          DestinationConfig: { OnFailure: { Destination: STREAMS.dlq } },
          FilterCriteria: onlyKeysStartingWith(kind, prefix),
        }),
        handler: async () => {
          invoked++;
          return { batchItemFailures: [] };
        },
      });
      await waitFor(
        async () => running.stats.sentToDestination,
        (n) => n >= 3,
        { timeoutMs: 15_000, intervalMs: 50 },
      );
      const dead = await h.deadLetters(prefix);

      // Assess
      expect(dead.map((d) => d.headers[HEADER.reason])).toEqual([
        'RECORD_EXPIRED',
        'RECORD_EXPIRED',
        'RECORD_EXPIRED',
      ]);
      expect(invoked).toBe(0);
      expect(running.stats.expired).toBe(3);
    },
  );

  // Only kinesis has this; the other stream gets no test rather than a skipped one.
  if (kind === 'kinesis') {
    it.skipIf(!available)(
      'ParallelizationFactor runs batches of one shard side by side and keeps each partition key in order',
      async () => {
        // Prepare: 8 devices x 25 readings, interleaved
        const prefix = `${kind}-par-`;
        const readings = [];
        for (let seq = 0; seq < 25; seq++)
          for (let d = 0; d < 8; d++) readings.push(aReading({ deviceId: `${prefix}${d}`, seq }));
        await h.producer.send(
          STREAMS.valid,
          readings.map((r) => ({ ...streamRecord(r, registry), headers: { seq: String(r.seq) } })),
        );
        const seen = new Map<string, number[]>();
        let inFlight = 0;
        let maxInFlight = 0;

        // Act
        const running = await h.start({
          mapping: defineMapping({
            FunctionName: `${kind}-par`,
            EventSource: STREAMS.valid,
            BatchSize: 5,
            ParallelizationFactor: 4,
            FilterCriteria: onlyKeysStartingWith(kind, prefix),
          }),
          handler: async (event) => {
            inFlight++;
            maxInFlight = Math.max(maxInFlight, inFlight);
            await new Promise((resolve) => setTimeout(resolve, 15));
            for (const r of sourceRecords(event))
              seen.set(r.key, [...(seen.get(r.key) ?? []), Number(r.headers.seq)]);
            inFlight--;
            return { batchItemFailures: [] };
          },
        });
        await waitFor(
          async () => [...seen.values()].reduce((n, s) => n + s.length, 0),
          (n) => n >= readings.length,
          { timeoutMs: 15_000 },
        );

        // Assess
        expect(maxInFlight).toBeGreaterThan(1);
        for (const seqs of seen.values()) expect(seqs).toEqual([...Array(25).keys()]);
        expect(running.stats.records).toBeGreaterThanOrEqual(readings.length);
      },
    );
  }
});
