/**
 * kinesalite through the project's Kinesis client: streams are created ACTIVE, records written with
 * PutRecords come back from every shard, in order per partition key.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
  ListShardsCommand,
  PutRecordsCommand,
} from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../functions/lib/errors.ts';
import { createKinesisClient } from '../../../functions/lib/streams/kinesis-client.ts';
import {
  createStreams,
  type KinesaliteServer,
  startKinesalite,
} from '../../../infra/local/kinesalite-server.ts';
import { requireOrSkip } from '../../../infra/local/services.ts';

const hasKinesalite = await requireOrSkip('kinesis');

interface ReadRecord {
  shardId: string;
  key: string;
  data: string;
}

/** Reads every shard from TRIM_HORIZON until a GetRecords call returns nothing. */
async function readAll(client: KinesisClient, stream: string): Promise<ReadRecord[]> {
  const { Shards = [] } = await client.send(new ListShardsCommand({ StreamName: stream }));
  const out: ReadRecord[] = [];
  for (const shard of Shards) {
    const shardId = shard.ShardId!;
    let { ShardIterator: iterator } = await client.send(
      new GetShardIteratorCommand({
        StreamName: stream,
        ShardId: shardId,
        ShardIteratorType: 'TRIM_HORIZON',
      }),
    );
    while (iterator !== undefined) {
      const page = await client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1_000 }));
      const records = page.Records ?? [];
      if (records.length === 0) break;
      for (const record of records) {
        out.push({ shardId, key: record.PartitionKey!, data: Buffer.from(record.Data!).toString() });
      }
      iterator = page.NextShardIterator;
    }
  }
  return out;
}

describe.skipIf(!hasKinesalite)('startKinesalite + createStreams', () => {
  let server: KinesaliteServer;
  let client: KinesisClient;

  beforeAll(async () => {
    server = await startKinesalite({});
    client = createKinesisClient({ endpoint: server.endpoint, local: true });
  });

  afterAll(async () => {
    client?.destroy();
    await server?.stop();
  });

  it('listens on loopback', () => {
    expect(server.endpoint).toBe(`http://127.0.0.1:${server.port}`);
  });

  it('creates missing streams ACTIVE with the requested shards, and leaves existing ones alone', async () => {
    // Prepare
    await createStreams(client, { 'created.once': 3 });

    // Act
    await createStreams(client, { 'created.once': 5, 'created.second': 1 });

    // Assess
    const once = await client.send(new DescribeStreamSummaryCommand({ StreamName: 'created.once' }));
    const second = await client.send(new DescribeStreamSummaryCommand({ StreamName: 'created.second' }));
    expect(once.StreamDescriptionSummary).toMatchObject({ StreamStatus: 'ACTIVE', OpenShardCount: 3 });
    expect(second.StreamDescriptionSummary).toMatchObject({ StreamStatus: 'ACTIVE', OpenShardCount: 1 });
  });

  it('returns every record written with PutRecords across all shards, in order per key', async () => {
    // Prepare
    await createStreams(client, { 'telemetry.raw': 4 });
    const devices = Array.from({ length: 40 }, (_, i) => `device-${i}`);
    const batches = Array.from({ length: 4 }, (_, batch) =>
      devices.flatMap((device) =>
        Array.from({ length: 5 }, (_, i) => ({
          PartitionKey: device,
          Data: Buffer.from(`${device}:${batch * 5 + i}`),
        })),
      ),
    );

    // Act
    for (const Records of batches) {
      const result = await client.send(new PutRecordsCommand({ StreamName: 'telemetry.raw', Records }));
      expect(result.FailedRecordCount ?? 0).toBe(0);
    }
    const records = await readAll(client, 'telemetry.raw');

    // Assess
    expect(records).toHaveLength(800);
    expect(new Set(records.map((r) => r.shardId)).size).toBe(4);
    for (const device of devices) {
      const mine = records.filter((r) => r.key === device);
      expect(new Set(mine.map((r) => r.shardId)).size).toBe(1);
      expect(mine.map((r) => r.data)).toEqual(Array.from({ length: 20 }, (_, i) => `${device}:${i}`));
    }
  });
});

describe.skipIf(!hasKinesalite)('startKinesalite with a LevelDB path', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kinesalite-test-'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps streams and records across a restart', async () => {
    // Prepare
    const path = join(dir, 'nested', 'kinesalite');
    const first = await startKinesalite({ path });
    const writer = createKinesisClient({ endpoint: first.endpoint, local: true });
    await createStreams(writer, { alerts: 2 });
    await writer.send(
      new PutRecordsCommand({
        StreamName: 'alerts',
        Records: [{ PartitionKey: 'device-1', Data: Buffer.from('kept') }],
      }),
    );
    writer.destroy();
    await first.stop();

    // Act
    const second = await startKinesalite({ path });
    const reader = createKinesisClient({ endpoint: second.endpoint, local: true });
    const records = await readAll(reader, 'alerts').finally(async () => {
      reader.destroy();
      await second.stop();
    });

    // Assess
    expect(records.map((r) => r.data)).toEqual(['kept']);
  });
});

describe('createKinesisClient', () => {
  it('refuses a local client without an endpoint', () => {
    // Act
    const create = () => createKinesisClient({ local: true });

    // Assess
    expect(create).toThrow(ConfigError);
  });

  it('defaults a local client to us-east-1', async () => {
    // Act
    const client = createKinesisClient({ endpoint: 'http://127.0.0.1:1', local: true });

    // Assess
    expect(await client.config.region()).toBe('us-east-1');
    client.destroy();
  });
});
