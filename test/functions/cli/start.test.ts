import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DuckDbStore } from '../../../functions/lib/store/duckdb-store.ts';

const BIN = path.resolve(import.meta.dirname, '../../../bin/iot-ingest.js');

/** `iot-ingest <args>` in a child process: its stderr so far, and its exit code once it exits. */
function spawnCli(args: string[], options: { detached?: boolean } = {}) {
  const child = spawn(process.execPath, [BIN, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: options.detached ?? false,
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, stderr: () => stderr, exited };
}

async function run(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const cli = spawnCli(args);
  const code = await cli.exited;
  return { code, stderr: cli.stderr() };
}

/** `start` with its data in `dataDir`, any free MQTT port, and 50 simulated devices at 5 Hz. */
function startSmallFleet(dataDir: string): string[] {
  return ['start', '--data-dir', dataDir, '--mqtt-port', '0', '--devices', '50', '--rate', '5'];
}

/** The simulator's count in the last stats line. */
function lastPublished(stderr: string): number {
  return Number([...stderr.matchAll(/sim published ([\d,]+)/g)].at(-1)?.[1]?.replaceAll(',', ''));
}

describe('iot-ingest start', () => {
  it('runs the embedded pipeline and, stopping, stores every reading the simulator published', async () => {
    // Prepare
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'iot-start-'));

    // Act: 50 devices at 5 Hz for 6 s, then the clean shutdown
    const { code, stderr } = await run([
      ...startSmallFleet(dataDir),
      '--duration',
      '6',
      '--stats-interval',
      '1',
    ]);

    // Assess: the last stats line's simulator count equals what is in the store
    expect(code, stderr).toBe(0);
    expect(stderr).toContain('stopped cleanly');
    const published = lastPublished(stderr);
    expect(published).toBeGreaterThan(500);
    const store = await DuckDbStore.open(path.join(dataDir, 'iot-ingest.duckdb'));
    try {
      const rows = await store.query('SELECT count(*), count(DISTINCT device_id) FROM readings');
      expect(rows.rows[0]).toEqual([published, 50]);
    } finally {
      await store.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);

  it.each(['kinesis', 'kafka'])(
    'stops cleanly on Ctrl-C in a terminal, which signals every process of the job (%s)',
    async (stream) => {
      // Prepare: its own process group, as a shell runs a job; the stream's server is a child process
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'iot-start-ctrl-c-'));
      const cli = spawnCli([...startSmallFleet(dataDir), '--stream', stream], { detached: true });

      // Act: once readings flow, SIGINT to the whole group, as the terminal's Ctrl-C sends it
      const deadline = Date.now() + 30_000;
      while (!/sim published [1-9]/.test(cli.stderr()) && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 200));
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      process.kill(-cli.child.pid!, 'SIGINT');
      const code = await cli.exited;

      // Assess
      const stderr = cli.stderr();
      expect(code, stderr).toBe(0);
      expect(stderr).toContain('stopped cleanly');
      const store = await DuckDbStore.open(path.join(dataDir, 'iot-ingest.duckdb'));
      try {
        const rows = await store.query('SELECT count(*) FROM readings');
        expect(rows.rows[0]).toEqual([lastPublished(stderr)]);
      } finally {
        await store.close();
        fs.rmSync(dataDir, { recursive: true, force: true });
      }
    },
    60_000,
  );

  it('expects a slow simulated fleet at its own interval: no silence alert storm', async () => {
    // Prepare: devices reporting every 20 s; the default profile expects 1 s and would call each
    // of them silent 10 s after its first reading
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'iot-start-slow-'));

    // Act
    const { code, stderr } = await run([
      'start',
      '--data-dir',
      dataDir,
      '--mqtt-port',
      '0',
      '--devices',
      '20',
      '--rate',
      '0.05',
      '--duration',
      '16',
    ]);

    // Assess
    expect(code, stderr).toBe(0);
    const store = await DuckDbStore.open(path.join(dataDir, 'iot-ingest.duckdb'));
    try {
      const readings = await store.query('SELECT count(*) FROM readings');
      expect(Number(readings.rows[0]![0])).toBeGreaterThan(0);
      const silences = await store.query("SELECT count(*) FROM alerts WHERE rule = 'silence'");
      expect(silences.rows[0]).toEqual([0]);
    } finally {
      await store.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);

  it('says what is wrong with a bad option', async () => {
    const { code, stderr } = await run(['start', '--stream', 'pulsar']);
    expect(code).toBe(1);
    expect(stderr).toContain(
      "option '--stream <kind>' argument 'pulsar' is invalid. expected one of: kinesis, kafka",
    );
  });
});
