import Table from 'cli-table3';
import { Command, InvalidArgumentError } from 'commander';
import type { PipelineFunction } from '../cost/deployment.ts';
import { estimateKafka, estimateKinesis } from '../cost/estimate.ts';
import { PRICES_REGION, PRICES_TAKEN_ON } from '../cost/prices.ts';
import type { Estimate, Fleet } from '../cost/types.ts';
import { defaultMappings } from '../runner/topology.ts';
import { oneOf, positiveInt, positiveNumber } from './options.ts';

interface CostOptions {
  devices: number;
  interval: number;
  payload: number;
  variant: 'kinesis' | 'kafka' | 'both';
  batchMs?: Partial<Record<PipelineFunction, number>>;
  json?: boolean;
}

const FUNCTIONS: readonly PipelineFunction[] = ['validate', 'detect', 'write'];

/** `validate=40,write=300` -> { validate: 40, write: 300 } */
export function parseBatchMs(value: string): Partial<Record<PipelineFunction, number>> {
  const out: Partial<Record<PipelineFunction, number>> = {};
  for (const part of value.split(',')) {
    const [name, ms] = part.split('=');
    const n = Number(ms);
    if (!FUNCTIONS.includes(name as PipelineFunction) || !Number.isFinite(n) || n <= 0) {
      throw new InvalidArgumentError('expected function=ms pairs, e.g. validate=40,detect=5,write=300');
    }
    out[name as PipelineFunction] = n;
  }
  return out;
}

export async function costCommand(argv: string[]): Promise<number> {
  const program = new Command('iot-ingest cost')
    .description(
      'Estimate the monthly AWS bill for a fleet, line by line, for the deployments in infra/aws ' +
        `(list prices, ${PRICES_REGION}, taken on ${PRICES_TAKEN_ON}).`,
    )
    .requiredOption('--devices <n>', 'devices in the fleet', positiveInt)
    .requiredOption('--interval <seconds>', 'seconds between two readings of one device', positiveNumber)
    .option('--payload <bytes>', 'bytes in one reading (Avro single-object: ~60)', positiveInt, 64)
    .option('--variant <variant>', 'which deployment to price', oneOf('kinesis', 'kafka', 'both'), 'both')
    .option(
      '--batch-ms <list>',
      'per-batch durations to price instead of the model, e.g. validate=40,write=300',
      parseBatchMs,
    )
    .option('--json', 'print the estimate as JSON')
    .addHelpText('after', '\nExample:\n  iot-ingest cost --devices 10000 --interval 60 --payload 64\n')
    .exitOverride();
  try {
    program.parse(argv, { from: 'user' });
  } catch (error) {
    // commander has printed the help or the usage error; a usage error exits 2, as in main.ts.
    return (error as { exitCode?: number }).exitCode === 0 ? 0 : 2;
  }
  const o = program.opts<CostOptions>();
  const fleet: Fleet = { devices: o.devices, intervalSeconds: o.interval, payloadBytes: o.payload };
  const options = { mappings: defaultMappings(), ...(o.batchMs ? { batchMs: o.batchMs } : {}) };
  const estimates: Estimate[] = [];
  if (o.variant !== 'kafka') estimates.push(estimateKinesis(fleet, options));
  if (o.variant !== 'kinesis') estimates.push(estimateKafka(fleet, options));
  if (o.json) {
    console.log(
      JSON.stringify({ region: PRICES_REGION, pricesTakenOn: PRICES_TAKEN_ON, fleet, estimates }, null, 2),
    );
    return 0;
  }
  for (const estimate of estimates) console.log(`${renderEstimate(estimate)}\n`);
  console.log(
    `Prices: ${PRICES_REGION} list prices taken on ${PRICES_TAKEN_ON} from the pages above (functions/cost/prices.ts).`,
  );
  return 0;
}

const TITLES = {
  kinesis: 'IoT Core rule -> Kinesis -> Lambda -> Timestream',
  kafka: 'IoT Core -> bridge (Fargate) -> MSK -> Lambda -> Timestream',
} as const;

export function renderEstimate(estimate: Estimate): string {
  const table = new Table({
    style: { head: [], border: [] },
    // No rule between rows: twenty lines stay readable in a terminal.
    chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
    head: ['service', 'item', 'quantity / month', 'unit price (USD)', 'USD / month'],
    colAligns: ['left', 'left', 'right', 'left', 'right'],
  });
  for (const l of estimate.lines) {
    table.push([
      l.service,
      l.item,
      `${formatQuantity(l.quantity)} ${l.unit}`,
      `${l.price.usd} per ${l.price.per}`,
      l.usd.toFixed(2),
    ]);
  }
  table.push([{ colSpan: 4, content: 'total' }, estimate.totalUsd.toFixed(2)]);
  const sources = [...new Set(estimate.lines.map((l) => l.price.source))];
  const caveats = estimate.lines
    .filter((l) => l.price.note?.startsWith('verify'))
    .map((l) => `${l.item}: ${l.price.note}`);
  return [
    `${estimate.variant}: ${TITLES[estimate.variant]}`,
    table.toString(),
    ...estimate.assumptions.map((a) => `  - ${a}`),
    ...caveats.map((c) => `  ! ${c}`),
    `  sources: ${sources.join(' ')}`,
  ].join('\n');
}

function formatQuantity(n: number): string {
  if (n >= 1_000_000) return `${(n / 1_000_000).toFixed(2)}M`;
  if (n >= 100 || Number.isInteger(n)) return Math.round(n).toLocaleString('en-US');
  return n.toFixed(n < 1 ? 4 : 2);
}
