import { describe, expect, it } from 'vitest';
import { keptUp } from '../../bench/e2e.ts';

// The steps below are from `npm run bench` on 2026-11-22 (bench/results/2026-11-22-vm.json):
// simulator seconds = published / achievedRate - drain.
const step = { count: 450_000, seconds: 15 };
const steady = { lost: 0, drainMs: 309, acknowledged: 450_000, simSeconds: 15.36 };

describe('bench/e2e.ts keptUp: what counts as a sustained rate', () => {
  it('counts a step the store caught up with at once', () => {
    expect(keptUp(step, steady)).toBe(true);
  });

  it('refuses a step that ended seconds behind, though nothing was lost', () => {
    // Kafka at 35,000/s: drained in 2.85 s, 26,190/s stored; the old quarter-step rule passed it.
    expect(keptUp(step, { ...steady, drainMs: 2_850 })).toBe(false);
    expect(keptUp(step, { ...steady, drainMs: 1_001 })).toBe(false);
  });

  it('refuses a step where the broker pushed the simulator back', () => {
    // 15 s of readings took the simulator 17.2 s: the offered rate never reached the pipeline.
    expect(keptUp(step, { ...steady, simSeconds: 17.2 })).toBe(false);
  });

  it('refuses a step that lost a reading or could not publish them all', () => {
    expect(keptUp(step, { ...steady, lost: 1 })).toBe(false);
    expect(keptUp(step, { ...steady, acknowledged: 440_000 })).toBe(false);
  });
});
