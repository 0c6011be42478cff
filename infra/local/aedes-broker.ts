/**
 * The embedded MQTT broker: Aedes in this process, over node:net, on loopback.
 *
 * Aedes 1.x speaks MQTT 3.1 and 3.1.1 only: a CONNECT with protocol version 5 gets CONNACK return
 * code 1 (unacceptable protocol version), and `$share/...` shared subscriptions are not implemented.
 * Clients of the embedded broker (bridge, simulator, alert subscribers) must connect with
 * protocolVersion 4 and get persistent sessions from `clean: false`. Sessions and queued messages
 * live in the default in-memory persistence: they survive client reconnects, not a broker restart.
 */
import type { EventEmitter } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { Aedes, type AedesOptions } from 'aedes';
import { LOOPBACK } from './ports.ts';

export type MqttProtocolVersion = 4 | 5;

export interface AedesBrokerOptions {
  /** Default: a free port picked by the kernel. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
}

export interface AedesBroker {
  /** `mqtt://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** MQTT protocol versions the broker accepts (MQTT.js `protocolVersion`). */
  readonly protocolVersions: readonly MqttProtocolVersion[];
  /** Disconnects every client and closes the listener. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Settings for a broker in front of a bridge that holds thousands of QoS 1 messages in flight and,
 * by design, stops reading its socket while the stream is down. None of them may drop a QoS 1
 * message; they only decide how much is buffered and when a stalled client is cut off.
 */
export const AEDES_SETTINGS = {
  // Messages routed through the broker's emitter at once (Aedes' default is 100). A slot is held
  // from the moment a message is routed until it is written to every matching subscriber's socket,
  // including the wait for 'drain' when a subscriber's socket is full. Messages beyond this wait in
  // the emitter's queue and their publishers wait for PUBACK: slower, never lost. 1000 lets the
  // bridge's socket take a full batch window of messages at once, and lets other subscribers keep
  // receiving for a while when one socket is full, instead of the whole broker stalling after 100.
  concurrency: 1_000,
  // PUBLISH packets a client may send before its CONNACK has gone out (Aedes' default is 42; beyond
  // it the connection is dropped with 'Client queue limit reached'). A gateway that flushes its
  // offline buffer right behind CONNECT pipelines far more than 42; dropping it means it resends
  // everything and can loop forever. 10,000 covers a bridge-sized window and still bounds memory.
  queueLimit: 10_000,
  // How long a subscriber's full socket may stay full before Aedes disconnects it (default 60 s;
  // 0 waits forever). The bridge stops reading while Kafka/Kinesis is down, so it must not be cut
  // off during an ordinary outage or restart: 5 minutes. It stays above 0 so a frozen client cannot
  // hold the emitter's slots, and with them every other subscriber, forever. Being cut off loses
  // nothing for a persistent session (clean=false): Aedes stores each QoS 1 message in the session's
  // outgoing queue before writing it and sends the unacknowledged ones again on reconnect.
  drainTimeout: 300_000,
} as const satisfies AedesOptions;

export async function startAedes(options: AedesBrokerOptions = {}): Promise<AedesBroker> {
  const host = options.host ?? LOOPBACK;
  const aedes = await Aedes.createBroker({ ...AEDES_SETTINGS });
  // Aedes emits 'error' for background failures (e.g. will cleanup); unhandled, that would crash
  // the process that embeds it. Its typings list no 'error' event, hence the upcast.
  const events: EventEmitter = aedes;
  events.on('error', (error: unknown) => console.error('aedes:', error));

  // Aedes tracks clients only once they have sent CONNECT; remember every socket so stop() can
  // also close connections that never got that far, or server.close() would wait on them.
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    aedes.handle(socket);
  });

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    await new Promise<void>((resolve) => aedes.close(resolve));
    throw error;
  }
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('aedes: listener has no port');
  const port = address.port;

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => aedes.close(resolve));
      for (const socket of sockets) socket.destroy();
      await closed;
    })();
    return stopping;
  };

  const urlHost = host.includes(':') ? `[${host}]` : host; // IPv6 literals need brackets in a URL
  return { url: `mqtt://${urlHost}:${port}`, port, protocolVersions: [4], stop };
}
