import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  builtInProfiles,
  DEFAULT_PROFILES_PATH,
  ewmaDifferenceScale,
  halfLifeToAlpha,
  loadDeviceProfiles,
  parseDeviceProfiles,
} from '../../../functions/detect/profiles.ts';
import { ConfigError } from '../../../functions/lib/errors.ts';
import { METRICS } from '../../../functions/lib/reading.ts';

const temperature = METRICS.indexOf('temperature');
const humidity = METRICS.indexOf('humidity');

describe('device profiles', () => {
  it('loads the shipped profile file', () => {
    // Act
    const profiles = loadDeviceProfiles(DEFAULT_PROFILES_PATH);

    // Assess
    const defaults = profiles.defaults;
    expect(defaults.name).toBe('default');
    expect(defaults.silence.afterMs).toBe(10_000);
    expect(defaults.metrics[temperature]!.threshold).toMatchObject({
      low: -40,
      high: 85,
      severity: 'critical',
    });
    expect(profiles.profileFor('outdoor-17').name).toBe('outdoor-minutely');
    expect(profiles.profileFor('dev-00001').name).toBe('default');
  });

  it('turns settings into the numbers the detectors use', () => {
    // Act
    const rules = builtInProfiles().defaults.metrics[temperature]!;

    // Assess
    expect(rules.baseline.alpha).toBeCloseTo(halfLifeToAlpha(200), 12);
    expect(rules.spike.z).toBeCloseTo(5.612, 3); // confidence 0.99999999
    expect(rules.drift.scale).toBeCloseTo(ewmaDifferenceScale(rules.baseline.alpha, rules.drift.beta), 12);
    expect(rules.threshold).toMatchObject({ low: Number.NEGATIVE_INFINITY, high: Number.POSITIVE_INFINITY });
    expect(rules.rate.enabled).toBe(false);
  });

  it('is frozen', () => {
    const profiles = builtInProfiles();
    expect(Object.isFrozen(profiles)).toBe(true);
    expect(Object.isFrozen(profiles.defaults.metrics[0]!.spike)).toBe(true);
  });

  it('merges per field: built-in < defaults."*" < defaults.<metric> < profile."*" < profile.<metric>', () => {
    // Prepare
    const document = {
      defaults: {
        metrics: {
          '*': { spike: { severity: 'info' }, flatline: { durationMs: 120_000 } },
          humidity: { spike: { severity: 'critical' } },
        },
      },
      profiles: [
        {
          name: 'pumps',
          devices: ['pump-*'],
          metrics: {
            '*': { spike: { severity: 'warning' } },
            temperature: { flatline: { durationMs: 5_000 } },
          },
        },
      ],
    };

    // Act
    const profiles = parseDeviceProfiles(document);
    const pump = profiles.profileFor('pump-7');

    // Assess
    expect(profiles.defaults.metrics[temperature]!.spike.severity).toBe('info');
    expect(profiles.defaults.metrics[humidity]!.spike.severity).toBe('critical');
    expect(pump.metrics[humidity]!.spike.severity).toBe('warning');
    expect(pump.metrics[temperature]!.flatline.durationMs).toBe(5_000);
    expect(pump.metrics[humidity]!.flatline.durationMs).toBe(120_000);
    expect(pump.metrics[humidity]!.spike.enabled).toBe(true);
  });

  it.each([
    [{ defaults: { expectedIntervalMs: -5 } }, /defaults\.expectedIntervalMs must be > 0, got -5/],
    [
      { defaults: { metrics: { temperature: { spike: { confidence: 2 } } } } },
      /defaults\.metrics\.temperature\.spike\.confidence must be a probability/,
    ],
    [
      { defaults: { metrics: { temprature: {} } } },
      /unknown field defaults\.metrics\.temprature; expected one of \*, temperature/,
    ],
    [
      { defaults: { metrics: { '*': { spike: { treshold: 3 } } } } },
      /unknown field defaults\.metrics\.\*\.spike\.treshold/,
    ],
    [
      { defaults: { metrics: { battery: { threshold: { low: 50, high: 10 } } } } },
      /threshold: low \(50\) must be below high \(10\)/,
    ],
    [
      { defaults: { silence: { severity: 'loud' } } },
      /defaults\.silence\.severity must be one of info, warning, critical, got "loud"/,
    ],
    [
      { defaults: { evictAfterMs: 1_000 } },
      /evictAfterMs is 1000: it must be at least twice the silence time/,
    ],
    [{ profiles: [{ name: 'x', devices: [] }] }, /profiles\[0\]\.devices must be a non-empty array/],
    [{ profiles: [{ name: 'default', devices: ['a*'] }] }, /profiles\[0\]\.name "default" is used twice/],
    [
      { profiles: [{ name: 'p', devices: ['p*'], metrics: { '*': { drift: { halfLife: 500 } } } }] },
      /profiles\[0\]\.metrics\.temperature\.drift\.halfLife must be shorter than baseline\.halfLife/,
    ],
  ])('rejects %j with a message naming the field', (document, message) => {
    expect(() => parseDeviceProfiles(document, 'profiles.json')).toThrow(ConfigError);
    expect(() => parseDeviceProfiles(document, 'profiles.json')).toThrow(message);
  });

  it('names the file when it cannot be read or parsed', () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), 'profiles-'));
    const broken = join(dir, 'broken.json');
    writeFileSync(broken, '{ "defaults": ');

    // Act / Assess
    expect(() => loadDeviceProfiles(join(dir, 'missing.json'))).toThrow(/cannot read .*missing\.json/);
    expect(() => loadDeviceProfiles(broken)).toThrow(/broken\.json is not valid JSON/);
  });
});
