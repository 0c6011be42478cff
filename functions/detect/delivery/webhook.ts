/**
 * Alerts to an HTTP endpoint: one POST per alert event, body = the alert as JSON, with
 *
 *   X-IoT-Ingest-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes under the shared secret>
 *   Idempotency-Key: <alert id>#<status>    the same on every retry of the same event
 *   X-IoT-Ingest-Alert-Id: <alert id>       the incident, shared by its open and resolved events
 *
 * (The key carries the status because an incident's `open` and `resolved` events are two
 * deliveries with one alert id; a receiver that dropped repeats of the bare id would lose the
 * resolution.) 2xx is success. 408, 425, 429, 5xx, timeouts and network errors are retried with
 * exponential backoff and full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"),
 * honouring Retry-After up to maxDelayMs; any other status is a refusal that retrying cannot fix.
 * After maxAttempts, or on a refusal, the alert goes to `onDeadLetter`: never dropped silently.
 * Events of one incident are sent in order; different incidents in parallel (p-limit).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import pLimit from 'p-limit';
import type { Alert } from '../../lib/codec/alert-codec.ts';
import { ConfigError, errorMessage } from '../../lib/errors.ts';

export const SIGNATURE_HEADER = 'X-IoT-Ingest-Signature';
export const ALERT_ID_HEADER = 'X-IoT-Ingest-Alert-Id';
export const IDEMPOTENCY_HEADER = 'Idempotency-Key';

export interface WebhookFailure {
  url: string;
  attempts: number;
  /** HTTP status of the last attempt, if it got one. */
  status?: number;
  reason: string;
}

export interface WebhookOptions {
  url: string;
  /** Shared secret for the HMAC-SHA256 signature. */
  secret: string | Uint8Array;
  /** Where an alert goes once it cannot be delivered; required, so nothing is lost unnoticed. */
  onDeadLetter: (alert: Alert, failure: WebhookFailure) => void | Promise<void>;
  /** Attempts per alert event, the first included. Default 6. */
  maxAttempts?: number;
  /** Backoff before retry n waits random(0, min(maxDelayMs, baseDelayMs * 2^(n-1))). Defaults 200 ms, 10 s. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Per request. Default 5 s. */
  timeoutMs?: number;
  /** Incidents delivered at once. Default 8. */
  concurrency?: number;
  /** Seams for tests. */
  fetch?: typeof fetch;
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export interface WebhookResult {
  delivered: number;
  deadLettered: number;
  /** Attempts beyond the first, over all alerts. */
  retries: number;
}

/** `sha256=<hex>` of HMAC-SHA256(secret, body). */
export function signBody(secret: string | Uint8Array, body: string | Uint8Array): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** Whether `header` is the signature of `body` under `secret` (constant-time comparison). */
export function verifySignature(
  secret: string | Uint8Array,
  body: string | Uint8Array,
  header: string | undefined,
): boolean {
  if (header === undefined) return false;
  const expected = Buffer.from(signBody(secret, body));
  const given = Buffer.from(header);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

const RETRYABLE = new Set([408, 425, 429]);

export class WebhookDelivery {
  readonly url: string;
  readonly #secret: string | Uint8Array;
  readonly #onDeadLetter: WebhookOptions['onDeadLetter'];
  readonly #maxAttempts: number;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #timeoutMs: number;
  readonly #limit: ReturnType<typeof pLimit>;
  readonly #fetch: typeof fetch;
  readonly #random: () => number;
  readonly #sleep: (ms: number) => Promise<void>;

  constructor(options: WebhookOptions) {
    let url: URL;
    try {
      url = new URL(options.url);
    } catch (error) {
      throw new ConfigError(
        `webhook url "${options.url}" is not a URL such as https://alerts.example.com/hook`,
        error,
      );
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:')
      throw new ConfigError(`webhook url "${options.url}" must be http(s)`);
    if (options.secret.length === 0)
      throw new ConfigError('webhook secret is empty: receivers could not verify the signature');
    this.url = options.url;
    this.#secret = options.secret;
    this.#onDeadLetter = options.onDeadLetter;
    this.#maxAttempts = positiveInt(options.maxAttempts ?? 6, 'maxAttempts');
    this.#baseDelayMs = options.baseDelayMs ?? 200;
    this.#maxDelayMs = options.maxDelayMs ?? 10_000;
    this.#timeoutMs = options.timeoutMs ?? 5_000;
    this.#limit = pLimit(positiveInt(options.concurrency ?? 8, 'concurrency'));
    this.#fetch = options.fetch ?? fetch;
    this.#random = options.random ?? Math.random;
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /** Delivers or dead-letters every alert; rejects only if the dead-letter callback fails. */
  async deliver(alerts: readonly Alert[]): Promise<WebhookResult> {
    const result: WebhookResult = { delivered: 0, deadLettered: 0, retries: 0 };
    const byIncident = new Map<string, Alert[]>();
    for (const alert of alerts) {
      const list = byIncident.get(alert.id);
      if (list === undefined) byIncident.set(alert.id, [alert]);
      else list.push(alert);
    }
    await Promise.all(
      [...byIncident.values()].map((events) =>
        this.#limit(async () => {
          for (const alert of events) await this.#deliverOne(alert, result);
        }),
      ),
    );
    return result;
  }

  async #deliverOne(alert: Alert, result: WebhookResult): Promise<void> {
    const body = JSON.stringify(alert);
    const headers = {
      'content-type': 'application/json',
      [SIGNATURE_HEADER]: signBody(this.#secret, body),
      [IDEMPOTENCY_HEADER]: `${alert.id}#${alert.status}`,
      [ALERT_ID_HEADER]: alert.id,
    };
    let failure: WebhookFailure = { url: this.url, attempts: 0, reason: 'not attempted' };
    for (let attempt = 1; attempt <= this.#maxAttempts; attempt++) {
      if (attempt > 1) result.retries++;
      let retryAfterMs: number | undefined;
      try {
        const response = await this.#fetch(this.url, {
          method: 'POST',
          headers,
          body,
          signal: AbortSignal.timeout(this.#timeoutMs),
        });
        await response.body?.cancel(); // the answer's body is not needed; free the connection
        if (response.ok) {
          result.delivered++;
          return;
        }
        failure = {
          url: this.url,
          attempts: attempt,
          status: response.status,
          reason: `HTTP ${response.status}`,
        };
        if (!RETRYABLE.has(response.status) && response.status < 500) break;
        retryAfterMs = parseRetryAfter(response.headers.get('retry-after'));
      } catch (error) {
        failure = { url: this.url, attempts: attempt, reason: errorMessage(error) };
      }
      if (attempt < this.#maxAttempts) await this.#sleep(this.#backoff(attempt, retryAfterMs));
    }
    result.deadLettered++;
    await this.#onDeadLetter(alert, failure);
  }

  #backoff(attempt: number, retryAfterMs: number | undefined): number {
    if (retryAfterMs !== undefined) return Math.min(this.#maxDelayMs, retryAfterMs);
    return this.#random() * Math.min(this.#maxDelayMs, this.#baseDelayMs * 2 ** (attempt - 1));
  }
}

/** Retry-After as seconds or an HTTP date (RFC 9110 section 10.2.3), in ms; undefined if absent or bad. */
function parseRetryAfter(value: string | null): number | undefined {
  if (value === null) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

function positiveInt(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1)
    throw new ConfigError(`webhook ${name} must be a positive integer, got ${value}`);
  return value;
}
