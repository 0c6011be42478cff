/**
 * Kinesis on loopback: kinesalite's HTTP server in a child process (kinesalite-process.mjs), plus
 * stream creation that works the same against kinesalite and AWS.
 */
import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  type KinesisClient,
  type StreamStatus,
} from '@aws-sdk/client-kinesis';
import { errorMessage, IngestError } from '../../functions/lib/errors.ts';
import { lineReader, withTimeout } from './child-lines.ts';
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
  /** Stops the process (it closes its store first). Idempotent. */
  stop(): Promise<void>;
}

const CHILD = fileURLToPath(new URL('./kinesalite-process.mjs', import.meta.url));

// kinesalite's own default is 10 shards in total, less than the pipeline's four streams take at
// four shards each. AWS's default account quota is 200 to 500 shards depending on the region.
const DEFAULT_SHARD_LIMIT = 500;
// Idle keep-alive sockets live this long on the server. Node's default (5 s) is shorter than the
// pauses between a quiet runner's polls, so the server would close sockets the client's agent is
// about to reuse, and a request would fail with ECONNRESET at random.
const KEEP_ALIVE_TIMEOUT_MS = 120_000;
const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;

/**
 * Starts kinesalite in its own process, so the process under test does not share its event loop
 * with the stream or hold the stream's in-memory records (as Mosquitto and the Kafka mock already
 * run apart).
 */
export async function startKinesalite(options: KinesaliteOptions = {}): Promise<KinesaliteServer> {
  // LevelDB creates its own directory but not missing parents.
  if (options.path !== undefined) await mkdir(options.path, { recursive: true });
  const child = spawn(
    process.execPath,
    [
      CHILD,
      JSON.stringify({
        port: options.port ?? 0,
        host: LOOPBACK,
        path: options.path ?? null,
        shardLimit: options.shardLimit ?? DEFAULT_SHARD_LIMIT,
        keepAliveTimeoutMs: KEEP_ALIVE_TIMEOUT_MS,
      }),
    ],
    // Its own process group: a terminal's Ctrl-C signals the whole foreground group, and the stream
    // must outlive the pipeline's shutdown, which flushes into it. stop() ends it afterwards; if
    // this process dies instead, the child sees its stdin close and exits.
    { stdio: ['pipe', 'pipe', 'pipe'], detached: true },
  );
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => {
    stderr = (stderr + text).slice(-2_000);
  });
  child.on('error', (error) => {
    stderr += `\n${error.message}`; // spawn failure: stdout closes, and the first line never comes
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // The first line is {"port":N} once it listens; none (undefined) if it exited first.
  let first: string | undefined;
  let why = 'it exited before listening';
  try {
    first = await withTimeout(lineReader(child).next(), START_TIMEOUT_MS, 'no port');
  } catch (error) {
    why = errorMessage(error);
  }
  if (first === undefined) {
    child.kill('SIGKILL');
    throw new IngestError(
      'SERVICE_UNAVAILABLE',
      `kinesalite did not start: ${why}${stderr ? `: ${stderr.trim()}` : ''}`,
    );
  }
  const port = (JSON.parse(first) as { port: number }).port;

  let stopping: Promise<void> | undefined;
  return {
    endpoint: `http://${LOOPBACK}:${port}`,
    port,
    stop(): Promise<void> {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
          await exited;
          clearTimeout(timer);
        }
      })();
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
