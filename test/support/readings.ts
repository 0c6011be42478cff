import type { Reading } from '../../functions/lib/reading.ts';

/** A reading factory: valid by default, any field overridable. */
export function aReading(overrides: Partial<Reading> = {}): Reading {
  return {
    deviceId: 'dev-1',
    ts: Date.now(),
    seq: 0,
    temperature: 21.5,
    humidity: 40,
    pressure: 1013.2,
    vibration: 2.5,
    battery: 88,
    tags: null,
    ...overrides,
  };
}

/** `devices` × `perDevice` distinct readings: seq 0..perDevice-1 for each device. */
export function aFleetOfReadings(devices: number, perDevice: number, prefix = 'e2e-'): Reading[] {
  const base = Date.now() - 60_000;
  const out: Reading[] = [];
  for (let d = 0; d < devices; d++) {
    for (let s = 0; s < perDevice; s++) {
      out.push(
        aReading({ deviceId: `${prefix}${d}`, ts: base + s * 100, seq: s, temperature: 20 + (s % 5) }),
      );
    }
  }
  return out;
}

export async function waitFor<T>(
  probe: () => Promise<T>,
  done: (value: T) => boolean,
  { timeoutMs = 30_000, intervalMs = 200 } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await probe();
  while (!done(value) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
    value = await probe();
  }
  return value;
}
