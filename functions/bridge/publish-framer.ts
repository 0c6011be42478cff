/**
 * Splits the bytes a broker sends into MQTT packets and decodes PUBLISH packets itself.
 *
 * Why by hand: PUBLISH is the one packet the bridge receives tens of thousands of times a second,
 * and mqtt-packet's general parser spends more per packet than the rest of the receive path
 * together (a BufferList consume and slice per field, a state machine step and a Packet object of
 * ten fields per message; see bench/bridge.ts). The framing is small and fixed by the standard:
 * MQTT 3.1.1 §2.2 (fixed header, Remaining Length as a variable byte integer) and §3.3 (PUBLISH:
 * topic as a UTF-8 string, packet identifier for QoS > 0), MQTT 5 §3.3.2.3 (then a property
 * length and properties, skipped: the bridge asks for no topic aliases, so none can arrive).
 * Every other packet (CONNACK, SUBACK, PINGRESP, DISCONNECT) is handed whole to `onOther`, which
 * feeds mqtt-packet's parser.
 *
 * Payloads are views into the socket's chunks, not copies: a chunk stays in memory until the last
 * message in it has been written to the stream, which is what the bridge's in-flight byte count
 * (frame sizes) already charges for.
 */
export type PublishHandler = (topic: string, payload: Buffer, packetId: number, dup: boolean) => void;

const PUBLISH = 3;

export class PublishFramer {
  readonly #v5: boolean;
  readonly #onPublish: PublishHandler;
  readonly #onOther: (frame: Buffer) => void;
  readonly #paused: () => boolean;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  /** Bytes the next frame needs in all, when its header has been read; 0 when not known yet. */
  #needed = 0;

  constructor(
    protocolVersion: 4 | 5,
    onPublish: PublishHandler,
    onOther: (frame: Buffer) => void,
    paused: () => boolean,
  ) {
    this.#v5 = protocolVersion === 5;
    this.#onPublish = onPublish;
    this.#onOther = onOther;
    this.#paused = paused;
  }

  /** Bytes read from the socket but not handed over yet (a partial frame, or frames held by a pause). */
  get buffered(): number {
    return this.#pendingBytes;
  }

  push(chunk: Buffer): void {
    this.#pending.push(chunk);
    this.#pendingBytes += chunk.length;
    if (this.#needed > this.#pendingBytes) return;
    this.drain();
  }

  /** Hands over every complete frame buffered, until the owner pauses. Throws on a malformed packet. */
  drain(): void {
    if (this.#pendingBytes === 0 || this.#paused()) return;
    const buf =
      this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending, this.#pendingBytes);
    const length = buf.length;
    let off = 0;
    this.#needed = 0;
    while (off < length && !this.#paused()) {
      // Fixed header: one byte of type and flags, then Remaining Length in 1 to 4 bytes.
      let p = off + 1;
      let remaining = 0;
      let multiplier = 1;
      let complete = false;
      for (let i = 0; i < 4 && p < length; i++) {
        const byte = buf[p++]!;
        remaining += (byte & 0x7f) * multiplier;
        multiplier *= 128;
        if ((byte & 0x80) === 0) {
          complete = true;
          break;
        }
      }
      if (!complete) {
        if (p - off > 4) throw new Error('malformed MQTT packet: Remaining Length longer than 4 bytes');
        break; // the rest of the header is in the next chunk
      }
      const end = p + remaining;
      if (end > length) {
        this.#needed = end - off;
        break;
      }
      const header = buf[off]!;
      if (header >> 4 === PUBLISH) this.#publish(buf, header, p, end);
      else this.#onOther(buf.subarray(off, end));
      off = end;
    }
    if (off === length) {
      this.#pending = [];
      this.#pendingBytes = 0;
    } else {
      const rest = off === 0 ? buf : buf.subarray(off);
      this.#pending = [rest];
      this.#pendingBytes = rest.length;
    }
  }

  #publish(buf: Buffer, header: number, start: number, end: number): void {
    const qos = (header >> 1) & 3;
    if (qos === 3) throw new Error('malformed PUBLISH: QoS 3');
    if (qos === 2) throw new Error('unexpected QoS 2 PUBLISH: the bridge subscribes with QoS 1 at most');
    let p = start + 2;
    if (p > end) throw new Error('malformed PUBLISH: no topic length');
    const topicEnd = p + ((buf[start]! << 8) | buf[start + 1]!);
    if (topicEnd > end) throw new Error('malformed PUBLISH: topic longer than the packet');
    const topic = buf.toString('utf8', p, topicEnd);
    p = topicEnd;
    let packetId = 0;
    if (qos > 0) {
      if (p + 2 > end) throw new Error('malformed PUBLISH: no packet identifier');
      packetId = (buf[p]! << 8) | buf[p + 1]!;
      p += 2;
    }
    if (this.#v5) {
      let propertiesLength = 0;
      let multiplier = 1;
      for (let i = 0; ; i++) {
        if (p >= end || i === 4) throw new Error('malformed PUBLISH: bad property length');
        const byte = buf[p++]!;
        propertiesLength += (byte & 0x7f) * multiplier;
        multiplier *= 128;
        if ((byte & 0x80) === 0) break;
      }
      p += propertiesLength;
      if (p > end) throw new Error('malformed PUBLISH: properties longer than the packet');
    }
    this.#onPublish(topic, buf.subarray(p, end), packetId, (header & 0x08) !== 0);
  }
}
