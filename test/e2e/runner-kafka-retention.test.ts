/**
 * A Kafka runner that falls behind the broker's retention: the records it never read are gone,
 * and kafkajs quietly moves its position to the oldest it can still read. The runner must say
 * so (a counter and an error naming the offsets) rather than carry on as if nothing happened.
 * The librdkafka mock cluster keeps 5 MiB per partition, so a few megabytes produced while the
 * function is busy push the runner's next offset out of the log.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sourceRecords } from '../../functions/lib/events/source-records.ts';
import type { BatchHandler } from '../../functions/lib/events/types.ts';
import type { Log } from '../../functions/lib/log.ts';
import { STREAMS } from '../../functions/lib/streams/types.ts';
import { startKafkaMapping } from '../../functions/runner/kafka-source.ts';
import { defineMapping } from '../../functions/runner/mapping.ts';
import { requireOrSkip } from '../../infra/local/services.ts';
import { waitFor } from '../support/readings.ts';
import { type StreamHarness, startStreams } from './runner-harness.ts';

const available = await requireOrSkip('kafka');

describe("a Kafka runner behind the broker's retention", () => {
  let h: StreamHarness;
  beforeAll(async () => {
    if (available) h = await startStreams('kafka');
  });
  afterAll(async () => {
    await h?.stop();
  });

  it.skipIf(!available)('counts and reports the offsets it never got', async () => {
    // Prepare: a function that holds its first batch until released; every record has one key,
    // so one partition
    const key = 'retention-1';
    const seen: number[] = [];
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const handler: BatchHandler = async (event) => {
      for (const r of sourceRecords(event)) seen.push(Number(r.origin.slice(r.origin.indexOf('@') + 1)));
      if (seen.length === 1) await held;
      return { batchItemFailures: [] };
    };
    const errors: { message: string; attributes: Record<string, unknown> }[] = [];
    const log: Log = {
      debug() {},
      info() {},
      warn() {},
      error(message, ...attributes) {
        errors.push({ message, attributes: Object.assign({}, ...attributes) });
      },
    };
    const mapping = defineMapping({
      FunctionName: 'retention',
      EventSource: STREAMS.valid,
      ConsumerGroupId: 'retention-group',
      BatchSize: 1,
    });
    if (h.source.kind !== 'kafka') throw new Error('kafka harness expected');
    const runner = await startKafkaMapping(
      { mapping, handler },
      { producer: h.producer, kafka: h.source.kafka, brokers: h.source.brokers, log },
    );
    try {
      await h.producer.send(STREAMS.valid, [{ key, value: Buffer.from('first') }]);
      await waitFor(
        async () => seen.length,
        (n) => n === 1,
        { timeoutMs: 20_000 },
      );

      // Act: 12 MiB into the same partition while the function is busy, then let it go on
      const big = Buffer.alloc(200 * 1024, 7);
      for (let i = 0; i < 60; i++) await h.producer.send(STREAMS.valid, [{ key, value: big }]);
      release();
      await waitFor(
        async () => runner.stats.skippedOffsets,
        (n) => n > 0,
        { timeoutMs: 20_000 },
      );
      await waitFor(
        async () => seen[seen.length - 1],
        (last) => last !== undefined && last >= seen[0]! + 60,
        { timeoutMs: 20_000 },
      );

      // Assess: what was skipped is exactly the gap in what the function saw, and it was reported
      const first = seen[0]!;
      const resumedAt = seen[1]!;
      expect(resumedAt).toBeGreaterThan(first + 1);
      expect(runner.stats.skippedOffsets).toBe(resumedAt - first - 1);
      expect(errors).toEqual([
        {
          message: expect.stringMatching(/offsets skipped: .*retention/),
          attributes: expect.objectContaining({
            from: String(first + 1),
            to: String(resumedAt - 1),
            skipped: resumedAt - first - 1,
          }),
        },
      ]);
      // Nothing after the gap is missing
      expect(seen.slice(1)).toEqual(Array.from({ length: first + 61 - resumedAt }, (_, i) => resumedAt + i));
    } finally {
      release();
      await runner.stop();
    }
  });
});
