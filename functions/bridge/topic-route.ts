/**
 * Which device a message belongs to, from its topic alone (the payload is never trusted for this):
 * `telemetry/{deviceId}` carries one reading, `gateways/{gatewayId}/telemetry` a batch from a
 * gateway, keyed by the gateway so its batches stay in order. Anything else has no device: it is
 * keyed by its topic and validate dead-letters it (TOPIC_INVALID), so nothing disappears here.
 */
export interface TopicRoute {
  key: string;
  gatewayId: string | undefined;
  routable: boolean;
}

const TELEMETRY = 'telemetry/';
const GATEWAYS = 'gateways/';
const GATEWAY_SUFFIX = '/telemetry';

export function routeTopic(topic: string): TopicRoute {
  if (topic.startsWith(TELEMETRY)) {
    const id = topic.slice(TELEMETRY.length);
    if (id.length > 0 && !id.includes('/')) return { key: id, gatewayId: undefined, routable: true };
  } else if (topic.startsWith(GATEWAYS) && topic.endsWith(GATEWAY_SUFFIX)) {
    const id = topic.slice(GATEWAYS.length, topic.length - GATEWAY_SUFFIX.length);
    if (id.length > 0 && !id.includes('/')) return { key: id, gatewayId: id, routable: true };
  }
  return { key: topic, gatewayId: undefined, routable: false };
}
