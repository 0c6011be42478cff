/**
 * The HTTP side of InfluxDB shared by writes and queries. Node's fetch rather than a client
 * library: the store needs two endpoints (`/write` or `/api/v2/write`, and `/query`) whose whole
 * protocol is a URL, a header and a text body, while the official clients split across 1.x
 * (`influx`, unmaintained) and 2.x (`@influxdata/influxdb-client`, no 1.x write API), and neither
 * reports which lines of a batch InfluxDB refused, which the store works out itself.
 */
import type { InfluxStoreConfig } from '../config.ts';

export type InfluxTarget = Pick<
  InfluxStoreConfig,
  'url' | 'database' | 'retentionPolicy' | 'org' | 'bucket' | 'token' | 'username' | 'password'
>;

export function influxHeaders(target: InfluxTarget): Record<string, string> {
  if (target.token !== undefined) return { authorization: `Token ${target.token}` };
  if (target.username !== undefined && target.password !== undefined) {
    return {
      authorization: `Basic ${Buffer.from(`${target.username}:${target.password}`).toString('base64')}`,
    };
  }
  return {};
}

/** `/api/v2/write` for an org's bucket (2.x, 3.x, Timestream for InfluxDB), `/write` for a 1.x database. */
export function influxWriteUrl(target: InfluxTarget): URL {
  if (target.org !== undefined && target.bucket !== undefined) {
    const url = new URL(`${target.url}/api/v2/write`);
    url.searchParams.set('org', target.org);
    url.searchParams.set('bucket', target.bucket);
    url.searchParams.set('precision', 'ns');
    return url;
  }
  const url = new URL(`${target.url}/write`);
  url.searchParams.set('db', target.database);
  if (target.retentionPolicy !== undefined) url.searchParams.set('rp', target.retentionPolicy);
  url.searchParams.set('precision', 'ns');
  return url;
}

/** InfluxDB's reason for a refused request: the JSON `error`, else the X-Influxdb-Error header, else the body. */
export async function influxError(response: Response): Promise<string> {
  const text = await response.text().catch(() => '');
  try {
    const body = JSON.parse(text) as { error?: unknown; message?: unknown };
    if (typeof body.error === 'string') return body.error;
    if (typeof body.message === 'string') return body.message;
  } catch {
    // not JSON
  }
  return response.headers.get('x-influxdb-error') ?? (text.trim() || `HTTP ${response.status}`);
}
