import { afterEach, describe, expect, it, vi } from 'vitest';
import { OffsetGaps } from '../../../functions/runner/kafka-source.ts';

describe('OffsetGaps', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  function gaps() {
    const counted: number[] = [];
    const reported: { partition: number; from: string; to: string; skipped: number }[] = [];
    const g = new OffsetGaps(
      (skipped) => counted.push(skipped),
      (partition, gap) => reported.push({ partition, ...gap }),
    );
    return { g, counted, reported };
  }

  it("counts every gap, reports a partition's first at once and sums the rest into one report every 10 s", () => {
    // Prepare
    vi.useFakeTimers();
    const { g, counted, reported } = gaps();
    g.done(0, 100n);

    // Act: three gaps in a few seconds, then one more after 10 s
    g.delivered(0, 150n);
    g.done(0, 160n);
    g.delivered(0, 170n);
    g.done(0, 180n);
    vi.advanceTimersByTime(3_000);
    g.delivered(0, 200n);
    g.done(0, 210n);
    const early = reported.length;
    vi.advanceTimersByTime(10_000);
    g.delivered(0, 210n);

    // Assess
    expect(counted).toEqual([50, 10, 20]);
    expect(early).toBe(1);
    expect(reported).toEqual([
      { partition: 0, from: '100', to: '149', skipped: 50 },
      { partition: 0, from: '160', to: '199', skipped: 30 },
    ]);
  });

  it('sees no gap in a redelivery, in a batch that starts where the last ended, or after a rebalance', () => {
    // Prepare
    const { g, counted, reported } = gaps();
    g.done(1, 100n);

    // Act
    g.delivered(1, 90n); // redelivered after a failed batch
    g.delivered(1, 100n);
    g.forget(); // rebalance: the next assignment starts from committed offsets
    g.delivered(1, 500n);
    g.flush();

    // Assess
    expect(counted).toEqual([]);
    expect(reported).toEqual([]);
  });

  it('reports what is still pending at flush', () => {
    const { g, reported } = gaps();
    g.done(2, 10n);
    g.delivered(2, 20n);
    g.done(2, 30n);
    g.delivered(2, 40n);
    g.flush();
    expect(reported.map((r) => r.skipped)).toEqual([10, 10]);
  });
});
