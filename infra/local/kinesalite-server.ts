/**
 * Kinesis on loopback: kinesalite's HTTP server in this process, plus stream creation that works
 * the same against kinesalite and AWS.
 */
import { mkdir } from 'node:fs/promises';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  type KinesisClient,
  type StreamStatus,
} from '@aws-sdk/client-kinesis';
import { IngestError } from '../../functions/lib/errors.ts';
import { LOOPBACK } from './ports.ts';

export interface KinesaliteOptions {
  /** Default: a free port picked by the kernel. */
  port?: number;
  /** LevelDB directory (streams and records survive a restart). In memory when absent. */
  path?: string;
  /** Total open shards allowed across streams. Default 500. */
  shardLimit?: number;
}

export interface KinesaliteServer {
  /** `http://127.0.0.1:<port>`, for createKinesisClient({ endpoint, local: true }). */
  readonly endpoint: string;
  readonly port: number;
  /** Closes connections, the server and its store. Idempotent. */
  stop(): Promise<void>;
}

interface KinesaliteFactoryOptions {
  path?: string;
  shardLimit: number;
  createStreamMs: number;
  deleteStreamMs: number;
  updateStreamMs: number;
}

// kinesalite is CommonJS without type declarations; its whole API is this one factory.
const kinesalite = createRequire(import.meta.url)('kinesalite') as (
  options: KinesaliteFactoryOptions,
) => Server;

// kinesalite's own default is 10 shards in total, less than the pipeline's four streams take at
// four shards each. AWS's default account quota is 200 to 500 shards depending on the region.
const DEFAULT_SHARD_LIMIT = 500;
// Idle keep-alive sockets live this long on the server. Node's default (5 s) is shorter than the
// pauses between a quiet runner's polls, so the server would close sockets the client's agent is
// about to reuse, and a request would fail with ECONNRESET at random.
const KEEP_ALIVE_TIMEOUT_MS = 120_000;

export async function startKinesalite(options: KinesaliteOptions = {}): Promise<KinesaliteServer> {
  // LevelDB creates its own directory but not missing parents.
  if (options.path !== undefined) await mkdir(options.path, { recursive: true });
  const server = kinesalite({
    ...(options.path === undefined ? {} : { path: options.path }),
    shardLimit: options.shardLimit ?? DEFAULT_SHARD_LIMIT,
    // Streams are ACTIVE at once instead of after kinesalite's default 500 ms in CREATING/UPDATING.
    createStreamMs: 0,
    deleteStreamMs: 0,
    updateStreamMs: 0,
  });
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  server.headersTimeout = KEEP_ALIVE_TIMEOUT_MS + 1_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, LOOPBACK, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('kinesalite: listener has no port');

  let stopping: Promise<void> | undefined;
  return {
    endpoint: `http://${LOOPBACK}:${address.port}`,
    port: address.port,
    stop(): Promise<void> {
      // kinesalite's close() closes its LevelDB store, then the HTTP server. Clients keep idle
      // keep-alive sockets open, which would hold the server open until they time out.
      stopping ??= new Promise<void>((resolve, reject) => {
        server.close((error?: Error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      });
      return stopping;
    },
  };
}

export interface CreateStreamsOptions {
  /** How long to wait for each stream to become ACTIVE. Default 60 s (AWS takes tens of seconds). */
  timeoutMs?: number;
}

/**
 * Creates each stream that does not exist yet, with the given shard count, and waits until every
 * stream is ACTIVE. An existing stream is left as it is, whatever its shard count. Safe to call
 * from several processes at once: losing the race to create a stream is not an error.
 */
export async function createStreams(
  client: KinesisClient,
  specs: Record<string, number>,
  options: CreateStreamsOptions = {},
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  await Promise.all(
    Object.entries(specs).map(async ([name, shards]) => {
      if ((await streamStatus(client, name)) === undefined) {
        try {
          await client.send(new CreateStreamCommand({ StreamName: name, ShardCount: shards }));
        } catch (error) {
          if (!(error instanceof Error && error.name === 'ResourceInUseException')) {
            throw new IngestError('SERVICE_UNAVAILABLE', `cannot create Kinesis stream ${name}: ${error}`, {
              cause: error,
            });
          }
        }
      }
      await waitUntilActive(client, name, timeoutMs);
    }),
  );
}

async function streamStatus(client: KinesisClient, name: string): Promise<StreamStatus | undefined> {
  try {
    const { StreamDescriptionSummary } = await client.send(
      new DescribeStreamSummaryCommand({ StreamName: name }),
    );
    return StreamDescriptionSummary?.StreamStatus;
  } catch (error) {
    if (error instanceof Error && error.name === 'ResourceNotFoundException') return undefined;
    throw error;
  }
}

// The SDK's waitUntilStreamExists polls every 10 s at least: far too slow for kinesalite, where a
// stream is ACTIVE within milliseconds. This backs off from 20 ms to 2 s instead.
async function waitUntilActive(client: KinesisClient, name: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let delayMs = 20;
  let status = await streamStatus(client, name);
  while (status !== 'ACTIVE') {
    if (Date.now() >= deadline) {
      throw new IngestError(
        'SERVICE_UNAVAILABLE',
        `Kinesis stream ${name} is ${status ?? 'missing'}, not ACTIVE, after ${timeoutMs} ms`,
        { retryable: true },
      );
    }
    await sleep(delayMs);
    delayMs = Math.min(delayMs * 2, 2_000);
    status = await streamStatus(client, name);
  }
}
