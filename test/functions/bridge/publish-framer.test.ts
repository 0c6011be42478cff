import mqttPacket from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { PublishFramer } from '../../../functions/bridge/publish-framer.ts';

function publish(version: 4 | 5, topic: string, payload: string, messageId: number, qos: 0 | 1 = 1): Buffer {
  return mqttPacket.generate(
    {
      cmd: 'publish',
      topic,
      payload,
      qos,
      messageId,
      retain: false,
      dup: false,
      ...(version === 5
        ? { properties: { userProperties: { a: 'b' }, contentType: 'application/json' } }
        : {}),
    },
    { protocolVersion: version },
  );
}

describe.each([4, 5] as const)('PublishFramer, MQTT %s', (version) => {
  it('decodes PUBLISH packets split anywhere across chunks, and passes other packets whole', () => {
    // Prepare
    const big = 'x'.repeat(300); // a two-byte Remaining Length
    const bytes = Buffer.concat([
      publish(version, 'telemetry/a', 'one', 1),
      mqttPacket.generate({ cmd: 'pingresp' }),
      publish(version, 'telemetry/b', big, 2),
      publish(version, 'telemetry/c', 'three', 0, 0),
    ]);
    const seen: Array<[string, string, number]> = [];
    const others: number[] = [];
    const framer = new PublishFramer(
      version,
      (topic, payload, id) => seen.push([topic, payload.toString(), id]),
      (frame) => others.push(frame[0]! >> 4),
      () => false,
    );

    // Act: one byte at a time
    for (let i = 0; i < bytes.length; i++) framer.push(bytes.subarray(i, i + 1));

    // Assess
    expect(seen).toEqual([
      ['telemetry/a', 'one', 1],
      ['telemetry/b', big, 2],
      ['telemetry/c', 'three', 0],
    ]);
    expect(others).toEqual([13]); // PINGRESP
    expect(framer.buffered).toBe(0);
  });

  it('stops at once when paused and hands over the rest on drain', () => {
    // Prepare
    let paused = false;
    const seen: number[] = [];
    const framer = new PublishFramer(
      version,
      (_t, _p, id) => {
        seen.push(id);
        paused = id === 2;
      },
      () => {},
      () => paused,
    );
    const bytes = Buffer.concat([1, 2, 3, 4].map((id) => publish(version, 'telemetry/x', 'p', id)));

    // Act
    framer.push(bytes);
    const whilePaused = [...seen];
    paused = false;
    framer.drain();

    // Assess
    expect(whilePaused).toEqual([1, 2]);
    expect(seen).toEqual([1, 2, 3, 4]);
  });

  it('rejects a malformed packet', () => {
    const framer = new PublishFramer(
      version,
      () => {},
      () => {},
      () => false,
    );
    expect(() => framer.push(Buffer.from([0x32, 0x03, 0x00, 0x09, 0x61]))).toThrow(/malformed PUBLISH/);
  });
});
