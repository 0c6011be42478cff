import { afterEach, describe, expect, it, vi } from 'vitest';
import { costCommand, parseBatchMs } from '../../../functions/cli/cost.ts';
import { PRICES_TAKEN_ON } from '../../../functions/cost/prices.ts';

function captureStdout(): { text: () => string } {
  const lines: string[] = [];
  vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void lines.push(args.join(' ')));
  return { text: () => lines.join('\n') };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('iot-ingest cost', () => {
  it('prints both deployments line by line with the prices and their date', async () => {
    // Prepare
    const out = captureStdout();

    // Act
    const code = await costCommand(['--devices', '1000', '--interval', '10', '--payload', '100']);

    // Assess
    expect(code).toBe(0);
    const text = out.text();
    expect(text).toContain('kinesis: IoT Core rule -> Kinesis -> Lambda -> Timestream');
    expect(text).toContain('kafka: IoT Core -> bridge (Fargate) -> MSK -> Lambda -> Timestream');
    expect(text).toContain('262.80M messages');
    expect(text).toContain('0.08 per million connection-minutes');
    expect(text).toContain(`taken on ${PRICES_TAKEN_ON}`);
    expect(text).toContain('https://aws.amazon.com/iot-core/pricing/');
  });

  it('prints JSON for one variant, with the given batch durations', async () => {
    const out = captureStdout();

    const code = await costCommand([
      '--devices',
      '10',
      '--interval',
      '60',
      '--variant',
      'kinesis',
      '--batch-ms',
      'validate=40',
      '--json',
    ]);

    expect(code).toBe(0);
    const parsed = JSON.parse(out.text()) as { estimates: { variant: string; lines: { item: string }[] }[] };
    expect(parsed.estimates.map((e) => e.variant)).toEqual(['kinesis']);
    expect(parsed.estimates[0]!.lines.some((l) => l.item === 'validate duration (1024 MB x 40 ms)')).toBe(
      true,
    );
  });

  it.each([
    [['--interval', '10']],
    [['--devices', '0', '--interval', '10']],
    [['--devices', '10', '--interval', '10', '--variant', 'kafka-connect']],
  ])('rejects %j with exit code 2', async (argv) => {
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);

    expect(await costCommand(argv)).toBe(2);
  });
});

describe('parseBatchMs', () => {
  it('reads function=ms pairs', () => {
    expect(parseBatchMs('validate=40,write=300')).toEqual({ validate: 40, write: 300 });
  });

  it.each(['bridge=5', 'validate=-1', 'validate'])('rejects %s', (value) => {
    expect(() => parseBatchMs(value)).toThrow(/function=ms/);
  });
});
