import { describe, expect, it } from 'vitest';
import { METRICS, type Reading } from '../../functions/lib/reading.ts';
import { ANOMALY_SHAPES, AnomalyInjector, type AnomalyOptions } from '../../simulators/anomalies.ts';
import { ANOMALY_KINDS, type AnomalyKind, type AnomalyLabel } from '../../simulators/ground-truth.ts';
import { DeviceSignal, METRIC_PROFILES } from '../../simulators/signals.ts';

const T0 = Date.UTC(2026, 0, 1);
const DAY = 86_400_000;

interface Run {
  clean: Reading[];
  out: (Reading | null)[];
  labels: AnomalyLabel[];
}

/** One device for `hours` at 1 Hz through an injector; the clean readings alongside. */
function inject(options: Partial<AnomalyOptions>, hours = 24, seed = 3): Run {
  const signal = new DeviceSignal('dev-a', seed, T0);
  const labels: AnomalyLabel[] = [];
  const injector = new AnomalyInjector(
    'dev-a',
    0,
    { perDeviceDay: 20, until: T0 + hours * 3_600_000, ...options },
    (l) => labels.push(l),
  );
  const clean: Reading[] = [];
  const out: (Reading | null)[] = [];
  for (let i = 0; i < hours * 3_600; i++) {
    const reading = signal.next(T0 + i * 1_000);
    clean.push({ ...reading });
    out.push(injector.apply(reading));
  }
  injector.finish();
  return { clean, out, labels };
}

describe('AnomalyInjector', () => {
  it('is deterministic from its seed', () => {
    expect(inject({ seed: 5 }).labels).toEqual(inject({ seed: 5 }).labels);
    expect(inject({ seed: 5 }).labels).not.toEqual(inject({ seed: 6 }).labels);
  });

  it('injects about the configured rate, none before warm-up, and none running past `until`', () => {
    // Act
    const { labels } = inject({}, 48);

    // Assess
    expect(labels.length).toBeGreaterThan(15);
    expect(labels.length).toBeLessThan(50);
    expect(Math.min(...labels.map((l) => l.start))).toBeGreaterThanOrEqual(T0 + 3_600_000);
    expect(Math.max(...labels.map((l) => l.end))).toBeLessThanOrEqual(T0 + 2 * DAY);
  });

  it.each(ANOMALY_KINDS)('labels %s exactly where it changed the readings', (kind: AnomalyKind) => {
    // Act
    const { clean, out, labels } = inject({ kinds: [kind] });

    // Assess
    expect(labels.length).toBeGreaterThan(3);
    const changed = (i: number, metric: AnomalyLabel['metric']) =>
      out[i] === null || (metric !== '*' && out[i]![metric] !== clean[i]![metric]);
    for (const label of labels) {
      expect(label.kind).toBe(kind);
      const first = (label.start - T0) / 1_000;
      const last = (label.end - T0) / 1_000;
      expect(label.end - label.start).toBeLessThanOrEqual(ANOMALY_SHAPES[kind].durationMs[1]);
      if (kind === 'dropout') {
        expect(label.metric).toBe('*');
        for (let i = first; i <= last; i++) expect(out[i]).toBeNull();
      } else {
        expect(METRICS).toContain(label.metric);
      }
      if (kind === 'spike' || kind === 'dip') {
        for (let i = first; i <= last; i++) expect(changed(i, label.metric)).toBe(true);
        const metric = label.metric as (typeof METRICS)[number];
        const delta = out[first]![metric]! - clean[first]![metric]!;
        expect(Math.sign(delta)).toBe(kind === 'spike' ? 1 : -1);
        expect(Math.abs(delta) / METRIC_PROFILES[metric].noise).toBeGreaterThan(7.9);
      }
      if (kind === 'stuck') {
        const metric = label.metric as (typeof METRICS)[number];
        const held = out[first - 1]![metric];
        for (let i = first; i <= last; i++) expect(out[i]![metric]).toBe(held);
      }
      // the readings either side are untouched
      expect(changed(first - 1, label.metric)).toBe(false);
      expect(changed(last + 1, label.metric)).toBe(false);
    }
  });

  it('makes a drift grow gradually to its size', () => {
    // Act
    const { clean, out, labels } = inject({ kinds: ['drift'] });

    // Assess
    const label = labels[0]!;
    const metric = label.metric as (typeof METRICS)[number];
    const offset = (t: number) => out[(t - T0) / 1_000]![metric]! - clean[(t - T0) / 1_000]![metric]!;
    const sd = METRIC_PROFILES[metric].noise;
    expect(Math.abs(offset(label.start))).toBeLessThan(sd);
    expect(Math.abs(offset(label.end)) / sd).toBeGreaterThan(label.magnitude - 1);
  });
});
