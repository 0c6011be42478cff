/**
 * What a broker's refusal means, in words an operator can act on. CONNACK return codes of MQTT
 * 3.1.1 (§3.2.2.3) and reason codes of MQTT 5 (§3.2.2.2, §3.9.3).
 */
const CONNACK: Record<number, string> = {
  1: 'unacceptable protocol version: the broker does not speak this MQTT version (Aedes and some brokers speak 3.1.1 only: set MQTT_PROTOCOL_VERSION=4)',
  2: 'client identifier rejected (MQTT_CLIENT_ID)',
  3: 'server unavailable',
  4: 'bad user name or password (MQTT_USERNAME, MQTT_PASSWORD)',
  5: 'not authorised: these credentials may not connect (check the broker ACL)',
  128: 'unspecified error',
  132: 'unsupported protocol version: set MQTT_PROTOCOL_VERSION=4',
  133: 'client identifier not valid (MQTT_CLIENT_ID)',
  134: 'bad user name or password (MQTT_USERNAME, MQTT_PASSWORD)',
  135: 'not authorised: these credentials may not connect (check the broker ACL)',
  136: 'server unavailable',
  137: 'server busy',
  138: 'banned',
  140: 'bad authentication method',
  149: 'packet too large',
  151: 'quota exceeded',
  159: 'connection rate exceeded',
};

const SUBACK: Record<number, string> = {
  128: 'refused (in MQTT 3.1.1 that is all the broker says: most often the ACL does not allow it)',
  131: 'implementation specific error',
  135: 'not authorised: the ACL does not let this user read the topic',
  143: 'topic filter not valid',
  145: 'packet identifier in use',
  151: 'quota exceeded',
  158: 'the broker does not support shared subscriptions ($share/...)',
  161: 'subscription identifiers not supported',
  162: 'wildcard subscriptions not supported',
};

export function connackReason(code: number): string {
  return `${CONNACK[code] ?? 'refused'} (code ${code})`;
}

export function subackReason(code: number): string {
  return `${SUBACK[code] ?? 'refused'} (code 0x${code.toString(16)})`;
}
