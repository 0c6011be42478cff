import { describe, expect, it } from 'vitest';
import { comparePositions, recordPosition } from '../../../functions/detect/positions.ts';

describe('record positions', () => {
  it.each([
    ['telemetry.valid-3@1042', 'telemetry.valid-3', '1042'],
    [
      'telemetry.valid/shardId-000000000001@49590338271490256608559692538361571095921575989136588898',
      'telemetry.valid/shardId-000000000001',
      '49590338271490256608559692538361571095921575989136588898',
    ],
  ])('splits %s into partition and position', (origin, partition, position) => {
    expect(recordPosition(origin)).toEqual({ partition, position });
  });

  it('rejects an origin without a position', () => {
    expect(() => recordPosition('telemetry.valid-3')).toThrow(/not partition@position/);
  });

  it('orders positions numerically, beyond Number precision', () => {
    expect(comparePositions('9', '10')).toBeLessThan(0);
    expect(
      comparePositions(
        '49590338271490256608559692538361571095921575989136588899',
        '49590338271490256608559692538361571095921575989136588898',
      ),
    ).toBeGreaterThan(0);
    expect(comparePositions('42', '42')).toBe(0);
  });
});
