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
  readonly dataDir: string;
  readonly duckdbPath: string;
  /** Largest payload the validate function accepts, bytes. */
  readonly maxPayloadBytes: number;
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error';
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
    const password = env.KAFKA_SASL_PASSWORD;
    if (!username || !password) {
      throw new ConfigError(
        'KAFKA_SASL_MECHANISM is set: set KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD too.',
      );
    }
    sasl = Object.freeze({ mechanism, username, password });
  }
  const endpoint = env.KINESIS_ENDPOINT || undefined;
  if (endpoint !== undefined && !/^https?:\/\/[^\s]+$/.test(endpoint)) {
    throw new ConfigError(`KINESIS_ENDPOINT "${endpoint}" is not a URL such as "http://127.0.0.1:4567".`);
  }
  return Object.freeze({
    stream,
    kafka: Object.freeze({
      brokers: Object.freeze(brokers),
      clientId: env.KAFKA_CLIENT_ID || 'iot-ingest',
      ssl: bool(env, 'KAFKA_SSL', false),
      sasl,
    }),
    kinesis: Object.freeze({
      endpoint,
      region: env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1',
      local: bool(
        env,
        'KINESIS_LOCAL',
        endpoint !== undefined && /^http:\/\/(127\.|localhost)/.test(endpoint),
      ),
    }),
    dataDir,
    duckdbPath: path.resolve(env.DUCKDB_PATH ?? path.join(dataDir, 'iot-ingest.duckdb')),
    maxPayloadBytes: int(env, 'IOT_MAX_PAYLOAD_BYTES', 256 * 1024, 16, 16 * 1024 * 1024),
    logLevel: oneOf(env, 'LOG_LEVEL', ['debug', 'info', 'warn', 'error'] as const, 'info'),
  });
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
