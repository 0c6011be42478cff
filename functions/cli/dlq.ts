/**
 * `iot-ingest dlq`: the dead-letter stream, for operators. `list` counts dead letters by reason and
 * shows the recent ones, `show` one in full (headers, detail, bytes as hex and decoded), `replay`
 * writes them back into telemetry.raw with their original key, bytes and headers (dlq-* removed),
 * e.g. after the schema that wrote them was added to schemas/history/. Replaying is safe to repeat:
 * the store drops readings it already holds by (deviceId, ts, seq).
 *
 * The stream comes from the environment (IOT_STREAM, KAFKA_BROKERS, KINESIS_ENDPOINT, ...), or,
 * when it names none, from the pipeline `npm start` runs with the same data directory.
 */
import Table from 'cli-table3';
import { Command, InvalidArgumentError } from 'commander';
import { decodeReading, decodeReadingContainer, detectWireFormat } from '../lib/codec/reading-codec.ts';
import { SchemaRegistry } from '../lib/codec/schema-registry.ts';
import { type Env, loadConfig, type PipelineConfig } from '../lib/config.ts';
import { deadLetterInfo, replayRecord } from '../lib/dead-letter.ts';
import { errorMessage, IngestError } from '../lib/errors.ts';
import { readStream, type StoredRecord } from '../lib/streams/stream-reader.ts';
import { STREAMS } from '../lib/streams/types.ts';
import { withLocalEndpoints } from '../runner/local-endpoints.ts';
import { positiveInt } from './options.ts';

interface CommonOptions {
  dataDir?: string;
}

/** What the command prints to; tests pass their own. */
export interface DlqOutput {
  out(line: string): void;
  err(line: string): void;
}

const STDIO: DlqOutput = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

export async function dlqCommand(
  argv: string[],
  env: Env = process.env,
  io: DlqOutput = STDIO,
): Promise<number> {
  let code = 0;
  const program = new Command('iot-ingest dlq')
    .description('Inspect and replay the dead-letter stream (telemetry.dlq).')
    .option(
      '--data-dir <dir>',
      'data directory of a running `npm start`, to find its streams (default: IOT_DATA_DIR or ./data)',
    )
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) });

  program
    .command('list')
    .description('dead letters by reason, and the most recent ones')
    .option('--reason <code>', 'only this reason code')
    .option('--limit <n>', 'recent entries to show', positiveInt, 20)
    .option('--json', 'print JSON instead of tables')
    .action(async (options: { reason?: string; limit: number; json?: boolean }) => {
      const { config, records } = await load(program.opts<CommonOptions>(), env);
      code = list(config, filterRecords(records, options.reason, undefined), options, io);
    });

  program
    .command('show')
    .description('one dead letter in full: headers, reason, detail, origin, bytes')
    .argument(
      '<position>',
      'as `list` prints it: partition@offset (Kafka) or shardId@sequenceNumber (Kinesis)',
    )
    .action(async (position: string) => {
      const { records } = await load(program.opts<CommonOptions>(), env);
      const record = records.find((r) => r.position === position);
      if (!record) {
        io.err(`no dead letter at ${position}; \`iot-ingest dlq list\` shows the positions`);
        code = 1;
        return;
      }
      show(record, io);
    });

  program
    .command('replay')
    .description('write dead letters back into telemetry.raw (original key, bytes and headers)')
    .option('--reason <code>', 'only dead letters with this reason code')
    .option(
      '--since <when>',
      'only those dead-lettered since: an ISO time, or a duration ago (90s, 15m, 2h, 1d)',
      since,
    )
    .option('--dry-run', 'say what would be replayed, replay nothing')
    .action(async (options: { reason?: string; since?: number; dryRun?: boolean }) => {
      const { config, records } = await load(program.opts<CommonOptions>(), env);
      const chosen = filterRecords(records, options.reason, options.since);
      code = await replay(config, chosen, options.dryRun === true, io);
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (error) {
    const exitCode = (error as { exitCode?: number }).exitCode;
    if (exitCode !== undefined) return exitCode;
    throw error;
  }
  return code;
}

async function load(
  options: CommonOptions,
  env: Env,
): Promise<{ config: PipelineConfig; records: StoredRecord[] }> {
  const dataDir = loadConfig(options.dataDir ? { ...env, IOT_DATA_DIR: options.dataDir } : env).dataDir;
  const config = loadConfig({ ...withLocalEndpoints(env, dataDir), IOT_DATA_DIR: dataDir });
  try {
    return { config, records: await readStream(config, STREAMS.dlq) };
  } catch (error) {
    throw new IngestError(
      'SERVICE_UNAVAILABLE',
      `cannot read ${STREAMS.dlq} on ${where(config)}: ${errorMessage(error)}. ` +
        'Name the stream with IOT_STREAM and KAFKA_BROKERS or KINESIS_ENDPOINT, or point --data-dir at the ' +
        'data directory of a running `npm start`.',
      { cause: error },
    );
  }
}

function filterRecords(
  records: StoredRecord[],
  reason: string | undefined,
  sinceMs: number | undefined,
): StoredRecord[] {
  return records.filter(
    (r) =>
      (reason === undefined || deadLetterInfo(r.headers).reason === reason) &&
      (sinceMs === undefined || r.timestamp >= sinceMs),
  );
}

function where(config: PipelineConfig): string {
  return config.stream === 'kafka'
    ? `Kafka ${config.kafka.brokers.join(',')}`
    : `Kinesis ${config.kinesis.endpoint ?? config.kinesis.region}`;
}

function list(
  config: PipelineConfig,
  records: StoredRecord[],
  options: { limit: number; json?: boolean },
  io: DlqOutput,
): number {
  const byReason = new Map<string, { count: number; last: number }>();
  for (const r of records) {
    const { reason } = deadLetterInfo(r.headers);
    const entry = byReason.get(reason) ?? { count: 0, last: 0 };
    entry.count++;
    entry.last = Math.max(entry.last, r.timestamp);
    byReason.set(reason, entry);
  }
  const recent = [...records].sort((a, b) => b.timestamp - a.timestamp).slice(0, options.limit);
  if (options.json) {
    io.out(
      JSON.stringify({
        total: records.length,
        byReason: Object.fromEntries([...byReason].map(([reason, e]) => [reason, e.count])),
        recent: recent.map((r) => ({
          position: r.position,
          time: r.timestamp,
          key: r.key,
          ...deadLetterInfo(r.headers),
        })),
      }),
    );
    return 0;
  }
  io.out(`${STREAMS.dlq} on ${where(config)}: ${records.length} dead letter(s)`);
  if (records.length === 0) return 0;
  const reasons = new Table({ head: ['reason', 'count', 'last dead-lettered'] });
  for (const [reason, e] of [...byReason].sort((a, b) => b[1].count - a[1].count)) {
    reasons.push([reason, e.count, iso(e.last)]);
  }
  io.out(reasons.toString());
  io.out(`most recent ${recent.length}:`);
  const table = new Table({ head: ['position', 'time', 'reason', 'key', 'detail'] });
  for (const r of recent) {
    const info = deadLetterInfo(r.headers);
    table.push([r.position, iso(r.timestamp), info.reason, r.key, truncate(info.detail, 60)]);
  }
  io.out(table.toString());
  io.out(
    '`iot-ingest dlq show <position>` shows one in full; `iot-ingest dlq replay --reason <code>` replays.',
  );
  return 0;
}

function show(record: StoredRecord, io: DlqOutput): void {
  const info = deadLetterInfo(record.headers);
  io.out(`position   ${record.position}`);
  io.out(`time       ${iso(record.timestamp)}`);
  io.out(`key        ${record.key}`);
  io.out(`reason     ${info.reason}`);
  io.out(`detail     ${info.detail}`);
  io.out(`origin     ${info.origin}`);
  io.out('headers');
  for (const [name, value] of Object.entries(info.originalHeaders)) io.out(`  ${name}: ${value}`);
  io.out(`bytes      ${record.value.length} (${detectWireFormat(record.value)})`);
  io.out(hexDump(record.value, 512));
  io.out('decoded');
  io.out(decoded(record.value));
}

/** The payload as JSON, or as readings decoded with the schema registry, or why neither works. */
function decoded(bytes: Buffer): string {
  const format = detectWireFormat(bytes);
  try {
    const registry = SchemaRegistry.load();
    if (format === 'container') return JSON.stringify(decodeReadingContainer(bytes, registry), null, 2);
    if (format === 'json') return JSON.stringify(JSON.parse(bytes.toString('utf8')), null, 2);
    return JSON.stringify(decodeReading(bytes, registry), null, 2);
  } catch (error) {
    return `  (cannot decode: ${errorMessage(error)})`;
  }
}

async function replay(
  config: PipelineConfig,
  records: StoredRecord[],
  dryRun: boolean,
  io: DlqOutput,
): Promise<number> {
  const counts = new Map<string, number>();
  for (const r of records) {
    const { reason } = deadLetterInfo(r.headers);
    counts.set(reason, (counts.get(reason) ?? 0) + 1);
  }
  const summary = [...counts].map(([reason, n]) => `${reason} ${n}`).join(', ') || 'none';
  if (dryRun || records.length === 0) {
    io.out(
      `${dryRun ? 'would replay' : 'nothing to replay:'} ${records.length} dead letter(s) into ${STREAMS.raw} (${summary})`,
    );
    return 0;
  }
  const { createProducer } = await import('../lib/streams/create-producer.ts');
  const producer = await createProducer(config);
  try {
    await producer.send(STREAMS.raw, records.map(replayRecord));
  } finally {
    await producer.close();
  }
  io.out(`replayed ${records.length} dead letter(s) into ${STREAMS.raw} on ${where(config)} (${summary})`);
  return 0;
}

export function since(value: string, now: number = Date.now()): number {
  const relative = /^(\d+(?:\.\d+)?)(s|m|h|d)$/.exec(value);
  if (relative) {
    const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[relative[2] as 's' | 'm' | 'h' | 'd'];
    return now - Number(relative[1]) * unit;
  }
  const at = Date.parse(value);
  if (Number.isNaN(at))
    throw new InvalidArgumentError('expected an ISO time or a duration such as 90s, 15m, 2h, 1d');
  return at;
}

function hexDump(bytes: Buffer, max: number): string {
  const lines: string[] = [];
  const end = Math.min(bytes.length, max);
  for (let offset = 0; offset < end; offset += 16) {
    const row = bytes.subarray(offset, Math.min(offset + 16, end));
    const hex = [...row].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    const text = [...row].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    lines.push(`  ${offset.toString(16).padStart(6, '0')}  ${hex.padEnd(47)}  ${text}`);
  }
  if (bytes.length > max) lines.push(`  ... ${bytes.length - max} more bytes`);
  return lines.join('\n');
}

function iso(ms: number): string {
  return ms > 0 ? new Date(ms).toISOString() : '-';
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
