/**
 * The alert lifecycle: an incident opens once (one `open` alert), further anomalous readings are
 * counted into it (`repeats`, no alert), and it resolves (one `resolved` alert with the same id)
 * after a quiet period without any. One incident at a time per dedup key (device, metric, rule).
 *
 * A book holds the open incidents of one scope (metric rules, device silence, gateway silence),
 * keyed by a number the engine derives from slots. Only open incidents take memory, and objects
 * are created only when an incident opens or resolves, never per reading.
 */
import type { Alert, Severity } from '../lib/codec/alert-codec.ts';
import { dedupKey, incidentId } from './rules.ts';

export interface Incident {
  /** The `open` alert as it was sent. */
  readonly alert: Alert;
  /** Engine time of the last anomalous reading (or of the opening). */
  lastBreachAt: number;
  /** Anomalous readings after the first. */
  repeats: number;
}

export interface OpenFields {
  deviceId: string;
  metric: string;
  rule: string;
  severity: Severity;
  value: number | null;
  score: number | null;
  /** Device time of the triggering reading. */
  ts: number;
  /** Device time the incident counts as open from (the reading's ts, or a silence deadline). */
  openedAt: number;
  message: string;
}

export class IncidentBook {
  readonly #open = new Map<number, Incident>();

  get size(): number {
    return this.#open.size;
  }

  get(key: number): Incident | undefined {
    return this.#open.get(key);
  }

  /** Open incidents in the order they opened. */
  entries(): IterableIterator<[number, Incident]> {
    return this.#open.entries();
  }

  /** Counts a breach into the open incident under `key`; false when none is open (call `open`). */
  repeat(key: number, at: number): boolean {
    const incident = this.#open.get(key);
    if (incident === undefined) return false;
    incident.repeats++;
    incident.lastBreachAt = at;
    return true;
  }

  /** Opens an incident and appends its `open` alert to `out`. */
  open(key: number, fields: OpenFields, at: number, out: Alert[]): Incident {
    const dedup = dedupKey(fields.deviceId, fields.metric, fields.rule);
    const alert: Alert = {
      id: incidentId(dedup, fields.openedAt),
      dedupKey: dedup,
      deviceId: fields.deviceId,
      metric: fields.metric,
      rule: fields.rule,
      status: 'open',
      severity: fields.severity,
      value: fields.value,
      score: fields.score,
      ts: fields.ts,
      openedAt: fields.openedAt,
      repeats: 0,
      message: fields.message,
    };
    const incident: Incident = { alert: Object.freeze(alert), lastBreachAt: at, repeats: 0 };
    this.#open.set(key, incident);
    out.push({ ...alert });
    return incident;
  }

  /** Resolves the incident under `key` if it has been quiet for `quietMs`; true when it resolved. */
  resolveIfQuiet(
    key: number,
    at: number,
    quietMs: number,
    value: number | null,
    ts: number,
    out: Alert[],
  ): boolean {
    const incident = this.#open.get(key);
    if (incident === undefined || at - incident.lastBreachAt < quietMs) return false;
    this.resolve(key, value, ts, out);
    return true;
  }

  /** Resolves the incident under `key` now; appends its `resolved` alert to `out`. */
  resolve(key: number, value: number | null, ts: number, out: Alert[], message?: string): void {
    const incident = this.#open.get(key);
    if (incident === undefined) return;
    this.#open.delete(key);
    out.push(resolvedAlert(incident, value, ts, message));
  }

  /** Takes an incident out without an alert (the engine moves it elsewhere, e.g. on eviction). */
  take(key: number): Incident | undefined {
    const incident = this.#open.get(key);
    this.#open.delete(key);
    return incident;
  }

  /** Puts back an incident from a snapshot or another book, keeping its order of opening. */
  restore(key: number, incident: Incident): void {
    this.#open.set(key, incident);
  }
}

export function resolvedAlert(incident: Incident, value: number | null, ts: number, message?: string): Alert {
  const { alert, repeats } = incident;
  const plural = repeats === 1 ? '' : 's';
  return {
    ...alert,
    status: 'resolved',
    value,
    ts,
    repeats,
    message:
      message ??
      `resolved: ${alert.rule} on ${alert.deviceId}/${alert.metric}, ${repeats} repeat${plural} after the first`,
  };
}
