/**
 * Alerts (schemas/alert.avsc) in Avro single-object encoding, as published on the `alerts` stream.
 * The schema is compiled on first use.
 */
import { DEFAULT_SCHEMA_DIR } from './schema-registry.ts';
import { SingleObjectCodec } from './single-object.ts';

export type AlertStatus = 'open' | 'resolved';
export type Severity = 'info' | 'warning' | 'critical';

/** io.iotingest.alerts.Alert: an anomaly incident event. One id per incident; status moves open -> resolved. */
export interface Alert {
  /** Stable incident id; the idempotency key for every delivery. */
  id: string;
  /** deviceId/metric/rule */
  dedupKey: string;
  deviceId: string;
  metric: string;
  /** threshold-high, threshold-low, spike, dip, rate, flatline, silence, ... */
  rule: string;
  status: AlertStatus;
  severity: Severity;
  /** The triggering value. */
  value: number | null;
  /** Rule-specific score (z-score, threshold excess). */
  score: number | null;
  /** Device timestamp of the triggering reading, ms since epoch. */
  ts: number;
  /** Device timestamp at which the incident opened, ms. */
  openedAt: number;
  /** Anomalous readings counted into this incident after the first. */
  repeats: number;
  message: string;
}

const codec = new SingleObjectCodec<Alert>(DEFAULT_SCHEMA_DIR, 'alert.avsc', 'Alert');

/** An alert in single-object encoding. Throws RejectedRecordError (AVRO_INVALID) naming the bad field. */
export function encodeAlert(alert: Alert): Buffer<ArrayBuffer> {
  return codec.encode(alert);
}

/** An alert from single-object bytes; any other schema is SCHEMA_UNKNOWN. */
export function decodeAlert(bytes: Uint8Array): Alert {
  return codec.decode(bytes);
}

/** Hex of the Alert schema's CRC-64-AVRO fingerprint, in wire order. */
export function alertSchemaFingerprint(): string {
  return codec.fingerprint;
}
