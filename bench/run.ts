import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { measureStreamCeiling } from './ceilings.ts';
import type { E2eOptions, E2eResult } from './e2e.ts';
import { type BridgeBatching, batchingArgs } from './lib/bridge-process.ts';
import { benchResultFile, runChildBench } from './lib/child-bench.ts';
import { type Bar, barChartSvg, flatten, formatNumber } from './lib/report.ts';
import { runMicro } from './micro.ts';

export const SECTIONS = [
  'micro',
  'hotpath',
  'ceilings',
  'bridge',
  'e2e',
  'gateway',
  'detect',
  'store',
  'bundles',
] as const;
/**
 * The bridge's linger in the Kafka end-to-end runs. The librdkafka mock answers a fetch with one
 * produce batch per partition (real brokers return up to max.partition.fetch.bytes, many batches),
 * so with the bridge's default 10 ms the runner got ~12-record batches from the mock and the bench
 * measured the mock's fetch loop (1,500/s) rather than the pipeline. Measured with bench/e2e.ts
 * (fused, 15 s steps, 2026-11-22, when a step counted as kept up if it drained within a quarter of
 * its length; the 1 s allowance of 2026-11-23 puts every rate here lower): at 25 ms 35,000/s did
 * not keep up; at 50 ms 30,000/s did and 35,000/s did once in three runs (p99 at 15,000/s:
 * 210-244 ms); at 75 ms 35,000/s kept up with p99 248 ms at 17,500/s; at 100 ms 35,000/s kept up
 * (p99 259-340 ms at 17,500/s), and the three mappings and gateway mode did best (mappings at
 * 50 ms: 8,000/s against 12,000/s at 100 ms).
 * Kinesis runs keep the bridge's default.
 */
const KAFKA_BENCH_LINGER_MS = 100;
/**
 * For the same reason, the records per produce batch in the Kafka runs: a fetch from the mock
 * returns a batch's share of each partition, so the bridge's default 2,000 (500 a partition here)
 * capped each fetch once 100 ms of readings exceeded it (above 20,000/s). Measured with bench/e2e.ts
 * (fused, 15 s steps, linger 100 ms, 2026-11-23): with 2,000, 30,000/s drained in 1.0-2.0 s (the
 * runner's lag grew to 8,600 records while it used half a core); with 8,000, 30,000/s drained in
 * 0.2 s and 35,000/s in 1.2 s. 8,000 readings of ~130 bytes stay within the batch's 1 MiB.
 */
const KAFKA_BENCH_BRIDGE: BridgeBatching = { lingerMs: KAFKA_BENCH_LINGER_MS, maxBatchRecords: 8_000 };
/**
 * The runner's batching window in the Kafka runs, which on Kafka is how long a fetch that finds
 * nothing is held. A broker answers such a fetch as soon as a record arrives; the librdkafka mock
 * holds it for the whole wait regardless (rdkafka_mock_handlers.c says so), so with the topology's
 * 50 ms a batch the bridge produced just after an empty fetch waited up to 50 ms more: latency the
 * mock adds, not the pipeline. Measured with bench/e2e.ts --latency-at 17500 (fused, fresh
 * pipeline, two runs each, 2026-11-23): at 50 ms p99 199 and 200 ms (bridge to store p50 111 and
 * 106, p99 181 and 180); at 10 ms p99 157 and 184 ms (bridge to store p50 85 and 88, p99 143 and 149).
 */
const KAFKA_BENCH_RUNNER_WINDOW_MS = 10;
/**
 * Brokers in the Kafka mock cluster of the Kafka runs and the Kafka ceiling. kafkajs fetches each
 * broker's partitions in one request and fetches again only when every batch of it is done, and
 * the mock returns one produce batch per partition per fetch; with one broker the runner therefore
 * worked in lockstep: fetch, validate every partition's batch, wait for the store's one write of
 * them, fetch again, with the store idle while the runner worked and the reverse (store busy 55%,
 * runner main thread 28%, machine 145% of 200% at 150,000 gateway readings/s, 2026-11-23, and a
 * backlog growing by 10,000 readings/s). A cluster as deployed has three brokers or more (a
 * replication factor of 3 needs them), and with three the fetches of different brokers overlap
 * with each other's writes. bench/e2e.ts gateway runs (15 s steps, DuckDB on 1 thread, 2026-11-23):
 * with one broker 175,000/s did not keep up (drain 1,067 ms); with three it did in both runs
 * (drains 114 and 126 ms), and 200,000/s in one (767 ms; the other drained in 1,117 ms). One
 * reading a message, the bridge's produce goes to three brokers instead of one: at 32,500/s one
 * broker kept up in 2 runs of 2 and three in 1 of 2 (the other: the simulator was held back,
 * 27,883/s), alternating, so three may cost that path a little.
 */
const KAFKA_BENCH_BROKERS = 3;
const KAFKA_BENCH = {
  bridge: KAFKA_BENCH_BRIDGE,
  runnerWindowMs: KAFKA_BENCH_RUNNER_WINDOW_MS,
  kafkaBrokers: KAFKA_BENCH_BROKERS,
};
/**
 * The runner's DuckDB threads in every end-to-end run. Simulator, broker, bridge, stream and runner
 * share this machine's cores; DuckDB's writes take as long on one thread as on two, for 20-25% less
 * CPU (DuckDbSettings.threads), which the rest of the pipeline then has.
 */
const E2E_RUNNER = { duckdbThreads: 1 };

/** What `--quick` runs: enough to catch a lost reading, in under a minute. */
export const QUICK_SECTIONS: readonly Section[] = ['micro', 'e2e', 'gateway'];
export type Section = (typeof SECTIONS)[number];

export interface BenchOptions {
  quick: boolean;
  sections: readonly Section[];
  outDir: string;
  log: (line: string) => void;
}

export interface BenchOutcome {
  results: Record<string, unknown>;
  jsonPath: string;
  /** Readings acknowledged to a device but missing from the store, over every end-to-end run. */
  lost: number;
}

/**
 * One command, one run, on this machine: micro benchmarks, the stream ceilings, end to end over
 * each stream. Writes bench/results/<date>-<host>.json, a Markdown summary and an SVG chart.
 */
export async function runBench(options: BenchOptions): Promise<BenchOutcome> {
  const { quick, log } = options;
  const want = (s: Section) => options.sections.includes(s);
  const results: Record<string, unknown> = {
    date: new Date().toISOString(),
    host: os.hostname(),
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? 'unknown',
      memoryBytes: os.totalmem(),
      node: process.version,
    },
    quick,
  };
  let lost = 0;
  let lostToRetention = 0;
  /** Every end-to-end run by name, for the memory figures. */
  const runs: Record<string, E2eResult> = {};
  /** Records an end-to-end run and adds its lost readings, apart from those the broker's retention deleted. */
  const tally = (name: string, run: E2eResult): void => {
    runs[name] = run;
    lost += run.lostTotal;
    lostToRetention += run.lostToRetentionTotal;
  };

  if (want('micro')) {
    log('micro: codec vs JSON, one core');
    const micro = runMicro(quick);
    results.micro = micro;
    log(
      `  avro decode ${fmt(micro.avroDecodePerSec)}/s vs JSON.parse ${fmt(micro.jsonParsePerSec)}/s (x${micro.decodeVsJsonParse.toFixed(2)})`,
    );
  }

  if (want('hotpath')) {
    log('hot path: fused validate + detect + store encoding, one core (bench/hot-path.ts)');
    const hot = await runChildBench('hot-path', quick ? ['--quick'] : [], log);
    results.hotPath = hot;
    results.hotPathVsJsonParse = hot.hotPathVsJsonParse;
  }

  const ceilings: Record<string, number> = {};
  if (want('ceilings')) {
    for (const stream of ['kafka', 'kinesis'] as const) {
      log(`ceiling: raw produce into ${stream}`);
      const c = await measureStreamCeiling(stream, quick ? 2 : 8, KAFKA_BENCH_BROKERS);
      ceilings[`${stream}ProducePerSec`] = c.recordsPerSec;
      log(`  ${fmt(c.recordsPerSec)} records/s`);
    }
    results.ceilings = ceilings;
  }

  if (want('bridge')) {
    log('bridge vs broker ceiling: QoS 1, acks=all, PUBACK after the write (bench/bridge.ts)');
    const bridge = await runChildBench('bridge', quick ? ['--quick'] : [], log);
    results.bridge = bridge;
    results.bridgeCeilingRatio = bridge.bridgeCeilingRatio;
    const ceiling = bridge.ceiling as { messagesPerSecond?: number } | undefined;
    if (ceiling?.messagesPerSecond) ceilings.brokerQos1PerSec = ceiling.messagesPerSecond;
  }

  const e2e: Record<string, E2eResult> = {};
  if (want('e2e')) {
    for (const stream of ['kafka', 'kinesis'] as const) {
      log(
        `end to end over ${stream} (fused): simulator -> mosquitto -> bridge -> ${stream} -> validate+detect+write -> DuckDB`,
      );
      const rates = quick
        ? [1_000]
        : stream === 'kafka'
          ? [5_000, 10_000, 15_000, 20_000, 25_000, 30_000, 35_000, 40_000]
          : [2_000, 5_000, 8_000, 11_000, 14_000, 17_000, 20_000];
      e2e[stream] = await runE2eInChild({
        quick,
        stream,
        rates,
        stepSeconds: quick ? 4 : 15,
        refineSteps: quick ? 0 : 2,
        ...(stream === 'kafka' ? KAFKA_BENCH : {}),
        ...E2E_RUNNER,
        log,
      });
      tally(stream, e2e[stream]);
    }
    if (!quick) {
      // The three mappings as deployed on AWS, each record produced and consumed once more per hop.
      log('end to end over kafka with the three mappings (validate, detect, write) instead of fused');
      e2e.kafkaMappings = await runE2eInChild({
        quick,
        stream: 'kafka',
        mode: 'mappings',
        rates: [1_000, 2_000, 3_000, 5_000, 8_000, 12_000, 16_000],
        ...KAFKA_BENCH,
        ...E2E_RUNNER,
        stepSeconds: 15,
        refineSteps: 2,
        log,
      });
      tally('kafkaMappings', e2e.kafkaMappings);
    }
    results.e2e = e2e;
    const kafka = e2e.kafka;
    if (kafka?.latency) results.p99LatencyMs = kafka.latency.p99Ms;
    // The lower of the broker's own QoS 1 rate and the stream's raw produce rate, as measured here.
    const floor = Math.min(
      ...['kafkaProducePerSec', 'brokerQos1PerSec'].map((k) => ceilings[k] ?? Number.POSITIVE_INFINITY),
    );
    if (kafka && Number.isFinite(floor)) results.e2eCeilingRatio = kafka.maxSustainedRate / floor;
  }

  if (want('gateway')) {
    log('gateway mode end to end over kafka: 100 readings per message');
    const rates = quick ? [5_000] : [50_000, 100_000, 150_000, 200_000, 250_000, 300_000];
    const gateway = await runE2eInChild({
      quick,
      stream: 'kafka',
      rates,
      stepSeconds: quick ? 4 : 10,
      refineSteps: quick ? 0 : 2,
      readingsPerMessage: 100,
      ...KAFKA_BENCH,
      ...E2E_RUNNER,
      log,
    });
    tally('gateway', gateway);
    results.gateway = gateway;
    results.gatewayReadingsPerSec = gateway.maxSustainedRate;
  }

  if (want('detect')) {
    log('detection quality against the simulator labels (bench/detect.ts)');
    const detect = await runChildBench('detect', quick ? ['--devices', '20', '--days', '0.25'] : [], log);
    results.detectBench = detect;
    const kinds = ((detect.quality as { kinds?: Record<string, number | string>[] })?.kinds ?? []).map(
      (k) => [k.kind, { precision: k.precision, recall: k.recall, medianTtdMs: k.medianTtdMs }],
    );
    results.detection = {
      ...Object.fromEntries(kinds),
      falseAlertsPerDeviceDay: (detect.clean as { falsePerDeviceDay?: number })?.falsePerDeviceDay,
      readingsPerSecPerCore: (detect.throughput as { readingsPerSecond?: number })?.readingsPerSecond,
    };
    const memory = detect.memory as { measuredBytesPerDeviceMetric?: number; devices?: number } | undefined;
    results.memory = {
      ...(results.memory as object),
      detectorBytesPerDeviceMetric: memory?.measuredBytesPerDeviceMetric,
      detectorDevices: memory?.devices,
    };
  }

  if (want('store')) {
    log('store: rows/s through the write function, 1-minute buckets over 10M readings (bench/store.ts)');
    // bench/store.ts --quick keeps its figures apart from a full run's, in store-<date>.quick.json
    results.store = await runChildBench(
      'store',
      quick ? ['--quick'] : [],
      log,
      quick ? { resultFile: benchResultFile('store', '.quick') } : {},
    );
  }

  if (want('bundles')) {
    log('Lambda bundles: size and cold start (bench/bundles.ts)');
    results.bundles = await runChildBench('bundles', quick ? ['--runs', '2'] : [], log);
  }

  const rss: Record<string, number> = {};
  for (const [name, r] of Object.entries(runs)) {
    if (r.bridgePeakRssBytes !== undefined) rss[`${name}BridgePeakRssBytes`] = r.bridgePeakRssBytes;
    rss[`${name}RunnerPeakRssBytes`] = r.runnerPeakRssBytes;
  }
  if (Object.keys(rss).length > 0) results.memory = { ...(results.memory as object), ...rss };

  results.lostReadings = lost;
  results.lostToBrokerRetention = lostToRetention;
  fs.mkdirSync(options.outDir, { recursive: true });
  const stem = `${new Date().toISOString().slice(0, 10)}-${os.hostname()}${quick ? '-quick' : ''}`;
  const jsonPath = path.join(options.outDir, `${stem}.json`);
  fs.writeFileSync(jsonPath, `${JSON.stringify(results, null, 2)}\n`);
  fs.writeFileSync(path.join(options.outDir, `${stem}.md`), summary(results));
  fs.writeFileSync(path.join(options.outDir, `${stem}.svg`), chart(results));
  return { results, jsonPath, lost };
}

function summary(results: Record<string, unknown>): string {
  const lines = [
    `# iot-ingest bench, ${results.date as string}`,
    '',
    `Machine: ${JSON.stringify(results.machine)}`,
    '',
  ];
  lines.push('| figure | value |', '| --- | --- |');
  for (const [key, value] of flatten(results)) {
    if (key.startsWith('machine') || key === 'date' || key === 'host') continue;
    lines.push(`| ${key} | ${formatNumber(value)} |`);
  }
  return `${lines.join('\n')}\n`;
}

function chart(results: Record<string, unknown>): string {
  const throughput: Bar[] = [];
  const latency: Bar[] = [];
  const micro = results.micro as { jsonParsePerSec: number; avroDecodePerSec: number } | undefined;
  if (micro)
    throughput.push(
      { label: 'JSON.parse (floor)', value: micro.jsonParsePerSec, unit: '/s' },
      { label: 'Avro decode', value: micro.avroDecodePerSec, unit: '/s' },
    );
  for (const [name, value] of Object.entries((results.ceilings as Record<string, number>) ?? {}))
    throughput.push({ label: name, value, unit: '/s' });
  for (const [stream, r] of Object.entries((results.e2e as Record<string, E2eResult>) ?? {})) {
    throughput.push({ label: `end to end ${stream}`, value: r.maxSustainedRate, unit: '/s' });
    if (r.latency) {
      latency.push(
        { label: `${stream} p50`, value: r.latency.p50Ms, unit: 'ms' },
        { label: `${stream} p99`, value: r.latency.p99Ms, unit: 'ms' },
        { label: `${stream} p99.9`, value: r.latency.p999Ms, unit: 'ms' },
      );
    }
  }
  const gateway = results.gateway as E2eResult | undefined;
  if (gateway)
    throughput.push({ label: 'gateway end to end', value: gateway.maxSustainedRate, unit: 'readings/s' });
  return barChartSvg('iot-ingest bench', [
    { name: 'Throughput (records per second)', bars: throughput },
    { name: 'Latency, device timestamp to store, at half the sustained rate', bars: latency },
  ]);
}

/**
 * One end-to-end search, then (full runs) its latency at half the sustained rate again on a fresh
 * pipeline; `latencyAfterSearch` keeps what the search's own pipeline measured.
 */
async function runE2eInChild(options: E2eOptions & { quick: boolean }): Promise<E2eResult> {
  const search = await runE2eChild(options);
  const latencyAt = search.latency?.rate;
  if (latencyAt === undefined || options.quick) return search;
  // Latency on a fresh pipeline: the search's overload steps leave theirs slower than the rate asks.
  const fresh = await runE2eChild({ ...options, rates: [latencyAt], latencyAt });
  return {
    ...search,
    latencyAfterSearch: search.latency!,
    ...(fresh.latency ? { latency: fresh.latency } : {}),
    lostTotal: search.lostTotal + fresh.lostTotal,
    lostToRetentionTotal: search.lostToRetentionTotal + fresh.lostToRetentionTotal,
  };
}

/**
 * One end-to-end run (bench/e2e.ts) in a process of its own, so the runner's peak RSS is this
 * run's alone; the bridge runs in a process of its own below it.
 */
async function runE2eChild(options: E2eOptions): Promise<E2eResult> {
  const out = path.join(os.tmpdir(), `iot-bench-e2e-${process.pid}-${Date.now()}.json`);
  const args = [
    '--stream',
    options.stream,
    '--broker',
    options.broker ?? 'mosquitto',
    '--mode',
    options.mode ?? 'fused',
    '--rates',
    options.rates.join(','),
    '--step-seconds',
    String(options.stepSeconds),
    '--readings-per-message',
    String(options.readingsPerMessage ?? 0),
    '--refine',
    String(options.refineSteps ?? 0),
    ...batchingArgs(options.bridge ?? {}, 'bridge-'),
    ...(options.runnerWindowMs !== undefined ? ['--runner-window-ms', String(options.runnerWindowMs)] : []),
    ...(options.kafkaBrokers !== undefined ? ['--kafka-brokers', String(options.kafkaBrokers)] : []),
    ...(options.duckdbThreads !== undefined ? ['--duckdb-threads', String(options.duckdbThreads)] : []),
    ...(options.latencyAt !== undefined ? ['--latency-at', String(options.latencyAt)] : []),
    '--out',
    out,
  ];
  try {
    const result = await runChildBench('e2e', args, options.log ?? (() => {}), {
      timeoutMs: 60 * 60_000,
      resultFile: out,
    });
    return result as unknown as E2eResult;
  } finally {
    fs.rmSync(out, { force: true });
  }
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export const DEFAULT_RESULTS_DIR = fileURLToPath(new URL('./results', import.meta.url));
