import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The `iot-ingest` launcher the bench's child processes run. */
export const CLI = fileURLToPath(new URL('../../bin/iot-ingest.js', import.meta.url));

export interface SimulatorRun {
  published: number;
  acknowledged: number;
  errors: number;
  seconds: number;
}

/**
 * Runs `iot-ingest simulate` in its own process (its own core), so the load generator does not
 * steal the event loop of the pipeline it measures. Resolves with the simulator's final counts.
 */
export function runSimulator(args: string[], timeoutMs: number): Promise<SimulatorRun> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(process.execPath, [CLI, 'simulate', ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (stderr.length > 100_000) stderr = stderr.slice(-50_000);
    });
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.on('exit', () => {
      clearTimeout(timer);
      const m =
        /published (\d+) readings in \d+ messages, acknowledged (\d+), held back \d+, errors (\d+)/.exec(
          stderr,
        );
      if (!m) {
        reject(new Error(`simulator gave no summary:\n${stderr.slice(-2000)}`));
        return;
      }
      resolve({
        published: Number(m[1]),
        acknowledged: Number(m[2]),
        errors: Number(m[3]),
        seconds: (Date.now() - started) / 1000,
      });
    });
  });
}
