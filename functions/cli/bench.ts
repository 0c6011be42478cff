import { Command } from 'commander';
import { DEFAULT_RESULTS_DIR, QUICK_SECTIONS, runBench, SECTIONS, type Section } from '../../bench/run.ts';

export async function benchCommand(argv: string[]): Promise<number> {
  const program = new Command('iot-ingest bench')
    .description(
      'Measure this machine: codec vs JSON, the fused hot path, stream and broker ceilings, the bridge,\n' +
        'end to end over Kafka and Kinesis (zero-loss rate search, latency at half that rate), gateway mode,\n' +
        'detection quality, the store, Lambda bundles. Writes bench/results/<date>-<host>.{json,md,svg}.\n' +
        'Exits 1 only if a reading acknowledged to a device is missing from the store.',
    )
    .argument('[sections...]', `sections to run (default all): ${SECTIONS.join(', ')}`)
    .option('--quick', 'one short step per section (under a minute), for CI smoke runs')
    .option('--out <dir>', 'results directory', DEFAULT_RESULTS_DIR)
    .addHelpText(
      'after',
      '\nExamples:\n  npm run bench\n  npm run bench -- --quick\n  npm run bench -- e2e gateway\n',
    )
    .exitOverride();
  try {
    program.parse(argv, { from: 'user' });
  } catch (error) {
    return (error as { exitCode?: number }).exitCode ?? 2;
  }
  const opts = program.opts<{ quick?: boolean; out: string }>();
  const asked = program.args as string[];
  const unknown = asked.filter((s) => !(SECTIONS as readonly string[]).includes(s));
  if (unknown.length > 0) {
    console.error(
      `iot-ingest bench: unknown section ${unknown.join(', ')}; choose from ${SECTIONS.join(', ')}`,
    );
    return 2;
  }
  const started = Date.now();
  const outcome = await runBench({
    quick: opts.quick ?? false,
    sections: asked.length > 0 ? (asked as Section[]) : opts.quick ? QUICK_SECTIONS : SECTIONS,
    outDir: opts.out,
    log: (line) => console.error(line),
  });
  console.error(
    `bench: done in ${Math.round((Date.now() - started) / 1000)} s; results in ${outcome.jsonPath}`,
  );
  if (outcome.lost > 0) {
    console.error(`bench: FAILED: ${outcome.lost} acknowledged readings never reached the store`);
    return 1;
  }
  return 0;
}
