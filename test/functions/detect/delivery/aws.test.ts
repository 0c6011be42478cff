import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAwsAlertDelivery } from '../../../../functions/detect/delivery/aws.ts';
import type { Alert } from '../../../../functions/lib/codec/alert-codec.ts';

/**
 * SNS and AWS IoT have no local server: the real SDK clients talk to a loopback HTTP endpoint that
 * answers as SNS (query or JSON protocol, whichever the SDK speaks) and as the IoT data plane.
 */
interface Seen {
  path: string;
  body: string;
}

function anAlert(overrides: Partial<Alert> = {}): Alert {
  return {
    id: 'dev-1/temperature/threshold-high/1700000000000',
    dedupKey: 'dev-1/temperature/threshold-high',
    deviceId: 'dev-1',
    metric: 'temperature',
    rule: 'threshold-high',
    status: 'open',
    severity: 'critical',
    value: 120,
    score: 35,
    ts: 1_700_000_000_000,
    openedAt: 1_700_000_000_000,
    repeats: 0,
    message: 'temperature 120 is above 85',
    ...overrides,
  };
}

describe('AWS alert delivery (SNS PublishBatch, IoT Core publish)', () => {
  const seen: Seen[] = [];
  let failSns = false;
  let server: http.Server;
  let url: string;

  beforeAll(async () => {
    process.env.AWS_ACCESS_KEY_ID = 'test';
    process.env.AWS_SECRET_ACCESS_KEY = 'test';
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      req.on('end', () => {
        seen.push({ path: req.url ?? '', body });
        if ((req.url ?? '').startsWith('/topics/')) {
          res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
          return;
        }
        const json = String(req.headers['content-type']).includes('json');
        const failed = failSns
          ? [{ Id: '0', Code: 'InternalError', Message: 'try again', SenderFault: false }]
          : [];
        if (json) {
          res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' });
          res.end(
            JSON.stringify({ Successful: failSns ? [] : [{ Id: '0', MessageId: 'm-0' }], Failed: failed }),
          );
          return;
        }
        const failedXml = failed
          .map(
            (f) =>
              `<member><Id>${f.Id}</Id><Code>${f.Code}</Code><Message>${f.Message}</Message><SenderFault>false</SenderFault></member>`,
          )
          .join('');
        res.writeHead(200, { 'content-type': 'text/xml' });
        res.end(
          `<PublishBatchResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishBatchResult><Successful>${
            failSns ? '' : '<member><Id>0</Id><MessageId>m-0</MessageId></member>'
          }</Successful><Failed>${failedXml}</Failed></PublishBatchResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></PublishBatchResponse>`,
        );
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('publishes each alert to SNS with its id, and to alerts/{deviceId}/{rule}/{metric}, retained while open', async () => {
    // Prepare
    seen.length = 0;
    const deliver = await createAwsAlertDelivery({
      snsTopicArn: 'arn:aws:sns:us-east-1:000000000000:iot-ingest-alerts',
      region: 'us-east-1',
      endpointOverride: url,
    });
    const open = anAlert();
    const resolved = anAlert({ status: 'resolved', repeats: 4, value: 30 });

    // Act
    await deliver!([open, resolved]);

    // Assess
    const sns = seen.filter((s) => !s.path.startsWith('/topics/'));
    expect(sns).toHaveLength(1);
    expect(decodeURIComponent(sns[0]!.body)).toContain(open.id);
    expect(decodeURIComponent(sns[0]!.body)).toContain('iot-ingest-alerts');
    const iot = seen.filter((s) => s.path.startsWith('/topics/')).map((s) => decodeURIComponent(s.path));
    expect(iot).toEqual(
      [
        'alerts/dev-1/threshold-high/temperature?qos=1&retain=true',
        'alerts/dev-1/threshold-high/temperature?qos=1&retain=false',
        'alerts/dev-1/threshold-high/temperature?qos=1&retain=true',
      ].map((p) => `/topics/${p}`),
    );
    expect(JSON.parse(seen.find((s) => s.path.startsWith('/topics/'))!.body).id).toBe(open.id);
  });

  it('rejects when SNS refuses an entry, so the batch is retried', async () => {
    failSns = true;
    const deliver = await createAwsAlertDelivery({
      snsTopicArn: 'arn:aws:sns:us-east-1:000000000000:iot-ingest-alerts',
      region: 'us-east-1',
      endpointOverride: url,
    });
    await expect(deliver!([anAlert()])).rejects.toThrow(/SNS refused 1 alert/);
    failSns = false;
  });

  it('delivers nothing extra when no target is configured', async () => {
    expect(await createAwsAlertDelivery({ region: 'us-east-1' })).toBeUndefined();
  });
});
