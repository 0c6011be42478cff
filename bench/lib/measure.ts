/**
 * Runs `fn` (which processes `batch` items per call) repeatedly for about `ms` milliseconds after a
 * warm-up and returns items per second. Single-threaded, so it is the rate of one core.
 */
export function ratePerSecond(fn: () => void, batch: number, ms = 1_000): number {
  const warmUntil = performance.now() + Math.min(300, ms / 3);
  while (performance.now() < warmUntil) fn();
  let calls = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    fn();
    calls++;
    now = performance.now();
  }
  return (calls * batch * 1000) / (now - start);
}

/** Best of `runs` measurements: the least disturbed by the rest of the machine. */
export function bestOf(runs: number, measure: () => number): number {
  let best = 0;
  for (let i = 0; i < runs; i++) best = Math.max(best, measure());
  return best;
}
