/**
 * Flatline (stuck sensor): the value has stayed within `tolerance` of a reference for a while. A
 * live sensor's noise moves it; a stuck one repeats itself. The reference is the first value of
 * the current run, so a slow creep within tolerance per step still breaks the run. A gap in the
 * readings (the device was silent) breaks it too: "unchanged for ten minutes" needs readings that
 * say so, not two equal values either side of a dropout: a gap longer than the profile's silence
 * time breaks the run. (That is the profile's, not the device's learned one: on a device slower
 * than the profile expects, two equal readings a minute apart would otherwise be "stuck for a
 * minute". Such a device needs expectedIntervalMs in its profile for flatline to see it.)
 */
import type { MetricRules } from '../profiles.ts';
import { M } from '../state.ts';

/** Device ms the value has stayed within tolerance (0 when this reading moved it). */
export function flatFor(st: Float64Array, o: number, rules: MetricRules, x: number, ts: number): number {
  const ref = st[o + M.stuckRef]!;
  const d = x - ref;
  if (
    Number.isNaN(ref) ||
    d > rules.flatline.tolerance ||
    d < -rules.flatline.tolerance ||
    ts - st[o + M.lastTs]! > rules.flatline.maxGapMs
  ) {
    st[o + M.stuckRef] = x;
    st[o + M.stuckSince] = ts;
    return 0;
  }
  return ts - st[o + M.stuckSince]!;
}
