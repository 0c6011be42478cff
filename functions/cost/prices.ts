/**
 * The AWS list prices the cost estimate uses: us-east-1, on-demand, USD, no free tier, no savings
 * plans. Each price names the public pricing page it was read from.
 *
 * Taken on PRICES_TAKEN_ON from those pages as published then; this file is not refreshed
 * automatically (nothing here fetches prices). Prices change: check the pages, then update the
 * numbers and the date together. A price marked `verify` is one the author could not confirm on
 * the page at that date.
 */
export const PRICES_REGION = 'us-east-1';
export const PRICES_TAKEN_ON = '2025-06-01';

export interface Price {
  readonly usd: number;
  /** What one `usd` buys, e.g. "million messages". */
  readonly per: string;
  readonly source: string;
  /** Anything that qualifies the number (tiers, rounding, an unconfirmed figure). */
  readonly note?: string;
}

const IOT = 'https://aws.amazon.com/iot-core/pricing/';
const KINESIS = 'https://aws.amazon.com/kinesis/data-streams/pricing/';
const LAMBDA = 'https://aws.amazon.com/lambda/pricing/';
const TIMESTREAM = 'https://aws.amazon.com/timestream/pricing/';
const MSK = 'https://aws.amazon.com/msk/pricing/';
const FARGATE = 'https://aws.amazon.com/fargate/pricing/';
const VPC = 'https://aws.amazon.com/vpc/pricing/';
const CLOUDWATCH = 'https://aws.amazon.com/cloudwatch/pricing/';

export const PRICES = Object.freeze({
  iot: {
    connectionMinutes: { usd: 0.08, per: 'million connection-minutes', source: IOT },
    messages: {
      usd: 1.0,
      per: 'million messages (5 KB units)',
      source: IOT,
      note: 'first 1 billion a month; $0.80 for the next 4 billion, $0.70 beyond (not applied here)',
    },
    rulesTriggered: { usd: 0.15, per: 'million rules triggered (5 KB units)', source: IOT },
    actionsExecuted: { usd: 0.15, per: 'million actions executed (5 KB units)', source: IOT },
  },
  kinesis: {
    shardHour: { usd: 0.015, per: 'shard-hour (provisioned)', source: KINESIS },
    putPayloadUnits: { usd: 0.014, per: 'million PUT payload units (25 KB)', source: KINESIS },
    extendedRetentionShardHour: {
      usd: 0.02,
      per: 'shard-hour of retention beyond 24 h, up to 7 days',
      source: KINESIS,
    },
  },
  lambda: {
    requests: { usd: 0.2, per: 'million requests', source: LAMBDA },
    armGbSecond: {
      usd: 0.0000133334,
      per: 'GB-second (Arm)',
      source: LAMBDA,
      note: 'first 7.5 billion GB-s a month',
    },
    kafkaEventPollerUnitHour: {
      usd: 0.185,
      per: 'event poller unit-hour (Kafka provisioned mode)',
      source: LAMBDA,
      note: 'verify: not confirmed on the page on the date above',
    },
  },
  timestream: {
    writes: { usd: 0.5, per: 'million 1 KB writes', source: TIMESTREAM },
    memoryStoreGbHour: { usd: 0.036, per: 'GB-hour in the memory store', source: TIMESTREAM },
    magneticStoreGbMonth: { usd: 0.03, per: 'GB-month in the magnetic store', source: TIMESTREAM },
  },
  msk: {
    'kafka.t3.small': { usd: 0.0456, per: 'broker-hour', source: MSK },
    'kafka.m7g.large': { usd: 0.204, per: 'broker-hour', source: MSK },
    storageGbMonth: { usd: 0.1, per: 'GB-month of broker storage', source: MSK },
  },
  fargate: {
    armVcpuHour: { usd: 0.03238, per: 'vCPU-hour (Linux/Arm)', source: FARGATE },
    armGbHour: { usd: 0.00356, per: 'GB-hour (Linux/Arm)', source: FARGATE },
  },
  vpc: {
    natGatewayHour: { usd: 0.045, per: 'NAT gateway-hour', source: VPC },
    natGatewayGb: { usd: 0.045, per: 'GB processed by a NAT gateway', source: VPC },
  },
  cloudwatch: {
    alarmMonth: { usd: 0.1, per: 'standard-resolution alarm-month', source: CLOUDWATCH },
    dashboardMonth: {
      usd: 3.0,
      per: 'dashboard-month',
      source: CLOUDWATCH,
      note: 'the first 3 dashboards of an account are free',
    },
    logsIngestedGb: { usd: 0.5, per: 'GB of logs ingested', source: CLOUDWATCH },
  },
  secretsManager: {
    secretMonth: { usd: 0.4, per: 'secret-month', source: 'https://aws.amazon.com/secrets-manager/pricing/' },
  },
  kms: {
    keyMonth: { usd: 1.0, per: 'customer managed key-month', source: 'https://aws.amazon.com/kms/pricing/' },
  },
} as const satisfies Record<string, Record<string, Price>>);

export type MskBrokerType = 'kafka.t3.small' | 'kafka.m7g.large';
