import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';

/** What one fresh `node` process measured for one bundle. */
export interface ColdStartSample {
  /** `import()` of the bundle's index.mjs: parse and evaluate the module graph loaded at start. */
  importMs: number;
  /** The first `handler(event)`: lazy chunks, config, SDK client, schema registry, the I/O. */
  firstInvokeMs: number;
  /** The same event again, in the same process: the warm path, for contrast. */
  warmInvokeMs: number;
  /** Spawn to exit, seen from the parent: node's own start-up plus all of the above. */
  processMs: number;
  rssMb: number;
  /** `ok`, or the error the first invocation threw (its time is then time-to-failure). */
  outcome: string;
}

/**
 * Runs in the child as plain ESM under `node` (no tsx loader), so nothing but the bundle is loaded.
 * Timings use performance.now(); the result is the last line of stdout.
 */
const CHILD = `
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
const [entry, eventFile] = process.argv.slice(1);
const event = JSON.parse(readFileSync(eventFile, 'utf8'));
const t0 = performance.now();
const mod = await import(pathToFileURL(entry).href);
const t1 = performance.now();
let outcome = 'ok';
try { await mod.handler(event); } catch (error) { outcome = 'error: ' + (error?.message ?? String(error)).split('\\n')[0]; }
const t2 = performance.now();
try { await mod.handler(event); } catch {}
const t3 = performance.now();
console.log(JSON.stringify({ importMs: t1 - t0, firstInvokeMs: t2 - t1, warmInvokeMs: t3 - t2,
  rssMb: process.memoryUsage().rss / 1048576, outcome }));
process.exit(0);
`;

export async function measureColdStart(
  entry: string,
  eventFile: string,
  env: Record<string, string>,
): Promise<ColdStartSample> {
  const started = performance.now();
  const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD, entry, eventFile], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const processMs = performance.now() - started;
  const last = stdout.trim().split('\n').at(-1) ?? '';
  if (code !== 0 || !last.startsWith('{')) {
    throw new Error(`cold start of ${entry} exited ${code}: ${stderr.trim() || stdout.trim()}`);
  }
  return { ...(JSON.parse(last) as Omit<ColdStartSample, 'processMs'>), processMs };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
