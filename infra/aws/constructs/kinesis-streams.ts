import { Duration, aws_kinesis as kinesis } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { KINESIS_SIZING } from '../../../functions/cost/deployment.ts';
import { STREAMS, type StreamName } from '../../../functions/lib/streams/types.ts';

/**
 * The four streams, named exactly as the code names them (functions/lib/streams/types.ts STREAMS):
 * the producers address them by name, so the names are fixed and one deployment fits a region.
 * Provisioned mode, sized by `shards` (`iot-ingest cost` prints what a fleet needs); encrypted with
 * the AWS-managed key, which needs no extra grants for producers and consumers.
 */
export class KinesisStreams extends Construct {
  readonly byName: ReadonlyMap<StreamName, kinesis.Stream>;

  constructor(scope: Construct, id: string, props: { shards: number }) {
    super(scope, id);
    const make = (logicalId: string, name: StreamName, shards: number, retentionHours: number) =>
      new kinesis.Stream(this, logicalId, {
        streamName: name,
        streamMode: kinesis.StreamMode.PROVISIONED,
        shardCount: shards,
        retentionPeriod: Duration.hours(retentionHours),
        encryption: kinesis.StreamEncryption.MANAGED,
      });
    this.byName = new Map([
      [STREAMS.raw, make('Raw', STREAMS.raw, props.shards, KINESIS_SIZING.retentionHours)],
      [STREAMS.valid, make('Valid', STREAMS.valid, props.shards, KINESIS_SIZING.retentionHours)],
      // Dead letters wait a week for someone to inspect and replay them.
      [STREAMS.dlq, make('DeadLetters', STREAMS.dlq, 1, KINESIS_SIZING.deadLetterRetentionHours)],
      [STREAMS.alerts, make('Alerts', STREAMS.alerts, 1, KINESIS_SIZING.retentionHours)],
    ]);
  }

  get(name: StreamName): kinesis.Stream {
    const stream = this.byName.get(name);
    if (!stream) throw new Error(`no stream ${name}`);
    return stream;
  }
}
