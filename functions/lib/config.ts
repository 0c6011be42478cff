import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { ConfigError } from './errors.ts';
import type { StreamKind } from './streams/types.ts';

/**
 * Everything the pipeline's processes read from their environment, parsed and checked once at
 * start into a frozen object. Nothing else in the code base reads `process.env`.
 */
export interface PipelineConfig {
  readonly stream: StreamKind;
  readonly kafka: {
    readonly brokers: readonly string[];
    readonly clientId: string;
    readonly ssl: boolean;
    /** PEM of a private CA for the brokers' certificates (KAFKA_SSL_CA, PEM text or a file). Implies ssl. */
    readonly sslCa?: string | undefined;
    /** Producer compression (KAFKA_COMPRESSION). kafkajs has gzip built in; the others need codecs. */
    readonly compression: 'none' | 'gzip';
    readonly sasl?:
      | {
          readonly mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512';
          readonly username: string;
          readonly password: string;
        }
      | undefined;
  };
  readonly kinesis: {
    readonly endpoint?: string | undefined;
    readonly region: string;
    /** Talking to kinesalite: dummy credentials, plain HTTP/1.1. */
    readonly local: boolean;
  };
  readonly mqtt: MqttConfig;
  readonly bridge: BridgeConfig;
  /** Alert delivery of the detect function on AWS (set by the CDK stacks). */
  readonly alerts: {
    readonly snsTopicArn?: string | undefined;
    readonly iotDataEndpoint?: string | undefined;
    readonly topicPrefix: string;
  };
  readonly dataDir: string;
  readonly duckdbPath: string;
  /** DuckDB's settings, for the embedded pipeline's store as for IOT_STORE=duckdb. */
  readonly duckdb: DuckDbSettings;
  /** Where the write function puts readings and where `iot-ingest query` asks (IOT_STORE). */
  readonly store: StoreConfig;
  /** Largest payload the validate function accepts, bytes. */
  readonly maxPayloadBytes: number;
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error';
}

/** Where the bridge reads from (MQTT_*). Credentials are kept here and never logged. */
export interface MqttConfig {
  /** mqtt://host:port or mqtts://host:port (TLS). */
  readonly url: string;
  /** Stable across restarts: the broker keeps the persistent session (and what it queued) under it. */
  readonly clientId: string;
  /** Topic filters; with MQTT_SHARE_GROUP each becomes `$share/<group>/<filter>`. */
  readonly topics: readonly string[];
  readonly protocolVersion: 4 | 5;
  readonly username?: string | undefined;
  readonly password?: string | undefined;
  readonly tls: {
    /** PEM text of the CA that signed the broker's certificate; the system CAs when absent. */
    readonly ca?: string | undefined;
    /** PEM text of a client certificate and key (mutual TLS, e.g. AWS IoT Core). */
    readonly cert?: string | undefined;
    readonly key?: string | undefined;
  };
  readonly keepaliveSeconds: number;
  /** MQTT 5: how long the broker keeps the session and queues for it while the bridge is away. */
  readonly sessionExpirySeconds: number;
  /** MQTT 5 Receive Maximum: QoS 1 messages the broker may have in flight to the bridge. */
  readonly receiveMaximum: number;
}

/** How the bridge batches, bounds memory and (optionally) spools (BRIDGE_*). */
export interface BridgeConfig {
  readonly lingerMs: number;
  readonly maxBatchRecords: number;
  readonly maxBatchBytes: number;
  readonly maxInFlightBatches: number;
  readonly maxInFlightBytes: number;
  /** A write-ahead log: acknowledge after fsync, drain to the stream after. Off when absent. */
  readonly spoolDir?: string | undefined;
  readonly spoolMaxBytes: number;
  /** Seconds between stats lines on stderr; 0 turns them off. */
  readonly statsIntervalSeconds: number;
}

export type StoreKind = StoreConfig['kind'];
export type StoreConfig = DuckDbStoreConfig | TimestreamStoreConfig | InfluxStoreConfig;

export interface DuckDbSettings {
  /** DUCKDB_MEMORY_LIMIT: DuckDB's memory_limit (e.g. "256MB"); unset, DuckDB takes 80% of RAM. */
  readonly memoryLimit?: string;
  /**
   * DUCKDB_THREADS: the threads DuckDB runs a statement on; unset, one per core. The store's writes
   * are small statements that gain nothing from a second thread: 6 M readings in 20,000-row batches
   * took the same time with 1 thread as with 2 and 20-25% less CPU (2026-11-23, 2 cores), CPU the
   * rest of the pipeline can use when it shares the machine. Analyst queries run on the same
   * threads, so a machine that serves large ones keeps more.
   */
  readonly threads?: number;
}

/** IOT_STORE=duckdb (the default): the embedded file at DUCKDB_PATH. */
export interface DuckDbStoreConfig extends DuckDbSettings {
  readonly kind: 'duckdb';
  readonly path: string;
}

/** IOT_STORE=timestream: Timestream for LiveAnalytics (TIMESTREAM_*; the region is AWS_REGION). */
export interface TimestreamStoreConfig {
  readonly kind: 'timestream';
  readonly database: string;
  readonly table: string;
  readonly region: string;
  /**
   * TIMESTREAM_ENDPOINT: one fixed endpoint for writes and queries (a VPC endpoint, a local one)
   * instead of the endpoints the SDK discovers; the SDK turns endpoint discovery off then.
   */
  readonly endpoint?: string | undefined;
  /** A loopback endpoint: dummy credentials, as for kinesalite. */
  readonly local: boolean;
}

/**
 * IOT_STORE=influxdb: InfluxDB line protocol over HTTP (INFLUXDB_*). InfluxDB 1.x writes to a
 * database (INFLUXDB_DATABASE); 2.x/3.x and Timestream for InfluxDB write to a bucket of an org
 * (INFLUXDB_BUCKET, INFLUXDB_ORG) with a token. Queries are InfluxQL on `/query?db=`, which 2.x
 * answers for a bucket through its DBRP mapping (the database name defaults to the bucket's).
 */
export interface InfluxStoreConfig {
  readonly kind: 'influxdb';
  readonly url: string;
  readonly database: string;
  readonly retentionPolicy?: string | undefined;
  /** Both set: the 2.x write API (`/api/v2/write`); neither: the 1.x one (`/write`). */
  readonly org?: string | undefined;
  readonly bucket?: string | undefined;
  /** API token (INFLUXDB_TOKEN or INFLUXDB_TOKEN_FILE), sent as `Authorization: Token ...`. */
  readonly token?: string | undefined;
  /** Secrets Manager secret holding the token, resolved when the store opens (Lambda on AWS). */
  readonly tokenSecretArn?: string | undefined;
  /** 1.x user and password (INFLUXDB_USERNAME, INFLUXDB_PASSWORD or INFLUXDB_PASSWORD_FILE). */
  readonly username?: string | undefined;
  readonly password?: string | undefined;
}

export type Env = Readonly<Record<string, string | undefined>>;

export function loadConfig(env: Env = process.env): PipelineConfig {
  const stream = oneOf(env, 'IOT_STREAM', ['kafka', 'kinesis'] as const, 'kinesis');
  const dataDir = path.resolve(env.IOT_DATA_DIR ?? 'data');
  const brokers = list(env.KAFKA_BROKERS ?? '');
  if (stream === 'kafka' && brokers.length === 0) {
    throw new ConfigError(
      'IOT_STREAM=kafka needs KAFKA_BROKERS, a comma-separated list such as "10.0.0.5:9092,10.0.0.6:9092".',
    );
  }
  for (const broker of brokers) {
    if (!/^[^\s:]+:\d{1,5}$/.test(broker)) {
      throw new ConfigError(
        `KAFKA_BROKERS entry "${broker}" is not host:port (for example "localhost:9092").`,
      );
    }
  }
  const saslMechanism = env.KAFKA_SASL_MECHANISM;
  let sasl: PipelineConfig['kafka']['sasl'];
  if (saslMechanism !== undefined && saslMechanism !== '') {
    const mechanism = oneOf(
      env,
      'KAFKA_SASL_MECHANISM',
      ['plain', 'scram-sha-256', 'scram-sha-512'] as const,
      'plain',
    );
    const username = env.KAFKA_SASL_USERNAME;
    const password = secret(env, 'KAFKA_SASL_PASSWORD');
    if (!username || !password) {
      throw new ConfigError(
        'KAFKA_SASL_MECHANISM is set: set KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD too.',
      );
    }
    sasl = Object.freeze({ mechanism, username, password });
  }
  const endpoint = env.KINESIS_ENDPOINT || undefined;
  const region = env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1';
  const duckdbPath = path.resolve(env.DUCKDB_PATH ?? path.join(dataDir, 'iot-ingest.duckdb'));
  const duckdbMemoryLimit = memoryLimit(env, 'DUCKDB_MEMORY_LIMIT');
  const duckdbThreads = env.DUCKDB_THREADS ? int(env, 'DUCKDB_THREADS', 0, 1, 1024) : undefined;
  const duckdb: DuckDbSettings = Object.freeze({
    ...(duckdbMemoryLimit !== undefined ? { memoryLimit: duckdbMemoryLimit } : {}),
    ...(duckdbThreads !== undefined ? { threads: duckdbThreads } : {}),
  });
  if (endpoint !== undefined && !/^https?:\/\/[^\s]+$/.test(endpoint)) {
    throw new ConfigError(`KINESIS_ENDPOINT "${endpoint}" is not a URL such as "http://127.0.0.1:4567".`);
  }
  return Object.freeze({
    stream,
    kafka: Object.freeze({
      brokers: Object.freeze(brokers),
      clientId: env.KAFKA_CLIENT_ID || 'iot-ingest',
      ssl: bool(env, 'KAFKA_SSL', false) || Boolean(env.KAFKA_SSL_CA),
      sslCa: pem(env, 'KAFKA_SSL_CA'),
      compression: oneOf(env, 'KAFKA_COMPRESSION', ['none', 'gzip'] as const, 'none'),
      sasl,
    }),
    mqtt: mqttConfig(env),
    bridge: bridgeConfig(env, dataDir),
    alerts: Object.freeze({
      snsTopicArn: env.ALERTS_SNS_TOPIC_ARN || undefined,
      iotDataEndpoint: env.ALERTS_MQTT_ENDPOINT || undefined,
      topicPrefix: env.ALERTS_MQTT_TOPIC_PREFIX || 'alerts',
    }),
    kinesis: Object.freeze({
      endpoint,
      region,
      local: bool(
        env,
        'KINESIS_LOCAL',
        endpoint !== undefined && /^http:\/\/(127\.|localhost)/.test(endpoint),
      ),
    }),
    dataDir,
    duckdbPath,
    duckdb,
    store: storeConfig(env, duckdbPath, duckdb, region),
    maxPayloadBytes: int(env, 'IOT_MAX_PAYLOAD_BYTES', 256 * 1024, 16, 16 * 1024 * 1024),
    logLevel: oneOf(env, 'LOG_LEVEL', ['debug', 'info', 'warn', 'error'] as const, 'info'),
  });
}

function storeConfig(env: Env, duckdbPath: string, duckdb: DuckDbSettings, region: string): StoreConfig {
  // `influx` is accepted for `influxdb`, the name the AWS stacks set.
  const raw = env.IOT_STORE?.toLowerCase() === 'influx' ? 'influxdb' : env.IOT_STORE;
  const kind = oneOf(
    { IOT_STORE: raw },
    'IOT_STORE',
    ['duckdb', 'timestream', 'influxdb'] as const,
    'duckdb',
  );
  if (kind === 'duckdb') {
    return Object.freeze({ kind, path: duckdbPath, ...duckdb });
  }
  if (kind === 'timestream') {
    const database = env.TIMESTREAM_DATABASE;
    const table = env.TIMESTREAM_TABLE;
    if (!database || !table) {
      throw new ConfigError(
        'IOT_STORE=timestream needs TIMESTREAM_DATABASE and TIMESTREAM_TABLE (e.g. iot_ingest, readings).',
      );
    }
    const endpoint = httpUrl(env, 'TIMESTREAM_ENDPOINT');
    return Object.freeze({
      kind,
      database,
      table,
      region,
      endpoint,
      local: endpoint !== undefined && /^http:\/\/(127\.|localhost)/.test(endpoint),
    });
  }
  const url = httpUrl(env, 'INFLUXDB_URL');
  if (url === undefined) {
    throw new ConfigError('IOT_STORE=influxdb needs INFLUXDB_URL, such as "http://127.0.0.1:8086".');
  }
  const org = env.INFLUXDB_ORG || undefined;
  const bucket = env.INFLUXDB_BUCKET || undefined;
  if ((org === undefined) !== (bucket === undefined)) {
    throw new ConfigError(
      'INFLUXDB_ORG and INFLUXDB_BUCKET go together (InfluxDB 2.x and later): set both or neither.',
    );
  }
  const database = env.INFLUXDB_DATABASE || bucket;
  if (database === undefined) {
    throw new ConfigError(
      'IOT_STORE=influxdb needs INFLUXDB_DATABASE (InfluxDB 1.x) or INFLUXDB_ORG and INFLUXDB_BUCKET (2.x and later).',
    );
  }
  const token = secret(env, 'INFLUXDB_TOKEN');
  const username = env.INFLUXDB_USERNAME || undefined;
  const password = secret(env, 'INFLUXDB_PASSWORD');
  if ((username === undefined) !== (password === undefined)) {
    throw new ConfigError('INFLUXDB_USERNAME and INFLUXDB_PASSWORD(_FILE) go together: set both or neither.');
  }
  if (token !== undefined && username !== undefined) {
    throw new ConfigError('Set INFLUXDB_TOKEN or INFLUXDB_USERNAME/INFLUXDB_PASSWORD, not both.');
  }
  return Object.freeze({
    kind,
    url: url.replace(/\/+$/, ''),
    database,
    retentionPolicy: env.INFLUXDB_RETENTION_POLICY || undefined,
    org,
    bucket,
    token,
    tokenSecretArn: env.INFLUXDB_TOKEN_SECRET_ARN || undefined,
    username,
    password,
  });
}

function httpUrl(env: Env, name: string): string | undefined {
  const value = env[name] || undefined;
  if (value !== undefined && !/^https?:\/\/[^\s/]+(\/\S*)?$/.test(value)) {
    throw new ConfigError(`${name} "${value}" is not an http(s) URL such as "https://host:8086".`);
  }
  return value;
}

function mqttConfig(env: Env): MqttConfig {
  const url = env.MQTT_URL || 'mqtt://127.0.0.1:1883';
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(
      `MQTT_URL "${url}" is not a URL such as "mqtt://broker:1883" or "mqtts://broker:8883".`,
    );
  }
  if (!['mqtt:', 'mqtts:'].includes(parsed.protocol) || parsed.hostname === '') {
    throw new ConfigError(`MQTT_URL "${url}" must be mqtt://host:port or mqtts://host:port (TLS).`);
  }
  if (parsed.username !== '' || parsed.password !== '') {
    // A password in a URL ends up in logs and process listings.
    throw new ConfigError('MQTT_URL must not carry credentials: use MQTT_USERNAME and MQTT_PASSWORD(_FILE).');
  }
  const group = env.MQTT_SHARE_GROUP || undefined;
  if (group !== undefined && !/^[^/+#$\s]+$/.test(group)) {
    throw new ConfigError(`MQTT_SHARE_GROUP "${group}" must be a plain name (no /, +, # or $).`);
  }
  const filters = list(env.MQTT_TOPICS ?? 'telemetry/+,gateways/+/telemetry');
  if (filters.length === 0) throw new ConfigError('MQTT_TOPICS is empty: name at least one topic filter.');
  const topics = filters.map((f) =>
    group !== undefined && !f.startsWith('$share/') ? `$share/${group}/${f}` : f,
  );
  const protocolVersion = Number(oneOf(env, 'MQTT_PROTOCOL_VERSION', ['4', '5'] as const, '5')) as 4 | 5;
  if (protocolVersion === 4 && topics.some((t) => t.startsWith('$share/'))) {
    throw new ConfigError('shared subscriptions ($share/...) need MQTT 5: set MQTT_PROTOCOL_VERSION=5.');
  }
  const cert = pem(env, 'MQTT_TLS_CERT');
  const key = pem(env, 'MQTT_TLS_KEY');
  if ((cert === undefined) !== (key === undefined)) {
    throw new ConfigError('MQTT_TLS_CERT and MQTT_TLS_KEY go together: set both or neither.');
  }
  const username = env.MQTT_USERNAME || undefined;
  const password = secret(env, 'MQTT_PASSWORD');
  if (password !== undefined && username === undefined) {
    throw new ConfigError('MQTT_PASSWORD is set without MQTT_USERNAME.');
  }
  return Object.freeze({
    url,
    clientId: env.MQTT_CLIENT_ID || `${env.MQTT_CLIENT_ID_PREFIX || 'iot-ingest-bridge'}-${hostname()}`,
    topics: Object.freeze(topics),
    protocolVersion,
    username,
    password,
    tls: Object.freeze({ ca: pem(env, 'MQTT_TLS_CA'), cert, key }),
    keepaliveSeconds: int(env, 'MQTT_KEEPALIVE_SECONDS', 30, 0, 65_535),
    sessionExpirySeconds: int(env, 'MQTT_SESSION_EXPIRY_SECONDS', 7 * 24 * 3_600, 0, 0xffff_ffff),
    receiveMaximum: int(env, 'MQTT_RECEIVE_MAXIMUM', 65_535, 1, 65_535),
  });
}

function bridgeConfig(env: Env, dataDir: string): BridgeConfig {
  const spool = env.BRIDGE_SPOOL_DIR || undefined;
  return Object.freeze({
    lingerMs: int(env, 'BRIDGE_LINGER_MS', 10, 0, 60_000),
    maxBatchRecords: int(env, 'BRIDGE_MAX_BATCH_RECORDS', 2_000, 1, 100_000),
    maxBatchBytes: int(env, 'BRIDGE_MAX_BATCH_BYTES', 1024 * 1024, 1024, 64 * 1024 * 1024),
    maxInFlightBatches: int(env, 'BRIDGE_MAX_IN_FLIGHT_BATCHES', 1, 1, 64),
    maxInFlightBytes: int(env, 'BRIDGE_MAX_IN_FLIGHT_BYTES', 64 * 1024 * 1024, 64 * 1024, 2 ** 40),
    spoolDir: spool === undefined ? undefined : path.resolve(dataDir, spool),
    spoolMaxBytes: int(env, 'BRIDGE_SPOOL_MAX_BYTES', 1024 ** 3, 1024 * 1024, 2 ** 50),
    statsIntervalSeconds: int(env, 'BRIDGE_STATS_INTERVAL_SECONDS', 10, 0, 86_400),
  });
}

/** A secret from NAME, or from the file NAME_FILE names (Docker/Kubernetes secrets). */
function secret(env: Env, name: string): string | undefined {
  const file = env[`${name}_FILE`];
  if (file) {
    if (env[name]) throw new ConfigError(`set ${name} or ${name}_FILE, not both.`);
    try {
      return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    } catch (error) {
      throw new ConfigError(`${name}_FILE="${file}" cannot be read: ${(error as Error).message}`, error);
    }
  }
  return env[name] || undefined;
}

/** PEM text given inline (a secret injected as a variable) or the path of a file that holds it. */
function pem(env: Env, name: string): string | undefined {
  const value = env[name];
  if (!value) return undefined;
  if (value.includes('-----BEGIN ')) return value;
  try {
    const text = readFileSync(value, 'utf8');
    if (!text.includes('-----BEGIN ')) throw new Error('no PEM block in it');
    return text;
  } catch (error) {
    throw new ConfigError(
      `${name}="${value}" is neither PEM text nor a readable PEM file: ${(error as Error).message}`,
      error,
    );
  }
}

function list(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

function oneOf<const T extends readonly string[]>(
  env: Env,
  name: string,
  allowed: T,
  fallback: T[number],
): T[number] {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = raw.toLowerCase();
  if (!(allowed as readonly string[]).includes(value)) {
    throw new ConfigError(`${name}="${raw}" is not valid: use one of ${allowed.join(', ')}.`);
  }
  return value as T[number];
}

/** A size in DuckDB's notation: a number and a unit (KB, MB, GB, TB, or KiB, MiB, GiB, TiB). */
function memoryLimit(env: Env, name: string): string | undefined {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return undefined;
  if (!/^\d+(\.\d+)?\s*(k|m|g|t)i?b$/i.test(raw)) {
    throw new ConfigError(`${name}="${raw}" is not a size: use a number and a unit, e.g. 256MB or 1GiB.`);
  }
  return raw;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new ConfigError(`${name}="${raw}" is not a boolean: use true or false.`);
}

export function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name}="${raw}" must be a whole number from ${min} to ${max}.`);
  }
  return value;
}
