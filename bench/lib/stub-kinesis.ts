import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StubKinesis {
  readonly endpoint: string;
  /** PutRecords requests answered, and the records they carried. */
  readonly stats: { requests: number; records: number };
  close(): Promise<void>;
}

/**
 * A loopback stand-in for the Kinesis API that accepts every PutRecords at once, so a cold-start
 * measurement covers the function's code and the AWS SDK's request path (serialise, sign, HTTP,
 * parse), not a network or a service. Only PutRecords is answered; anything else gets a 400 so an
 * unexpected call shows up as an error rather than as a fast success.
 * Wire format: https://docs.aws.amazon.com/kinesis/latest/APIReference/API_PutRecords.html
 * (JSON 1.1 protocol, `X-Amz-Target: Kinesis_20131202.PutRecords`).
 */
export async function startStubKinesis(): Promise<StubKinesis> {
  const stats = { requests: 0, records: 0 };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const target = req.headers['x-amz-target'];
      if (target !== 'Kinesis_20131202.PutRecords') {
        res.writeHead(400, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(
          JSON.stringify({
            __type: 'UnknownOperationException',
            message: `stub answers PutRecords only, not ${target}`,
          }),
        );
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { Records?: unknown[] };
      const count = body.Records?.length ?? 0;
      stats.requests++;
      stats.records += count;
      const records = Array.from({ length: count }, (_, i) => ({
        SequenceNumber: String(stats.records + i),
        ShardId: 'shardId-000000000000',
      }));
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(JSON.stringify({ FailedRecordCount: 0, Records: records }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stats,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
