/**
 * The deployment's settings, read once from CDK context (`cdk synth -c key=value` or cdk.json) and
 * checked, so a typo stops the synth with a message instead of deploying something else.
 */
import { ConfigError } from '../../functions/lib/errors.ts';

export type StoreConfig =
  | { readonly kind: 'timestream'; readonly database: string; readonly table: string }
  | {
      readonly kind: 'influxdb';
      readonly url: string;
      readonly org: string;
      readonly bucket: string;
      /** Secrets Manager secret holding the API token (a plain string). */
      readonly tokenSecretArn: string;
    };

export type KafkaConfig =
  | { readonly kind: 'msk' }
  | {
      readonly kind: 'self-managed';
      readonly bootstrapServers: readonly string[];
      /** Secrets Manager secret `{"username": ..., "password": ...}` for SASL/SCRAM-SHA-512. */
      readonly credentialsSecretArn: string;
    };

export interface DeploymentConfig {
  readonly store: StoreConfig;
  /** Shards of telemetry.raw and telemetry.valid (`iot-ingest cost` prints what a fleet needs). */
  readonly shards: number;
  readonly kafka: KafkaConfig;
  /** A registry image for the bridge instead of building infra/aws/bridge/Dockerfile. */
  readonly bridgeImage?: string | undefined;
  /** Secrets Manager secret `{"cert": PEM, "key": PEM}`: the bridge's AWS IoT client certificate. */
  readonly bridgeCertificateSecretArn?: string | undefined;
  /** E-mail address subscribed to the alerts topic. */
  readonly alertEmail?: string | undefined;
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error';
}

export type Context = (key: string) => unknown;

export function readDeploymentConfig(context: Context): DeploymentConfig {
  const text = (key: string): string | undefined => {
    const value = context(key);
    if (value === undefined || value === null || value === '') return undefined;
    if (typeof value !== 'string' && typeof value !== 'number')
      throw new ConfigError(`context ${key} must be a string`);
    return String(value);
  };
  const required = (key: string, why: string): string => {
    const value = text(key);
    if (value === undefined)
      throw new ConfigError(`context ${key} is required ${why} (cdk synth -c ${key}=...)`);
    return value;
  };
  const arn = (key: string, why: string): string => {
    const value = required(key, why);
    if (!value.startsWith('arn:')) throw new ConfigError(`context ${key}="${value}" is not an ARN`);
    return value;
  };

  const storeKind = text('store') ?? 'timestream';
  let store: StoreConfig;
  if (storeKind === 'timestream') {
    store = {
      kind: 'timestream',
      database: text('timestreamDatabase') ?? 'iot_ingest',
      table: text('timestreamTable') ?? 'readings',
    };
  } else if (storeKind === 'influxdb') {
    const url = required('influxUrl', 'with store=influxdb');
    if (!/^https:\/\/\S+$/.test(url))
      throw new ConfigError(`context influxUrl="${url}" must be an https:// URL`);
    store = {
      kind: 'influxdb',
      url,
      org: required('influxOrg', 'with store=influxdb'),
      bucket: text('influxBucket') ?? 'iot_ingest',
      tokenSecretArn: arn('influxTokenSecretArn', 'with store=influxdb'),
    };
  } else {
    throw new ConfigError(`context store="${storeKind}" is not valid: use timestream or influxdb`);
  }

  const shards = Number(text('shards') ?? '1');
  if (!Number.isInteger(shards) || shards < 1 || shards > 500)
    throw new ConfigError(`context shards="${text('shards')}" must be 1..500`);

  const kafkaKind = text('kafka') ?? 'msk';
  let kafka: KafkaConfig;
  if (kafkaKind === 'msk') {
    kafka = { kind: 'msk' };
  } else if (kafkaKind === 'self-managed') {
    const servers = required('kafkaBootstrapServers', 'with kafka=self-managed')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
    for (const server of servers) {
      if (!/^[^\s:]+:\d{1,5}$/.test(server))
        throw new ConfigError(`kafkaBootstrapServers entry "${server}" is not host:port`);
    }
    kafka = {
      kind: 'self-managed',
      bootstrapServers: servers,
      credentialsSecretArn: arn('kafkaCredentialsSecretArn', 'with kafka=self-managed'),
    };
  } else {
    throw new ConfigError(`context kafka="${kafkaKind}" is not valid: use msk or self-managed`);
  }

  const logLevel = text('logLevel') ?? 'info';
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel))
    throw new ConfigError(`context logLevel="${logLevel}" is not valid`);
  const certificate = text('bridgeCertificateSecretArn');
  if (certificate !== undefined && !certificate.startsWith('arn:'))
    throw new ConfigError('context bridgeCertificateSecretArn is not an ARN');

  return Object.freeze({
    store: Object.freeze(store),
    shards,
    kafka: Object.freeze(kafka),
    bridgeImage: text('bridgeImage'),
    bridgeCertificateSecretArn: certificate,
    alertEmail: text('alertEmail'),
    logLevel: logLevel as DeploymentConfig['logLevel'],
  });
}
