import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { Bridge } from '../../../functions/bridge/bridge.ts';
import type { MessageHandler, MqttSubscriber } from '../../../functions/bridge/mqtt-subscriber.ts';
import type { OutRecord, StreamName, StreamProducer } from '../../../functions/lib/streams/types.ts';

/** A subscriber that records PUBACKs and pause/resume, and lets the test deliver messages. */
class FakeSubscriber extends EventEmitter {
  handler: MessageHandler = () => {};
  acked: number[] = [];
  paused = false;
  onMessage(handler: MessageHandler) {
    this.handler = handler;
  }
  ack(ids: readonly number[]) {
    this.acked.push(...ids.filter((id) => id !== 0));
  }
  pause() {
    this.paused = true;
  }
  resume() {
    this.paused = false;
  }
  async start() {}
  async close() {}
}

/** A producer whose sends wait until the test settles them. */
class ManualProducer implements StreamProducer {
  readonly kind = 'kafka' as const;
  sends: Array<{ stream: StreamName; records: readonly OutRecord[]; settle: (error?: Error) => void }> = [];
  send(stream: StreamName, records: readonly OutRecord[]): Promise<void> {
    return new Promise((resolve, reject) =>
      this.sends.push({ stream, records, settle: (error) => (error ? reject(error) : resolve()) }),
    );
  }
  async close() {}
}

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

function setUp(options: ConstructorParameters<typeof Bridge>[2] = {}) {
  const subscriber = new FakeSubscriber();
  const producer = new ManualProducer();
  const bridge = new Bridge(subscriber as unknown as MqttSubscriber, producer, { lingerMs: 1, ...options });
  const deliver = (device: string, id: number, payload = 'x') =>
    subscriber.handler(`telemetry/${device}`, Buffer.from(payload), id, false, 1);
  return { subscriber, producer, bridge, deliver };
}

describe('Bridge', () => {
  it('acknowledges only after the stream confirmed, in arrival order across lanes', async () => {
    // Prepare
    const { subscriber, producer, deliver } = setUp({ maxInFlightBatches: 4 });
    for (let i = 1; i <= 8; i++) deliver(`dev-${i}`, i);
    await tick();
    expect(producer.sends.length).toBeGreaterThan(1);

    // Act: confirm the later batches first
    for (const send of [...producer.sends].reverse().slice(0, -1)) send.settle();
    await tick();
    const beforeFirst = [...subscriber.acked];
    producer.sends[0]!.settle();
    await tick();

    // Assess
    expect(beforeFirst).toEqual([]);
    expect(subscriber.acked).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('keys records by the device in the topic and keeps the topic in a header', async () => {
    const { producer, subscriber } = setUp();
    subscriber.handler('gateways/gw-1/telemetry', Buffer.from('batch'), 1, false, 1);
    subscriber.handler('elsewhere/x', Buffer.from('?'), 2, false, 1);
    await tick();
    const [gateway, other] = producer.sends[0]!.records;
    expect(gateway).toMatchObject({
      key: 'gw-1',
      headers: { 'mqtt-topic': 'gateways/gw-1/telemetry', 'gateway-id': 'gw-1' },
    });
    expect(other?.key).toBe('elsewhere/x');
  });

  it('retries a failed write and acknowledges nothing until it succeeds', async () => {
    const { subscriber, producer, bridge, deliver } = setUp();
    deliver('dev-1', 7);
    await tick();
    producer.sends[0]!.settle(new Error('broker down'));
    await tick(150);
    expect(subscriber.acked).toEqual([]);
    expect(bridge.stats.failed).toBe(1);
    producer.sends[1]!.settle();
    await tick();
    expect(subscriber.acked).toEqual([7]);
  });

  it('stops reading at the byte bound, drops QoS 0 over it (counted), and resumes when drained', async () => {
    // Prepare: a bound of about three messages
    const { subscriber, producer, bridge, deliver } = setUp({
      maxInFlightBytes: 3 * 300,
      maxBatchRecords: 1,
    });

    // Act
    for (let id = 1; id <= 3; id++) deliver('dev-1', id, 'y'.repeat(20));
    const pausedAtBound = subscriber.paused;
    deliver('dev-1', 0, 'qos0');
    for (let i = 0; i < 3; i++) {
      await tick();
      producer.sends[i]?.settle();
    }
    await tick();

    // Assess
    expect(pausedAtBound).toBe(true);
    expect(bridge.stats.dropped['qos0-overload']).toBe(1);
    expect(bridge.stats.peakInFlightBytes).toBeLessThanOrEqual(3 * 300 + 300);
    expect(subscriber.paused).toBe(false);
    expect(subscriber.acked).toEqual([1, 2, 3]);
  });
});
