/** Webhook delivery against a real HTTP receiver on loopback that misbehaves on request. */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  alertDeadLetter,
  createAlertDelivery,
} from '../../../../functions/detect/delivery/alert-delivery.ts';
import {
  signBody,
  verifySignature,
  WebhookDelivery,
  type WebhookFailure,
  type WebhookOptions,
} from '../../../../functions/detect/delivery/webhook.ts';
import type { Alert } from '../../../../functions/lib/codec/alert-codec.ts';
import { ConfigError } from '../../../../functions/lib/errors.ts';
import { HEADER } from '../../../../functions/lib/reading.ts';

const SECRET = 'test-shared-secret';

interface Request {
  headers: IncomingHttpHeaders;
  body: string;
}

/** A receiver that answers the n-th request with statuses[n] (the last one thereafter) and keeps what it accepted, once per key. */
class Receiver {
  readonly requests: Request[] = [];
  /** Accepted alerts by idempotency key: a repeat of a key is acknowledged, not processed again. */
  readonly accepted = new Map<string, Alert>();
  #server: Server | undefined;
  url = '';

  constructor(readonly statuses: readonly number[]) {}

  async start(): Promise<this> {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        this.requests.push({ headers: req.headers, body });
        const status = this.statuses[Math.min(this.requests.length - 1, this.statuses.length - 1)]!;
        if (
          status === 200 &&
          verifySignature(SECRET, body, req.headers['x-iot-ingest-signature'] as string)
        ) {
          const key = req.headers['idempotency-key'] as string;
          if (!this.accepted.has(key)) this.accepted.set(key, JSON.parse(body) as Alert);
        }
        res.writeHead(status).end();
      });
    });
    await new Promise<void>((resolve) => this.#server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/hooks/alerts`;
    return this;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
  }
}

function anAlert(overrides: Partial<Alert> = {}): Alert {
  return {
    id: 'dev-7/vibration/spike/1767225600000',
    dedupKey: 'dev-7/vibration/spike',
    deviceId: 'dev-7',
    metric: 'vibration',
    rule: 'spike',
    status: 'open',
    severity: 'warning',
    value: 9.1,
    score: 14.5,
    ts: 1_767_225_600_000,
    openedAt: 1_767_225_600_000,
    repeats: 0,
    message: 'vibration 9.1 is 14.5 standard deviations above its baseline',
    ...overrides,
  };
}

const receivers: Receiver[] = [];
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.stop()));
});

async function aReceiver(statuses: readonly number[]): Promise<Receiver> {
  const receiver = await new Receiver(statuses).start();
  receivers.push(receiver);
  return receiver;
}

function aWebhook(url: string, overrides: Partial<WebhookOptions> = {}) {
  const deadLetters: { alert: Alert; failure: WebhookFailure }[] = [];
  const delays: number[] = [];
  const webhook = new WebhookDelivery({
    url,
    secret: SECRET,
    onDeadLetter: (alert, failure) => {
      deadLetters.push({ alert, failure });
    },
    baseDelayMs: 100,
    maxAttempts: 4,
    random: () => 0.5,
    sleep: async (ms) => {
      delays.push(ms);
    },
    ...overrides,
  });
  return { webhook, deadLetters, delays };
}

describe('webhook delivery', () => {
  it('gets the alert to a receiver that fails twice, exactly once by id, with a valid signature', async () => {
    // Prepare
    const receiver = await aReceiver([503, 500, 200]);
    const { webhook, deadLetters, delays } = aWebhook(receiver.url);
    const alert = anAlert();

    // Act
    const result = await webhook.deliver([alert]);

    // Assess
    expect(result).toEqual({ delivered: 1, deadLettered: 0, retries: 2 });
    expect(receiver.requests).toHaveLength(3);
    expect([...receiver.accepted.values()]).toEqual([alert]);
    for (const { headers, body } of receiver.requests) {
      expect(headers['idempotency-key']).toBe(`${alert.id}#open`);
      expect(headers['x-iot-ingest-alert-id']).toBe(alert.id);
      expect(headers['x-iot-ingest-signature']).toBe(signBody(SECRET, body));
      expect(headers['content-type']).toBe('application/json');
    }
    expect(deadLetters).toEqual([]);
    // full jitter (random 0.5) over 100 ms, then 200 ms
    expect(delays).toEqual([50, 100]);
  });

  it('sends an alert to the dead-letter callback after the retry limit', async () => {
    // Prepare
    const receiver = await aReceiver([500]);
    const { webhook, deadLetters } = aWebhook(receiver.url);
    const alert = anAlert();

    // Act
    const result = await webhook.deliver([alert]);

    // Assess
    expect(result).toEqual({ delivered: 0, deadLettered: 1, retries: 3 });
    expect(receiver.requests).toHaveLength(4);
    expect(deadLetters).toEqual([
      { alert, failure: { url: receiver.url, attempts: 4, status: 500, reason: 'HTTP 500' } },
    ]);
  });

  it('does not retry a refusal that retrying cannot fix (400), but dead-letters it at once', async () => {
    // Prepare
    const receiver = await aReceiver([400]);
    const { webhook, deadLetters } = aWebhook(receiver.url);

    // Act
    await webhook.deliver([anAlert()]);

    // Assess
    expect(receiver.requests).toHaveLength(1);
    expect(deadLetters[0]!.failure).toMatchObject({ attempts: 1, status: 400 });
  });

  it('retries when nobody answers in time, then dead-letters with the reason', async () => {
    // Prepare: a server that never answers
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/`;
    const { webhook, deadLetters } = aWebhook(url, { timeoutMs: 100, maxAttempts: 2 });

    // Act
    try {
      await webhook.deliver([anAlert()]);
    } finally {
      silent.closeAllConnections();
      silent.close();
    }

    // Assess
    expect(deadLetters).toHaveLength(1);
    expect(deadLetters[0]!.failure.attempts).toBe(2);
    expect(deadLetters[0]!.failure.reason).toMatch(/timeout|aborted/i);
  });

  it('sends an incident’s open and resolved events in order, each with its own idempotency key', async () => {
    // Prepare
    const receiver = await aReceiver([200]);
    const { webhook } = aWebhook(receiver.url);
    const open = anAlert();
    const done = anAlert({ status: 'resolved', repeats: 4 });

    // Act
    await webhook.deliver([open, done, anAlert({ id: 'dev-8/vibration/spike/1', deviceId: 'dev-8' })]);

    // Assess
    const keys = receiver.requests.map((r) => r.headers['idempotency-key']);
    expect(keys.indexOf(`${open.id}#open`)).toBeLessThan(keys.indexOf(`${open.id}#resolved`));
    expect(receiver.accepted.size).toBe(3);
  });

  it('checks its settings when it is made', () => {
    const onDeadLetter = () => {};
    expect(() => new WebhookDelivery({ url: 'not a url', secret: SECRET, onDeadLetter })).toThrow(
      ConfigError,
    );
    expect(() => new WebhookDelivery({ url: 'ftp://x/', secret: SECRET, onDeadLetter })).toThrow(
      /must be http/,
    );
    expect(() => new WebhookDelivery({ url: 'https://x/', secret: '', onDeadLetter })).toThrow(
      /secret is empty/,
    );
  });
});

describe('signatures', () => {
  it('verify for the exact body and secret only', () => {
    const body = JSON.stringify(anAlert());
    const header = signBody(SECRET, body);
    expect(header).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(verifySignature(SECRET, body, header)).toBe(true);
    expect(verifySignature(SECRET, `${body} `, header)).toBe(false);
    expect(verifySignature('another secret', body, header)).toBe(false);
    expect(verifySignature(SECRET, body, undefined)).toBe(false);
  });
});

describe('alert delivery fan-out', () => {
  it('dead-letters an undeliverable alert with its bytes and reason, and does not fail the batch', async () => {
    // Prepare
    const receiver = await aReceiver([500]);
    const dead: ReturnType<typeof alertDeadLetter>[] = [];
    const { webhook } = aWebhook(receiver.url, {
      maxAttempts: 2,
      onDeadLetter: (alert, failure) => void dead.push(alertDeadLetter(alert, failure)),
    });
    const deliver = createAlertDelivery({ webhooks: [webhook] });

    // Act
    await deliver([anAlert()]);

    // Assess
    expect(dead).toHaveLength(1);
    expect(dead[0]!.headers![HEADER.reason]).toBe('ALERT_UNDELIVERED');
    expect(dead[0]!.headers![HEADER.detail]).toContain('HTTP 500 after 2 attempt(s)');
  });

  it('fails when a channel fails, so the batch is retried', async () => {
    // Prepare
    const failing = { publish: async () => Promise.reject(new Error('broker gone')) };
    const deliver = createAlertDelivery({ mqtt: failing as never });

    // Act / Assess
    await expect(deliver([anAlert()])).rejects.toThrow(/broker gone/);
  });
});
