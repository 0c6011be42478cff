import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { withTimeout } from '../../infra/local/child-lines.ts';
import type { EmbeddedRunner } from '../../infra/local/embedded-pipeline.ts';
import { CLI } from './simulator-process.ts';

/** The bridge's batching settings a bench run may set (`iot-ingest bridge --help`). */
export interface BridgeBatching {
  lingerMs?: number;
  maxBatchRecords?: number;
}

/**
 * `batching` as command-line flags: the bridge's own (`--linger-ms`), or with `prefix` the flags
 * that pass them on (bench/e2e.ts's `--bridge-linger-ms`).
 */
export function batchingArgs(batching: BridgeBatching, prefix = ''): string[] {
  return [
    ...(batching.lingerMs !== undefined ? [`--${prefix}linger-ms`, String(batching.lingerMs)] : []),
    ...(batching.maxBatchRecords !== undefined
      ? [`--${prefix}max-batch-records`, String(batching.maxBatchRecords)]
      : []),
  ];
}

export interface BridgeProcess {
  readonly pid: number;
  /** Peak resident set of the bridge process so far (Linux VmHWM), or undefined where /proc has none. */
  peakRssBytes(): number | undefined;
  /** SIGTERM (the bridge acknowledges what it holds and disconnects), then waits for the exit. */
  stop(): Promise<void>;
}

/**
 * `iot-ingest bridge` in a process of its own, against the runner's broker and stream, as deployed
 * (a bridge service beside the functions). Resolves once the bridge has subscribed.
 */
export async function startBridgeProcess(
  runner: EmbeddedRunner,
  options: BridgeBatching = {},
): Promise<BridgeProcess> {
  const { config } = runner;
  const args = [
    CLI,
    'bridge',
    '--mqtt-url',
    runner.mqttUrl,
    '--client-id',
    `iot-ingest-bench-bridge-${process.pid}`,
    '--protocol-version',
    String(runner.protocolVersion),
    '--stream',
    config.stream,
    '--stats-interval',
    '0',
    ...(config.kafka.brokers.length > 0 ? ['--kafka-brokers', config.kafka.brokers.join(',')] : []),
    ...(config.kinesis.endpoint !== undefined ? ['--kinesis-endpoint', config.kinesis.endpoint] : []),
    ...batchingArgs(options),
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const running = new Promise<void>((resolve, reject) => {
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-20_000);
      if (stderr.includes('"msg":"bridge running"')) resolve();
    });
    void exited.then((code) => reject(new Error(`the bridge exited (${code}) before it ran:\n${stderr}`)));
  });
  try {
    await withTimeout(running, 30_000, 'the bridge process did not subscribe');
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  const pid = child.pid!;
  let peak: number | undefined;
  const peakRssBytes = () => {
    try {
      const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) peak = Number(m[1]) * 1024;
    } catch {
      // exited, or no /proc: the last value read stands
    }
    return peak;
  };
  return {
    pid,
    peakRssBytes,
    stop: async () => {
      peakRssBytes();
      child.kill('SIGTERM');
      const code = await withTimeout(exited, 30_000, 'the bridge process did not stop').catch(() => {
        child.kill('SIGKILL');
        return null;
      });
      if (code !== 0) throw new Error(`the bridge process exited with ${code}:\n${stderr.slice(-4000)}`);
    },
  };
}
