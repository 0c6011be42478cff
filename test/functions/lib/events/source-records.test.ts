import { describe, expect, it } from 'vitest';
import { wrapEnvelope } from '../../../../functions/lib/codec/envelope.ts';
import { kafkaEvent, kinesisEvent } from '../../../../functions/lib/events/build-events.ts';
import {
  fromKafkaIn,
  fromKinesisIn,
  itemKey,
  kafkaItemIdentifier,
  sourceRecords,
} from '../../../../functions/lib/events/source-records.ts';
import type { StreamEvent } from '../../../../functions/lib/events/types.ts';
import {
  fixture,
  sampleKinesisEvent,
  sampleMskEvent,
  sampleSelfManagedKafkaEvent,
} from '../../../fixtures/fakes.ts';

const HELLO = 'Hello, this is a test.';

describe('sourceRecords on the sample events AWS documents', () => {
  it('reads the Kinesis sample: base64 data, sequence numbers as identifiers, shard in the origin', () => {
    // Act
    const records = sourceRecords(sampleKinesisEvent());

    // Assess
    expect(records.map((r) => r.value.toString())).toEqual([HELLO, 'This is only a test.']);
    expect(records[0]).toMatchObject({
      itemIdentifier: '49590338271490256608559692538361571095921575989136588898',
      key: '1',
      origin: 'lambda-stream/shardId-000000000006@49590338271490256608559692538361571095921575989136588898',
      arrivedAt: 1545084650987,
      // No envelope (an IoT rule writes raw payloads): the partition key is the device.
      headers: { 'mqtt-topic': 'telemetry/1' },
    });
  });

  it.each([
    ['MSK', sampleMskEvent],
    ['self-managed Kafka', sampleSelfManagedKafkaEvent],
  ])('reads the %s sample: base64 key and value, headers as byte arrays', (_name, sample) => {
    // Act
    const [record, ...rest] = sourceRecords(sample() as StreamEvent);

    // Assess
    expect(rest).toHaveLength(0);
    expect(record!.value.toString()).toBe(HELLO);
    expect(record!.headers).toEqual({ headerKey: 'headerValue' });
    expect(record!.key).toBe(Buffer.from('abcDEFghiJKLmnoPQRstuVWXyz1234==', 'base64').toString('utf8'));
    expect(record!.itemIdentifier).toEqual({ 'topic-partition': 'mytopic-0', offset: 15 });
    expect(record!.origin).toBe('mytopic-0@15');
    expect(record!.arrivedAt).toBe(1545084650987);
  });

  it('names a Kafka record exactly as the documented partial batch response does', () => {
    // Prepare
    const documented = fixture<{ batchItemFailures: { itemIdentifier: unknown }[] }>(
      'kafka-partial-batch-response.json',
    );

    // Act
    const [record] = sourceRecords(sampleMskEvent());

    // Assess
    expect({ batchItemFailures: [{ itemIdentifier: record!.itemIdentifier }] }).toEqual(documented);
  });

  it('accepts headers sent as signed bytes and a partition sent as a string', () => {
    // Prepare: Java writes bytes >= 0x80 as negative numbers; some samples quote the partition
    const event = sampleSelfManagedKafkaEvent();
    const record = event.records['mytopic-0']![0]!;
    record.headers = [{ 'mqtt-topic': [...Buffer.from('telemetry/é')].map((b) => (b > 127 ? b - 256 : b)) }];
    (record as { partition: unknown }).partition = '0';

    // Act
    const [source] = sourceRecords(event);

    // Assess
    expect(source!.headers['mqtt-topic']).toBe('telemetry/é');
    expect(source!.itemIdentifier).toEqual({ 'topic-partition': 'mytopic-0', offset: 15 });
  });

  it('rejects an event that is neither Kinesis nor Kafka, naming its source', () => {
    expect(() => sourceRecords({ eventSource: 'aws:sqs', records: {} } as unknown as StreamEvent)).toThrow(
      /"aws:sqs"/,
    );
  });
});

describe('events the runner builds', () => {
  it('round-trip through the Kinesis event shape with the envelope unwrapped', () => {
    // Prepare
    const payload = Buffer.from([0xc3, 0x01, 1, 2, 3]);
    const input = {
      streamName: 'telemetry.raw',
      shardId: 'shardId-000000000001',
      partitionKey: 'dev-1',
      sequenceNumber: '42',
      data: wrapEnvelope({ 'mqtt-topic': 'telemetry/dev-1' }, payload),
      arrivedAt: 1_700_000_000_123,
    };

    // Act
    const [viaEvent] = sourceRecords(kinesisEvent([input]));
    const direct = fromKinesisIn(input);

    // Assess
    expect(viaEvent).toEqual(direct);
    expect(direct.value.equals(payload)).toBe(true);
    expect(direct.headers).toEqual({ 'mqtt-topic': 'telemetry/dev-1' });
  });

  it.each(['msk', 'self-managed'] as const)('round-trip through the %s event shape', (source) => {
    // Prepare
    const input = {
      topic: 'telemetry.raw',
      partition: 3,
      offset: '17',
      timestamp: '1700000000123',
      key: Buffer.from('dev-1'),
      value: Buffer.from('{"a":1}'),
      headers: { 'mqtt-topic': Buffer.from('telemetry/dev-1'), 'received-at': '1700000000100' },
    };

    // Act
    const event = kafkaEvent(source, ['127.0.0.1:9092'], [input]);
    const [viaEvent] = sourceRecords(event);

    // Assess
    expect(event.eventSource).toBe(source === 'msk' ? 'aws:kafka' : 'SelfManagedKafka');
    expect(Object.keys(event.records)).toEqual(['telemetry.raw-3']);
    expect(viaEvent).toEqual(fromKafkaIn(input));
  });
});

describe('itemKey', () => {
  it('spells Kinesis and Kafka identifiers as comparable strings, and rejects malformed ones', () => {
    expect(itemKey('4959')).toBe('4959');
    expect(itemKey(kafkaItemIdentifier('t', 2, '9'))).toBe('t-2@9');
    expect(itemKey({ 'topic-partition': 't-2', offset: 9 })).toBe('t-2@9');
    expect(itemKey('')).toBeUndefined();
    expect(itemKey(null)).toBeUndefined();
    expect(itemKey({ partition: 't-2', offset: 9 } as never)).toBeUndefined();
  });
});
