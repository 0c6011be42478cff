import { type DeadLetterReason, deadLetter } from '../lib/dead-letter.ts';
import type { SourceRecord, StreamEvent } from '../lib/events/types.ts';
import type { StreamProducer } from '../lib/streams/types.ts';
import type { BatchTarget } from './invoke.ts';
import type { MappingTarget } from './types.ts';

/** How one source's records become a Lambda event, a SourceRecord, and a failure-matching key. */
export interface SourceShape<R> {
  toEvent(records: readonly R[]): StreamEvent;
  toSource(record: R): SourceRecord;
  key(record: R): string;
  arrivedAt(record: R): number;
}

/**
 * The invoker's view of a mapping: its function (invoked with the Lambda event, or with the records
 * directly in fused mode) and its on-failure destination, which receives our dead letters: the
 * original bytes and headers plus dlq-reason, dlq-detail and dlq-origin.
 */
export function batchTarget<R>(
  target: MappingTarget,
  shape: SourceShape<R>,
  producer: StreamProducer,
): BatchTarget<R> {
  const destination = target.mapping.DestinationConfig?.OnFailure.Destination;
  const { handler, process } = target;
  return {
    invoke: handler
      ? (records) => handler(shape.toEvent(records))
      : (records) => process!(records.map((r) => shape.toSource(r))),
    key: shape.key,
    arrivedAt: shape.arrivedAt,
    async sendToDestination(records: readonly R[], reason: DeadLetterReason, detail: string) {
      if (destination === undefined)
        throw new Error(`mapping ${target.mapping.FunctionName} has no destination`);
      const dead = records.map((r) => {
        const source = shape.toSource(r);
        const known = target.failureDetail?.(shape.key(r));
        return deadLetter(source, reason, known && !detail.includes(known) ? `${detail}; ${known}` : detail);
      });
      await producer.send(destination, dead);
    },
    failureDetail: target.failureDetail ? (r) => target.failureDetail!(shape.key(r)) : undefined,
  };
}
