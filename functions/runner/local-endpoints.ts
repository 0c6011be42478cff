/**
 * How other processes find the streams of a running local pipeline (`npm start`): it writes
 * `<dataDir>/services.json` with its stream settings, in the same variables the environment would
 * carry, and removes it when it stops. `iot-ingest dlq` (and `iot-ingest runner`) read it when the
 * environment names no stream.
 */
import { readFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../lib/atomic-file.ts';
import type { Env } from '../lib/config.ts';

export const SERVICES_FILE = 'services.json';

/** The settings that say which stream to use and where it is. */
export const STREAM_ENV_KEYS = ['IOT_STREAM', 'KAFKA_BROKERS', 'KINESIS_ENDPOINT'] as const;

interface ServicesFile {
  pid: number;
  env: Record<string, string>;
}

export async function writeServicesFile(
  dataDir: string,
  env: Record<string, string | undefined>,
): Promise<void> {
  const file = join(dataDir, SERVICES_FILE);
  const defined = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined)) as Record<
    string,
    string
  >;
  const body: ServicesFile = { pid: process.pid, env: defined };
  await mkdir(dataDir, { recursive: true });
  await writeFileAtomic(file, `${JSON.stringify(body, null, 2)}\n`);
}

export async function removeServicesFile(dataDir: string): Promise<void> {
  await rm(join(dataDir, SERVICES_FILE), { force: true });
}

/**
 * `env` as it is when it names a stream; otherwise `env` with the running pipeline's stream settings
 * from `<dataDir>/services.json` added, when that file exists and its process is alive.
 */
export function withLocalEndpoints(env: Env, dataDir: string): Env {
  if (STREAM_ENV_KEYS.some((key) => env[key] !== undefined && env[key] !== '')) return env;
  let parsed: Partial<ServicesFile>;
  try {
    parsed = JSON.parse(readFileSync(join(dataDir, SERVICES_FILE), 'utf8')) as Partial<ServicesFile>;
  } catch {
    return env;
  }
  if (typeof parsed.pid !== 'number' || !alive(parsed.pid) || typeof parsed.env !== 'object') return env;
  return { ...parsed.env, ...env };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
