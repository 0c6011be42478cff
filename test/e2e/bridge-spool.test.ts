/**
 * The durable spool: with BRIDGE_SPOOL_DIR set, the bridge acknowledges once a message is fsynced
 * to its write-ahead log, before the stream has it. Killed with SIGKILL while the stream is down,
 * a new bridge on the same spool (and a new MQTT session, so the broker redelivers nothing) must
 * still put every acknowledged reading into telemetry.raw.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
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
const DEVICES = 10;
const PER_DEVICE = 100;

describe('bridge spool over mosquitto -> kafka', () => {
  let broker: BrokerHarness | undefined;
  let stream: StreamHarness | undefined;
  const bridges: BridgeProcess[] = [];
  let spoolDir: string | undefined;

  afterEach(async () => {
    for (const bridge of bridges.splice(0)) await bridge.kill('SIGTERM');
    await broker?.stop();
    await stream?.stop();
    if (spoolDir) fs.rmSync(spoolDir, { recursive: true, force: true });
  });

  it.skipIf(!available.mosquitto || !available.kafka)(
    'keeps what it acknowledged across kill -9 while the stream is down',
    async () => {
      // Prepare: the stream is down before anything is published
      stream = await startStream('kafka');
      broker = await startBroker('mosquitto');
      spoolDir = fs.mkdtempSync(path.join(os.tmpdir(), 'iot-spool-'));
      const env = bridgeEnv(broker, stream, { MQTT_CLIENT_ID: 'spool-first', BRIDGE_SPOOL_DIR: spoolDir });
      const first = await BridgeProcess.start(env);
      bridges.push(first);
      await stream.down();
      const total = DEVICES * PER_DEVICE;

      // Act: publish; the bridge acknowledges from its spool; kill it before it could drain
      await publishNumbered(broker.url, broker.protocolVersion, {
        devices: DEVICES,
        perDevice: PER_DEVICE,
        prefix: 'spool-',
      });
      const deadline = Date.now() + 20_000;
      const acknowledged = () =>
        Number(first.lines.findLast((l) => l.msg === 'bridge stats')?.acknowledged ?? 0);
      while (acknowledged() < total && Date.now() < deadline) await sleep(100);
      expect(acknowledged()).toBe(total);
      // The stream was down from before the first publish until after the kill: none of these
      // acknowledgements can have come from the stream, only from the spool's fsync.
      await first.kill('SIGKILL');
      bridges.splice(0);
      await stream.up();
      // A different client id: the broker has nothing for it, so only the spool can supply them.
      bridges.push(await BridgeProcess.start({ ...env, MQTT_CLIENT_ID: 'spool-second' }));

      // Assess
      const { missing } = await missingAfter(stream, expectedReadings(DEVICES, PER_DEVICE, 'spool-'), 45_000);
      expect(missing).toEqual([]);
    },
  );
});
