/**
 * The store the configuration names (IOT_STORE). Each store is imported only when chosen, so a
 * Lambda bundle that writes to Timestream or InfluxDB never loads DuckDB's native module, and the
 * embedded pipeline never loads the AWS SDK's Timestream clients.
 */
import type { StoreConfig } from '../config.ts';
import { ConfigError } from '../errors.ts';
import type { TelemetryStore } from './types.ts';

export async function createStore(config: StoreConfig): Promise<TelemetryStore> {
  switch (config.kind) {
    case 'duckdb': {
      const { DuckDbStore } = await import('./duckdb-store.ts');
      return DuckDbStore.open(config.path, config);
    }
    case 'timestream': {
      const { TimestreamStore } = await import('./timestream-store.ts');
      return TimestreamStore.open(config);
    }
    case 'influxdb': {
      if (config.tokenSecretArn !== undefined && config.token === undefined) {
        // Reading the secret needs @aws-sdk/client-secrets-manager, which is not a dependency yet.
        throw new ConfigError(
          'INFLUXDB_TOKEN_SECRET_ARN is set, but reading Secrets Manager is not built in yet: ' +
            'give the token as INFLUXDB_TOKEN or INFLUXDB_TOKEN_FILE.',
        );
      }
      const { InfluxStore } = await import('./influx-store.ts');
      return InfluxStore.open(config);
    }
  }
}
