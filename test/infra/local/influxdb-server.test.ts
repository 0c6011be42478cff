import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { describe, expect, it } from 'vitest';
import { influxConfig, requireInfluxDbOrSkip, startInfluxDb } from '../../../infra/local/influxdb-server.ts';

const hasInfluxDb = await requireInfluxDbOrSkip();

describe('influxConfig', () => {
  it('binds HTTP and RPC to loopback and keeps data in the given directory', () => {
    // Act
    const config = influxConfig('/tmp/x', 18086, 18088);

    // Assess
    expect(config).toContain('bind-address = "127.0.0.1:18088"');
    expect(config).toContain('bind-address = "127.0.0.1:18086"');
    expect(config).toContain('dir = "/tmp/x/data"');
    expect(config).toContain('wal-dir = "/tmp/x/wal"');
    expect(config).not.toMatch(/bind-address = ":/);
  });
});

describe.skipIf(!hasInfluxDb)('startInfluxDb', () => {
  it('serves the 1.x HTTP API on loopback until stopped, then leaves nothing behind', async () => {
    // Prepare
    const server = await startInfluxDb();

    // Act
    const ping = await fetch(`${server.url}/ping`);
    await server.admin('CREATE DATABASE made_here');
    const bad = server.admin('CREATE NONSENSE');
    await expect(bad).rejects.toThrow(/error parsing query/);
    await server.stop();

    // Assess
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(ping.status).toBe(204);
    expect(ping.headers.get('x-influxdb-version')).toMatch(/^1\./);
    await expect(fetch(`${server.url}/ping`)).rejects.toThrow();
    await expect(stat(dirname(server.logPath))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
