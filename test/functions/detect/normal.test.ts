import { describe, expect, it } from 'vitest';
import { normalQuantile } from '../../../functions/detect/normal.ts';

describe('normalQuantile', () => {
  it.each([
    [0.5, 0],
    [0.975, 1.959963985],
    [0.999, 3.090232306],
    [0.9999999, 5.199337582],
    [0.025, -1.959963985],
  ])('P(Z <= z) = %d at z = %d', (p, z) => {
    expect(normalQuantile(p)).toBeCloseTo(z, 6);
  });

  it('rejects probabilities outside (0, 1)', () => {
    expect(() => normalQuantile(1)).toThrow(RangeError);
  });
});
