/**
 * Silence, on the clock: a device is silent when nothing arrived from it for longer than its
 * profile's expected interval times the grace factor, whether or not anything else arrives.
 *
 * The expected interval is the device's own as well as its profile's: each device's reporting
 * interval is learned from its readings (learnInterval), and silence counts from grace factor times
 * the longer of the two (silenceAfterMs). A fleet reporting once a minute then needs no setting, and
 * the profile's expectedIntervalMs is a floor.
 *
 * Devices behind a gateway defer to it: if the gateway went quiet too, one gateway-silence alert
 * covers all of them. A device is silent on its own only once its gateway has kept delivering other
 * devices' readings for the silence time after the device's last one.
 */
export const SilenceVerdict = {
  /** Heard from recently enough. */
  ok: 0,
  /** Silent on its own: open a silence incident. */
  silent: 1,
  /** Silent, but its gateway went quiet at the same time: wait for the gateway's verdict. */
  waiting: 2,
} as const;
export type SilenceVerdict = (typeof SilenceVerdict)[keyof typeof SilenceVerdict];

/**
 * `gatewayLastAt` is NaN for a device that is not behind a gateway; `gatewaySilent` is true while
 * the gateway's own incident is open (its devices are covered by it).
 */
export function deviceSilence(
  now: number,
  lastAt: number,
  afterMs: number,
  gatewayLastAt: number,
  gatewaySilent: boolean,
): SilenceVerdict {
  if (now - lastAt <= afterMs) return SilenceVerdict.ok;
  if (Number.isNaN(gatewayLastAt)) return SilenceVerdict.silent;
  if (gatewaySilent) return SilenceVerdict.waiting;
  return gatewayLastAt - lastAt > afterMs ? SilenceVerdict.silent : SilenceVerdict.waiting;
}

/** The deterministic time a silence began to count as one: a replay gives the same incident id. */
export function silenceOpenedAt(lastTs: number, afterMs: number): number {
  return lastTs + afterMs;
}

/** Weight of the newest gap in the learned interval: about the last ten gaps count. */
const INTERVAL_WEIGHT = 0.1;
/** A gap counts as at most this many times the learned interval: a dropout is not the cadence. */
const INTERVAL_GAP_CAP = 3;

/**
 * Learns the gap (device ms) between a device's consecutive readings into `intervals[slot]`, an
 * EWMA; NaN until the first gap. Gaps are capped at 3x the estimate, so a dropout moves it little
 * while a device that changed cadence is followed within a few dozen readings.
 */
export function learnInterval(intervals: Float64Array, slot: number, gap: number): void {
  if (!(gap > 0 && gap < Number.POSITIVE_INFINITY)) return;
  const current = intervals[slot]!;
  if (Number.isNaN(current)) {
    intervals[slot] = gap;
    return;
  }
  intervals[slot] = current + INTERVAL_WEIGHT * (Math.min(gap, INTERVAL_GAP_CAP * current) - current);
}

/**
 * When a device counts as silent: its profile's silence time, or graceFactor times its learned
 * interval (whole ms) when that is longer, and at most half the profile's evictAfterMs, so a device
 * is noticed silent before it may leave memory. Until a device's first gap is seen (NaN) the
 * profile's time applies: a new device slower than its profile can raise one silence alert before
 * its second reading, which resolves it and teaches its interval.
 */
export function silenceAfterMs(
  profile: {
    readonly silence: { readonly afterMs: number; readonly graceFactor: number };
    readonly evictAfterMs: number;
  },
  interval: number,
): number {
  const limit = profile.evictAfterMs / 2;
  if (Number.isNaN(interval)) return Math.min(profile.silence.afterMs, limit);
  const learned = Math.round(interval * profile.silence.graceFactor);
  return Math.min(Math.max(learned, profile.silence.afterMs), limit);
}
