import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DetectEngine } from '../../../functions/detect/engine.ts';
import type { Alert } from '../../../functions/lib/codec/alert-codec.ts';
import type { Reading } from '../../../functions/lib/reading.ts';
import {
  anEngine,
  cleanSeries,
  type Feed,
  opened,
  resolved,
  run,
  SECOND,
  summary,
  T0,
  TEST_PROFILE_DOCUMENT,
  testProfiles,
  withAnomaly,
} from './factories.ts';

const SILENCE_MS = 10_000; // expectedIntervalMs 1000 x graceFactor 10

/** Devices dev-0..dev-(n-1), 300 s of readings each, seeded differently. */
function fleet(devices: number, count = 300): Reading[][] {
  return Array.from({ length: devices }, (_, d) => cleanSeries({ deviceId: `dev-${d}`, count, seed: d + 1 }));
}

describe('silence', () => {
  it('is detected on the clock for a device that stopped while the others go on', () => {
    // Prepare: dev-1 stops after reading 119; dev-0 and dev-2 keep sending
    const [a, b, c] = fleet(3) as [Reading[], Reading[], Reading[]];
    const feed = [...a, ...b.slice(0, 120), ...c];

    // Act
    const alerts = run(anEngine(), feed);

    // Assess
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({
      status: 'open',
      deviceId: 'dev-1',
      metric: '*',
      rule: 'silence',
      dedupKey: 'dev-1/*/silence',
      ts: T0 + 119 * SECOND,
      openedAt: T0 + 119 * SECOND + SILENCE_MS,
      value: null,
    });
  });

  it('is detected from ticks alone when nothing arrives at all', () => {
    // Prepare
    const engine = anEngine();
    for (const reading of cleanSeries({ count: 10 })) engine.observe(reading);

    // Act
    const before = engine.tick(T0 + 9 * SECOND + SILENCE_MS);
    const after = engine.tick(T0 + 9 * SECOND + SILENCE_MS + 1);

    // Assess
    expect(before).toEqual([]);
    expect(summary(after)).toEqual([`open dev-1/*/silence @${9 * SECOND + SILENCE_MS}`]);
  });

  it('resolves when the device reports again, with the incident id it opened with', () => {
    // Prepare: a one-minute gap
    const series = withAnomaly(cleanSeries({ count: 200 }), 100, 160, () => null);

    // Act
    const alerts = run(anEngine(), series);

    // Assess
    expect(alerts.map((a) => [a.status, a.rule])).toEqual([
      ['open', 'silence'],
      ['resolved', 'silence'],
    ]);
    expect(alerts[1]!.id).toBe(alerts[0]!.id);
    expect(alerts[1]!.ts).toBe(T0 + 160 * SECOND);
  });
});

describe("silence at a device's own pace", () => {
  const MINUTE = 60 * SECOND;
  /** The test profile, with devices kept in memory for a day (the silence time is capped at half of it). */
  const dayLong = () =>
    testProfiles({ defaults: { ...TEST_PROFILE_DOCUMENT.defaults, evictAfterMs: 86_400_000 } });

  it("learns a slow device's interval: no alert between its readings, an alert when it stops", () => {
    // Prepare: one reading a minute for an hour (the profile expects one a second), then nothing
    const series = cleanSeries({ count: 60, intervalMs: MINUTE });
    const last = series[series.length - 1]!.ts;

    // Act
    const alerts = run(new DetectEngine(dayLong()), series, { tailMs: 15 * MINUTE });

    // Assess: before its first gap the device is judged by the profile (one alert, resolved by its
    // second reading); after it, the only alert is the real silence, graceFactor (10) x 1 min after
    // its last reading. With the profile's interval alone, one would open after every reading.
    expect(summary(alerts)).toEqual([
      `open dev-1/*/silence @${SILENCE_MS}`,
      `resolved dev-1/*/silence @${SILENCE_MS}`,
      `open dev-1/*/silence @${last - T0 + 10 * MINUTE}`,
    ]);
    expect(alerts[2]!.message).toContain('expected every 60 s');
  });

  it('still alerts on a one-minute dropout of a device that reports every second', () => {
    // Prepare: 1 Hz, readings 100-159 and 250-289 missing; a gap must not teach the detector that
    // a minute is normal
    const series = cleanSeries({ count: 400 }).filter((r) => {
      const i = (r.ts - T0) / SECOND;
      return !((i >= 100 && i < 160) || (i >= 250 && i < 290));
    });

    // Act
    const alerts = run(anEngine(), series);

    // Assess: two silences, each opened 10 s after the device's last reading before the gap
    expect(opened(alerts).map((a) => a.openedAt - T0)).toEqual([
      99 * SECOND + SILENCE_MS,
      249 * SECOND + SILENCE_MS,
    ]);
  });

  it('keeps the learned interval across a snapshot and restore', () => {
    // Prepare: 20 readings a minute apart, then a restart
    const first = new DetectEngine(dayLong());
    run(first, cleanSeries({ count: 20, intervalMs: MINUTE }));
    const second = DetectEngine.restore(first.snapshot(), dayLong());
    const last = T0 + 19 * MINUTE;

    // Act: the clock runs on with no readings
    const early = second.tick(last + 2 * MINUTE);
    const late = second.tick(last + 10 * MINUTE + 1);

    // Assess
    expect(early).toEqual([]);
    expect(summary(late)).toEqual([`open dev-1/*/silence @${19 * MINUTE + 10 * MINUTE}`]);
  });

  it('restores a snapshot written before intervals were learned (IDS1), open incidents included', () => {
    // Prepare: an IDS1 snapshot made by the previous version (dev-1 silent since 29 s, its silence
    // incident open; dev-2 reported every second until 59 s)
    const bytes = readFileSync(new URL('../../fixtures/detector-snapshot-ids1.bin', import.meta.url));
    expect(bytes.subarray(0, 4).toString('latin1')).toBe('IDS1');

    // Act
    const engine = DetectEngine.restore(bytes, testProfiles());
    const out: Alert[] = [];
    for (const reading of cleanSeries({ deviceId: 'dev-1', start: T0 + 70 * SECOND, count: 5 }))
      engine.observe(reading, out);

    // Assess: dev-1's incident resolves under the id it was opened with
    expect(engine.stats.devices).toBe(2);
    expect(out.map((a) => `${a.status} ${a.id}`)).toEqual([`resolved dev-1/*/silence/${T0 + 39 * SECOND}`]);
  });
});

describe('gateway silence', () => {
  const behind = (readings: readonly Reading[], gatewayId: string): Feed[] =>
    readings.map((reading) => ({ reading, gatewayId }));

  it('raises one alert for a gateway that went quiet, not one per device', () => {
    // Prepare: five devices behind gw-1 stop together at 120 s; dev-9 (direct) goes on
    const devices = fleet(5);
    const feed = [
      ...devices.flatMap((d) => behind(d.slice(0, 120), 'gw-1')),
      ...cleanSeries({ deviceId: 'dev-9', count: 300 }),
    ];

    // Act
    const alerts = run(anEngine(), feed);

    // Assess
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({
      status: 'open',
      deviceId: 'gw-1',
      rule: 'gateway-silence',
      metric: '*',
      severity: 'critical',
    });
    expect(alerts[0]!.message).toContain('5 devices');
  });

  it('still reports a single device that went quiet behind a gateway that goes on', () => {
    // Prepare
    const [a, b] = fleet(2) as [Reading[], Reading[]];
    const feed = [...behind(a, 'gw-1'), ...behind(b.slice(0, 120), 'gw-1')];

    // Act
    const alerts = run(anEngine(), feed);

    // Assess
    expect(summary(alerts)).toEqual([`open dev-1/*/silence @${119 * SECOND + SILENCE_MS}`]);
  });

  it('resolves when the gateway delivers again, and then reports the devices that did not come back', () => {
    // Prepare: gw-1 is quiet from 120 s to 180 s; afterwards only dev-0 reports through it
    const [a, b] = fleet(2) as [Reading[], Reading[]];
    const feed = [
      ...behind([...a.slice(0, 120), ...a.slice(180)], 'gw-1'),
      ...behind(b.slice(0, 120), 'gw-1'),
    ];

    // Act
    const alerts = run(anEngine(), feed);

    // Assess
    expect(alerts.map((x) => `${x.status} ${x.deviceId} ${x.rule}`)).toEqual([
      'open gw-1 gateway-silence',
      'resolved gw-1 gateway-silence',
      'open dev-1 silence',
    ]);
  });
});

describe('memory', () => {
  const shortEviction = {
    defaults: { ...TEST_PROFILE_DOCUMENT.defaults, evictAfterMs: 120_000 },
  };

  it('lets an idle device leave memory and still resolves its silence when it returns', () => {
    // Prepare: dev-0 goes quiet for 5 minutes, well past the 2-minute eviction
    const engine = new DetectEngine(testProfiles(shortEviction));
    const series = withAnomaly(cleanSeries({ count: 600 }), 200, 500, () => null);
    const first = run(engine, series.slice(0, 200), { tailMs: 200 * SECOND });
    const idle = engine.stats;

    // Act
    const rest = run(engine, series.slice(200));

    // Assess
    expect(summary(first)).toEqual([`open dev-1/*/silence @${199 * SECOND + SILENCE_MS}`]);
    expect(idle).toMatchObject({ devices: 0, evicted: 1, departed: 1, openIncidents: 1 });
    expect(rest.map((a) => `${a.status} ${a.rule}`)).toEqual(['resolved silence']);
    expect(rest[0]!.id).toBe(first[0]!.id);
    expect(engine.stats).toMatchObject({ devices: 1, departed: 0, openIncidents: 0 });
  });

  it('admits afresh a device that left memory when it is heard again right after its old neighbour', () => {
    // Prepare: dev-a and dev-b report in turn (so they hold consecutive slots), then dev-b is quiet
    // for 5 minutes, past the 2-minute eviction, then both report in turn again
    const engine = new DetectEngine(testProfiles(shortEviction));
    const a = cleanSeries({ deviceId: 'dev-a', count: 600 });
    const b = withAnomaly(cleanSeries({ deviceId: 'dev-b', count: 600, seed: 2 }), 200, 500, () => null);
    const before = run(engine, [...a.slice(0, 500), ...b.slice(0, 200)]);
    const whileAway = engine.stats;

    // Act: run() keeps dev-a first at equal timestamps, so each dev-b reading follows a dev-a one
    const after = run(engine, [...a.slice(500), ...b.slice(200)]);

    // Assess
    expect(whileAway).toMatchObject({ devices: 1, evicted: 1, departed: 1 });
    expect(summary(before)).toEqual([`open dev-b/*/silence @${199 * SECOND + SILENCE_MS}`]);
    expect(after.map((x) => `${x.status} ${x.deviceId} ${x.rule}`)).toEqual(['resolved dev-b silence']);
    expect(engine.stats).toMatchObject({ devices: 2, departed: 0, openIncidents: 0 });
  });

  it('keeps at most maxDevices, letting the least recently heard from go first', () => {
    // Prepare
    const engine = new DetectEngine(testProfiles(), { maxDevices: 100 });

    // Act
    for (let d = 0; d < 150; d++)
      engine.observe(cleanSeries({ deviceId: `dev-${d}`, count: 1, start: T0 + d })[0]!);

    // Assess
    expect(engine.stats.devices).toBeLessThanOrEqual(100);
    expect(engine.stats.evictedForCapacity).toBeGreaterThanOrEqual(50);
  });
});

describe('replays and duplicates', () => {
  it('counts a reading seen again (same ts and seq, or older) once', () => {
    // Prepare: a threshold breach, then the same readings delivered a second time
    const series = withAnomaly(cleanSeries({ count: 420 }), 400, 420, (r) => ({ ...r, temperature: 90 }));
    const engine = anEngine();
    run(engine, series);

    // Act
    const again = run(engine, series.slice(300));

    // Assess
    expect(again).toEqual([]);
    expect(engine.stats.stale).toBe(120);
  });
});

describe('snapshot and restore', () => {
  /** Three devices, one behind a gateway that goes quiet, spikes, a stuck sensor and a drift. */
  function scenario(): Feed[] {
    const [a, b, c] = fleet(3, 1_200) as [Reading[], Reading[], Reading[]];
    const spiky = withAnomaly(a, 300, 305, (r) => ({ ...r, temperature: r.temperature! + 5 }));
    const stuck = withAnomaly(b, 500, 700, (r) => ({ ...r, humidity: 50 }));
    const drifting = withAnomaly(c.slice(0, 900), 400, 700, (r, i) => ({
      ...r,
      pressure: r.pressure! + (5 * i) / 300,
    }));
    return [
      ...spiky.map((reading) => ({ reading })),
      ...stuck.map((reading) => ({ reading })),
      ...drifting.map((reading) => ({ reading, gatewayId: 'gw-1' })),
    ];
  }

  it('gives the same alerts as an uninterrupted run, whenever the snapshot is taken', () => {
    // Prepare
    const feed = scenario();
    const uninterrupted = run(anEngine(), feed, { tailMs: 60 * SECOND });
    const cuts = [250 * SECOND, 302 * SECOND, 650 * SECOND, 905 * SECOND];

    for (const cut of cuts) {
      // Act: run to the cut, snapshot, restore into a new engine, run the rest
      const first = anEngine();
      const before = run(
        first,
        feed.filter((f) => f.reading.ts < T0 + cut),
      );
      const bytes = first.snapshot();
      const second = DetectEngine.restore(bytes, testProfiles());
      const after: Alert[] = [];
      let nextTick = first.clock + SECOND;
      for (const f of feed
        .filter((x) => x.reading.ts >= T0 + cut)
        .sort((x, y) => x.reading.ts - y.reading.ts)) {
        while (nextTick <= f.reading.ts) {
          second.tick(nextTick, after);
          nextTick += SECOND;
        }
        second.observe(f.reading, after, f.reading.ts, f.gatewayId);
      }
      const end = Math.max(...feed.map((f) => f.reading.ts)) + 60 * SECOND;
      for (; nextTick <= end; nextTick += SECOND) second.tick(nextTick, after);

      // Assess
      expect(summary([...before, ...after]), `cut at ${cut / SECOND} s`).toEqual(summary(uninterrupted));
      expect([...before, ...after]).toEqual(uninterrupted);
    }
    expect(opened(uninterrupted).map((a) => a.rule)).toEqual(
      expect.arrayContaining(['spike', 'flatline', 'drift', 'gateway-silence']),
    );
    expect(resolved(uninterrupted).length).toBeGreaterThan(0);
  });

  it('refuses bytes that are not a snapshot, saying so', () => {
    expect(() => DetectEngine.restore(new Uint8Array([1, 2, 3, 4, 5]))).toThrow(/not a detector snapshot/);
  });
});
