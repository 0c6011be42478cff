/**
 * Gateway silence: when no reading has come through a gateway, from any of its devices, for longer
 * than their silence time, one gateway-silence incident covers all of them (detectors/silence.ts
 * holds the devices' own alerts back meanwhile). It resolves with the next reading through it.
 */
import type { Alert } from '../lib/codec/alert-codec.ts';
import { seconds } from './alert-text.ts';
import { silenceOpenedAt } from './detectors/silence.ts';
import { IncidentBook } from './incidents.ts';
import type { DeviceProfile } from './profiles.ts';
import { GATEWAY_SILENCE, WHOLE_DEVICE } from './rules.ts';
import { type DeviceTable, G, GATEWAY_STRIDE, GatewayTable, LIVE, SILENT } from './state.ts';

export class GatewayWatch {
  readonly table = new GatewayTable();
  /** Open gateway-silence incidents by gateway slot. */
  readonly incidents = new IncidentBook();

  /** Notes a reading through `gatewayId` (resolving its silence); returns the gateway's slot. */
  heard(gatewayId: string, deviceId: string, ts: number, at: number, afterMs: number, out: Alert[]): number {
    const gw = this.table;
    const g = gw.slotOf(gatewayId);
    const o = g * GATEWAY_STRIDE;
    if (at > gw.state[o + G.lastAt]!) gw.state[o + G.lastAt] = at;
    if (ts > gw.state[o + G.lastTs]!) gw.state[o + G.lastTs] = ts;
    if (afterMs > gw.state[o + G.afterMs]!) gw.state[o + G.afterMs] = afterMs;
    if ((gw.flags[g]! & SILENT) !== 0) {
      gw.flags[g] = gw.flags[g]! & ~SILENT;
      this.incidents.resolve(
        g,
        null,
        ts,
        out,
        `resolved: gateway ${gatewayId} is delivering again (${deviceId})`,
      );
    }
    return g;
  }

  lastAt(g: number): number {
    return this.table.state[g * GATEWAY_STRIDE + G.lastAt]!;
  }

  isSilent(g: number): boolean {
    return (this.table.flags[g]! & SILENT) !== 0;
  }

  /** Opens an incident for each gateway quiet past its silence time that still has devices in memory. */
  tick(now: number, settings: DeviceProfile['gatewaySilence'], devices: DeviceTable, out: Alert[]): void {
    if (!settings.enabled) return;
    const gw = this.table;
    for (let g = 0; g < gw.size; g++) {
      if ((gw.flags[g]! & SILENT) !== 0) continue;
      const o = g * GATEWAY_STRIDE;
      const afterMs = gw.state[o + G.afterMs]!;
      const lastAt = gw.state[o + G.lastAt]!;
      if (afterMs <= 0 || now - lastAt <= afterMs) continue;
      const behind = devicesBehind(devices, g);
      if (behind === 0) continue;
      const gatewayId = gw.ids[g]!;
      const lastTs = gw.state[o + G.lastTs]!;
      gw.flags[g] = gw.flags[g]! | SILENT;
      this.incidents.open(
        g,
        {
          deviceId: gatewayId,
          metric: WHOLE_DEVICE,
          rule: GATEWAY_SILENCE,
          severity: settings.severity,
          value: null,
          score: (now - lastAt) / afterMs,
          ts: lastTs,
          openedAt: silenceOpenedAt(lastTs, afterMs),
          message: `no reading through gateway ${gatewayId} for ${seconds(now - lastAt)}; its ${behind} device${behind === 1 ? ' is' : 's are'} not reporting`,
        },
        now,
        out,
      );
    }
  }
}

function devicesBehind(devices: DeviceTable, g: number): number {
  let count = 0;
  for (let slot = 0; slot < devices.highWater; slot++) {
    if ((devices.flags[slot]! & LIVE) !== 0 && devices.gateway[slot] === g) count++;
  }
  return count;
}
