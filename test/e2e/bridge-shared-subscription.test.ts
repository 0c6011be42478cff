/**
 * Scenario 3, Mosquitto only (Aedes has no shared subscriptions): two bridges share
 * `$share/<group>/telemetry/+`, both take part of the load, one is killed with SIGKILL. The broker
 * keeps what the dead one had not acknowledged in its session; when it comes back under the same
 * client id (as a supervisor restarts it) that is delivered again. Nothing is lost.
 */
import { setTimeout as sleep } from 'node:timers/promises';
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

describe.each(['kafka', 'kinesis'] as const)('two bridges sharing a subscription on mosquitto -> %s', (s) => {
  let broker: BrokerHarness | undefined;
  let stream: StreamHarness | undefined;
  const bridges: BridgeProcess[] = [];

  afterEach(async () => {
    for (const bridge of bridges.splice(0)) await bridge.kill('SIGTERM');
    await broker?.stop();
    await stream?.stop();
  });

  it.skipIf(!available.mosquitto || !available[s])(
    'split the load, and one killed loses nothing',
    async () => {
      // Prepare
      stream = await startStream(s);
      broker = await startBroker('mosquitto');
      const env = (id: string) =>
        bridgeEnv(broker!, stream!, { MQTT_CLIENT_ID: `shared-${s}-${id}`, MQTT_SHARE_GROUP: 'iot-ingest' });
      const [one, two] = await Promise.all([BridgeProcess.start(env('1')), BridgeProcess.start(env('2'))]);
      bridges.push(one!, two!);
      const prefix = `shared-${s}-`;
      const total = DEVICES * PER_DEVICE;
      let crash: Promise<void> | undefined;

      // Act: bridge one dies at a third; it is back two seconds later
      await publishNumbered(broker.url, broker.protocolVersion, {
        devices: DEVICES,
        perDevice: PER_DEVICE,
        prefix,
        window: 200,
        onAcked: (acked) => {
          if (acked !== Math.floor(total / 3)) return;
          crash = (async () => {
            await one!.kill('SIGKILL');
            await sleep(2_000);
            bridges.push(await BridgeProcess.start(env('1')));
          })();
        },
      });
      await crash;

      // Assess
      const { missing } = await missingAfter(stream, expectedReadings(DEVICES, PER_DEVICE, prefix), 30_000);
      expect(missing).toEqual([]);
      await sleep(1_200); // one more stats line from each
      const restarted = bridges[2]!;
      expect(two!.stats()?.received).toBeGreaterThan(0);
      expect(two!.stats()?.received).toBeLessThan(total); // the others took their share
      expect(restarted.stats()?.received).toBeGreaterThan(0);
    },
  );
});
