/**
 * Settings shared by the Timestream write and query clients. Only types are imported here, so the
 * query side does not load the write client and the other way round.
 */
import type { TimestreamQueryClientConfig } from '@aws-sdk/client-timestream-query';
import type { TimestreamWriteClientConfig } from '@aws-sdk/client-timestream-write';
import type { TimestreamStoreConfig } from '../config.ts';

/** What both SDK clients accept; tests add a `requestHandler` that routes to the local endpoint. */
export type TimestreamSdkConfig = TimestreamWriteClientConfig & TimestreamQueryClientConfig;

/**
 * Attempts per WriteRecords or Query call, throttling included. The SDK's standard strategy backs
 * off exponentially with jitter between them (longer after a ThrottlingException) and stops early
 * when its retry budget is spent; after that the batch fails retryably and the event source mapping
 * tries it again later.
 */
export const TIMESTREAM_MAX_ATTEMPTS = 6;

export function timestreamSdkConfig(
  config: Pick<TimestreamStoreConfig, 'region' | 'endpoint' | 'local'>,
  overrides: TimestreamSdkConfig = {},
): TimestreamSdkConfig {
  return {
    region: config.region,
    maxAttempts: TIMESTREAM_MAX_ATTEMPTS,
    // A fixed endpoint (a VPC endpoint, a local one) turns endpoint discovery off in the SDK.
    ...(config.endpoint === undefined ? {} : { endpoint: config.endpoint }),
    ...(config.local ? { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {}),
    ...overrides,
  };
}
