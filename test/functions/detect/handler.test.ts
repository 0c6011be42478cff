import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createDetectHandler, type DetectDeps } from '../../../functions/detect/handler.ts';
import { FileDetectorStateStore } from '../../../functions/detect/state-store.ts';
import { encodeReading } from '../../../functions/lib/codec/reading-codec.ts';
import { type KafkaIn, kafkaEvent } from '../../../functions/lib/events/build-events.ts';
import type { StreamEvent } from '../../../functions/lib/events/types.ts';
import { HEADER } from '../../../functions/lib/reading.ts';
import { cleanSeries, SECOND, T0, TEST_PROFILE_DOCUMENT, testProfiles, withAnomaly } from './factories.ts';
import { batches, kinesisBatch, RecordingProducer, registry, SHARD, sequence } from './stream-fixtures.ts';

/** Static thresholds and silence only, so each test's alerts are few and exactly known. */
const THRESHOLDS_ONLY = testProfiles({
  defaults: {
    ...TEST_PROFILE_DOCUMENT.defaults,
    metrics: {
      '*': { spike: { enabled: false }, drift: { enabled: false }, flatline: { enabled: false } },
      temperature: { threshold: { high: 85 } },
    },
  },
});

function aHandler(overrides: Partial<DetectDeps> = {}) {
  const producer = (overrides.producer as RecordingProducer | undefined) ?? new RecordingProducer();
  const handler = createDetectHandler({ producer, registry, profiles: THRESHOLDS_ONLY, ...overrides });
  return { handler, producer };
}

/** Temperature over its 85 limit for readings 400-449 of 900. */
const breaching = () => withAnomaly(cleanSeries(), 400, 450, (r) => ({ ...r, temperature: 90 }));

describe('detect handler', () => {
  it('sends alerts to the alerts stream, then to the other channels', async () => {
    // Prepare
    const log: string[] = [];
    const producer = new RecordingProducer();
    const { handler } = aHandler({
      producer,
      deliver: async (alerts) => {
        log.push(...producer.log.splice(0), `deliver ${alerts.length}`);
      },
    });

    // Act
    for (const event of batches(breaching(), 100))
      expect(await handler(event)).toEqual({ batchItemFailures: [] });

    // Assess
    const alerts = producer.alerts();
    expect(alerts.map((a) => `${a.status} ${a.rule}`)).toEqual([
      'open threshold-high',
      'resolved threshold-high',
    ]);
    expect(alerts[1]!.repeats).toBe(49);
    // the incident opens (reading 400) and resolves (a quiet 30 s after 449) within the fifth batch
    expect(log).toEqual(['send alerts 2', 'deliver 2']);
    expect(producer.sent.alerts![0]!.key).toBe('dev-1');
  });

  it('after a restart, skips what its saved state includes: no reading counted twice, no incident opened twice', async () => {
    // Prepare: the uninterrupted run
    const events = batches(breaching(), 100);
    const straight = aHandler();
    for (const event of events) await straight.handler(event);
    // the interrupted run: crash after batch 5 (mid-incident) while the runner had checkpointed only 3
    const store = new FileDetectorStateStore(mkdtempSync(join(tmpdir(), 'detect-state-')), 'detect');
    const producer = new RecordingProducer();
    const before = aHandler({ producer, stateStore: store });
    for (const event of events.slice(0, 5)) await before.handler(event);

    // Act
    const after = aHandler({ producer, stateStore: store });
    for (const event of events.slice(3)) await after.handler(event);

    // Assess
    expect(producer.alerts()).toEqual(straight.producer.alerts());
    expect(after.handler.partitions.get(`telemetry.valid/${SHARD}`)!.stats.skipped).toBe(200);
  });

  it('sends alerts saved as pending again after a crash before they were marked sent (same ids)', async () => {
    // Prepare: batch 5 raises alerts
    const dir = mkdtempSync(join(tmpdir(), 'detect-state-'));
    const events = batches(breaching(), 100);
    const store = new FileDetectorStateStore(dir, 'detect');
    // The save that records the alerts as pending works; the next one, marking them sent, fails.
    let sawPending = false;
    const flaky = {
      load: (p: string) => store.load(p),
      save: async (p: string, c: Parameters<typeof store.save>[1]) => {
        if (c.pending.length > 0) sawPending = true;
        else if (sawPending) throw new Error('disk full');
        await store.save(p, c);
      },
    };
    const producer = new RecordingProducer();
    const before = aHandler({ producer, stateStore: flaky });
    for (const event of events.slice(0, 4)) await before.handler(event);
    await expect(before.handler(events[4]!)).rejects.toThrow(/disk full/);

    // Act: a new process takes over from the runner's checkpoint (batch 4 done)
    const after = aHandler({ producer, stateStore: new FileDetectorStateStore(dir, 'detect') });
    for (const event of events.slice(4)) await after.handler(event);

    // Assess
    const alerts = producer.alerts();
    expect(alerts.map((a) => `${a.status} ${a.rule} ${a.repeats}`)).toEqual([
      'open threshold-high 0',
      'resolved threshold-high 49',
      'open threshold-high 0',
      'resolved threshold-high 49',
    ]);
    expect(alerts.slice(2)).toEqual(alerts.slice(0, 2));
  });

  it('sends the alerts again when the alerts stream was down, and counts nothing twice', async () => {
    // Prepare
    const events = batches(breaching(), 100);
    const { handler, producer } = aHandler();
    for (const event of events.slice(0, 4)) await handler(event);
    producer.failures = 1;

    // Act: the runner retries the failed batch
    await expect(handler(events[4]!)).rejects.toThrow(/alerts is unavailable/);
    await handler(events[4]!);
    for (const event of events.slice(5)) await handler(event);

    // Assess
    const alerts = producer.alerts();
    expect(alerts.map((a) => `${a.status} ${a.rule} ${a.repeats}`)).toEqual([
      'open threshold-high 0',
      'resolved threshold-high 49',
    ]);
    expect(handler.partitions.get(`telemetry.valid/${SHARD}`)!.engine.stats.readings).toBe(900);
  });

  it('dead-letters a record it cannot decode, with the reason, and goes on', async () => {
    // Prepare
    const [reading] = cleanSeries({ count: 1 });
    const good = kinesisBatch([reading!], 0) as { Records: { kinesis: { data: string } }[] };
    const bad = kinesisBatch([{ ...reading!, ts: T0 + SECOND, seq: 1 }], 1) as typeof good;
    bad.Records[0]!.kinesis.data = Buffer.from('not a reading').toString('base64');
    const { handler, producer } = aHandler();

    // Act
    await handler({ Records: [...good.Records, ...bad.Records] } as StreamEvent);

    // Assess
    const dead = producer.sent['telemetry.dlq'] ?? [];
    expect(dead).toHaveLength(1);
    expect(dead[0]!.headers![HEADER.reason]).toBe('PAYLOAD_UNRECOGNISED');
    expect(Buffer.from(dead[0]!.value).toString()).toBe('not a reading');
  });

  it('finds silence on the clock for a partition no batch comes for', async () => {
    // Prepare: a wall clock the test moves
    let wall = T0 + 100 * SECOND;
    const { handler, producer } = aHandler({ clock: () => wall });
    await handler(kinesisBatch(cleanSeries({ count: 100 }), 0));

    // Act
    wall += 9 * SECOND;
    await handler.tick();
    const early = producer.alerts().length;
    wall += 2 * SECOND;
    await handler.tick();

    // Assess
    expect(early).toBe(0);
    expect(producer.alerts().map((a) => `${a.status} ${a.rule} ${a.deviceId}`)).toEqual([
      'open silence dev-1',
    ]);
  });

  it('starts a partition afresh, and says so, when its saved state cannot be restored', async () => {
    // Prepare
    const errors: string[] = [];
    const store = {
      load: async () => ({ position: sequence(99), engine: new Uint8Array([0, 1, 2, 3]), pending: [] }),
      save: async () => {},
    };
    const { handler } = aHandler({
      stateStore: store,
      onError: (error, partition) => errors.push(`${partition}: ${error}`),
    });

    // Act
    await handler(kinesisBatch(cleanSeries({ count: 200 }), 100));

    // Assess
    expect(errors).toEqual([expect.stringMatching(/shardId-000000000000: .*not a detector snapshot/)]);
    expect(handler.partitions.get(`telemetry.valid/${SHARD}`)!.engine.stats.readings).toBe(200);
  });

  it('keeps state per partition of a Kafka event', async () => {
    // Prepare
    const records: KafkaIn[] = ['dev-a', 'dev-b'].flatMap((deviceId, partition) =>
      cleanSeries({ deviceId, count: 3 }).map((reading, i) => ({
        topic: 'telemetry.valid',
        partition,
        offset: String(i),
        timestamp: String(reading.ts),
        key: Buffer.from(deviceId),
        value: encodeReading(reading, registry),
        headers: { [HEADER.receivedAt]: String(reading.ts) },
      })),
    );
    const { handler } = aHandler();

    // Act
    await handler(kafkaEvent('self-managed', ['127.0.0.1:9092'], records));

    // Assess
    expect([...handler.partitions.keys()].sort()).toEqual(['telemetry.valid-0', 'telemetry.valid-1']);
    expect(handler.partitions.get('telemetry.valid-1')!.position).toBe('2');
  });
});
