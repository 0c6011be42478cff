/**
 * A local Timestream for LiveAnalytics endpoint: node:http on 127.0.0.1 speaking the awsJson1_0
 * protocol the AWS SDK uses (POST /, `X-Amz-Target: Timestream_20181101.<Operation>`, JSON in and
 * out, errors as `{__type, Message}` with the status codes of the service model), so the store is
 * tested through the real `@aws-sdk/client-timestream-write` and `-query` clients.
 *
 * Operations:
 *   DescribeEndpoints  answers `ingest-cell1.timestream.<region>.amazonaws.com` (or `query-cell1...`
 *                      for the query client), as AWS does; `requestHandler()` routes those hosts here.
 *   WriteRecords       at most 100 records; CommonAttributes merged into each record; records kept
 *                      in memory, keyed by dimensions + time + measure name, with Timestream's
 *                      version rules: a higher version replaces, identical values at an equal (or
 *                      lower) version are a no-op, different values at an equal or lower version
 *                      are a RejectedRecord with ExistingVersion.
 *                      Malformed records (no measure, a value that does not parse as its type, an
 *                      empty dimension value) are RejectedRecords too; the rest of the request is
 *                      stored, as Timestream does. A missing table is ResourceNotFoundException.
 *   Query              see timestream-endpoint-sql.ts for the SQL it understands; pages by NextToken.
 *   CancelQuery        forgets a paged result.
 * Switches: `throttle(n)` answers the next n calls with ThrottlingException (HTTP 429);
 * `rejectWhen(predicate)` refuses the records it returns a reason for (RejectedRecordsException, 419).
 * Not modelled: memory-store retention windows, magnetic store, schema limits, authentication
 * (requests are not checked for a signature).
 *
 * https://docs.aws.amazon.com/timestream/latest/developerguide/API_WriteRecords.html
 * https://smithy.io/2.0/aws/protocols/aws-json-1_0-protocol.html
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { errorMessage } from '../../functions/lib/errors.ts';
import { LOOPBACK } from './ports.ts';
import { runTimestreamQuery, type TimestreamQueryAnswer } from './timestream-endpoint-sql.ts';

export type MeasureType = 'DOUBLE' | 'BIGINT' | 'VARCHAR' | 'BOOLEAN' | 'TIMESTAMP';

/** A stored record, as the endpoint keeps it. */
export interface LocalRecord {
  readonly dimensions: Readonly<Record<string, string>>;
  readonly measureName: string;
  /** ns since epoch */
  readonly time: bigint;
  readonly measures: Readonly<Record<string, { readonly type: MeasureType; readonly value: string }>>;
  readonly version: number;
}

export interface LocalTable {
  readonly database: string;
  readonly table: string;
  readonly records: Map<string, LocalRecord>;
}

export interface TimestreamEndpointOptions {
  /** Tables to create, `database.table`. */
  tables?: string[];
  /** Rows per Query page (Timestream pages by its own measure); small values exercise NextToken. */
  queryPageRows?: number;
}

export interface LocalTimestreamEndpoint {
  /** `http://127.0.0.1:<port>`, to use as a fixed endpoint (TIMESTREAM_ENDPOINT; no discovery then). */
  readonly url: string;
  /**
   * An SDK request handler that sends every request here whatever host the SDK chose, keeping that
   * host in the Host header: the SDK then discovers endpoints exactly as it does against AWS.
   */
  requestHandler(): NodeHttpHandler;
  createTable(database: string, table: string): void;
  records(database: string, table: string): LocalRecord[];
  /** The next `calls` calls of `operation` fail with ThrottlingException. */
  throttle(calls: number, operation?: string): void;
  /** Records for which `reason` returns a string are rejected with it; undefined stops rejecting. */
  rejectWhen(reason: ((record: LocalRecord) => string | undefined) | undefined): void;
  /** Every request so far: operation and the Host it was addressed to. */
  readonly requests: ReadonlyArray<{ readonly operation: string; readonly host: string }>;
  stop(): Promise<void>;
}

const TARGET_PREFIX = 'Timestream_20181101.';
const MAX_RECORDS = 100;

class ServiceError extends Error {
  constructor(
    readonly type: string,
    readonly status: number,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export async function startTimestreamEndpoint(
  options: TimestreamEndpointOptions = {},
): Promise<LocalTimestreamEndpoint> {
  const tables = new Map<string, LocalTable>();
  const pages = new Map<string, { answer: TimestreamQueryAnswer; offset: number; queryId: string }>();
  const throttles = new Map<string, number>();
  const requests: { operation: string; host: string }[] = [];
  let rejectReason: ((record: LocalRecord) => string | undefined) | undefined;
  const pageRows = options.queryPageRows ?? 1000;

  const createTable = (database: string, table: string) => {
    const name = `${database}.${table}`;
    if (!tables.has(name)) tables.set(name, { database, table, records: new Map() });
  };
  for (const name of options.tables ?? []) {
    const [database, table] = name.split('.');
    if (!database || !table) throw new Error(`table "${name}" is not database.table`);
    createTable(database, table);
  }

  const operations: Record<
    string,
    (input: Record<string, unknown>, host: string) => Promise<unknown> | unknown
  > = {
    DescribeEndpoints: (_input, host) => ({
      Endpoints: [
        {
          Address: `${host.startsWith('query') ? 'query' : 'ingest'}-cell1.timestream.${regionOf(host)}.amazonaws.com`,
          CachePeriodInMinutes: 1440,
        },
      ],
    }),
    WriteRecords: (input) => writeRecords(input),
    Query: async (input) => query(input),
    CancelQuery: (input) => {
      for (const [token, page] of pages) if (page.queryId === input.QueryId) pages.delete(token);
      return { CancellationMessage: 'Query canceled.' };
    },
  };

  function writeRecords(input: Record<string, unknown>): unknown {
    const table = tables.get(`${input.DatabaseName}.${input.TableName}`);
    if (!table) {
      throw new ServiceError(
        'ResourceNotFoundException',
        404,
        `The table ${input.TableName} does not exist in ${input.DatabaseName}.`,
      );
    }
    const records = (input.Records ?? []) as WireRecord[];
    if (records.length < 1 || records.length > MAX_RECORDS) {
      throw new ServiceError(
        'ValidationException',
        400,
        `Records must hold 1 to ${MAX_RECORDS} records (got ${records.length}).`,
      );
    }
    const common = (input.CommonAttributes ?? {}) as WireRecord;
    const rejected: { RecordIndex: number; Reason: string; ExistingVersion?: number }[] = [];
    for (const [index, wire] of records.entries()) {
      const parsed = parseRecord(common, wire);
      const refused = typeof parsed === 'string' ? parsed : rejectReason?.(parsed);
      if (refused !== undefined || typeof parsed === 'string') {
        rejected.push({ RecordIndex: index, Reason: refused ?? 'rejected' });
        continue;
      }
      const k = recordKey(parsed);
      const existing = table.records.get(k);
      if (existing === undefined || parsed.version > existing.version) table.records.set(k, parsed);
      else if (!sameMeasures(parsed, existing)) {
        rejected.push({
          RecordIndex: index,
          Reason:
            'A record with the same dimensions, time and measure name exists with different measure values ' +
            'and an equal or higher version. Write it with a higher version to update it.',
          ExistingVersion: existing.version,
        });
      }
      // else: the same values at an equal or lower version, an idempotent no-op
    }
    if (rejected.length > 0) {
      throw new ServiceError('RejectedRecordsException', 419, 'One or more records have been rejected.', {
        RejectedRecords: rejected,
      });
    }
    return { RecordsIngested: { Total: records.length, MemoryStore: records.length, MagneticStore: 0 } };
  }

  async function query(input: Record<string, unknown>): Promise<unknown> {
    let page: { answer: TimestreamQueryAnswer; offset: number; queryId: string } | undefined;
    if (typeof input.NextToken === 'string') {
      page = pages.get(input.NextToken);
      pages.delete(input.NextToken);
      if (!page)
        throw new ServiceError('ValidationException', 400, 'The NextToken is not valid or has expired.');
    } else {
      const answer = await runTimestreamQuery([...tables.values()], String(input.QueryString ?? '')).catch(
        (error: unknown) => {
          throw new ServiceError('ValidationException', 400, errorMessage(error));
        },
      );
      page = { answer, offset: 0, queryId: randomUUID() };
    }
    const size = Math.min(pageRows, typeof input.MaxRows === 'number' ? input.MaxRows : pageRows);
    const rows = page.answer.rows.slice(page.offset, page.offset + size);
    const offset = page.offset + rows.length;
    let nextToken: string | undefined;
    if (offset < page.answer.rows.length) {
      nextToken = randomUUID();
      pages.set(nextToken, { ...page, offset });
    }
    return {
      QueryId: page.queryId,
      Rows: rows,
      ColumnInfo: page.answer.columns,
      ...(nextToken ? { NextToken: nextToken } : {}),
      QueryStatus: { ProgressPercentage: nextToken ? (100 * offset) / page.answer.rows.length : 100 },
    };
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) =>
      sendError(res, new ServiceError('InternalServerException', 500, errorMessage(error))),
    );
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = String(req.headers['x-amz-target'] ?? '');
    const operation = target.startsWith(TARGET_PREFIX) ? target.slice(TARGET_PREFIX.length) : target;
    const host = String(req.headers.host ?? '');
    requests.push({ operation, host });
    const chunks: Buffer[] = [];
    for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
    const implementation = operations[operation];
    if (req.method !== 'POST' || !implementation) {
      return sendError(
        res,
        new ServiceError('UnknownOperationException', 400, `Unknown operation ${target}`),
      );
    }
    const throttled = throttles.get(operation) ?? 0;
    if (throttled > 0) {
      throttles.set(operation, throttled - 1);
      return sendError(res, new ServiceError('ThrottlingException', 429, 'Rate exceeded.'));
    }
    try {
      const input = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
      send(res, 200, await implementation(input, host));
    } catch (error) {
      sendError(
        res,
        error instanceof ServiceError
          ? error
          : new ServiceError('ValidationException', 400, errorMessage(error)),
      );
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, LOOPBACK, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const handlers: NodeHttpHandler[] = [];

  return {
    url: `http://${LOOPBACK}:${port}`,
    requestHandler() {
      const handler = new LoopbackHttpHandler(port);
      handlers.push(handler);
      return handler;
    },
    createTable,
    records: (database, table) => [...(tables.get(`${database}.${table}`)?.records.values() ?? [])],
    throttle(calls, operation = 'WriteRecords') {
      throttles.set(operation, calls);
    },
    rejectWhen(reason) {
      rejectReason = reason;
    },
    requests,
    async stop() {
      for (const handler of handlers) handler.destroy();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

/** Connects to 127.0.0.1:port over HTTP whatever the request's host, keeping that host in the Host header. */
class LoopbackHttpHandler extends NodeHttpHandler {
  readonly #port: number;

  constructor(port: number) {
    super();
    this.#port = port;
  }

  override handle(
    ...[request, options]: Parameters<NodeHttpHandler['handle']>
  ): ReturnType<NodeHttpHandler['handle']> {
    const routed = Object.assign(
      Object.create(Object.getPrototypeOf(request) as object) as typeof request,
      request,
      {
        headers: { ...request.headers, host: request.headers.host ?? request.hostname },
        protocol: 'http:',
        hostname: LOOPBACK,
        port: this.#port,
      },
    );
    return super.handle(routed, options);
  }
}

function regionOf(host: string): string {
  return /\.timestream\.([a-z0-9-]+)\.amazonaws\.com/.exec(host)?.[1] ?? 'us-east-1';
}

interface WireRecord {
  Dimensions?: { Name?: string; Value?: string; DimensionValueType?: string }[];
  MeasureName?: string;
  MeasureValue?: string;
  MeasureValueType?: string;
  MeasureValues?: { Name?: string; Value?: string; Type?: string }[];
  Time?: string;
  TimeUnit?: string;
  Version?: number;
}

const NS_PER_UNIT: Record<string, bigint> = {
  MILLISECONDS: 1_000_000n,
  SECONDS: 1_000_000_000n,
  MICROSECONDS: 1_000n,
  NANOSECONDS: 1n,
};

const VALUE_PATTERN: Record<MeasureType, RegExp> = {
  DOUBLE: /^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/,
  BIGINT: /^-?\d+$/,
  VARCHAR: /^[\s\S]+$/,
  BOOLEAN: /^(true|false)$/i,
  TIMESTAMP: /^\d+$/,
};

/** The record with CommonAttributes applied, or the reason Timestream would reject it. */
function parseRecord(common: WireRecord, record: WireRecord): LocalRecord | string {
  const dimensions: Record<string, string> = {};
  for (const d of [...(common.Dimensions ?? []), ...(record.Dimensions ?? [])]) {
    if (!d.Name) return 'A dimension has no name.';
    if (!d.Value) return `Dimension ${d.Name} has an empty value.`;
    if (d.Name in dimensions) return `Dimension ${d.Name} is given twice.`;
    dimensions[d.Name] = d.Value;
  }
  const measureName = record.MeasureName ?? common.MeasureName;
  if (!measureName) return 'The record has no measure name.';
  const unit = NS_PER_UNIT[record.TimeUnit ?? common.TimeUnit ?? 'MILLISECONDS'];
  const timeText = record.Time ?? common.Time;
  if (unit === undefined || timeText === undefined || !/^\d+$/.test(timeText)) {
    return `The time "${timeText}" is not a whole number of ${record.TimeUnit ?? common.TimeUnit ?? 'MILLISECONDS'}.`;
  }
  const valueType = record.MeasureValueType ?? common.MeasureValueType;
  const wireMeasures =
    valueType === 'MULTI'
      ? (record.MeasureValues ?? common.MeasureValues ?? [])
      : [{ Name: measureName, Value: record.MeasureValue ?? common.MeasureValue, Type: valueType }];
  if (wireMeasures.length === 0) return 'A multi-measure record needs at least one measure value.';
  const measures: Record<string, { type: MeasureType; value: string }> = {};
  for (const m of wireMeasures) {
    const type = m.Type as MeasureType;
    if (!m.Name || !(type in VALUE_PATTERN))
      return `Measure ${m.Name} has no name or an unknown type ${m.Type}.`;
    if (m.Value === undefined || !VALUE_PATTERN[type].test(m.Value)) {
      return `The value "${m.Value}" of measure ${m.Name} is not a valid ${type}.`;
    }
    if (m.Name in dimensions) return `Measure ${m.Name} has the name of a dimension.`;
    measures[m.Name] = { type, value: m.Value };
  }
  return {
    dimensions,
    measureName,
    time: BigInt(timeText) * unit,
    measures,
    version: record.Version ?? common.Version ?? 1,
  };
}

function recordKey(record: LocalRecord): string {
  const dims = Object.entries(record.dimensions).sort(([a], [b]) => (a < b ? -1 : 1));
  return JSON.stringify([dims, String(record.time), record.measureName]);
}

function sameMeasures(a: LocalRecord, b: LocalRecord): boolean {
  const names = Object.keys(a.measures);
  if (names.length !== Object.keys(b.measures).length) return false;
  return names.every(
    (n) => a.measures[n]?.type === b.measures[n]?.type && a.measures[n]?.value === b.measures[n]?.value,
  );
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const json = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/x-amz-json-1.0',
    'content-length': Buffer.byteLength(json),
    'x-amzn-requestid': randomUUID(),
  });
  res.end(json);
}

function sendError(res: ServerResponse, error: ServiceError): void {
  if (res.headersSent) return void res.destroy();
  res.setHeader('x-amzn-errortype', error.type);
  send(res, error.status, {
    __type: `com.amazonaws.timestream.v20181101#${error.type}`,
    Message: error.message,
    ...error.extra,
  });
}
