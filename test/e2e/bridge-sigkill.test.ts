/**
 * Scenario 2: the bridge process is killed with SIGKILL mid-run and started again with the same
 * client id. What it had not acknowledged stays in its persistent session on the broker and is
 * delivered again; nothing it acknowledged can be missing from telemetry.raw.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import {
  availableServices,
  BROKER_STREAM_COMBOS,
  BridgeProcess,
  type BrokerHarness,
  bridgeEnv,
  expectedReadings,
  missingAfter,
  publishNumbered,
  type StreamHarness,
  startBroker,
  startStream,
} from './bridge-harness.ts';

const available = await availableServices();

const DEVICES = 20;
const PER_DEVICE = 400;

describe.each(BROKER_STREAM_COMBOS)(
  'bridge over $broker -> $stream, killed with SIGKILL and restarted',
  ({ broker: b, stream: s }) => {
    let broker: BrokerHarness | undefined;
    let stream: StreamHarness | undefined;
    const bridges: BridgeProcess[] = [];

    afterEach(async () => {
      for (const bridge of bridges.splice(0)) await bridge.kill('SIGTERM');
      await broker?.stop();
      await stream?.stop();
    });

    it.skipIf(!available[b] || !available[s])('loses no acknowledged reading', async () => {
      // Prepare
      stream = await startStream(s);
      broker = await startBroker(b);
      const env = bridgeEnv(broker, stream, { MQTT_CLIENT_ID: `sigkill-${b}-${s}` });
      const first = await BridgeProcess.start(env);
      bridges.push(first);
      const prefix = `kill-${b}-${s}-`;
      const total = DEVICES * PER_DEVICE;
      let crash: Promise<void> | undefined;

      // Act: kill -9 a third of the way in, start a new bridge half a second later
      const published = publishNumbered(broker.url, broker.protocolVersion, {
        devices: DEVICES,
        perDevice: PER_DEVICE,
        prefix,
        window: 200,
        onAcked: (acked) => {
          if (acked !== Math.floor(total / 3)) return;
          crash = (async () => {
            await first.kill('SIGKILL');
            await sleep(500);
            bridges.push(await BridgeProcess.start(env));
          })();
        },
      });
      await published;
      await crash;

      // Assess
      const { missing, records } = await missingAfter(
        stream,
        expectedReadings(DEVICES, PER_DEVICE, prefix),
        30_000,
      );
      expect(missing).toEqual([]);
      expect(records).toBeGreaterThanOrEqual(total);
      expect(bridges).toHaveLength(2);
    });
  },
);
