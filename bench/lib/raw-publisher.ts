/**
 * A load generator for bench/bridge.ts: QoS 1 PUBLISH packets as fast as the broker takes them,
 * with `window` unacknowledged at once, over one connection. Written on mqtt-packet's generator and
 * the bridge's own framer rather than MQTT.js so the publisher costs as little CPU as possible on a
 * two-core machine where broker, publisher, subscriber and Kafka share the cores.
 *
 *   npx tsx bench/lib/raw-publisher.ts <mqtt-url> <count> <devices> <payloadBytes> <window>
 * Prints {"published":n,"ms":t} on stdout when every PUBLISH is acknowledged.
 */
import net from 'node:net';
import mqttPacket from 'mqtt-packet';
import { PublishFramer } from '../../functions/bridge/publish-framer.ts';

const [
  url = 'mqtt://127.0.0.1:1883',
  countArg = '100000',
  devicesArg = '1000',
  sizeArg = '100',
  windowArg = '2000',
] = process.argv.slice(2);
const count = Number(countArg);
const devices = Number(devicesArg);
const windowSize = Number(windowArg);
const { hostname, port } = new URL(url);
const socket = net.connect({ host: hostname, port: Number(port) });
socket.setNoDelay(true);
const payloadPad = 'x'.repeat(Math.max(0, Number(sizeArg) - 40));
let sent = 0;
let acked = 0;
let started = 0;

const send = (n: number): void => {
  const parts: Buffer[] = [];
  for (let i = 0; i < n && sent < count; i++, sent++) {
    const device = sent % devices;
    const payload = `{"deviceId":"d${device}","seq":${Math.floor(sent / devices)},"p":"${payloadPad}"}`;
    parts.push(
      mqttPacket.generate({
        cmd: 'publish',
        topic: `telemetry/d${device}`,
        payload,
        qos: 1,
        messageId: (sent % 65_000) + 1,
        retain: false,
        dup: false,
      }),
    );
  }
  if (parts.length > 0) socket.write(Buffer.concat(parts));
};

const framer = new PublishFramer(
  4,
  () => {},
  (frame) => {
    const type = frame[0]! >> 4;
    if (type === 2) {
      started = performance.now();
      send(windowSize);
    } else if (type === 4) {
      acked++;
      if (acked === count) {
        process.stdout.write(`${JSON.stringify({ published: count, ms: performance.now() - started })}\n`);
        socket.end();
      } else if (sent - acked <= windowSize / 2) {
        send(windowSize - (sent - acked));
      }
    }
  },
  () => false,
);
socket.on('data', (chunk: Buffer) => framer.push(chunk));
socket.on('connect', () =>
  socket.write(
    mqttPacket.generate({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clientId: `bench-pub-${process.pid}`,
      clean: true,
      keepalive: 60,
    }),
  ),
);
socket.on('error', (error) => {
  console.error(`publisher: ${error.message}`);
  process.exit(1);
});
