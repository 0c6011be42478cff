import { describe, expect, it } from 'vitest';
import type { DeadLetterReason } from '../../../functions/lib/dead-letter.ts';
import type { BatchResponse } from '../../../functions/lib/events/types.ts';
import { type BatchTarget, invokeWithRetries, newInvokeStats } from '../../../functions/runner/invoke.ts';
import { defineMapping, type MappingInput } from '../../../functions/runner/mapping.ts';

interface Rec {
  id: number;
  arrivedAt: number;
}

/** A function and destination that record what happened; `fails(batch)` decides each invocation. */
class FakeTarget implements BatchTarget<Rec> {
  readonly invocations: number[][] = [];
  readonly destination: { ids: number[]; reason: DeadLetterReason; detail: string }[] = [];
  readonly processed: number[] = [];
  constructor(private readonly behave: (batch: number[]) => BatchResponse | 'throw') {}

  async invoke(records: readonly Rec[]): Promise<BatchResponse> {
    const ids = records.map((r) => r.id);
    this.invocations.push(ids);
    const outcome = this.behave(ids);
    if (outcome === 'throw') throw new Error(`boom in [${ids.join(',')}]`);
    const failed = new Set(outcome.batchItemFailures.map((f) => Number(f.itemIdentifier)));
    const firstFailed = ids.findIndex((id) => failed.has(id));
    this.processed.push(...(firstFailed < 0 ? ids : ids.slice(0, firstFailed)));
    return outcome;
  }
  key = (r: Rec) => String(r.id);
  arrivedAt = (r: Rec) => r.arrivedAt;
  async sendToDestination(records: readonly Rec[], reason: DeadLetterReason, detail: string) {
    this.destination.push({ ids: records.map((r) => r.id), reason, detail });
  }
}

const records = (n: number, arrivedAt = Date.now()): Rec[] =>
  Array.from({ length: n }, (_, id) => ({ id, arrivedAt }));
const ok = (): BatchResponse => ({ batchItemFailures: [] });
const failing = (...ids: number[]): BatchResponse => ({
  batchItemFailures: ids.map((id) => ({ itemIdentifier: String(id) })),
});
const mapping = (input: Partial<MappingInput> = {}) =>
  defineMapping({
    FunctionName: 'f',
    EventSource: 'telemetry.raw',
    FunctionResponseTypes: ['ReportBatchItemFailures'],
    DestinationConfig: { OnFailure: { Destination: 'telemetry.dlq' } },
    MaximumRetryAttempts: 2,
    ...input,
  });
const run = (batch: Rec[], target: FakeTarget, m = mapping(), extra: { isRunning?: () => boolean } = {}) => {
  const stats = newInvokeStats();
  const done = invokeWithRetries(batch, m, target, {
    stats,
    retryLimit: m.MaximumRetryAttempts,
    retryDelayMs: () => 0,
    ...extra,
  });
  return { stats, done };
};

describe('invokeWithRetries', () => {
  it('invokes once and is done when the function reports no failures', async () => {
    const target = new FakeTarget(ok);
    const { done, stats } = run(records(5), target);
    expect(await done).toBe(5);
    expect(target.invocations).toEqual([[0, 1, 2, 3, 4]]);
    expect(stats).toMatchObject({ invocations: 1, errors: 0, retries: 0 });
  });

  it('retries from the lowest reported record; the records before it are done', async () => {
    // Prepare: record 3 fails once, then succeeds
    let calls = 0;
    const target = new FakeTarget(() => (calls++ === 0 ? failing(4, 3) : ok()));

    // Act
    const { done } = run(records(6), target);

    // Assess
    expect(await done).toBe(6);
    expect(target.invocations).toEqual([
      [0, 1, 2, 3, 4, 5],
      [3, 4, 5],
    ]);
    expect(target.processed).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('without ReportBatchItemFailures, a reported failure is ignored, as Lambda does', async () => {
    const target = new FakeTarget(() => failing(1));
    const { done } = run(records(3), target, mapping({ FunctionResponseTypes: [] }));
    expect(await done).toBe(3);
    expect(target.invocations).toHaveLength(1);
  });

  it('treats an identifier that names no record of the batch as a failure of the whole batch', async () => {
    let calls = 0;
    const target = new FakeTarget(() => (calls++ === 0 ? failing(99) : ok()));
    const { done } = run(records(3), target);
    expect(await done).toBe(3);
    expect(target.invocations).toEqual([
      [0, 1, 2],
      [0, 1, 2],
    ]);
  });

  it('sends the records to the destination after MaximumRetryAttempts, with the reason', async () => {
    // Prepare
    const target = new FakeTarget(() => 'throw');

    // Act
    const { done, stats } = run(records(3), target, mapping({ MaximumRetryAttempts: 2 }));

    // Assess: 1 attempt + 2 retries, then the destination
    expect(await done).toBe(3);
    expect(target.invocations).toHaveLength(3);
    expect(target.destination).toEqual([
      { ids: [0, 1, 2], reason: 'RETRIES_EXHAUSTED', detail: expect.stringMatching(/boom.*\(3 attempts\)/) },
    ]);
    expect(stats).toMatchObject({ retries: 2, sentToDestination: 3 });
  });

  it('bisects a failing batch until the poison record is alone, and only it exhausts its retries', async () => {
    // Prepare: record 5 of 8 always makes the function throw
    const target = new FakeTarget((ids) => (ids.includes(5) ? 'throw' : ok()));

    // Act
    const { done, stats } = run(
      records(8),
      target,
      mapping({ BisectBatchOnFunctionError: true, MaximumRetryAttempts: 1 }),
    );

    // Assess
    expect(await done).toBe(8);
    expect(target.destination.map((d) => [d.ids, d.reason])).toEqual([[[5], 'RETRIES_EXHAUSTED']]);
    // Everything else processed, in stream order
    expect(target.processed).toEqual([0, 1, 2, 3, 4, 6, 7]);
    expect(target.invocations).toEqual([
      [0, 1, 2, 3, 4, 5, 6, 7],
      [0, 1, 2, 3],
      [4, 5, 6, 7],
      [4, 5],
      [4],
      [5],
      [5],
      [6, 7],
    ]);
    // Splits do not count as retries: the lone record got 1 attempt + 1 retry
    expect(stats.bisections).toBe(3);
    expect(stats.retries).toBe(1);
  });

  it('with partial responses and bisect, isolates a reported poison record the same way', async () => {
    const target = new FakeTarget((ids) => (ids.includes(2) ? failing(2) : ok()));
    const { done } = run(
      records(6),
      target,
      mapping({ BisectBatchOnFunctionError: true, MaximumRetryAttempts: 2 }),
    );
    expect(await done).toBe(6);
    expect(target.destination.map((d) => d.ids)).toEqual([[2]]);
    expect(target.processed).toEqual([0, 1, 3, 4, 5]);
  });

  it('puts what the function said about the record into the dead letter’s detail', async () => {
    const target = new FakeTarget(() => failing(0));
    const m = mapping({ MaximumRetryAttempts: 0 });
    const { done } = run(
      records(1),
      Object.assign(target, { failureDetail: () => 'AVRO_INVALID: bad union index' }),
      m,
    );
    await done;
    expect(target.destination[0]!.detail).toMatch(
      /reported 1 failed record.*AVRO_INVALID: bad union index.*\(1 attempts\)/,
    );
  });

  it('sends records older than MaximumRecordAgeInSeconds to the destination without invoking', async () => {
    // Prepare: the first two arrived two minutes ago
    const now = Date.now();
    const batch = records(4, now);
    batch[0]!.arrivedAt = now - 120_000;
    batch[1]!.arrivedAt = now - 120_000;
    const target = new FakeTarget(ok);

    // Act
    const { done, stats } = run(batch, target, mapping({ MaximumRecordAgeInSeconds: 60 }));

    // Assess
    expect(await done).toBe(4);
    expect(target.destination.map((d) => [d.ids, d.reason])).toEqual([[[0, 1], 'RECORD_EXPIRED']]);
    expect(target.invocations).toEqual([[2, 3]]);
    expect(stats.expired).toBe(2);
  });

  it('with no destination, never discards: records past the limit or the age are retried until they succeed', async () => {
    // Prepare: fails 5 times, limit 1, and every record is old
    let calls = 0;
    const target = new FakeTarget(() => (calls++ < 5 ? 'throw' : ok()));
    const exhausted: number[] = [];
    const m = mapping({
      DestinationConfig: undefined,
      MaximumRetryAttempts: 1,
      MaximumRecordAgeInSeconds: 60,
    });

    // Act
    const done = await invokeWithRetries(records(2, Date.now() - 3_600_000), m, target, {
      stats: newInvokeStats(),
      retryLimit: 1,
      retryDelayMs: () => 0,
      onExhaustedWithoutDestination: (n) => exhausted.push(n),
    });

    // Assess
    expect(done).toBe(2);
    expect(target.destination).toEqual([]);
    expect(target.processed).toEqual([0, 1]);
    expect(exhausted).toEqual([2, 2, 2, 2]);
  });

  it('stops retrying when the runner stops, and says how far the batch got', async () => {
    let running = true;
    let calls = 0;
    const target = new FakeTarget(() => {
      calls++;
      if (calls === 2) running = false;
      return failing(2);
    });
    const { done } = run(records(4), target, mapping({ MaximumRetryAttempts: -1 }), {
      isRunning: () => running,
    });
    expect(await done).toBe(2);
  });

  it('does nothing for an empty batch', async () => {
    const target = new FakeTarget(ok);
    expect(await run([], target).done).toBe(0);
    expect(target.invocations).toEqual([]);
  });
});
