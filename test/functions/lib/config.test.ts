import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../functions/lib/config.ts';
import { ConfigError } from '../../../functions/lib/errors.ts';

describe('loadConfig', () => {
  it('defaults to Kinesis with data under ./data, frozen', () => {
    const config = loadConfig({});
    expect(config.stream).toBe('kinesis');
    expect(config.duckdbPath).toMatch(/data\/iot-ingest\.duckdb$/);
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.kafka)).toBe(true);
  });

  it('reads a Kafka setup with SASL', () => {
    const config = loadConfig({
      IOT_STREAM: 'kafka',
      KAFKA_BROKERS: 'a:9092, b:9093',
      KAFKA_SASL_MECHANISM: 'scram-sha-512',
      KAFKA_SASL_USERNAME: 'u',
      KAFKA_SASL_PASSWORD: 'p',
      KAFKA_SSL: 'true',
    });
    expect(config.kafka.brokers).toEqual(['a:9092', 'b:9093']);
    expect(config.kafka.ssl).toBe(true);
    expect(config.kafka.sasl?.mechanism).toBe('scram-sha-512');
  });

  it.each([
    [{ IOT_STREAM: 'pulsar' }, /IOT_STREAM="pulsar" is not valid: use one of kafka, kinesis/],
    [{ IOT_STREAM: 'kafka' }, /needs KAFKA_BROKERS/],
    [{ IOT_STREAM: 'kafka', KAFKA_BROKERS: 'nohost' }, /"nohost" is not host:port/],
    [{ KINESIS_ENDPOINT: 'localhost:4567' }, /is not a URL/],
    [{ KAFKA_SSL: 'maybe' }, /KAFKA_SSL="maybe" is not a boolean/],
    [{ IOT_MAX_PAYLOAD_BYTES: '-5' }, /must be a whole number/],
    [{ KAFKA_SASL_MECHANISM: 'plain' }, /set KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD/],
    [{ DUCKDB_MEMORY_LIMIT: 'lots' }, /DUCKDB_MEMORY_LIMIT="lots" is not a size: .* e\.g\. 256MB/],
    [{ DUCKDB_MEMORY_LIMIT: '256' }, /DUCKDB_MEMORY_LIMIT="256" is not a size/],
    [{ DUCKDB_THREADS: '0' }, /DUCKDB_THREADS="0" must be a whole number from 1 to 1024/],
    [{ DUCKDB_THREADS: 'two' }, /DUCKDB_THREADS="two" must be a whole number/],
  ])('rejects %o with a message that says what to do', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('passes DUCKDB_MEMORY_LIMIT and DUCKDB_THREADS to the DuckDB store, and leaves them out when unset', () => {
    // Act
    const limited = loadConfig({ DUCKDB_MEMORY_LIMIT: '256MB', DUCKDB_THREADS: '1' });
    const unlimited = loadConfig({});

    // Assess
    expect(limited.duckdb).toEqual({ memoryLimit: '256MB', threads: 1 });
    expect(limited.store).toEqual({
      kind: 'duckdb',
      path: limited.duckdbPath,
      memoryLimit: '256MB',
      threads: 1,
    });
    expect(unlimited.duckdb).toEqual({});
    expect(unlimited.store).toEqual({ kind: 'duckdb', path: unlimited.duckdbPath });
  });
});
