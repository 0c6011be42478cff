import { describe, expect, it } from 'vitest';
import { shardsFor } from '../../../functions/cost/deployment.ts';
import { batchDurationMs, invocations } from '../../../functions/cost/lambda-usage.ts';

describe('invocations', () => {
  it.each([
    // records/s, shards, BatchSize -> invocations/s, mean batch
    { rate: 0.5, shards: 1, batch: 500, perSecond: 0.5, meanBatch: 1 },
    { rate: 100, shards: 1, batch: 500, perSecond: 1, meanBatch: 100 },
    { rate: 2_000, shards: 2, batch: 500, perSecond: 4, meanBatch: 500 },
    { rate: 0, shards: 1, batch: 500, perSecond: 0, meanBatch: 0 },
  ])(
    '$rate records/s on $shards shard(s), BatchSize $batch',
    ({ rate, shards, batch, perSecond, meanBatch }) => {
      const usage = invocations(rate, shards, { BatchSize: batch });

      expect(usage.perSecond).toBeCloseTo(perSecond, 9);
      expect(usage.meanBatch).toBeCloseTo(meanBatch, 9);
    },
  );
});

describe('batchDurationMs', () => {
  it('scales CPU below one vCPU and adds one call per 500 records for validate', () => {
    // (2.6 + 0.053 x 500) ms x 1769/1024 + 1 call x 20 ms = 29.1 x 1.72754 + 20 = 70.271
    expect(batchDurationMs('validate', 500, 1024)).toBeCloseTo(29.1 * (1769 / 1024) + 20, 6);
  });

  it('does not scale CPU at or above one vCPU', () => {
    // detect has no calls: 0.1 + 0.01 x 100 = 1.1 ms
    expect(batchDurationMs('detect', 100, 1769)).toBeCloseTo(1.1, 9);
    expect(batchDurationMs('detect', 100, 3008)).toBeCloseTo(1.1, 9);
  });
});

describe('shardsFor', () => {
  it('takes the larger of the record and byte limits, at least one', () => {
    expect(shardsFor(0, 0)).toBe(1);
    expect(shardsFor(1_000, 1_000)).toBe(1);
    expect(shardsFor(1_001, 1_000)).toBe(2);
    expect(shardsFor(10, 3 * 1024 * 1024)).toBe(3);
  });
});
