/**
 * Crash safety: `iot-ingest runner` is killed with SIGKILL in the middle of a run and started again;
 * the store must then hold every reading exactly once. Checkpoints move only after a batch is done
 * and the store drops redelivered readings by (deviceId, ts, seq), so what the crash redelivers is
 * stored once.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SchemaRegistry } from '../../functions/lib/codec/schema-registry.ts';
import { openDuckDbReader } from '../../functions/lib/store/duckdb-reader.ts';
import { openQueryTarget } from '../../functions/lib/store/query-client.ts';
import { STREAMS } from '../../functions/lib/streams/types.ts';
import { aFleetOfReadings, waitFor } from '../support/readings.ts';
import { availableStreams, type StreamHarness, startStreams, streamRecord } from './runner-harness.ts';

const streams = await availableStreams();
const CLI = fileURLToPath(new URL('../../bin/iot-ingest.js', import.meta.url));

interface Runner {
  child: ChildProcess;
  /** The latest stats line's counters. */
  counters: { valid: number; written: number; duplicates: number };
  exited: Promise<number | null>;
  output: string[];
}

function startRunner(env: Record<string, string>): Runner {
  const child = spawn(
    process.execPath,
    [
      CLI,
      'runner',
      '--functions',
      'validate,write',
      '--batch-size',
      '25',
      '--stats-interval',
      '0.1',
      '--session-timeout',
      '3',
    ],
    { env: { ...process.env, ...env, LOG_LEVEL: 'warn' }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const runner: Runner = {
    child,
    counters: { valid: 0, written: 0, duplicates: 0 },
    exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))),
    output: [],
  };
  let partial = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      runner.output.push(line);
      const json = line.startsWith('iot-ingest runner: {')
        ? line.slice('iot-ingest runner: '.length)
        : undefined;
      if (json) runner.counters = (JSON.parse(json) as { counters: Runner['counters'] }).counters;
    }
  });
  return runner;
}

describe.each(streams)('runner killed with SIGKILL over $kind', ({ kind, available }) => {
  let h: StreamHarness;
  const running: Runner[] = [];

  beforeAll(async () => {
    if (available) h = await startStreams(kind);
  });
  afterAll(async () => {
    for (const r of running) if (r.child.exitCode === null) r.child.kill('SIGKILL');
    await h?.stop();
  });

  it.skipIf(!available)('leaves every reading in the store exactly once after a restart', async () => {
    // Prepare: 2,000 readings on telemetry.raw, as the bridge writes them
    const registry = SchemaRegistry.load();
    const readings = aFleetOfReadings(20, 100, `${kind}-crash-`);
    for (let i = 0; i < readings.length; i += 500) {
      await h.producer.send(
        STREAMS.raw,
        readings.slice(i, i + 500).map((r) => streamRecord(r, registry)),
      );
    }

    // Act 1: run, and kill -9 once some but not all readings are stored
    const first = startRunner(h.env);
    running.push(first);
    await waitFor(
      async () => first.counters.written,
      (n) => n >= 200,
      { timeoutMs: 15_000, intervalMs: 20 },
    );
    first.child.kill('SIGKILL');
    await first.exited;
    const writtenBeforeCrash = first.counters.written;

    // Act 2: start again and let it finish
    const second = startRunner(h.env);
    running.push(second);
    const query = async () => {
      const target = await openQueryTarget(h.dataDir, h.config.duckdbPath);
      try {
        return Number((await target.query('SELECT count(*) FROM readings')).rows[0]![0]);
      } finally {
        await target.close();
      }
    };
    await waitFor(
      async () => (second.counters.valid > 0 ? query() : 0),
      (n) => n >= readings.length,
      { timeoutMs: 20_000, intervalMs: 250 },
    );
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);

    // Assess: every reading once, nothing else
    expect(writtenBeforeCrash).toBeLessThan(readings.length);
    const db = await openDuckDbReader(h.config.duckdbPath);
    try {
      const [total, distinct] = (
        await db.query('SELECT count(*), count(DISTINCT (device_id, ts, seq)) FROM readings')
      ).rows[0]!;
      expect(Number(total)).toBe(readings.length);
      expect(Number(distinct)).toBe(readings.length);
    } finally {
      await db.close();
    }
  });
});
