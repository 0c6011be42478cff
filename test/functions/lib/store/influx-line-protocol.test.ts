import { describe, expect, it } from 'vitest';
import { pointTime, toLine } from '../../../../functions/lib/store/influx-line-protocol.ts';
import { aReading } from '../../../support/readings.ts';

const T0 = Date.UTC(2024, 5, 10, 8, 0, 0, 123);

describe('pointTime', () => {
  it.each([
    [T0, 1, '1718006400123000001'],
    [T0, 1_000_042, '1718006400123000042'],
    [T0, 9_007_199_254_740_991, '1718006400123740991'],
    [0, 5, '5'],
    [-1, 3, '-999997'],
  ])('puts seq mod 10^6 below the millisecond: ts %d, seq %d', (ts, seq, ns) => {
    expect(pointTime(ts, seq)).toBe(ns);
  });
});

describe('toLine', () => {
  it('writes every field that has a value, seq as an integer, the device as the only tag', () => {
    // Act
    const encoded = toLine({
      ...aReading({ ts: T0, seq: 7, humidity: null, battery: 0 }),
      receivedAt: T0 + 9,
    });

    // Assess
    expect(encoded).toEqual({
      line:
        'readings,device_id=dev-1 seq=7i,temperature=21.5,pressure=1013.2,vibration=2.5,battery=0,' +
        `received_at=${T0 + 9}i 1718006400123000007`,
    });
  });

  it('escapes the device tag and the tags JSON string', () => {
    // Act
    const encoded = toLine(
      aReading({
        deviceId: 'hall 3,a=b',
        ts: T0,
        seq: 1,
        ...{ temperature: null, humidity: null },
        tags: { q: 'say "hi"\\' },
      }),
    );

    // Assess
    expect(encoded).toEqual({
      line: String.raw`readings,device_id=hall\ 3\,a\=b seq=1i,pressure=1013.2,vibration=2.5,battery=88,tags="{\"q\":\"say \\\"hi\\\"\\\\\"}" 1718006400123000001`,
    });
  });

  it.each([
    [{ temperature: Number.POSITIVE_INFINITY }, /temperature is Infinity/],
    [{ deviceId: '' }, /cannot be an InfluxDB tag value/],
    [{ deviceId: 'ends\\' }, /trailing backslash/],
    [{ ts: 1.5 }, /must be whole numbers/],
  ])('says why %j cannot be a point', (overrides, reason) => {
    expect(toLine(aReading({ ts: T0, seq: 1, ...overrides }))).toEqual({
      reason: expect.stringMatching(reason),
    });
  });
});
