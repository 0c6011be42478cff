import type { Price } from './prices.ts';

/** The fleet being priced. */
export interface Fleet {
  readonly devices: number;
  /** Seconds between two readings of one device. */
  readonly intervalSeconds: number;
  /** Bytes of one reading's MQTT payload (Avro single-object: about 60 for the default schema). */
  readonly payloadBytes: number;
}

/** One line of the bill: how much of what, at which price. */
export interface LineItem {
  readonly service: string;
  readonly item: string;
  readonly quantity: number;
  readonly unit: string;
  readonly price: Price;
  /** quantity × price, per month. */
  readonly usd: number;
}

export interface Estimate {
  readonly variant: 'kinesis' | 'kafka';
  readonly lines: readonly LineItem[];
  readonly totalUsd: number;
  /** What the numbers rest on, in words, printed under the table. */
  readonly assumptions: readonly string[];
}
