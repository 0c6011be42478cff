/**
 * Hot-path bench: records per second on one core, in process, no network, for
 *
 *  - the floor: `JSON.parse` of the same readings as JSON text (what a JSON pipeline pays just to
 *    read them);
 *  - the fused hot path: Avro single-object bytes as the bridge wrote them -> validate (decode,
 *    writer-schema resolution, checks) -> detect (the detect function's engine) -> store encoding
 *    (the staging columns DuckDbStore appends, minus DuckDB), with a breakdown by stage;
 *  - the three-mapping topology: the validate, detect and write handlers invoked with the Lambda
 *    events the runner builds (envelope, base64), telemetry.valid kept in memory, the write
 *    handler's store doing the same store encoding;
 *  - Powertools Logger + Metrics (EMF) once per batch, as the functions do on Lambda, to show what
 *    it costs against the batch it reports on.
 *
 *   npx tsx bench/hot-path.ts [--quick] [--batch 500]
 *
 * Each path is measured in a process of its own, holding its own copy of the workload, as a
 * runner process runs one path. In one shared process the paths measured first shaped the JIT's
 * type feedback and V8's object layouts for themselves (a decode-only loop sized the decoded
 * readings without room for `receivedAt`, so the fused path then gave every reading an
 * out-of-object property array): about 30 ns a reading on the fused path. The processes load the
 * TypeScript as `iot-ingest` does (TS_LOADER, bench/lib/child-bench.ts); under the `tsx` command
 * the fused path ran about 40 ns a reading slower. The parent interleaves the rounds (one
 * measurement of each path per round), so a busy moment on the machine hits them alike, and keeps
 * each path's best round.
 *
 * Writes bench/results/hot-path-<date>.json and prints a table. `hotPathVsJsonParse` is the fused
 * rate over the JSON.parse rate; the goal is at least 1.4.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { Console } from 'node:console';
import { createWriteStream } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import Table from 'cli-table3';
import { Command, Option } from 'commander';
import { DetectEngine } from '../functions/detect/engine.ts';
import { createDetectHandler } from '../functions/detect/handler.ts';
import { wrapEnvelope } from '../functions/lib/codec/envelope.ts';
import { decodeReading, encodeReading } from '../functions/lib/codec/reading-codec.ts';
import { SchemaRegistry } from '../functions/lib/codec/schema-registry.ts';
import { type KinesisIn, kinesisEvent } from '../functions/lib/events/build-events.ts';
import { fromKinesisIn } from '../functions/lib/events/source-records.ts';
import type { SourceRecord } from '../functions/lib/events/types.ts';
import { PowertoolsObserver } from '../functions/lib/metrics.ts';
import { HEADER, type Reading } from '../functions/lib/reading.ts';
import type { StoredReading, TelemetryStore, WriteResult } from '../functions/lib/store/types.ts';
import {
  type OutRecord,
  STREAMS,
  type StreamName,
  type StreamProducer,
} from '../functions/lib/streams/types.ts';
import { FusedPipeline } from '../functions/runner/fused.ts';
import { DEFAULT_VALIDATE_OPTIONS, type ValidationSink, validateEach } from '../functions/validate/core.ts';
import { createValidateHandler } from '../functions/validate/handler.ts';
import { createWriteHandler } from '../functions/write/handler.ts';
import { DeviceSignal } from '../simulators/signals.ts';
import { saveBenchResult, TS_LOADER } from './lib/child-bench.ts';
import { ratePerSecond } from './lib/measure.ts';

const DEVICES = 100;

/**
 * The store encoding: readings into the staging columns DuckDbStore appends (device, ts, seq, five
 * metrics, tags as JSON, received-at), into reused typed arrays, so what is measured is the row
 * format, not DuckDB.
 */
class StagingColumns {
  readonly device: string[];
  readonly numbers: Float64Array;
  readonly tags: (string | null)[];
  constructor(capacity: number) {
    this.device = new Array(capacity);
    this.numbers = new Float64Array(capacity * 8);
    this.tags = new Array(capacity);
  }
  encode(readings: readonly StoredReading[]): number {
    const n = this.numbers;
    for (let i = 0; i < readings.length; i++) {
      const r = readings[i]!;
      const o = i * 8;
      this.device[i] = r.deviceId;
      n[o] = r.ts;
      n[o + 1] = r.seq;
      n[o + 2] = r.temperature ?? Number.NaN;
      n[o + 3] = r.humidity ?? Number.NaN;
      n[o + 4] = r.pressure ?? Number.NaN;
      n[o + 5] = r.vibration ?? Number.NaN;
      n[o + 6] = r.battery ?? Number.NaN;
      n[o + 7] = r.receivedAt ?? Number.NaN;
      this.tags[i] = r.tags === null ? null : JSON.stringify(r.tags);
    }
    return readings.length;
  }
}

/** A store that only encodes the rows (the write handler's store in the topology bench). */
class EncodingStore implements TelemetryStore {
  readonly kind = 'bench';
  readonly #columns: StagingColumns;
  constructor(capacity: number) {
    this.#columns = new StagingColumns(capacity);
  }
  async writeReadings(readings: readonly StoredReading[]): Promise<WriteResult> {
    return { written: this.#columns.encode(readings), duplicates: 0 };
  }
  async close(): Promise<void> {}
}

/** telemetry.valid and the other streams, in memory: the last batch sent to each. */
class LastBatchProducer implements StreamProducer {
  readonly kind = 'kinesis' as const;
  readonly last = new Map<StreamName, readonly OutRecord[]>();
  async send(stream: StreamName, records: readonly OutRecord[]): Promise<void> {
    this.last.set(stream, records);
  }
  async close(): Promise<void> {}
}

interface Workload {
  readings: Reading[];
  json: string[];
  /** The bridge's records: Avro single-object payloads with mqtt-topic and received-at. */
  records: SourceRecord[];
  /** The same as Kinesis records with the envelope, as the validate mapping reads them. */
  raw: KinesisIn[];
}

function workload(registry: SchemaRegistry, count: number): Workload {
  const start = Date.now() - 3_600_000;
  const signals = Array.from(
    { length: DEVICES },
    (_, i) => new DeviceSignal(`dev-${String(i).padStart(5, '0')}`, i + 1, start),
  );
  const readings: Reading[] = [];
  for (let i = 0; i < count; i++) {
    // One reading per device per second, in time order: detection sees each device's series.
    readings.push(signals[i % DEVICES]!.next(start + Math.floor(i / DEVICES) * 1_000));
  }
  const raw: KinesisIn[] = readings.map((r, i) => {
    const headers = { [HEADER.mqttTopic]: `telemetry/${r.deviceId}`, [HEADER.receivedAt]: String(r.ts + 5) };
    return {
      streamName: STREAMS.raw,
      shardId: 'shardId-000000000000',
      partitionKey: r.deviceId,
      sequenceNumber: String(1_000_000 + i),
      data: wrapEnvelope(headers, encodeReading(r, registry)),
      arrivedAt: r.ts + 5,
    };
  });
  return { readings, json: readings.map((r) => JSON.stringify(r)), records: raw.map(fromKinesisIn), raw };
}

/** Walks the workload batch by batch; starts over (with fresh detector state, via onWrap) at the end. */
class Cursor {
  #at = 0;
  constructor(
    private readonly size: number,
    private readonly batch: number,
    private readonly onWrap: () => void,
  ) {}
  next(): [number, number] {
    if (this.#at + this.batch > this.size) {
      this.#at = 0;
      this.onWrap();
    }
    const from = this.#at;
    this.#at += this.batch;
    return [from, this.#at];
  }
}

const NOOP_SINK: ValidationSink = { accept() {}, reject() {} };

const PATHS = [
  'jsonParse',
  'avroDecode',
  'validate',
  'validateStore',
  'validateDetect',
  'fusedHotPath',
  'threeMappingTopology',
] as const;
type PathName = (typeof PATHS)[number];

interface Sizes {
  quick: boolean;
  batch: number;
}

/** Readings in each path's workload. */
function workloadSize(quick: boolean): number {
  return quick ? 50_000 : 200_000;
}

/** One path's measurement, on its own workload: records per second over `ms`, on fresh state. */
function measurer(name: PathName, { quick, batch }: Sizes): () => number | Promise<number> {
  const ms = quick ? 400 : 1_000;
  const registry = SchemaRegistry.load();
  const size = workloadSize(quick);
  const w = workload(registry, size);
  let sink = 0;
  const observable = () => {
    if (sink === -1) console.log(sink); // keeps the work observable
  };

  const sync = (work: () => (from: number, to: number) => void) => () => {
    let step = work();
    const cursor = new Cursor(size, batch, () => {
      step = work(); // the data starts over: fresh detector state, so no reading is seen twice
    });
    const rate = ratePerSecond(
      () => {
        const [from, to] = cursor.next();
        step(from, to);
      },
      batch,
      ms,
    );
    observable();
    return rate;
  };
  const fusedPath = (detect: boolean, store: boolean) =>
    sync(() => {
      const pipeline = new FusedPipeline(registry, detect ? new DetectEngine() : { observe() {} });
      const columns = new StagingColumns(batch);
      return (from, to) => {
        const result = pipeline.run(w.records.slice(from, to));
        sink += store ? columns.encode(result.readings) : result.readings.length;
      };
    });
  switch (name) {
    case 'jsonParse':
      return sync(() => (from, to) => {
        for (let i = from; i < to; i++) sink += (JSON.parse(w.json[i]!) as Reading).seq;
      });
    case 'avroDecode':
      return sync(() => (from, to) => {
        for (let i = from; i < to; i++) sink += decodeReading(w.records[i]!.value, registry).seq;
      });
    case 'validate':
      return sync(() => (from, to) => {
        validateEach(w.records.slice(from, to), registry, DEFAULT_VALIDATE_OPTIONS, NOOP_SINK);
      });
    case 'validateStore':
      return fusedPath(false, true);
    case 'validateDetect':
      return fusedPath(true, false);
    case 'fusedHotPath':
      return fusedPath(true, true);
    case 'threeMappingTopology':
      // The three mappings, each invoked with the Lambda event the runner builds for it.
      return async () => {
        const handlers = () => {
          const producer = new LastBatchProducer();
          return {
            producer,
            validate: createValidateHandler({ producer, registry }),
            detect: createDetectHandler({ producer, registry }),
            write: createWriteHandler({ store: new EncodingStore(batch), registry }),
          };
        };
        let h = handlers();
        const cursor = new Cursor(size, batch, () => {
          h = handlers();
        });
        return ratePerSecondAsync(
          async () => {
            const [from, to] = cursor.next();
            await h.validate(kinesisEvent(w.raw.slice(from, to)));
            const valid = h.producer.last.get(STREAMS.valid) ?? [];
            const validEvent = kinesisEvent(
              valid.map((r, i) => ({
                streamName: STREAMS.valid,
                shardId: 'shardId-000000000000',
                partitionKey: r.key,
                sequenceNumber: String(2_000_000 + from + i),
                data: wrapEnvelope(r.headers ?? {}, r.value),
                arrivedAt: Date.now(),
              })),
            );
            await h.detect(validEvent);
            await h.write(validEvent);
          },
          batch,
          ms,
        );
      };
  }
}

/** A forked process measuring one path on request: `measure()` returns one round's rate. */
class PathProcess {
  readonly #child: ChildProcess;
  /** Resolves once the process has built its workload and waits to be asked. */
  readonly ready: Promise<void>;
  #pending: { resolve: (rate: number) => void; reject: (e: Error) => void } | undefined;

  constructor(
    readonly name: PathName,
    sizes: Sizes,
  ) {
    const args = [
      '--measure-path',
      name,
      '--batch',
      String(sizes.batch),
      ...(sizes.quick ? ['--quick'] : []),
    ];
    this.#child = fork(fileURLToPath(import.meta.url), args, {
      execArgv: TS_LOADER,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let readyResolve: () => void = () => {};
    let readyReject: (e: Error) => void = () => {};
    this.ready = new Promise((resolve, reject) => {
      readyResolve = resolve;
      readyReject = reject;
    });
    this.#child.on('message', (message: { ready?: true; rate?: number }) => {
      if (message.ready) readyResolve();
      else if (message.rate !== undefined) {
        const pending = this.#pending;
        this.#pending = undefined;
        pending?.resolve(message.rate);
      }
    });
    this.#child.on('exit', (code, signal) => {
      const error = new Error(
        `bench/hot-path.ts: the ${name} process exited (${signal ?? code}) before it finished`,
      );
      readyReject(error);
      this.#pending?.reject(error);
    });
  }

  async measure(): Promise<number> {
    await this.ready;
    return new Promise((resolve, reject) => {
      this.#pending = { resolve, reject };
      this.#child.send('measure');
    });
  }

  close(): void {
    this.#child.removeAllListeners('exit');
    this.#child.kill();
  }
}

/** Child mode: build the path's workload, then measure one round per request from the parent. */
async function servePath(name: PathName, sizes: Sizes): Promise<void> {
  const send = (message: unknown) => process.send?.(message);
  const measure = measurer(name, sizes);
  process.on('message', async () => send({ rate: await measure() }));
  process.on('disconnect', () => process.exit(0));
  send({ ready: true });
}

async function main(): Promise<void> {
  const program = new Command('bench/hot-path.ts')
    .option('--quick', 'short runs (for a smoke test)')
    .option('--batch <n>', 'records per batch', (v) => Number.parseInt(v, 10), 500)
    .addOption(new Option('--measure-path <name>', 'internal: measure one path for the parent').hideHelp())
    .parse(process.argv);
  const options = program.opts<{ quick?: boolean; batch: number; measurePath?: PathName }>();
  const batch = options.batch;
  const sizes: Sizes = { quick: options.quick === true, batch };
  if (options.measurePath !== undefined) return servePath(options.measurePath, sizes);
  const runs = options.quick ? 1 : 5;
  const processes = PATHS.map((name) => new PathProcess(name, sizes));
  // Rounds interleave the paths, so a busy moment on the machine hits them alike; best of the rounds.
  const best: Partial<Record<PathName, number>> = {};
  try {
    // Every process first builds its workload; measuring while others still build would share the cores.
    await Promise.all(processes.map((p) => p.ready));
    for (let round = 0; round < runs; round++) {
      for (const p of processes) best[p.name] = Math.max(best[p.name] ?? 0, await p.measure());
    }
  } finally {
    for (const p of processes) p.close();
  }
  const jsonParse = best.jsonParse!;
  const decodeOnly = best.avroDecode!;
  const validateOnly = best.validate!;
  const validateStore = best.validateStore!;
  const validateDetect = best.validateDetect!;
  const fused = best.fusedHotPath!;
  const topology = best.threeMappingTopology!;

  const observerUsPerBatch = await powertoolsCostPerBatch(batch, options.quick ? 2_000 : 10_000);

  const perRecordNs = (rate: number) => 1e9 / rate;
  const results = {
    date: new Date().toISOString(),
    command: `npx tsx bench/hot-path.ts${options.quick ? ' --quick' : ''}${batch !== 500 ? ` --batch ${batch}` : ''}`,
    machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version },
    oneCore: true,
    processPerPath: true,
    batch,
    readings: workloadSize(sizes.quick),
    devices: DEVICES,
    detector: 'DetectEngine (functions/detect/engine.ts), built-in profiles',
    perSecond: {
      jsonParse: Math.round(jsonParse),
      avroDecode: Math.round(decodeOnly),
      validate: Math.round(validateOnly),
      validateStoreEncoding: Math.round(validateStore),
      validateDetect: Math.round(validateDetect),
      fusedHotPath: Math.round(fused),
      threeMappingTopology: Math.round(topology),
    },
    nsPerRecord: {
      jsonParse: perRecordNs(jsonParse),
      avroDecode: perRecordNs(decodeOnly),
      validateChecks: perRecordNs(validateOnly) - perRecordNs(decodeOnly),
      // receivedAt from the record's header, collecting the batch, the staging columns
      collectAndStoreEncoding: perRecordNs(validateStore) - perRecordNs(validateOnly),
      detect: perRecordNs(fused) - perRecordNs(validateStore),
      fusedHotPath: perRecordNs(fused),
      threeMappingTopology: perRecordNs(topology),
    },
    powertools: {
      usPerBatch: observerUsPerBatch,
      nsPerRecordAtBatch: (observerUsPerBatch * 1000) / batch,
    },
    hotPathVsJsonParse: fused / jsonParse,
    hotPathWithoutDetectVsJsonParse: validateStore / jsonParse,
    topologyVsJsonParse: topology / jsonParse,
    goal: { hotPathVsJsonParse: 1.4, met: fused / jsonParse >= 1.4 },
  };

  const file = saveBenchResult('hot-path', results);

  const table = new Table({
    head: ['path (one core, a process each)', 'records/s', 'ns/record', 'vs JSON.parse'],
  });
  const row = (name: string, rate: number) => [
    name,
    Math.round(rate).toLocaleString('en-US'),
    perRecordNs(rate).toFixed(0),
    `${(rate / jsonParse).toFixed(2)}x`,
  ];
  table.push(
    row('JSON.parse (floor)', jsonParse),
    row('avro decode', decodeOnly),
    row('validate (decode + resolve + checks)', validateOnly),
    row('validate + store encoding (no detect)', validateStore),
    row('validate + detect', validateDetect),
    row('fused: validate + detect + store encoding', fused),
    row('three mappings (Lambda events, in memory)', topology),
  );
  console.log(table.toString());
  console.log(
    `Powertools Logger + Metrics (EMF) per batch of ${batch}: ${observerUsPerBatch.toFixed(1)} µs ` +
      `(${results.powertools.nsPerRecordAtBatch.toFixed(1)} ns per record)`,
  );
  console.log(
    `hotPathVsJsonParse ${results.hotPathVsJsonParse.toFixed(2)} (goal 1.4: ${results.goal.met ? 'met' : 'NOT met'}); ` +
      `${results.machine.cpu}, node ${process.version}`,
  );
  console.log(`wrote ${file}`);
}

/** What the functions' once-per-batch Powertools reporting costs, its output sent to /dev/null. */
async function powertoolsCostPerBatch(batch: number, iterations: number): Promise<number> {
  const [{ Logger }, { Metrics, MetricUnit }] = await Promise.all([
    import('@aws-lambda-powertools/logger'),
    import('@aws-lambda-powertools/metrics'),
  ]);
  const devNull = new Console({
    stdout: createWriteStream('/dev/null'),
    stderr: createWriteStream('/dev/null'),
  });
  const logger = new Logger({ serviceName: 'bench', logLevel: 'INFO' });
  const metrics = new Metrics({
    namespace: 'Bench',
    serviceName: 'bench',
    defaultDimensions: { function: 'validate' },
  });
  (logger as unknown as { console: Console }).console = devNull;
  (metrics as unknown as { console: Console }).console = devNull;
  const observer = new PowertoolsObserver(logger, metrics, MetricUnit.Count, MetricUnit.Milliseconds);
  const report = {
    records: batch,
    counts: { valid: batch - 2, rejected: 2 },
    reasons: { SCHEMA_UNKNOWN: 2 },
    durationMs: 1.5,
  };
  for (let i = 0; i < 200; i++) observer.batch(report);
  const start = performance.now();
  for (let i = 0; i < iterations; i++) observer.batch(report);
  return ((performance.now() - start) * 1000) / iterations;
}

async function ratePerSecondAsync(fn: () => Promise<void>, batch: number, ms: number): Promise<number> {
  const warmUntil = performance.now() + Math.min(300, ms / 3);
  while (performance.now() < warmUntil) await fn();
  let calls = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    await fn();
    calls++;
    now = performance.now();
  }
  return (calls * batch * 1000) / (now - start);
}

await main();
