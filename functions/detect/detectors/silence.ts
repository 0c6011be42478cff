/**
 * Silence, on the clock: a device is silent when nothing arrived from it for longer than its
 * profile's expected interval times the grace factor, whether or not anything else arrives.
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
