import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../functions/lib/errors.ts';
import { readDeploymentConfig } from '../../../infra/aws/config.ts';

const from = (values: Record<string, string>) => (key: string) => values[key];

describe('readDeploymentConfig', () => {
  it('defaults to Timestream, one shard, MSK', () => {
    const config = readDeploymentConfig(from({}));

    expect(config).toMatchObject({
      store: { kind: 'timestream', database: 'iot_ingest', table: 'readings' },
      shards: 1,
      kafka: { kind: 'msk' },
      logLevel: 'info',
    });
  });

  it.each([
    [{ store: 'dynamo' }, /store="dynamo" is not valid/],
    [{ store: 'influxdb' }, /influxUrl is required with store=influxdb/],
    [
      { store: 'influxdb', influxUrl: 'http://x:8086', influxOrg: 'o', influxTokenSecretArn: 'arn:x' },
      /must be an https:\/\/ URL/,
    ],
    [{ shards: '0' }, /shards="0" must be 1..500/],
    [{ kafka: 'self-managed' }, /kafkaBootstrapServers is required/],
    [
      { kafka: 'self-managed', kafkaBootstrapServers: 'broker', kafkaCredentialsSecretArn: 'arn:x' },
      /"broker" is not host:port/,
    ],
    [
      { kafka: 'self-managed', kafkaBootstrapServers: 'b:9096', kafkaCredentialsSecretArn: 'secret' },
      /is not an ARN/,
    ],
    [{ logLevel: 'loud' }, /logLevel="loud"/],
  ])('rejects %j', (values, message) => {
    expect(() => readDeploymentConfig(from(values))).toThrow(ConfigError);
    expect(() => readDeploymentConfig(from(values))).toThrow(message);
  });
});
