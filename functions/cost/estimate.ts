/**
 * The monthly AWS bill for a fleet, line by line, for the two deployments in infra/aws: IoT Core
 * rule -> Kinesis -> Lambda, and IoT Core -> bridge on Fargate -> MSK -> Lambda. Pure arithmetic
 * over the price table (prices.ts) and the deployment's sizes (deployment.ts).
 */
import type { EventSourceMapping } from '../runner/mapping.ts';
import {
  ALARM_COUNT,
  BRIDGE_SIZING,
  DASHBOARDS,
  FUNCTION_SIZING,
  HOURS_PER_MONTH,
  KINESIS_SIZING,
  MSK_SIZING,
  type PipelineFunction,
  SECONDS_PER_MONTH,
  shardsFor,
  TIMESTREAM_SIZING,
} from './deployment.ts';
import { batchDurationMs, invocations } from './lambda-usage.ts';
import { PRICES, type Price } from './prices.ts';
import type { Estimate, Fleet, LineItem } from './types.ts';

/** IoT Core meters messages, rules and actions in 5 KB units of payload + topic. */
const IOT_UNIT_BYTES = 5 * 1024;
/** `telemetry/` + a device id of about ten characters. */
const TOPIC_BYTES = 20;
const KINESIS_PUT_UNIT_BYTES = 25 * 1024;
/** The Avro envelope validate's records travel in on telemetry.valid (topic, receive time). */
const ENVELOPE_BYTES = 60;
/** Lambda's START, END and REPORT lines for one invocation. */
const LOG_BYTES_PER_INVOCATION = 350;
const GB = 1024 ** 3;

export interface EstimateOptions {
  /** The event source mappings as deployed (defaultMappings()). */
  readonly mappings: readonly EventSourceMapping[];
  /** Per-batch duration to price instead of the model, ms, by function (e.g. from CloudWatch). */
  readonly batchMs?: Partial<Record<PipelineFunction, number>>;
}

interface Load {
  readonly perSecond: number;
  readonly perMonth: number;
  readonly iotUnits: number;
}

function load(fleet: Fleet): Load {
  const perSecond = fleet.devices / fleet.intervalSeconds;
  return {
    perSecond,
    perMonth: perSecond * SECONDS_PER_MONTH,
    iotUnits: Math.ceil((fleet.payloadBytes + TOPIC_BYTES) / IOT_UNIT_BYTES),
  };
}

function line(
  service: string,
  item: string,
  quantity: number,
  unit: string,
  price: Price,
  unitsPerPrice = 1,
): LineItem {
  return { service, item, quantity, unit, price, usd: (quantity / unitsPerPrice) * price.usd };
}

const MILLION = 1_000_000;

function iotConnectivity(fleet: Fleet): LineItem {
  const minutes = fleet.devices * HOURS_PER_MONTH * 60;
  return line(
    'IoT Core',
    'device connections, always on',
    minutes,
    'connection-minutes',
    PRICES.iot.connectionMinutes,
    MILLION,
  );
}

function lambdaLines(
  options: EstimateOptions,
  shardsOf: (stream: string) => number,
  recordsOf: (stream: string) => number,
): { lines: LineItem[]; notes: string[] } {
  const lines: LineItem[] = [];
  const notes: string[] = [];
  let invocationsPerMonth = 0;
  for (const mapping of options.mappings) {
    const fn = mapping.FunctionName as PipelineFunction;
    const sizing = FUNCTION_SIZING[fn];
    const usage = invocations(recordsOf(mapping.EventSource), shardsOf(mapping.EventSource), mapping);
    const perMonth = usage.perSecond * SECONDS_PER_MONTH;
    invocationsPerMonth += perMonth;
    const modelled = batchDurationMs(fn, usage.meanBatch, sizing.memoryMb);
    const ms = Math.ceil(options.batchMs?.[fn] ?? modelled); // Lambda bills whole milliseconds
    const gbSeconds = perMonth * (ms / 1000) * (sizing.memoryMb / 1024);
    lines.push(line('Lambda', `${fn} requests`, perMonth, 'requests', PRICES.lambda.requests, MILLION));
    lines.push(
      line(
        'Lambda',
        `${fn} duration (${sizing.memoryMb} MB x ${ms} ms)`,
        gbSeconds,
        'GB-seconds',
        PRICES.lambda.armGbSecond,
      ),
    );
    notes.push(
      `${fn}: ${usage.meanBatch.toFixed(1)} records a batch, ${ms} ms a batch` +
        (options.batchMs?.[fn] === undefined
          ? ' (modelled: measured CPU + assumed calls, lambda-usage.ts)'
          : ' (given)'),
    );
  }
  const logGb = (invocationsPerMonth * LOG_BYTES_PER_INVOCATION) / GB;
  lines.push(
    line('CloudWatch', 'Lambda logs (START/END/REPORT only)', logGb, 'GB', PRICES.cloudwatch.logsIngestedGb),
  );
  return { lines, notes };
}

function timestreamLines(fleet: Fleet, l: Load): LineItem[] {
  // One multi-measure record per reading, under 1 KB; stored at about the payload's size.
  const bytesPerHour = l.perSecond * 3600 * fleet.payloadBytes;
  const memoryGb = (bytesPerHour * TIMESTREAM_SIZING.memoryStoreRetentionHours) / GB;
  const magneticGb = (bytesPerHour * 24 * TIMESTREAM_SIZING.magneticStoreRetentionDays) / GB;
  return [
    line(
      'Timestream',
      'writes (one 1 KB record a reading)',
      l.perMonth,
      'writes',
      PRICES.timestream.writes,
      MILLION,
    ),
    line(
      'Timestream',
      `memory store (${TIMESTREAM_SIZING.memoryStoreRetentionHours} h kept)`,
      memoryGb * HOURS_PER_MONTH,
      'GB-hours',
      PRICES.timestream.memoryStoreGbHour,
    ),
    line(
      'Timestream',
      `magnetic store (${TIMESTREAM_SIZING.magneticStoreRetentionDays} days kept, once full)`,
      magneticGb,
      'GB-months',
      PRICES.timestream.magneticStoreGbMonth,
    ),
  ];
}

function monitoringLines(alarms: number): LineItem[] {
  return [
    line('CloudWatch', 'alarms', alarms, 'alarms', PRICES.cloudwatch.alarmMonth),
    line('CloudWatch', 'dashboard', DASHBOARDS, 'dashboards', PRICES.cloudwatch.dashboardMonth),
  ];
}

function total(lines: readonly LineItem[]): number {
  return lines.reduce((sum, l) => sum + l.usd, 0);
}

function commonAssumptions(fleet: Fleet, l: Load): string[] {
  return [
    `${fleet.devices} devices, one ${fleet.payloadBytes}-byte reading every ${fleet.intervalSeconds} s: ` +
      `${l.perSecond.toFixed(2)} readings/s, ${(l.perMonth / MILLION).toFixed(2)} million a month (730 h).`,
    'Every reading is valid and anomalies are rare: dead-letter and alert traffic, SNS and S3 are left out.',
    'List prices, no free tier, no savings plans, first pricing tier only; data transfer out of AWS is not included.',
  ];
}

/** IoT Core rule -> Kinesis -> Lambda -> Timestream (infra/aws KinesisPipelineStack). */
export function estimateKinesis(fleet: Fleet, options: EstimateOptions): Estimate {
  const l = load(fleet);
  const rawBytes = fleet.payloadBytes + TOPIC_BYTES;
  const validBytes = fleet.payloadBytes + ENVELOPE_BYTES + TOPIC_BYTES;
  const shards: Record<string, number> = {
    'telemetry.raw': shardsFor(l.perSecond, l.perSecond * rawBytes),
    'telemetry.valid': shardsFor(l.perSecond, l.perSecond * validBytes),
    'telemetry.dlq': 1,
    alerts: 1,
  };
  const records: Record<string, number> = { 'telemetry.raw': l.perSecond, 'telemetry.valid': l.perSecond };
  const totalShards = Object.values(shards).reduce((a, b) => a + b, 0);
  const lines: LineItem[] = [
    iotConnectivity(fleet),
    line(
      'IoT Core',
      'messages published by devices',
      l.perMonth * l.iotUnits,
      'messages',
      PRICES.iot.messages,
      MILLION,
    ),
    line(
      'IoT Core',
      'rule telemetry/+ triggered',
      l.perMonth * l.iotUnits,
      'rules',
      PRICES.iot.rulesTriggered,
      MILLION,
    ),
    line(
      'IoT Core',
      'Kinesis action executed',
      l.perMonth * l.iotUnits,
      'actions',
      PRICES.iot.actionsExecuted,
      MILLION,
    ),
    line(
      'Kinesis',
      `shards (raw ${shards['telemetry.raw']}, valid ${shards['telemetry.valid']}, dlq 1, alerts 1)`,
      totalShards * HOURS_PER_MONTH,
      'shard-hours',
      PRICES.kinesis.shardHour,
    ),
    line(
      'Kinesis',
      'PUT payload units (raw + valid)',
      l.perMonth *
        (Math.ceil(rawBytes / KINESIS_PUT_UNIT_BYTES) + Math.ceil(validBytes / KINESIS_PUT_UNIT_BYTES)),
      'PUT units',
      PRICES.kinesis.putPayloadUnits,
      MILLION,
    ),
    line(
      'Kinesis',
      `dead-letter stream kept ${KINESIS_SIZING.deadLetterRetentionHours} h`,
      shards['telemetry.dlq']! * HOURS_PER_MONTH,
      'shard-hours',
      PRICES.kinesis.extendedRetentionShardHour,
    ),
  ];
  const lambda = lambdaLines(
    options,
    (stream) => shards[stream] ?? 1,
    (stream) => records[stream] ?? 0,
  );
  lines.push(...lambda.lines, ...timestreamLines(fleet, l), ...monitoringLines(ALARM_COUNT.kinesis));
  return {
    variant: 'kinesis',
    lines,
    totalUsd: total(lines),
    assumptions: [
      ...commonAssumptions(fleet, l),
      `Kinesis provisioned mode sized to the load (1,000 records/s or 1 MiB/s a shard): ${totalShards} shards.`,
      ...lambda.notes,
    ],
  };
}

/** IoT Core -> bridge on Fargate -> MSK -> Lambda -> Timestream (infra/aws KafkaPipelineStack, MSK). */
export function estimateKafka(fleet: Fleet, options: EstimateOptions): Estimate {
  const l = load(fleet);
  const rawBytes = fleet.payloadBytes + TOPIC_BYTES;
  // Partitions play the part of shards: one batch in flight per partition.
  const partitions = shardsFor(l.perSecond, l.perSecond * rawBytes);
  const records: Record<string, number> = { 'telemetry.raw': l.perSecond, 'telemetry.valid': l.perSecond };
  const brokerPrice = PRICES.msk[MSK_SIZING.brokerType];
  // The bridge's traffic from IoT Core and the functions' writes to Timestream leave the VPC through NAT.
  const natGb = (l.perMonth * (rawBytes + fleet.payloadBytes)) / GB;
  const lines: LineItem[] = [
    iotConnectivity(fleet),
    // Published by the device, delivered to the bridge, and the bridge's PUBACK (MQTT 3.1.1: one unit).
    line(
      'IoT Core',
      'messages: device publish + delivery to bridge + bridge PUBACK',
      l.perMonth * (2 * l.iotUnits + 1),
      'messages',
      PRICES.iot.messages,
      MILLION,
    ),
    line(
      'MSK',
      `${MSK_SIZING.brokers} x ${MSK_SIZING.brokerType} brokers`,
      MSK_SIZING.brokers * HOURS_PER_MONTH,
      'broker-hours',
      brokerPrice,
    ),
    line(
      'MSK',
      `broker storage ${MSK_SIZING.brokers} x ${MSK_SIZING.storageGbPerBroker} GB`,
      MSK_SIZING.brokers * MSK_SIZING.storageGbPerBroker,
      'GB-months',
      PRICES.msk.storageGbMonth,
    ),
    line(
      'Fargate',
      `bridge vCPU (${BRIDGE_SIZING.tasks} tasks x ${BRIDGE_SIZING.vcpu})`,
      BRIDGE_SIZING.tasks * BRIDGE_SIZING.vcpu * HOURS_PER_MONTH,
      'vCPU-hours',
      PRICES.fargate.armVcpuHour,
    ),
    line(
      'Fargate',
      `bridge memory (${BRIDGE_SIZING.tasks} tasks x ${BRIDGE_SIZING.memoryGb} GB)`,
      BRIDGE_SIZING.tasks * BRIDGE_SIZING.memoryGb * HOURS_PER_MONTH,
      'GB-hours',
      PRICES.fargate.armGbHour,
    ),
    line('VPC', 'NAT gateway hours', HOURS_PER_MONTH, 'hours', PRICES.vpc.natGatewayHour),
    line('VPC', 'NAT gateway data (bridge in, store writes out)', natGb, 'GB', PRICES.vpc.natGatewayGb),
    line(
      'Lambda',
      `Kafka event pollers (${options.mappings.length} mappings x ${MSK_SIZING.minimumPollers}, provisioned mode)`,
      options.mappings.length * MSK_SIZING.minimumPollers * HOURS_PER_MONTH,
      'poller-hours',
      PRICES.lambda.kafkaEventPollerUnitHour,
    ),
  ];
  const lambda = lambdaLines(
    options,
    () => partitions,
    (stream) => records[stream] ?? 0,
  );
  lines.push(
    ...lambda.lines,
    ...timestreamLines(fleet, l),
    line('Secrets Manager', 'SASL/SCRAM credentials', 1, 'secrets', PRICES.secretsManager.secretMonth),
    line('KMS', 'key for the SCRAM secret', 1, 'keys', PRICES.kms.keyMonth),
    ...monitoringLines(ALARM_COUNT.kafka),
  );
  return {
    variant: 'kafka',
    lines,
    totalUsd: total(lines),
    assumptions: [
      ...commonAssumptions(fleet, l),
      `${partitions} partition(s) a topic; cross-AZ traffic between clients and brokers is not included.`,
      ...lambda.notes,
    ],
  };
}
