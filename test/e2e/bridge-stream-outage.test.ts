/**
 * Scenario 1: the stream goes away mid-run and comes back. Every reading the broker acknowledged
 * to the publisher reaches telemetry.raw (duplicates allowed, losses not).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunningBridge } from '../../functions/bridge/run-bridge.ts';
import {
  availableServices,
  BROKER_STREAM_COMBOS,
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

describe.each(BROKER_STREAM_COMBOS)(
  'bridge over $broker -> $stream: the stream goes down and comes back',
  ({ broker: b, stream: s }) => {
    let broker: BrokerHarness | undefined;
    let stream: StreamHarness | undefined;
    let bridge: RunningBridge | undefined;

    afterEach(async () => {
      await bridge?.stop();
      await broker?.stop();
      await stream?.stop();
    });

    it.skipIf(!available[b] || !available[s])('loses no acknowledged reading', async () => {
      // Prepare
      stream = await startStream(s);
      broker = await startBroker(b);
      bridge = await startBridgeInProcess(bridgeEnv(broker, stream, { MQTT_CLIENT_ID: `outage-${b}-${s}` }));
      const prefix = `outage-${b}-${s}-`;
      const total = DEVICES * PER_DEVICE;
      let outage: Promise<void> | undefined;

      // Act: publish; at a quarter the stream fails (Kafka: request errors, then the broker goes down)
      const published = publishNumbered(broker.url, broker.protocolVersion, {
        devices: DEVICES,
        perDevice: PER_DEVICE,
        prefix,
        onAcked: (acked) => {
          if (acked !== Math.floor(total / 4)) return;
          outage = (async () => {
            if (stream!.kafka) await stream!.kafka.pushRequestErrors(0, 6, 12); // Produce: NOT_LEADER_FOR_PARTITION
            await stream!.down();
            await sleep(3_000);
            await stream!.up();
          })();
        },
      });
      await published;
      await outage;

      // Assess
      const { missing, records } = await missingAfter(
        stream,
        expectedReadings(DEVICES, PER_DEVICE, prefix),
        60_000,
      );
      expect(missing).toEqual([]);
      expect(records).toBeGreaterThanOrEqual(total);
      expect(bridge.bridge.stats.dropped['qos0-overload']).toBe(0);
    });
  },
);
