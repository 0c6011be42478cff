/**
 * Scenario 4, Mosquitto only (Aedes keeps sessions in memory: a restart forgets them): the broker
 * restarts mid-run with its session store on disk. The bridge reconnects by itself, the broker
 * sends again what the bridge had not acknowledged, and every reading arrives.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunningBridge } from '../../functions/bridge/run-bridge.ts';
import {
  availableServices,
  type BrokerHarness,
  bridgeEnv,
  expectedReadings,
  missingAfter,
  publishNumbered,
  type StreamHarness,
  startBridgeInProcess,
  startBroker,
  startStream,
} from './bridge-harness.ts';

const available = await availableServices();

const DEVICES = 20;
const PER_DEVICE = 400;

describe.each(['kafka', 'kinesis'] as const)(
  'bridge over mosquitto (persistence) -> %s, broker restarted',
  (s) => {
    let broker: BrokerHarness | undefined;
    let stream: StreamHarness | undefined;
    let bridge: RunningBridge | undefined;
    let dir: string | undefined;

    afterEach(async () => {
      await bridge?.stop();
      await broker?.stop();
      await stream?.stop();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it.skipIf(!available.mosquitto || !available[s])('loses no acknowledged reading', async () => {
      // Prepare
      dir = await mkdtemp(join(tmpdir(), 'bridge-mosquitto-'));
      stream = await startStream(s);
      broker = await startBroker('mosquitto', { persistenceDir: dir });
      bridge = await startBridgeInProcess(bridgeEnv(broker, stream, { MQTT_CLIENT_ID: `restart-${s}` }));
      const prefix = `restart-${s}-`;
      const total = DEVICES * PER_DEVICE;
      let restart: Promise<void> | undefined;

      // Act: restart the broker at a third
      await publishNumbered(broker.url, broker.protocolVersion, {
        devices: DEVICES,
        perDevice: PER_DEVICE,
        prefix,
        window: 200,
        onAcked: (acked) => {
          if (acked === Math.floor(total / 3)) restart = broker!.mosquitto!.restart();
        },
      });
      await restart;

      // Assess
      const { missing } = await missingAfter(stream, expectedReadings(DEVICES, PER_DEVICE, prefix), 30_000);
      expect(missing).toEqual([]);
      expect(bridge.bridge.stats.received).toBeGreaterThanOrEqual(total);
    });
  },
);
