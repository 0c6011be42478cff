/**
 * Scenario 5: readings published far faster than the stream accepts. The bridge stops reading at
 * its in-flight bound, so its memory stays bounded (its own accounting, and the child's RSS), the
 * broker holds the rest in the bridge's session, and every reading arrives in the end.
 */
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
const PER_DEVICE = 600;
// 12 MB in all: librdkafka's mock keeps ~5 MB per partition, and several devices share one.
const PADDING = 1_000;
const BOUND = 4 * 1024 * 1024;
/** Above the bound by at most one message: the one that crossed it (payload, topic, bookkeeping). */
const ONE_MESSAGE = PADDING + 512;
/**
 * RSS growth over the bridge's RSS when it started (Node, tsx and the clients loaded, ~100 MiB).
 * Measured: 50-70 MiB whatever the volume published, which is V8 growing its heap before it
 * collects (kafkajs builds each request in a buffer it grows by doubling), not messages held.
 */
const RSS_GROWTH_LIMIT = 128 * 1024 * 1024;

/** A slow stream: Kafka answers every request 100 ms late; kinesalite is slow enough as it is. */
const SLOW = {
  BRIDGE_MAX_IN_FLIGHT_BYTES: String(BOUND),
  BRIDGE_MAX_IN_FLIGHT_BATCHES: '1',
  BRIDGE_MAX_BATCH_RECORDS: '500',
};

describe.each(BROKER_STREAM_COMBOS)(
  'bridge over $broker -> $stream under overload',
  ({ broker: b, stream: s }) => {
    let broker: BrokerHarness | undefined;
    let stream: StreamHarness | undefined;
    let bridge: BridgeProcess | undefined;

    afterEach(async () => {
      await bridge?.kill('SIGTERM');
      await broker?.stop();
      await stream?.stop();
    });

    it.skipIf(!available[b] || !available[s])('stays under its memory bound and loses nothing', async () => {
      // Prepare
      stream = await startStream(s);
      await stream.kafka?.setRtt(1, 100);
      broker = await startBroker(b);
      bridge = await BridgeProcess.start(
        bridgeEnv(broker, stream, { MQTT_CLIENT_ID: `overload-${b}-${s}`, ...SLOW }),
      );
      const prefix = `overload-${b}-${s}-`;

      // Act
      await publishNumbered(broker.url, broker.protocolVersion, {
        devices: DEVICES,
        perDevice: PER_DEVICE,
        prefix,
        padding: PADDING,
        window: 1_000,
      });
      await stream.kafka?.setRtt(1, 0);
      const { missing, records } = await missingAfter(
        stream,
        expectedReadings(DEVICES, PER_DEVICE, prefix),
        40_000,
      );
      const child = bridge;
      bridge = undefined;
      await child.kill('SIGTERM'); // logs its final stats

      // Assess
      const stats = bridgeStats(child.lines);
      expect({ missing, records, lastStats: child.stats() }).toMatchObject({ missing: [] });
      expect(stats.peakInFlightBytes).toBeGreaterThan(BOUND / 2); // it did reach the bound
      expect(stats.peakInFlightBytes).toBeLessThanOrEqual(BOUND + ONE_MESSAGE);
      expect(stats.rssGrowth).toBeLessThan(RSS_GROWTH_LIMIT);
    });
  },
);

function bridgeStats(lines: Array<Record<string, unknown>>): {
  peakInFlightBytes: number;
  rssGrowth: number;
} {
  const stats = lines.filter((l) => l.msg === 'bridge stats');
  const rss = stats.map((l) => l.rssBytes as number);
  return {
    peakInFlightBytes: Math.max(...stats.map((l) => l.peakInFlightBytes as number)),
    rssGrowth: Math.max(...rss) - (rss[0] ?? 0),
  };
}
