import { decodeReading, encodeReading } from '../functions/lib/codec/reading-codec.ts';
import { SchemaRegistry } from '../functions/lib/codec/schema-registry.ts';
import type { Reading } from '../functions/lib/reading.ts';
import { DeviceSignal } from '../simulators/signals.ts';
import { bestOf, ratePerSecond } from './lib/measure.ts';

export interface MicroResult {
  readings: number;
  jsonParsePerSec: number;
  jsonStringifyPerSec: number;
  avroDecodePerSec: number;
  avroEncodePerSec: number;
  decodeVsJsonParse: number;
  encodeVsJsonStringify: number;
  avroBytes: number;
  jsonBytes: number;
}

/** Codec decode/encode against JSON.parse/JSON.stringify of the same simulated readings, one core. */
export function runMicro(quick: boolean): MicroResult {
  const registry = SchemaRegistry.load();
  const n = 1_000;
  const readings: Reading[] = [];
  const signals = Array.from(
    { length: 100 },
    (_, i) => new DeviceSignal(`dev-${String(i).padStart(5, '0')}`, i + 1, Date.now()),
  );
  for (let i = 0; i < n; i++) readings.push(signals[i % signals.length]!.next(Date.now() + i));
  const avro = readings.map((r) => encodeReading(r, registry));
  const json = readings.map((r) => JSON.stringify(r));
  const ms = quick ? 300 : 1_500;
  const runs = quick ? 1 : 3;
  let sink = 0;
  const jsonParsePerSec = bestOf(runs, () =>
    ratePerSecond(
      () => {
        for (let i = 0; i < n; i++) sink += (JSON.parse(json[i]!) as Reading).seq;
      },
      n,
      ms,
    ),
  );
  const avroDecodePerSec = bestOf(runs, () =>
    ratePerSecond(
      () => {
        for (let i = 0; i < n; i++) sink += decodeReading(avro[i]!, registry).seq;
      },
      n,
      ms,
    ),
  );
  const jsonStringifyPerSec = bestOf(runs, () =>
    ratePerSecond(
      () => {
        for (let i = 0; i < n; i++) sink += JSON.stringify(readings[i]).length;
      },
      n,
      ms,
    ),
  );
  const avroEncodePerSec = bestOf(runs, () =>
    ratePerSecond(
      () => {
        for (let i = 0; i < n; i++) sink += encodeReading(readings[i]!, registry).length;
      },
      n,
      ms,
    ),
  );
  if (sink === -1) console.log(sink); // keep the work observable so it is not optimised away
  return {
    readings: n,
    jsonParsePerSec,
    jsonStringifyPerSec,
    avroDecodePerSec,
    avroEncodePerSec,
    decodeVsJsonParse: avroDecodePerSec / jsonParsePerSec,
    encodeVsJsonStringify: avroEncodePerSec / jsonStringifyPerSec,
    avroBytes: avro.reduce((s, b) => s + b.length, 0) / n,
    jsonBytes: json.reduce((s, b) => s + Buffer.byteLength(b), 0) / n,
  };
}
