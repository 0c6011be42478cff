/**
 * One contract for every detector: on a reading series with its anomaly the engine raises that
 * rule within the anomaly's window; on the same series without it, nothing at all.
 */
import { describe, expect, it } from 'vitest';
import type { Reading } from '../../../../functions/lib/reading.ts';
import { anEngine, cleanSeries, NOISE, opened, run, SECOND, T0, withAnomaly } from '../factories.ts';

interface DetectorCase {
  rule: string;
  metric: string;
  /** Readings [from, to) of cleanSeries() get `change`. */
  from: number;
  to: number;
  change: (reading: Reading, index: number, series: readonly Reading[]) => Reading | null;
}

const FROM = 400;
const sd = NOISE.temperature;

const CASES: DetectorCase[] = [
  {
    rule: 'threshold-high',
    metric: 'temperature',
    from: FROM,
    to: FROM + 3,
    change: (r) => ({ ...r, temperature: 90 }),
  },
  {
    rule: 'threshold-low',
    metric: 'battery',
    from: FROM,
    to: FROM + 3,
    change: (r) => ({ ...r, battery: 5 }),
  },
  {
    rule: 'spike',
    metric: 'temperature',
    from: FROM,
    to: FROM + 3,
    change: (r) => ({ ...r, temperature: r.temperature! + 10 * sd }),
  },
  {
    rule: 'dip',
    metric: 'temperature',
    from: FROM,
    to: FROM + 3,
    change: (r) => ({ ...r, temperature: r.temperature! - 10 * sd }),
  },
  {
    rule: 'rate',
    metric: 'temperature',
    from: FROM,
    to: FROM + 100,
    change: (r) => ({ ...r, temperature: r.temperature! + 4 }),
  },
  // 13 standard deviations over five minutes: never a jump, always a departure
  {
    rule: 'drift',
    metric: 'temperature',
    from: FROM,
    to: FROM + 300,
    change: (r, i) => ({ ...r, temperature: r.temperature! + (4 * i) / 300 }),
  },
  {
    rule: 'flatline',
    metric: 'temperature',
    from: FROM,
    to: FROM + 120,
    change: (r, _i, s) => ({ ...r, temperature: s[FROM - 1]!.temperature }),
  },
  { rule: 'silence', metric: '*', from: FROM, to: FROM + 60, change: () => null },
];

describe.each(CASES)('detector $rule', ({ rule, metric, from, to, change }) => {
  it(`raises ${rule} on ${metric} within the anomaly`, () => {
    // Prepare
    const clean = cleanSeries();
    const series = withAnomaly(clean, from, to, (r, i) => change(r, i, clean));

    // Act
    const alerts = opened(run(anEngine(), series));

    // Assess
    const hit = alerts.find((a) => a.rule === rule && a.metric === metric);
    expect(hit, `alerts: ${alerts.map((a) => a.dedupKey).join(', ')}`).toBeDefined();
    expect(hit!.openedAt).toBeGreaterThanOrEqual(T0 + from * SECOND);
    expect(hit!.openedAt).toBeLessThanOrEqual(T0 + to * SECOND);
    expect(hit!.deviceId).toBe('dev-1');
    expect(hit!.dedupKey).toBe(`dev-1/${metric}/${rule}`);
    expect(hit!.id).toBe(`dev-1/${metric}/${rule}/${hit!.openedAt}`);
  });

  it('stays quiet on clean data of the same shape', () => {
    // Prepare
    const series = cleanSeries();

    // Act
    const alerts = run(anEngine(), series, { tailMs: 5 * SECOND });

    // Assess
    expect(alerts).toEqual([]);
  });
});

describe('spike and dip', () => {
  it('stay quiet during warm-up, however odd the first readings look', () => {
    // Prepare: a wild value among the first 100 readings (warm-up is 120)
    const series = withAnomaly(cleanSeries({ count: 200 }), 50, 51, (r) => ({
      ...r,
      temperature: r.temperature! + 20 * sd,
    }));

    // Act
    const alerts = opened(run(anEngine(), series));

    // Assess
    expect(alerts.filter((a) => a.rule === 'spike' || a.rule === 'dip')).toEqual([]);
  });

  it('report the z-score as the score and the reading as the value', () => {
    // Prepare
    const series = withAnomaly(cleanSeries(), FROM, FROM + 1, (r) => ({ ...r, temperature: 30 }));

    // Act
    const spike = opened(run(anEngine(), series)).find((a) => a.rule === 'spike')!;

    // Assess
    expect(spike.value).toBe(30);
    expect(spike.score).toBeGreaterThan(20);
    expect(spike.ts).toBe(T0 + FROM * SECOND);
    expect(spike.severity).toBe('warning');
  });
});
