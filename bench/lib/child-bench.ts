import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Node flags that load the TypeScript sources as `iot-ingest` loads them (bin/iot-ingest.js): tsx's
 * ESM hooks only. Under the `tsx` command, which adds its CommonJS hooks and preflight, the hot
 * path measured about 40 ns a reading slower (bench/hot-path.ts, fused: a median of 1.31 against
 * 1.42 times JSON.parse over 8 runs each), so every bench child runs this way.
 */
export const TS_LOADER = ['--import', import.meta.resolve('tsx/esm')];

/** Where component bench `name` writes its JSON today: bench/results/<name>-<date><suffix>.json. */
export function benchResultFile(name: string, suffix = ''): string {
  return path.join(
    ROOT,
    'bench',
    'results',
    `${name}-${new Date().toISOString().slice(0, 10)}${suffix}.json`,
  );
}

/**
 * Writes component bench `name`'s JSON to benchResultFile(name, suffix), where runChildBench reads
 * it, creating bench/results if need be; returns the file's path.
 */
export function saveBenchResult(name: string, report: unknown, suffix = ''): string {
  const file = benchResultFile(name, suffix);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  return file;
}

/**
 * Runs one component bench (bench/<name>.ts) in a fresh Node process, so each measures a process
 * of its own, and returns the JSON it wrote to `resultFile` (default `results/<name>-<date>.json`).
 */
export async function runChildBench(
  name: string,
  args: string[],
  log: (line: string) => void,
  options: { timeoutMs?: number; resultFile?: string } = {},
): Promise<Record<string, unknown>> {
  const timeoutMs = options.timeoutMs ?? 15 * 60_000;
  const started = Date.now();
  const code = await new Promise<number>((resolve) => {
    const child = spawn(process.execPath, [...TS_LOADER, path.join(ROOT, 'bench', `${name}.ts`), ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const forward = (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) {
        if (
          line.trim() !== '' &&
          !/NodeVersionSupportWarning|node >=22|trace-warnings|a\.co\/|January 2027|updates,? bug fixes|continue receiving/i.test(
            line,
          )
        )
          log(`  ${line}`);
      }
    };
    child.stdout.on('data', forward);
    child.stderr.on('data', forward);
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.on('exit', (exitCode) => {
      clearTimeout(timer);
      resolve(exitCode ?? 1);
    });
  });
  const file = options.resultFile ?? benchResultFile(name);
  if (!fs.existsSync(file) || fs.statSync(file).mtimeMs < started) {
    throw new Error(`bench/${name}.ts exited ${code} without writing ${file}`);
  }
  return JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
}
