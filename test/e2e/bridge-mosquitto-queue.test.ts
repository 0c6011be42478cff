/**
 * The broker setting that loses data: with Mosquitto's default max_queued_messages (1000), QoS 1
 * messages queued for a bridge slowed by its stream are dropped by the broker; with the shipped
 * configuration (infra/local/mosquitto: max_queued_messages 0 and a byte bound instead) none is.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  availableServices,
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
const PER_DEVICE = 500;
const PADDING = 1_000;
const SLOW = {
  BRIDGE_MAX_IN_FLIGHT_BYTES: String(2 * 1024 * 1024),
  BRIDGE_MAX_IN_FLIGHT_BATCHES: '1',
  BRIDGE_MAX_BATCH_RECORDS: '250',
};

describe.skipIf(!available.mosquitto || !available.kafka)(
  'mosquitto max_queued_messages with a slow bridge',
  () => {
    let broker: BrokerHarness | undefined;
    let stream: StreamHarness | undefined;
    let bridge: BridgeProcess | undefined;

    afterEach(async () => {
      await bridge?.kill('SIGTERM');
      await broker?.stop();
      await stream?.stop();
    });

    it.each([
      { config: 'the shipped configuration', extraConfig: '', loses: false },
      {
        config: "Mosquitto's default max_queued_messages 1000",
        extraConfig: 'max_queued_messages 1000',
        loses: true,
      },
    ])('$config: loses messages = $loses', async ({ extraConfig, loses }) => {
      // Prepare
      stream = await startStream('kafka');
      await stream.kafka!.setRtt(1, 100);
      broker = await startBroker('mosquitto', { extraConfig });
      bridge = await BridgeProcess.start(
        bridgeEnv(broker, stream, { MQTT_CLIENT_ID: `queued-${loses}`, ...SLOW }),
      );
      const prefix = `queued-${loses}-`;

      // Act
      await publishNumbered(broker.url, broker.protocolVersion, {
        devices: DEVICES,
        perDevice: PER_DEVICE,
        prefix,
        padding: PADDING,
        window: 1_000,
      });
      await stream.kafka!.setRtt(1, 0);
      const { missing } = await missingAfter(
        stream,
        expectedReadings(DEVICES, PER_DEVICE, prefix),
        loses ? 8_000 : 40_000,
      );

      // Assess
      if (loses) expect(missing.length).toBeGreaterThan(0);
      else expect(missing).toEqual([]);
    });
  },
);
