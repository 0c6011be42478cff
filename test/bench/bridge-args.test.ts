import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { batchingArgs } from '../../bench/lib/bridge-process.ts';
import { CLI } from '../../bench/lib/simulator-process.ts';

const BENCH_E2E = new URL('../../bench/e2e.ts', import.meta.url).pathname;

function help(args: string[]): string {
  return execFileSync(process.execPath, args, { encoding: 'utf8' });
}

describe('bench/lib/bridge-process.ts batchingArgs: the bridge settings a bench run passes on', () => {
  it('gives only the settings that are set', () => {
    expect(batchingArgs({})).toEqual([]);
    expect(batchingArgs({ maxBatchRecords: 8_000 })).toEqual(['--max-batch-records', '8000']);
    expect(batchingArgs({ lingerMs: 100, maxBatchRecords: 8_000 }, 'bridge-')).toEqual([
      '--bridge-linger-ms',
      '100',
      '--bridge-max-batch-records',
      '8000',
    ]);
  });

  it('names flags the bridge and bench/e2e.ts take', () => {
    const both = { lingerMs: 1, maxBatchRecords: 1 };
    const bridgeHelp = help([CLI, 'bridge', '--help']);
    for (const flag of batchingArgs(both).filter((a) => a.startsWith('--')))
      expect(bridgeHelp).toContain(flag);
    const e2eHelp = help(['--import', 'tsx', BENCH_E2E, '--help']);
    for (const flag of batchingArgs(both, 'bridge-').filter((a) => a.startsWith('--')))
      expect(e2eHelp).toContain(flag);
  });
});
