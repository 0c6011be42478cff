import { describe, expect, it } from 'vitest';
import { IncidentBook, type OpenFields } from '../../../functions/detect/incidents.ts';
import type { Alert } from '../../../functions/lib/codec/alert-codec.ts';
import { anEngine, cleanSeries, opened, resolved, run, SECOND, T0, withAnomaly } from './factories.ts';

const QUIET_MS = 30_000; // TEST_PROFILE_DOCUMENT

function fields(overrides: Partial<OpenFields> = {}): OpenFields {
  return {
    deviceId: 'dev-1',
    metric: 'temperature',
    rule: 'spike',
    severity: 'warning',
    value: 30,
    score: 9.5,
    ts: T0,
    openedAt: T0,
    message: 'temperature 30 is 9.5 standard deviations above its baseline',
    ...overrides,
  };
}

describe('IncidentBook', () => {
  it('opens once, counts repeats, and resolves once after the quiet period', () => {
    // Prepare
    const book = new IncidentBook();
    const out: Alert[] = [];

    // Act
    book.open(7, fields(), T0, out);
    for (let i = 1; i <= 5; i++) book.repeat(7, T0 + i * SECOND);
    const early = book.resolveIfQuiet(7, T0 + 5 * SECOND + QUIET_MS - 1, QUIET_MS, 22, T0 + 40 * SECOND, out);
    const late = book.resolveIfQuiet(7, T0 + 5 * SECOND + QUIET_MS, QUIET_MS, 22, T0 + 41 * SECOND, out);
    const again = book.resolveIfQuiet(7, T0 + 99 * SECOND, QUIET_MS, 22, T0 + 99 * SECOND, out);

    // Assess
    expect([early, late, again]).toEqual([false, true, false]);
    expect(out.map((a) => [a.status, a.repeats])).toEqual([
      ['open', 0],
      ['resolved', 5],
    ]);
    expect(out[1]!.id).toBe(out[0]!.id);
    expect(out[0]!.id).toBe(`dev-1/temperature/spike/${T0}`);
    expect(out[1]).toMatchObject({ value: 22, ts: T0 + 41 * SECOND, openedAt: T0 });
    expect(book.size).toBe(0);
  });

  it('does not let a caller change an incident through the alert it was handed', () => {
    // Prepare
    const book = new IncidentBook();
    const out: Alert[] = [];
    book.open(1, fields(), T0, out);

    // Act
    out[0]!.message = 'changed';

    // Assess
    expect(book.get(1)!.alert.message).not.toBe('changed');
  });
});

describe('incident lifecycle in the engine', () => {
  it('opens one incident across many anomalous readings and resolves it once after the quiet period', () => {
    // Prepare: temperature above the 85 limit for 100 readings in a row
    const series = withAnomaly(cleanSeries(), 400, 500, (r) => ({ ...r, temperature: 90 }));

    // Act
    const alerts = run(anEngine(), series).filter((a) => a.rule === 'threshold-high');

    // Assess
    expect(opened(alerts)).toHaveLength(1);
    expect(resolved(alerts)).toHaveLength(1);
    const [open, done] = alerts as [Alert, Alert];
    expect(open).toMatchObject({
      status: 'open',
      openedAt: T0 + 400 * SECOND,
      repeats: 0,
      value: 90,
      score: 5,
      severity: 'critical',
    });
    expect(done).toMatchObject({ status: 'resolved', id: open.id, repeats: 99 });
    // the last breach was reading 499; it resolves a quiet period later (on the tick, stamped with
    // the device time of the last reading before it)
    expect(done.ts).toBeGreaterThanOrEqual(T0 + 499 * SECOND + QUIET_MS - SECOND);
    expect(done.ts).toBeLessThanOrEqual(T0 + 499 * SECOND + QUIET_MS);
  });

  it('counts a breach inside the quiet period into the open incident instead of opening another', () => {
    // Prepare: two bursts 20 s apart (quiet period 30 s)
    const series = withAnomaly(cleanSeries(), 400, 440, (r, i) =>
      i < 5 || i >= 25 ? { ...r, temperature: 90 } : r,
    );

    // Act
    const alerts = run(anEngine(), series).filter((a) => a.rule === 'threshold-high');

    // Assess
    expect(alerts.map((a) => [a.status, a.repeats])).toEqual([
      ['open', 0],
      ['resolved', 19],
    ]);
  });

  it('resolves on the clock when the device stops sending during an incident', () => {
    // Prepare: the anomaly is the last thing the device sends
    const series = withAnomaly(cleanSeries({ count: 410 }), 400, 410, (r) => ({ ...r, temperature: 90 }));

    // Act
    const alerts = run(anEngine(), series, { tailMs: 60 * SECOND }).filter(
      (a) => a.rule === 'threshold-high',
    );

    // Assess
    expect(alerts.map((a) => a.status)).toEqual(['open', 'resolved']);
    expect(alerts[1]!.value).toBeNull();
  });
});
