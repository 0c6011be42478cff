/**
 * A Kafka-protocol test broker: librdkafka's mock cluster, wrapped by mock-cluster.c and driven over
 * its stdin. There is no Kafka server on the development machines; this gives tests and the local
 * pipeline real Kafka wire protocol (produce, fetch, consumer groups) plus fault injection.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { lineReader, withTimeout } from '../child-lines.ts';

const execFileAsync = promisify(execFile);

const HERE = dirname(fileURLToPath(import.meta.url));
const SOURCE = join(HERE, 'mock-cluster.c');
/** Git-ignored. */
const BINARY = join(HERE, 'build', 'mock-cluster');
const STARTUP_TIMEOUT_MS = 10_000;
const COMMAND_TIMEOUT_MS = 10_000;
const QUIT_GRACE_MS = 3_000;

export interface KafkaMockOptions {
  /** Number of brokers; ids are 1..brokers. Default 1. */
  brokers?: number;
  /** Topic name -> partition count. The mock cluster has no CreateTopics API, so create them here. */
  topics: Record<string, number>;
}

export interface KafkaMock {
  /** host:port list (always 127.0.0.1). */
  readonly brokers: string[];
  setBrokerDown(id: number): Promise<void>;
  setBrokerUp(id: number): Promise<void>;
  /** The next `count` requests with this API key (Produce=0, Fetch=1, ...) fail with `errorCode`. */
  pushRequestErrors(apiKey: number, errorCode: number, count: number): Promise<void>;
  /** Delays every response of broker `id` by `ms` (simulates a slow link). */
  setRtt(id: number, ms: number): Promise<void>;
  createTopic(name: string, partitions: number): Promise<void>;
  /** Idempotent. Sends `quit`, kills the process if it has not exited within a few seconds. */
  stop(): Promise<void>;
}

async function mtimeMs(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).mtimeMs;
  } catch {
    return undefined;
  }
}

/** Compiles mock-cluster.c when the binary is missing or older than the source; returns its path. */
export async function buildMockCluster(): Promise<string> {
  const [src, bin] = await Promise.all([mtimeMs(SOURCE), mtimeMs(BINARY)]);
  if (src === undefined) throw new Error(`kafka-mock: source not found: ${SOURCE}`);
  if (bin !== undefined && bin >= src) return BINARY;

  await mkdir(dirname(BINARY), { recursive: true });
  // pkg-config is optional: Debian's librdkafka-dev needs nothing beyond -lrdkafka.
  let flags = ['-lrdkafka'];
  try {
    const { stdout } = await execFileAsync('pkg-config', ['--cflags', '--libs', 'rdkafka']);
    if (stdout.trim()) flags = stdout.trim().split(/\s+/);
  } catch {
    // fall back to -lrdkafka
  }
  // Build to a unique name, then rename: two processes building at once each produce a complete
  // binary and the rename is atomic, so nobody ever runs a half-written file.
  const tmp = `${BINARY}.${process.pid}.${Date.now()}.tmp`;
  try {
    await execFileAsync('gcc', ['-O2', '-o', tmp, SOURCE, ...flags]);
    await rename(tmp, BINARY);
  } catch (err) {
    await rm(tmp, { force: true });
    throw buildError(err);
  }
  return BINARY;
}

function buildError(err: unknown): Error {
  const e = err as NodeJS.ErrnoException & { stderr?: string };
  if (e.code === 'ENOENT') {
    return new Error('kafka-mock: gcc not found; install gcc (e.g. apt-get install -y gcc)');
  }
  const stderr = e.stderr ?? String(err);
  if (/librdkafka\/[\w.]+\.h: No such file/.test(stderr) || /cannot find -lrdkafka/.test(stderr)) {
    return new Error(
      `kafka-mock: librdkafka headers/library missing; run apt-get install -y librdkafka-dev\n${stderr}`,
    );
  }
  return new Error(`kafka-mock: compiling ${SOURCE} failed:\n${stderr}`);
}

/** Builds (if needed) and starts a mock cluster; resolves once it prints its bootstrap list. */
export async function startKafkaMock(options: KafkaMockOptions): Promise<KafkaMock> {
  const binary = await buildMockCluster();
  const args = ['--brokers', String(options.brokers ?? 1)];
  for (const [name, partitions] of Object.entries(options.topics)) {
    args.push('--topic', `${name}:${partitions}`);
  }
  // stdin stays a pipe we own: if this process dies, the child sees EOF and exits.
  // Its own process group, so a terminal's Ctrl-C (sent to the whole foreground group) does not end
  // the cluster while the pipeline still flushes into it; it exits on EOF of stdin if we die.
  const child = spawn(binary, args, { stdio: ['pipe', 'pipe', 'pipe'], detached: true });

  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-8192);
  });

  const lines = lineReader(child);
  let exited = false;
  // 'close' (not 'exit') so stderr has been fully read by the time we report it.
  const closed = new Promise<void>((resolve) => {
    child.once('close', () => {
      exited = true;
      resolve();
    });
  });
  child.on('error', (err) => {
    stderr += `\n${err.message}`; // spawn failure; 'close' follows
  });
  child.stdin.on('error', () => undefined); // EPIPE after the child died; reported via `exited`

  const fail = async (why: string): Promise<never> => {
    child.kill('SIGKILL');
    await withTimeout(closed, 1_000, 'exit').catch(() => undefined);
    throw new Error(`kafka-mock: ${why}; stderr:\n${stderr.trim()}`);
  };

  const first = await withTimeout(lines.next(), STARTUP_TIMEOUT_MS, 'no BOOTSTRAP line').catch((err: Error) =>
    fail(`failed to start (${err.message})`),
  );
  if (!first?.startsWith('BOOTSTRAP ')) return fail(`failed to start (first line: ${first ?? '<exited>'})`);
  const bootstrap = first.slice('BOOTSTRAP '.length).trim();

  let stopping: Promise<void> | undefined;

  // One command in flight at a time: the protocol has no ids, replies match requests by order.
  let queue: Promise<unknown> = Promise.resolve();
  const command = (verb: string, ...args: Array<string | number>): Promise<void> => {
    const line = [verb, ...args].join(' ');
    const run = async (): Promise<void> => {
      // Integers and plain topic names only: anything else could break the line protocol.
      for (const arg of args) {
        if (typeof arg === 'number' ? !Number.isInteger(arg) : !/^[A-Za-z0-9._-]+$/.test(arg))
          throw new Error(`kafka-mock: bad argument ${JSON.stringify(arg)} for "${verb}"`);
      }
      if (exited || stopping)
        throw new Error(`kafka-mock: process is not running ("${line}"); stderr:\n${stderr}`);
      child.stdin.write(`${line}\n`);
      let reply: string | undefined;
      try {
        reply = await withTimeout(lines.next(), COMMAND_TIMEOUT_MS, `no reply to "${line}"`);
      } catch (err) {
        // A late reply would be taken as the answer to the next command: this instance is unusable.
        return fail((err as Error).message);
      }
      if (reply === 'OK') return;
      if (reply === undefined) throw new Error(`kafka-mock: exited during "${line}"; stderr:\n${stderr}`);
      throw new Error(`kafka-mock: "${line}" failed: ${reply.replace(/^ERR /, '')}`);
    };
    const result = queue.then(run, run);
    queue = result.catch(() => undefined);
    return result;
  };

  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (!exited) {
        child.stdin.end('quit\n'); // quit, then EOF: either ends it
        const timer = setTimeout(() => child.kill('SIGKILL'), QUIT_GRACE_MS);
        await closed;
        clearTimeout(timer);
      }
    })();
    return stopping;
  };

  return {
    brokers: bootstrap.split(','),
    setBrokerDown: (id) => command('down', id),
    setBrokerUp: (id) => command('up', id),
    pushRequestErrors: (apiKey, errorCode, count) => command('errors', apiKey, errorCode, count),
    setRtt: (id, ms) => command('rtt', id, ms),
    createTopic: (name, partitions) => command('topic', name, partitions),
    stop,
  };
}
