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
  0x80: 'unspecified error',
  0x84: 'unsupported protocol version: set MQTT_PROTOCOL_VERSION=4',
  0x85: 'client identifier not valid (MQTT_CLIENT_ID)',
  0x86: 'bad user name or password (MQTT_USERNAME, MQTT_PASSWORD)',
  0x87: 'not authorised: these credentials may not connect (check the broker ACL)',
  0x88: 'server unavailable',
  0x89: 'server busy',
  0x8a: 'banned',
  0x8c: 'bad authentication method',
  0x95: 'packet too large',
  0x97: 'quota exceeded',
  0x9f: 'connection rate exceeded',
};

const SUBACK: Record<number, string> = {
  0x80: 'refused (in MQTT 3.1.1 that is all the broker says: most often the ACL does not allow it)',
  0x83: 'implementation specific error',
  0x87: 'not authorised: the ACL does not let this user read the topic',
  0x8f: 'topic filter not valid',
  0x91: 'packet identifier in use',
  0x97: 'quota exceeded',
  0x9e: 'the broker does not support shared subscriptions ($share/...)',
  0xa1: 'subscription identifiers not supported',
  0xa2: 'wildcard subscriptions not supported',
};

export function connackReason(code: number): string {
  return `${CONNACK[code] ?? 'refused'} (code ${code})`;
}

export function subackReason(code: number): string {
  return `${SUBACK[code] ?? 'refused'} (code 0x${code.toString(16)})`;
}
