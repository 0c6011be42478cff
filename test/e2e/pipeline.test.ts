import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeReading } from '../../functions/lib/codec/reading-codec.ts';
import { HEADER } from '../../functions/lib/reading.ts';
import { createKafka } from '../../functions/lib/streams/kafka-client.ts';
import { createKinesisClient } from '../../functions/lib/streams/kinesis-client.ts';
import { readKafkaStream, readKinesisStream } from '../../functions/lib/streams/stream-reader.ts';
import { STREAMS } from '../../functions/lib/streams/types.ts';
import { type EmbeddedPipeline, startEmbeddedPipeline } from '../../infra/local/embedded-pipeline.ts';
import { aFleetOfReadings, waitFor } from '../support/readings.ts';

const combos = [
  { stream: 'kinesis', broker: 'aedes' },
  { stream: 'kinesis', broker: 'mosquitto' },
  { stream: 'kafka', broker: 'aedes' },
  { stream: 'kafka', broker: 'mosquitto' },
] as const;

describe.each(combos)('embedded pipeline over $stream with $broker', ({ stream, broker }) => {
  let pipeline: EmbeddedPipeline;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `iot-e2e-${stream}-${broker}-`));
    pipeline = await startEmbeddedPipeline({ broker, stream, dataDir, mqttPort: 0 });
  });

  afterAll(async () => {
    await pipeline?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('stores every published reading exactly once and dead-letters a malformed payload', async () => {
    // Prepare: 20 devices x 15 readings, Avro for most devices, JSON for every fifth device
    const readings = aFleetOfReadings(20, 15, `${stream}-${broker}-`);
    const publisher = await mqtt.connectAsync(pipeline.mqttUrl, {
      protocolVersion: 4,
      clientId: `e2e-pub-${stream}-${broker}`,
    });
    const malformed = Buffer.from([0xc3, 0x01, 0xde, 0xad, 0xbe, 0xef]);

    // Act: publish half, a malformed payload and a spoofed one, then the rest (QoS 1, awaiting each PUBACK)
    const half = readings.length / 2;
    for (const [i, r] of readings.entries()) {
      if (i === half) {
        await publisher.publishAsync('telemetry/bad-device', malformed, { qos: 1 });
        await publisher.publishAsync(
          `telemetry/spoofed-${stream}`,
          JSON.stringify({ ...r, deviceId: 'someone-else' }),
          { qos: 1 },
        );
      }
      const json = Number(r.deviceId.split('-').pop()) % 5 === 0;
      const payload = json ? JSON.stringify(r) : encodeReading(r, pipeline.registry);
      await publisher.publishAsync(`telemetry/${r.deviceId}`, payload, { qos: 1 });
    }
    await publisher.endAsync();

    // Assess: every reading in the store once, nothing else from these devices
    const prefix = `${stream}-${broker}-`;
    const count = async () =>
      Number(
        (await pipeline.store.query(`SELECT count(*) FROM readings WHERE device_id LIKE '${prefix}%'`))
          .rows[0]![0],
      );
    await waitFor(count, (n) => n >= readings.length, { timeoutMs: 45_000 });
    await new Promise((resolve) => setTimeout(resolve, 500)); // let any duplicate land before counting
    const rows = (
      await pipeline.store.query(
        `SELECT device_id, seq, count(*) AS n FROM readings WHERE device_id LIKE '${prefix}%' GROUP BY ALL ORDER BY ALL`,
      )
    ).rows;
    expect(rows).toHaveLength(readings.length);
    expect(rows.every((row) => Number(row[2]) === 1)).toBe(true);
    const stored = new Set(rows.map((row) => `${row[0]}#${row[1]}`));
    for (const r of readings) expect(stored.has(`${r.deviceId}#${r.seq}`)).toBe(true);
    const spoofed = await pipeline.store.query(
      `SELECT count(*) FROM readings WHERE device_id = 'someone-else'`,
    );
    expect(Number(spoofed.rows[0]![0])).toBe(0);

    const deadLetters = await waitFor(
      () => readDlq(pipeline),
      (records) => records.length >= 2,
      { timeoutMs: 15_000 },
    );
    const bad = deadLetters.find((d) => d.headers[HEADER.mqttTopic] === 'telemetry/bad-device');
    expect(bad?.value.equals(malformed)).toBe(true);
    expect(bad?.headers[HEADER.reason]).toMatch(/AVRO_TRUNCATED|SCHEMA_UNKNOWN|AVRO_INVALID/);
    const spoof = deadLetters.find((d) => d.headers[HEADER.mqttTopic] === `telemetry/spoofed-${stream}`);
    expect(spoof?.headers[HEADER.reason]).toBe('DEVICE_MISMATCH');
    expect(pipeline.bridge.stats.acknowledged).toBe(readings.length + 2);
  });
});

describe.each(combos)('alerts from the embedded pipeline over $stream with $broker', ({ stream, broker }) => {
  let pipeline: EmbeddedPipeline;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `iot-e2e-alert-${stream}-${broker}-`));
    pipeline = await startEmbeddedPipeline({ broker, stream, dataDir, mqttPort: 0 });
  });

  afterAll(async () => {
    await pipeline?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('opens a threshold incident in the alerts table and on MQTT alerts/{deviceId}/...', async () => {
    // Prepare: a subscriber on the alert topics, and a device that overheats
    const device = `hot-${stream}-${broker}`;
    const subscriber = await mqtt.connectAsync(pipeline.mqttUrl, { protocolVersion: 4 });
    const received: { topic: string; payload: Buffer }[] = [];
    subscriber.on('message', (topic, payload) => received.push({ topic, payload }));
    await subscriber.subscribeAsync(`alerts/${device}/#`, { qos: 1 });
    const publisher = await mqtt.connectAsync(pipeline.mqttUrl, { protocolVersion: 4 });
    const now = Date.now();

    // Act
    for (let seq = 0; seq < 3; seq++) {
      const reading = aFleetOfReadings(1, 1, device)[0]!;
      const hot = {
        ...reading,
        deviceId: device,
        seq,
        ts: now - 3_000 + seq * 1_000,
        temperature: seq === 0 ? 21 : 150,
      };
      await publisher.publishAsync(`telemetry/${device}`, encodeReading(hot, pipeline.registry), { qos: 1 });
    }
    await publisher.endAsync();

    // Assess: one open incident, on MQTT as well
    const alerts = await waitFor(
      async () =>
        (
          await pipeline.store.query(
            `SELECT rule, metric, status, repeats FROM alerts WHERE device_id = '${device}' AND rule = 'threshold-high'`,
          )
        ).rows,
      (rows) => rows.length > 0,
      { timeoutMs: 20_000 },
    );
    // two hot readings, one incident: the second is a repeat, not a new alert
    expect(alerts).toEqual([['threshold-high', 'temperature', 'open', 0]]);
    await waitFor(
      async () => received.length,
      (n) => n > 0,
      { timeoutMs: 10_000 },
    );
    expect(received.map((m) => m.topic)).toContain(`alerts/${device}/threshold-high/temperature`);
    await subscriber.endAsync();
  });
});

async function readDlq(pipeline: EmbeddedPipeline) {
  const config = pipeline.config;
  if (config.stream === 'kafka')
    return readKafkaStream(createKafka(config.kafka, '-test-reader'), STREAMS.dlq);
  const client = createKinesisClient({
    endpoint: config.kinesis.endpoint,
    region: config.kinesis.region,
    local: true,
  });
  try {
    return await readKinesisStream(client, STREAMS.dlq);
  } finally {
    client.destroy();
  }
}
