/**
 * The rules the detect function raises alerts for, and how they are named on the wire
 * (`Alert.rule`, the MQTT topic `alerts/{deviceId}/{rule}/...`, the dedup key).
 */

/** Rules evaluated per device and metric, in bit order (one bit each in a slot's open-incident mask). */
export const METRIC_RULES = [
  'threshold-high',
  'threshold-low',
  'spike',
  'dip',
  'rate',
  'drift',
  'flatline',
] as const;
export type MetricRule = (typeof METRIC_RULES)[number];

export const RULE = {
  thresholdHigh: 0,
  thresholdLow: 1,
  spike: 2,
  dip: 3,
  rate: 4,
  drift: 5,
  flatline: 6,
} as const satisfies Record<string, number>;
export const METRIC_RULE_COUNT = METRIC_RULES.length;

/** No reading from one device for longer than its profile allows. */
export const SILENCE = 'silence';
/** No reading through a gateway from any of its devices: one alert instead of one per device. */
export const GATEWAY_SILENCE = 'gateway-silence';

/** `Alert.metric` of alerts about a whole device or gateway rather than one of its metrics. */
export const WHOLE_DEVICE = '*';

export type AlertRule = MetricRule | typeof SILENCE | typeof GATEWAY_SILENCE;

/** `deviceId/metric/rule`: one incident at a time per key. */
export function dedupKey(deviceId: string, metric: string, rule: string): string {
  return `${deviceId}/${metric}/${rule}`;
}

/** The stable incident id: its dedup key and the device time it opened at, so a replay yields the same id. */
export function incidentId(key: string, openedAt: number): string {
  return `${key}/${openedAt}`;
}
