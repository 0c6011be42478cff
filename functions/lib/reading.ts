/** The canonical reading, as decoded with the current reader schema (schemas/telemetry.avsc). */
export interface Reading {
  deviceId: string;
  /** Device timestamp, ms since the Unix epoch. */
  ts: number;
  seq: number;
  temperature: number | null;
  humidity: number | null;
  pressure: number | null;
  vibration: number | null;
  battery: number | null;
  tags: Record<string, string> | null;
}

export const METRICS = ['temperature', 'humidity', 'pressure', 'vibration', 'battery'] as const;
export type Metric = (typeof METRICS)[number];

/** Where a record came from; carried as Kafka headers or inside the Kinesis envelope. */
export interface RecordMeta {
  /** The MQTT topic the payload arrived on, e.g. `telemetry/dev-1`. */
  mqttTopic: string;
  /** Bridge receive time, ms since epoch. */
  receivedAt: number;
  gatewayId?: string | undefined;
}

/** Header names used on stream records (Kafka headers, Kinesis envelope map). */
export const HEADER = {
  mqttTopic: 'mqtt-topic',
  receivedAt: 'received-at',
  gatewayId: 'gateway-id',
  /** dead letters only */
  reason: 'dlq-reason',
  detail: 'dlq-detail',
  origin: 'dlq-origin',
} as const;

/** The device id a telemetry topic names: `telemetry/{deviceId}`. Undefined when the topic is not one. */
export function deviceIdFromTopic(topic: string): string | undefined {
  if (!topic.startsWith('telemetry/')) return undefined;
  const id = topic.slice('telemetry/'.length);
  return id.length > 0 && !id.includes('/') ? id : undefined;
}
