/**
 * The Kinesis client every producer, runner and harness uses, for AWS and for kinesalite alike.
 */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { ConfigError } from '../errors.ts';

export interface KinesisClientOptions {
  /** e.g. the endpoint startKinesalite() returned. Default: the AWS endpoint of the region. */
  endpoint?: string;
  /** Default: the SDK's own resolution (AWS_REGION, profile) on AWS; `us-east-1` when local. */
  region?: string;
  /** A local emulator: dummy static credentials instead of the AWS credential chain. */
  local?: boolean;
}

/** Concurrent HTTP connections: one GetRecords loop per shard plus producers, with room to spare. */
const MAX_SOCKETS = 64;
const LOCAL_REGION = 'us-east-1';

/**
 * An AWS SDK v3 Kinesis client on HTTP/1.1 with keep-alive.
 *
 * The Kinesis client defaults to the SDK's HTTP/2 handler (it needs HTTP/2 only for SubscribeToShard,
 * which this project does not use). kinesalite speaks HTTP/1.1 only, so over plain http the HTTP/2
 * handler cannot talk to it at all; NodeHttpHandler can. AWS serves every other Kinesis operation
 * over HTTP/1.1 too, so the same handler is used on both, and a local run exercises the transport
 * production uses. The agents are explicit so keep-alive (no TCP, and on AWS no TLS, handshake per
 * PutRecords/GetRecords) and the pool size are this project's decision, visible here, rather than
 * whatever the handler's defaults are in a given SDK release.
 */
export function createKinesisClient(options: KinesisClientOptions = {}): KinesisClient {
  if (options.local === true && options.endpoint === undefined) {
    throw new ConfigError(
      'a local Kinesis client needs an endpoint, e.g. http://127.0.0.1:4567 from startKinesalite()',
    );
  }
  const agentOptions = { keepAlive: true, maxSockets: MAX_SOCKETS };
  const region = options.region ?? (options.local === true ? LOCAL_REGION : undefined);
  return new KinesisClient({
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
    ...(region === undefined ? {} : { region }),
    // kinesalite accepts any signature; static dummy credentials keep the SDK from searching the
    // environment, profiles and instance metadata for real ones (slow, and wrong for a local run).
    ...(options.local === true ? { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {}),
    requestHandler: new NodeHttpHandler({
      httpAgent: new HttpAgent(agentOptions),
      httpsAgent: new HttpsAgent(agentOptions),
      connectionTimeout: 5_000,
    }),
  });
}
