import { describe, expect, it } from 'vitest';
import { InOrderProgress, laneOf } from '../../../functions/runner/shard-progress.ts';

describe('laneOf', () => {
  it('always puts a key in the same lane, and spreads keys over all lanes', () => {
    const lanes = new Set<number>();
    for (let i = 0; i < 200; i++) {
      const lane = laneOf(`dev-${i}`, 4);
      expect(laneOf(`dev-${i}`, 4)).toBe(lane);
      lanes.add(lane);
    }
    expect([...lanes].sort()).toEqual([0, 1, 2, 3]);
    expect(laneOf('anything', 1)).toBe(0);
  });
});

describe('InOrderProgress', () => {
  it('checkpoints only over records that are all done, whatever order they finish in', () => {
    // Prepare
    const progress = new InOrderProgress();
    for (const seq of ['1', '2', '3', '4']) progress.add(seq);

    // Act / Assess
    progress.complete('2');
    expect(progress.advance()).toBeUndefined();
    progress.complete('1');
    expect(progress.advance()).toBe('2');
    progress.complete('4');
    expect(progress.advance()).toBeUndefined();
    expect(progress.outstanding).toBe(2);
    progress.complete('3');
    expect(progress.advance()).toBe('4');
    expect(progress.outstanding).toBe(0);
  });

  it('keeps working across its internal compaction', () => {
    const progress = new InOrderProgress();
    let last: string | undefined;
    for (let i = 0; i < 10_000; i++) {
      progress.add(String(i));
      progress.complete(String(i));
      if (i % 7 === 0) last = progress.advance() ?? last;
    }
    expect(progress.advance()).toBe('9999');
    expect(progress.outstanding).toBe(0);
  });
});
