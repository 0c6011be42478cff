import { build, type Histogram } from 'hdr-histogram-js';

/** Why the bridge let a message go without writing it to telemetry.raw. */
export type DropReason =
  /** A QoS 0 message that arrived while in-flight bytes were over the bound (QoS 1 is never dropped). */
  | 'qos0-overload'
  /** A QoS 0 message that arrived while the spool was full. */
  | 'qos0-spool-full';

export const DROP_REASONS: readonly DropReason[] = ['qos0-overload', 'qos0-spool-full'];

/** The bridge's counters and gauges; read them at any time, they are plain numbers. */
export interface BridgeStats {
  /** PUBLISH packets received, every QoS. */
  received: number;
  /** Of those, redeliveries (DUP flag) after a reconnect: the previous connection's unacknowledged. */
  redelivered: number;
  /** Records the stream confirmed (or, with a spool, the spool made durable). */
  produced: number;
  /** Messages whose PUBLISH was acknowledged to the broker (QoS 0 counted when its batch is done). */
  acknowledged: number;
  /** Produce attempts that failed and were retried (records counted once per retry). */
  retried: number;
  /** Produce attempts that failed (batches). */
  failed: number;
  /** Payloads over the size limit, sent to telemetry.dlq instead of telemetry.raw. */
  deadLettered: number;
  /** Messages whose topic names no device; forwarded all the same, validate dead-letters them. */
  unroutable: number;
  dropped: Record<DropReason, number>;
  /** Bytes received and not yet acknowledged (payload, topic and per-record bookkeeping). */
  inFlightBytes: number;
  /** The most inFlightBytes has been since start. */
  peakInFlightBytes: number;
  inFlightMessages: number;
  /** Produce requests waiting for the stream right now. */
  inFlightBatches: number;
  /** True while the bridge has stopped reading from the broker (backpressure). */
  paused: boolean;
  lastProduceMs: number;
}

export function emptyStats(): BridgeStats {
  return {
    received: 0,
    redelivered: 0,
    produced: 0,
    acknowledged: 0,
    retried: 0,
    failed: 0,
    deadLettered: 0,
    unroutable: 0,
    dropped: { 'qos0-overload': 0, 'qos0-spool-full': 0 },
    inFlightBytes: 0,
    peakInFlightBytes: 0,
    inFlightMessages: 0,
    inFlightBatches: 0,
    paused: false,
    lastProduceMs: 0,
  };
}

/** Produce latency (request to stream confirmation), microseconds, up to 10 minutes. */
export function latencyHistogram(): Histogram {
  return build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 600_000_000,
    numberOfSignificantValueDigits: 2,
  });
}

export interface LatencySummary {
  count: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export function summarise(histogram: Histogram): LatencySummary {
  const ms = (us: number) => Math.round(us / 10) / 100;
  return {
    count: histogram.totalCount,
    p50Ms: ms(histogram.getValueAtPercentile(50)),
    p99Ms: ms(histogram.getValueAtPercentile(99)),
    maxMs: ms(histogram.maxValue),
  };
}
