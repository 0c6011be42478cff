/**
 * One consumer of bench/bridge.ts, in a process of its own (so it can be profiled alone):
 *   ceiling  a plain subscriber that acknowledges each PUBLISH at once and does nothing else
 *   bridge   the bridge (QoS 1, acks=all, acknowledgement after the write), configured from env
 * Prints {"ready":true} once subscribed, then {"count":n,"ms":t} once `count` messages are
 * acknowledged, t from the first message received to the last acknowledged.
 */
import { MqttSubscriber } from '../../functions/bridge/mqtt-subscriber.ts';
import { runBridge } from '../../functions/bridge/run-bridge.ts';
import { loadConfig } from '../../functions/lib/config.ts';

const [role, countArg] = process.argv.slice(2);
const count = Number(countArg);
const config = loadConfig();
const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);
let first = 0;

if (role === 'ceiling') {
  const subscriber = new MqttSubscriber({
    url: config.mqtt.url,
    clientId: config.mqtt.clientId,
    topics: config.mqtt.topics,
    protocolVersion: config.mqtt.protocolVersion,
    sessionExpirySeconds: 0,
  });
  let received = 0;
  const one = [0];
  subscriber.onMessage((_topic, _payload, packetId, _dup, generation) => {
    if (received++ === 0) first = performance.now();
    one[0] = packetId;
    subscriber.ack(one, generation);
    if (received === count) print({ count, ms: performance.now() - first });
  });
  await subscriber.start();
  print({ ready: true });
  process.once('SIGTERM', () => void subscriber.close().then(() => process.exit(0)));
} else {
  const running = await runBridge(config, () => {});
  const stats = running.bridge.stats;
  print({ ready: true });
  const timer = setInterval(() => {
    if (first === 0 && stats.received > 0) first = performance.now();
    if (stats.acknowledged >= count) {
      clearInterval(timer);
      print({ count: stats.acknowledged, ms: performance.now() - first, stats });
    }
  }, 2);
  process.once('SIGTERM', () => void running.stop().then(() => process.exit(0)));
}
