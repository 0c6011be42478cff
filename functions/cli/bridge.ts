import { Command, Option } from 'commander';
import { runBridge } from '../bridge/run-bridge.ts';
import { loadConfig } from '../lib/config.ts';

/**
 * Every option is also an environment variable; a flag wins over the variable. The flags are turned
 * into those variables and the whole set goes through loadConfig, so both paths are validated by
 * the same code. Secrets have no flag (a flag shows in `ps`): use the variable or its *_FILE form.
 */
const OPTIONS: ReadonlyArray<{ flag: string; env: string; help: string; fallback?: string }> = [
  {
    flag: '--mqtt-url <url>',
    env: 'MQTT_URL',
    help: 'broker, mqtt://host:port or mqtts://host:port (TLS)',
    fallback: 'mqtt://127.0.0.1:1883',
  },
  {
    flag: '--client-id <id>',
    env: 'MQTT_CLIENT_ID',
    help: 'MQTT client id; keep it stable per bridge: the broker queues for it while it is away',
    fallback: 'iot-ingest-bridge-<hostname>',
  },
  {
    flag: '--topics <filters>',
    env: 'MQTT_TOPICS',
    help: 'comma-separated topic filters',
    fallback: 'telemetry/+,gateways/+/telemetry',
  },
  {
    flag: '--share-group <name>',
    env: 'MQTT_SHARE_GROUP',
    help: 'subscribe as $share/<name>/<filter> (MQTT 5) so bridges split the load',
  },
  {
    flag: '--protocol-version <4|5>',
    env: 'MQTT_PROTOCOL_VERSION',
    help: 'MQTT 3.1.1 (4) or 5',
    fallback: '5',
  },
  {
    flag: '--username <name>',
    env: 'MQTT_USERNAME',
    help: 'MQTT user name (password: MQTT_PASSWORD or MQTT_PASSWORD_FILE)',
  },
  { flag: '--password-file <path>', env: 'MQTT_PASSWORD_FILE', help: 'file holding the MQTT password' },
  {
    flag: '--tls-ca <pem|path>',
    env: 'MQTT_TLS_CA',
    help: "CA of the broker's certificate (default: the system CAs)",
  },
  { flag: '--tls-cert <pem|path>', env: 'MQTT_TLS_CERT', help: 'client certificate (mutual TLS)' },
  { flag: '--tls-key <pem|path>', env: 'MQTT_TLS_KEY', help: 'client key (mutual TLS)' },
  { flag: '--keepalive <seconds>', env: 'MQTT_KEEPALIVE_SECONDS', help: 'MQTT keep-alive', fallback: '30' },
  {
    flag: '--session-expiry <seconds>',
    env: 'MQTT_SESSION_EXPIRY_SECONDS',
    help: 'MQTT 5: how long the broker keeps queuing for an absent bridge',
    fallback: '604800',
  },
  {
    flag: '--receive-maximum <n>',
    env: 'MQTT_RECEIVE_MAXIMUM',
    help: 'MQTT 5: unacknowledged QoS 1 messages the broker may send at once',
    fallback: '65535',
  },
  { flag: '--stream <kind>', env: 'IOT_STREAM', help: 'kafka or kinesis', fallback: 'kinesis' },
  {
    flag: '--kafka-brokers <list>',
    env: 'KAFKA_BROKERS',
    help: 'host:port,... (TLS: KAFKA_SSL, KAFKA_SSL_CA; SASL: KAFKA_SASL_*)',
  },
  { flag: '--kafka-compression <codec>', env: 'KAFKA_COMPRESSION', help: 'none or gzip', fallback: 'none' },
  {
    flag: '--kinesis-endpoint <url>',
    env: 'KINESIS_ENDPOINT',
    help: 'Kinesis endpoint (default: AWS in AWS_REGION)',
  },
  {
    flag: '--linger-ms <ms>',
    env: 'BRIDGE_LINGER_MS',
    help: 'how long a batch waits for more messages',
    fallback: '10',
  },
  {
    flag: '--max-batch-records <n>',
    env: 'BRIDGE_MAX_BATCH_RECORDS',
    help: 'records per produce request',
    fallback: '2000',
  },
  {
    flag: '--max-batch-bytes <n>',
    env: 'BRIDGE_MAX_BATCH_BYTES',
    help: 'bytes per produce request',
    fallback: '1048576',
  },
  {
    flag: '--max-in-flight-batches <n>',
    env: 'BRIDGE_MAX_IN_FLIGHT_BATCHES',
    help: 'produce requests at once (one per lane of devices)',
    fallback: '1',
  },
  {
    flag: '--max-in-flight-bytes <n>',
    env: 'BRIDGE_MAX_IN_FLIGHT_BYTES',
    help: 'received but unacknowledged bytes; past it the bridge stops reading',
    fallback: '67108864',
  },
  {
    flag: '--max-payload-bytes <n>',
    env: 'IOT_MAX_PAYLOAD_BYTES',
    help: 'larger payloads go to telemetry.dlq',
    fallback: '262144',
  },
  {
    flag: '--spool-dir <dir>',
    env: 'BRIDGE_SPOOL_DIR',
    help: 'acknowledge after fsync to a local log in <dir>, then drain to the stream',
  },
  {
    flag: '--spool-max-bytes <n>',
    env: 'BRIDGE_SPOOL_MAX_BYTES',
    help: 'spooled bytes not yet in the stream; past it the bridge stops reading',
    fallback: '1073741824',
  },
  {
    flag: '--stats-interval <seconds>',
    env: 'BRIDGE_STATS_INTERVAL_SECONDS',
    help: 'seconds between JSON stats lines on stderr (0: none)',
    fallback: '10',
  },
];

export async function bridgeCommand(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const program = new Command('iot-ingest bridge')
    .description(
      'Move MQTT telemetry into Kafka or Kinesis (telemetry.raw). A QoS 1 message is acknowledged to the ' +
        'broker only after the stream has it; run several bridges with --share-group to split the load. ' +
        'Every option can be given as the environment variable in brackets; flags win.',
    )
    .exitOverride();
  for (const o of OPTIONS) {
    const fallback = o.fallback === undefined ? '' : ` (default: ${o.fallback})`;
    program.addOption(new Option(o.flag, `${o.help} [${o.env}]${fallback}`));
  }
  program.addHelpText(
    'after',
    '\nSecrets, from the environment only: MQTT_PASSWORD(_FILE), KAFKA_SASL_PASSWORD(_FILE).\n' +
      '\nExamples:\n' +
      '  iot-ingest bridge --mqtt-url mqtt://127.0.0.1:1883 --stream kafka --kafka-brokers 127.0.0.1:9092\n' +
      '  MQTT_PASSWORD_FILE=/run/secrets/mqtt iot-ingest bridge --mqtt-url mqtts://broker:8883 --username bridge \\\n' +
      '    --tls-ca ca.pem --share-group iot-ingest --client-id bridge-1 --stream kinesis\n',
  );
  try {
    program.parse(argv, { from: 'user' });
  } catch (error) {
    return (error as { exitCode?: number }).exitCode ?? 2;
  }
  const opts = program.opts<Record<string, string | undefined>>();
  const fromFlags: Record<string, string> = {};
  for (const o of OPTIONS) {
    const name = new Option(o.flag).attributeName();
    const value = opts[name];
    if (value !== undefined) fromFlags[o.env] = value;
  }
  const config = loadConfig({ ...env, ...fromFlags });
  const running = await runBridge(config);
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  await running.stop();
  return 0;
}
