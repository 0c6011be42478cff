import { aws_iam as iam, type aws_s3 as s3, aws_timestream as timestream } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { TIMESTREAM_SIZING } from '../../../functions/cost/deployment.ts';
import type { StoreConfig } from '../config.ts';

export const TIMESTREAM_REJECTED_PREFIX = 'timestream-rejected/';

/**
 * Where `write` puts readings: a Timestream database and table it creates, or an InfluxDB endpoint
 * it is given. `environment` is what the write function reads to pick and reach the store
 * (IOT_STORE=timestream|influxdb); `grantWrite` gives one role exactly that store.
 */
export class TelemetryStore extends Construct {
  readonly environment: Record<string, string>;
  readonly table?: timestream.CfnTable;
  readonly #grant: (role: iam.IRole) => void;

  constructor(scope: Construct, id: string, props: { config: StoreConfig; rejectedDataBucket: s3.IBucket }) {
    super(scope, id);
    const { config } = props;
    if (config.kind === 'influxdb') {
      this.environment = {
        IOT_STORE: 'influxdb',
        INFLUXDB_URL: config.url,
        INFLUXDB_ORG: config.org,
        INFLUXDB_BUCKET: config.bucket,
        INFLUXDB_TOKEN_SECRET_ARN: config.tokenSecretArn,
      };
      this.#grant = (role) =>
        role.addToPrincipalPolicy(
          new iam.PolicyStatement({
            actions: ['secretsmanager:GetSecretValue'],
            resources: [config.tokenSecretArn],
          }),
        );
      return;
    }
    const database = new timestream.CfnDatabase(this, 'Database', { databaseName: config.database });
    const table = new timestream.CfnTable(this, 'Table', {
      databaseName: config.database,
      tableName: config.table,
      retentionProperties: {
        MemoryStoreRetentionPeriodInHours: String(TIMESTREAM_SIZING.memoryStoreRetentionHours),
        MagneticStoreRetentionPeriodInDays: String(TIMESTREAM_SIZING.magneticStoreRetentionDays),
      },
      // Late and replayed readings (older than the memory store keeps) go straight to the magnetic
      // store; a record it rejects is reported to S3 rather than lost.
      magneticStoreWriteProperties: {
        EnableMagneticStoreWrites: true,
        MagneticStoreRejectedDataLocation: {
          S3Configuration: {
            BucketName: props.rejectedDataBucket.bucketName,
            ObjectKeyPrefix: TIMESTREAM_REJECTED_PREFIX,
            EncryptionOption: 'SSE_S3',
          },
        },
      },
    });
    table.node.addDependency(database);
    this.table = table;
    this.environment = {
      IOT_STORE: 'timestream',
      TIMESTREAM_DATABASE: config.database,
      TIMESTREAM_TABLE: config.table,
    };
    const tableArn = table.attrArn;
    const bucketArn = props.rejectedDataBucket.bucketArn;
    this.#grant = (role) => {
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({ actions: ['timestream:WriteRecords'], resources: [tableArn] }),
      );
      // Endpoint discovery: the SDK asks which cell to write to. IAM has no resource for it.
      // https://docs.aws.amazon.com/timestream/latest/developerguide/Using-API.endpoint-discovery.html
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({ actions: ['timestream:DescribeEndpoints'], resources: ['*'] }),
      );
      // Timestream writes rejected-record reports as the writer.
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: ['s3:PutObject'],
          resources: [`${bucketArn}/${TIMESTREAM_REJECTED_PREFIX}*`],
        }),
      );
    };
  }

  grantWrite(role: iam.IRole): void {
    this.#grant(role);
  }
}
