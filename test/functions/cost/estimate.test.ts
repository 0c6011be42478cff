import { describe, expect, it } from 'vitest';
import { ALARM_COUNT } from '../../../functions/cost/deployment.ts';
import { estimateKafka, estimateKinesis } from '../../../functions/cost/estimate.ts';
import type { Estimate, Fleet } from '../../../functions/cost/types.ts';
import { defaultMappings } from '../../../functions/runner/topology.ts';

function usd(estimate: Estimate, item: string): number {
  const found = estimate.lines.filter((l) => l.item.startsWith(item));
  expect(found, `one line starting "${item}"`).toHaveLength(1);
  return found[0]!.usd;
}

describe('estimateKinesis, hand-computed', () => {
  // 1,000 devices, one 100-byte reading every 10 s:
  //   100 readings/s; a month is 730 h = 2,628,000 s, so 262,800,000 readings a month.
  //   100 B payload + 20 B topic = 120 B: one 5 KB IoT unit, one 25 KB Kinesis PUT unit.
  // Per-batch durations are given (validate 50 ms, detect 10 ms, write 100 ms) so the Lambda lines
  // do not depend on the model.
  const fleet: Fleet = { devices: 1_000, intervalSeconds: 10, payloadBytes: 100 };
  const estimate = estimateKinesis(fleet, {
    mappings: defaultMappings(),
    batchMs: { validate: 50, detect: 10, write: 100 },
  });

  it('prices IoT Core connectivity, messages, the rule and its action', () => {
    // 1,000 devices x 730 h x 60 min = 43,800,000 connection-minutes x $0.08/M = $3.504
    expect(usd(estimate, 'device connections')).toBeCloseTo(3.504, 6);
    // 262.8 M messages x $1.00/M = $262.80
    expect(usd(estimate, 'messages published')).toBeCloseTo(262.8, 6);
    // 262.8 M x $0.15/M = $39.42, once for the rule and once for the Kinesis action
    expect(usd(estimate, 'rule telemetry/+')).toBeCloseTo(39.42, 6);
    expect(usd(estimate, 'Kinesis action')).toBeCloseTo(39.42, 6);
  });

  it('prices four one-shard streams, their PUTs and the dead-letter retention', () => {
    // 100 records/s and 12 KB/s fit one shard each: raw 1 + valid 1 + dlq 1 + alerts 1 = 4
    // 4 shards x 730 h = 2,920 shard-hours x $0.015 = $43.80
    expect(usd(estimate, 'shards (raw 1, valid 1, dlq 1, alerts 1)')).toBeCloseTo(43.8, 6);
    // raw and valid: 2 x 262.8 M = 525.6 M PUT units x $0.014/M = $7.3584
    expect(usd(estimate, 'PUT payload units')).toBeCloseTo(7.3584, 6);
    // dlq kept 7 days: 1 shard x 730 h x $0.02 = $14.60
    expect(usd(estimate, 'dead-letter stream')).toBeCloseTo(14.6, 6);
  });

  it('prices Lambda at one invocation a second per shard', () => {
    // 100 records/s on one shard, BatchSize 500 (2,000 for write): one batch of 100 a second,
    // 2,628,000 requests a month each x $0.20/M = $0.5256
    expect(usd(estimate, 'validate requests')).toBeCloseTo(0.5256, 6);
    expect(usd(estimate, 'detect requests')).toBeCloseTo(0.5256, 6);
    expect(usd(estimate, 'write requests')).toBeCloseTo(0.5256, 6);
    // validate: 2,628,000 x 0.050 s x 1 GB (1,024 MB) = 131,400 GB-s x $0.0000133334 = $1.75200876
    expect(usd(estimate, 'validate duration (1024 MB x 50 ms)')).toBeCloseTo(1.75200876, 6);
    // detect: 2,628,000 x 0.010 s x 0.5 GB (512 MB) = 13,140 GB-s x $0.0000133334 = $0.175200876
    expect(usd(estimate, 'detect duration (512 MB x 10 ms)')).toBeCloseTo(0.175200876, 6);
    // write: 2,628,000 x 0.100 s x 1 GB = 262,800 GB-s x $0.0000133334 = $3.50401752
    expect(usd(estimate, 'write duration (1024 MB x 100 ms)')).toBeCloseTo(3.50401752, 6);
    // logs: 3 x 2,628,000 invocations x 350 B = 2,759,400,000 B = 2.5699 GiB x $0.50 = $1.284941
    expect(usd(estimate, 'Lambda logs')).toBeCloseTo(1.284941, 5);
  });

  it('prices Timestream writes and storage', () => {
    // 262.8 M writes x $0.50/M = $131.40
    expect(usd(estimate, 'writes')).toBeCloseTo(131.4, 6);
    // 100 readings/s x 3,600 s x 100 B = 36,000,000 B an hour; 24 h in memory = 864,000,000 B
    // = 0.804663 GiB, x 730 h = 587.4038 GB-hours x $0.036 = $21.14654
    expect(usd(estimate, 'memory store')).toBeCloseTo(21.14654, 4);
    // 36,000,000 B x 24 x 365 = 315,360,000,000 B = 293.7018 GiB x $0.03 = $8.81105
    expect(usd(estimate, 'magnetic store')).toBeCloseTo(8.81105, 4);
  });

  it('prices the alarms and the dashboard, and totals the lines', () => {
    expect(usd(estimate, 'alarms')).toBeCloseTo(ALARM_COUNT.kinesis * 0.1, 6);
    expect(usd(estimate, 'dashboard')).toBe(3);
    // 3.504 + 262.8 + 2 x 39.42 + 43.8 + 7.3584 + 14.6 + 3 x 0.5256 + 1.75200876 + 0.175200876
    // + 3.50401752 + 1.284941 + 131.4 + 21.14654 + 8.81105 + alarms + 3
    const expected =
      3.504 +
      262.8 +
      2 * 39.42 +
      43.8 +
      7.3584 +
      14.6 +
      3 * 0.5256 +
      1.75200876 +
      0.175200876 +
      3.50401752 +
      1.284941 +
      131.4 +
      21.14654 +
      8.81105 +
      ALARM_COUNT.kinesis * 0.1 +
      3;
    expect(estimate.totalUsd).toBeCloseTo(expected, 3);
    expect(estimate.totalUsd).toBeCloseTo(
      estimate.lines.reduce((sum, l) => sum + l.usd, 0),
      9,
    );
  });
});

describe('estimateKinesis, scaling', () => {
  it('adds shards when the load passes 1,000 records a second', () => {
    // Prepare: 50,000 devices at 1 Hz = 50,000 records/s -> 50 shards for raw and for valid
    const estimate = estimateKinesis(
      { devices: 50_000, intervalSeconds: 1, payloadBytes: 64 },
      { mappings: defaultMappings() },
    );

    // Assess
    expect(estimate.lines.some((l) => l.item.startsWith('shards (raw 50, valid 50, dlq 1, alerts 1)'))).toBe(
      true,
    );
  });

  it('meters a 6 KB payload as two IoT messages', () => {
    const estimate = estimateKinesis(
      { devices: 1_000, intervalSeconds: 10, payloadBytes: 6_000 },
      { mappings: defaultMappings() },
    );

    // 262.8 M readings x 2 units x $1.00/M
    expect(usd(estimate, 'messages published')).toBeCloseTo(525.6, 6);
  });
});

describe('estimateKafka, hand-computed', () => {
  const fleet: Fleet = { devices: 1_000, intervalSeconds: 10, payloadBytes: 100 };
  const estimate = estimateKafka(fleet, {
    mappings: defaultMappings(),
    batchMs: { validate: 50, detect: 10, write: 100 },
  });

  it('meters the publish, the delivery to the bridge and its PUBACK', () => {
    // 262.8 M x (1 + 1 + 1) = 788.4 M messages x $1.00/M
    expect(usd(estimate, 'messages: device publish')).toBeCloseTo(788.4, 6);
  });

  it('prices the brokers, their storage, the bridge, NAT and the pollers', () => {
    // 2 x kafka.t3.small x 730 h x $0.0456 = $66.576
    expect(usd(estimate, '2 x kafka.t3.small')).toBeCloseTo(66.576, 6);
    // 2 x 100 GB x $0.10 = $20
    expect(usd(estimate, 'broker storage')).toBeCloseTo(20, 6);
    // 2 tasks x 0.5 vCPU x 730 h x $0.03238 = $23.6374; 2 x 1 GB x 730 h x $0.00356 = $5.1976
    expect(usd(estimate, 'bridge vCPU')).toBeCloseTo(23.6374, 6);
    expect(usd(estimate, 'bridge memory')).toBeCloseTo(5.1976, 6);
    // NAT: 730 h x $0.045 = $32.85; data 262.8 M x (120 + 100) B = 57.816 GB (10^9) = 53.8454 GiB x $0.045
    expect(usd(estimate, 'NAT gateway hours')).toBeCloseTo(32.85, 6);
    expect(usd(estimate, 'NAT gateway data')).toBeCloseTo(2.423, 3);
    // 3 mappings x 1 poller x 730 h x $0.185 = $405.15
    expect(usd(estimate, 'Kafka event pollers')).toBeCloseTo(405.15, 6);
  });

  it('has no IoT rule and no Kinesis line', () => {
    expect(estimate.lines.some((l) => l.service === 'Kinesis' || l.item.startsWith('rule'))).toBe(false);
  });
});
