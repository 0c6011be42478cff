/** Stream-side fixtures for the detect handler: a recording producer and Kinesis events of readings. */
import { type Alert, decodeAlert } from '../../../functions/lib/codec/alert-codec.ts';
import { encodeReading } from '../../../functions/lib/codec/reading-codec.ts';
import { SchemaRegistry } from '../../../functions/lib/codec/schema-registry.ts';
import { type KinesisIn, kinesisEvent } from '../../../functions/lib/events/build-events.ts';
import type { StreamEvent } from '../../../functions/lib/events/types.ts';
import type { Reading } from '../../../functions/lib/reading.ts';
import type { OutRecord, StreamName, StreamProducer } from '../../../functions/lib/streams/types.ts';

export const registry = SchemaRegistry.load();
export const SHARD = 'shardId-000000000000';

/** A producer that keeps what it was sent and can be told to fail. */
export class RecordingProducer implements StreamProducer {
  readonly kind = 'kinesis' as const;
  readonly sent: Partial<Record<StreamName, OutRecord[]>> = {};
  readonly log: string[] = [];
  failures = 0;

  async send(stream: StreamName, records: readonly OutRecord[]): Promise<void> {
    if (this.failures > 0) {
      this.failures--;
      throw new Error(`${stream} is unavailable`);
    }
    (this.sent[stream] ??= []).push(...records);
    this.log.push(`send ${stream} ${records.length}`);
  }

  alerts(): Alert[] {
    return (this.sent.alerts ?? []).map((r) => decodeAlert(r.value));
  }

  async close(): Promise<void> {}
}

/** Readings as one Kinesis batch of telemetry.valid; sequence numbers count from `first`. */
export function kinesisBatch(readings: readonly Reading[], first: number): StreamEvent {
  const records: KinesisIn[] = readings.map((reading, i) => ({
    streamName: 'telemetry.valid',
    shardId: SHARD,
    partitionKey: reading.deviceId,
    sequenceNumber: sequence(first + i),
    data: encodeReading(reading, registry),
    arrivedAt: reading.ts,
  }));
  return kinesisEvent(records);
}

/** A 56-digit Kinesis-style sequence number: past Number's precision, as real ones are. */
export function sequence(n: number): string {
  return (10n ** 55n + BigInt(n)).toString();
}

export function batches(readings: readonly Reading[], size: number): StreamEvent[] {
  const out: StreamEvent[] = [];
  for (let i = 0; i < readings.length; i += size) out.push(kinesisBatch(readings.slice(i, i + size), i));
  return out;
}
