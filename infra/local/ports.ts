/**
 * Loopback port helpers for the local service harness. Everything local binds to 127.0.0.1 only.
 */
import { createConnection, createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { IngestError } from '../../functions/lib/errors.ts';

export const LOOPBACK = '127.0.0.1';

/**
 * A port that was free a moment ago: the kernel picks it (listen on port 0), we read it and close.
 * Only for processes we cannot hand a listening socket or port 0 to (Mosquitto); in-process servers
 * listen on port 0 themselves, which has no window for another process to take the port.
 */
export function freePort(host: string = LOOPBACK): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error(`freePort: unexpected server address ${String(address)}`));
      });
    });
  });
}

function canConnect(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const done = (ok: boolean): void => {
      socket.removeAllListeners();
      socket.on('error', () => {});
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Resolves once `host:port` accepts a TCP connection; rejects with SERVICE_UNAVAILABLE after
 * `timeoutMs`. `signal` stops the wait early (e.g. when the process that should listen has exited).
 */
export async function waitForPort(
  host: string,
  port: number,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let delayMs = 10;
  for (;;) {
    signal?.throwIfAborted();
    if (await canConnect(host, port, Math.min(1_000, Math.max(50, deadline - Date.now())))) return;
    if (Date.now() >= deadline) {
      throw new IngestError(
        'SERVICE_UNAVAILABLE',
        `${host}:${port} did not accept connections within ${timeoutMs} ms`,
        {
          retryable: true,
        },
      );
    }
    await sleep(delayMs, undefined, signal ? { signal } : undefined);
    delayMs = Math.min(delayMs * 2, 200);
  }
}
