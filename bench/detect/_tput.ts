import { DetectEngine } from '../../functions/detect/engine.ts';
import { loadDeviceProfiles } from '../../functions/detect/profiles.ts';
import { DeviceSignal } from '../../simulators/signals.ts';
import type { Reading } from '../../functions/lib/reading.ts';
import type { Alert } from '../../functions/lib/codec/alert-codec.ts';
const devices = 1000, steps = 2000;
const sigs = Array.from({length: devices}, (_, i) => new DeviceSignal(`d${i}`, i, 0));
const engine = new DetectEngine(loadDeviceProfiles());
const batch: Reading[] = new Array(devices);
const out: Alert[] = [];
let ns = 0; let n = 0;
for (let k = 0; k < steps; k++) {
  for (let i = 0; i < devices; i++) batch[i] = sigs[i]!.next(k * 1000 + i);
  const t0 = process.hrtime.bigint();
  engine.tick(k * 1000, out);
  for (let i = 0; i < devices; i++) engine.observe(batch[i]!, out);
  ns += Number(process.hrtime.bigint() - t0);
  n += devices; out.length = 0;
}
console.log('readings/s', (n / ns * 1e9).toFixed(0), 'ns/reading', (ns / n).toFixed(0), engine.stats);
