/**
 * Scores alerts against ground-truth labels.
 *
 * - An alert is a true positive when it opened inside a label's window [start, end + tolerance]
 *   on the same device and metric (a dropout's metric is the whole device, "*", which is what
 *   silence alerts carry). Anything else is a false alert.
 * - A label is detected when at least one alert matches it; its time to detect is from the label's
 *   start to the first matching alert's openedAt.
 * - Recall per kind: detected labels / labels. Precision per kind: alerts matching a label of that
 *   kind / (those + false alerts whose rule points at that kind, RULE_KIND). Every false alert is
 *   charged to exactly one kind, so no false alert goes uncounted.
 */
import type { AnomalyKind, AnomalyLabel } from '../../simulators/ground-truth.ts';
import { ANOMALY_KINDS } from '../../simulators/ground-truth.ts';
import type { OpenedAlert } from './simulate.ts';

/** The anomaly kind a false alert of each rule is charged to. */
export function ruleKind(alert: Pick<OpenedAlert, 'rule' | 'score'>): AnomalyKind {
  switch (alert.rule) {
    case 'spike':
    case 'threshold-high':
      return 'spike';
    case 'dip':
    case 'threshold-low':
      return 'dip';
    case 'rate':
      return (alert.score ?? 0) >= 0 ? 'spike' : 'dip';
    case 'drift':
      return 'drift';
    case 'flatline':
      return 'stuck';
    default:
      return 'dropout'; // silence, gateway-silence
  }
}

export interface KindScore {
  kind: AnomalyKind;
  labels: number;
  detected: number;
  recall: number;
  truePositives: number;
  falsePositives: number;
  precision: number;
  /** Time to detect over detected labels, ms. */
  medianTtdMs: number | null;
  p90TtdMs: number | null;
}

export interface Score {
  kinds: KindScore[];
  alerts: number;
  falseAlerts: number;
  falseByRule: Record<string, number>;
}

export function scoreAlerts(
  labels: readonly AnomalyLabel[],
  alerts: readonly OpenedAlert[],
  toleranceMs: number,
): Score {
  const byTarget = new Map<string, AnomalyLabel[]>();
  for (const label of labels) {
    const key = `${label.deviceId}\u0000${label.metric}`;
    const list = byTarget.get(key) ?? [];
    list.push(label);
    byTarget.set(key, list);
  }
  for (const list of byTarget.values()) list.sort((a, b) => a.start - b.start);

  const firstDetection = new Map<AnomalyLabel, number>();
  const truePositives = counts();
  const falsePositives = counts();
  const falseByRule: Record<string, number> = {};
  for (const alert of alerts) {
    const label = matchingLabel(
      byTarget.get(`${alert.deviceId}\u0000${alert.metric}`),
      alert.openedAt,
      toleranceMs,
    );
    if (label === undefined) {
      falsePositives[ruleKind(alert)]++;
      falseByRule[alert.rule] = (falseByRule[alert.rule] ?? 0) + 1;
      continue;
    }
    truePositives[label.kind]++;
    const prior = firstDetection.get(label);
    if (prior === undefined || alert.openedAt < prior) firstDetection.set(label, alert.openedAt);
  }

  const kinds = ANOMALY_KINDS.map((kind): KindScore => {
    const ofKind = labels.filter((l) => l.kind === kind);
    const ttd = ofKind
      .filter((l) => firstDetection.has(l))
      .map((l) => Math.max(0, firstDetection.get(l)! - l.start))
      .sort((a, b) => a - b);
    const tp = truePositives[kind];
    const fp = falsePositives[kind];
    return {
      kind,
      labels: ofKind.length,
      detected: ttd.length,
      recall: ofKind.length === 0 ? Number.NaN : ttd.length / ofKind.length,
      truePositives: tp,
      falsePositives: fp,
      precision: tp + fp === 0 ? Number.NaN : tp / (tp + fp),
      medianTtdMs: quantile(ttd, 0.5),
      p90TtdMs: quantile(ttd, 0.9),
    };
  });
  const falseAlerts = Object.values(falsePositives).reduce((a, b) => a + b, 0);
  return { kinds, alerts: alerts.length, falseAlerts, falseByRule };
}

/** The earliest label whose window, widened by the tolerance, holds `at`. Labels are sorted by start. */
function matchingLabel(
  list: readonly AnomalyLabel[] | undefined,
  at: number,
  toleranceMs: number,
): AnomalyLabel | undefined {
  if (list === undefined) return undefined;
  for (const label of list) {
    if (label.start > at) return undefined;
    if (at <= label.end + toleranceMs) return label;
  }
  return undefined;
}

function counts(): Record<AnomalyKind, number> {
  return { spike: 0, dip: 0, drift: 0, stuck: 0, dropout: 0 };
}

/** Nearest-rank quantile of sorted values; null when empty. */
export function quantile(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}
