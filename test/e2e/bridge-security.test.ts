/**
 * Security, Mosquitto only (the embedded Aedes harness has no authentication or ACL): the shipped
 * ACL (infra/local/mosquitto/acl) with per-device passwords and a TLS listener whose certificates
 * are generated here with the openssl CLI. A device cannot publish as another; the bridge connects
 * over TLS with credentials from a file and never logs them; bad credentials and a missing topic
 * stop it with a message that says what is wrong.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningBridge, runBridge } from '../../functions/bridge/run-bridge.ts';
import { loadConfig } from '../../functions/lib/config.ts';
import { freePort } from '../../infra/local/ports.ts';
import { requireOrSkip } from '../../infra/local/services.ts';
import { type BrokerHarness, type StreamHarness, startBroker, startStream } from './bridge-harness.ts';

const hasTools = (() => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    execFileSync('mosquitto_passwd', ['-h'], { stdio: 'ignore' });
    return true;
  } catch (error) {
    // mosquitto_passwd -h exits 1 after printing its usage
    return (error as { status?: number }).status === 1;
  }
})();
const available = (await requireOrSkip('mosquitto')) && (await requireOrSkip('kafka')) && hasTools;

const ACL = resolve(import.meta.dirname, '../../infra/local/mosquitto/acl');
const BRIDGE_PASSWORD = 'bridge-secret-7f3a';

describe.skipIf(!available)('bridge security on mosquitto: TLS, per-device credentials, ACL', () => {
  let dir: string;
  let broker: BrokerHarness;
  let stream: StreamHarness;
  let tlsPort: number;
  let env: Record<string, string>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bridge-security-'));
    const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { cwd: dir, stdio: 'ignore' });
    run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-days',
      '1',
      '-subj',
      '/CN=iot-ingest test CA',
    ]);
    run('openssl', [
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'server.key',
      '-out',
      'server.csr',
      '-subj',
      '/CN=127.0.0.1',
    ]);
    await writeFile(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
    run('openssl', [
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'server.crt',
      '-days',
      '1',
      '-extfile',
      'san.ext',
    ]);
    run('mosquitto_passwd', ['-c', '-b', 'passwd', 'iot-ingest-bridge', BRIDGE_PASSWORD]);
    run('mosquitto_passwd', ['-b', 'passwd', 'dev-a', 'pw-a']);
    run('mosquitto_passwd', ['-b', 'passwd', 'dev-b', 'pw-b']);
    await writeFile(join(dir, 'bridge-password'), `${BRIDGE_PASSWORD}\n`);
    tlsPort = await freePort();
    stream = await startStream('kafka');
    broker = await startBroker('mosquitto', {
      extraConfig: [
        `listener ${tlsPort} 127.0.0.1`,
        `certfile ${join(dir, 'server.crt')}`,
        `keyfile ${join(dir, 'server.key')}`,
        'allow_anonymous false',
        `password_file ${join(dir, 'passwd')}`,
        `acl_file ${ACL}`,
      ].join('\n'),
    });
    env = {
      ...stream.env,
      MQTT_URL: `mqtts://127.0.0.1:${tlsPort}`,
      MQTT_TLS_CA: join(dir, 'ca.crt'),
      MQTT_USERNAME: 'iot-ingest-bridge',
      MQTT_PASSWORD_FILE: join(dir, 'bridge-password'),
      MQTT_CLIENT_ID: 'bridge-security',
      BRIDGE_STATS_INTERVAL_SECONDS: '0',
    };
  });

  afterAll(async () => {
    await broker?.stop();
    await stream?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('takes a device only on its own topic, over TLS, and never logs the password', async () => {
    // Prepare
    const logged: string[] = [];
    const bridge: RunningBridge = await runBridge(loadConfig(env), (level, msg, fields) =>
      logged.push(`${level} ${msg} ${JSON.stringify(fields ?? {})}`),
    );
    const ca = await readFile(join(dir, 'ca.crt'));
    const device = await mqtt.connectAsync(`mqtts://127.0.0.1:${tlsPort}`, {
      ca,
      username: 'dev-a',
      password: 'pw-a',
      protocolVersion: 5,
      reconnectPeriod: 0,
    });

    // Act: dev-a publishes as itself, then as dev-b
    await device.publishAsync('telemetry/dev-a', JSON.stringify({ deviceId: 'dev-a', seq: 1 }), { qos: 1 });
    const spoofed = await device
      .publishAsync('telemetry/dev-b', JSON.stringify({ deviceId: 'dev-b', seq: 1 }), { qos: 1 })
      .then(
        (packet) => (packet as { reasonCode?: number } | undefined)?.reasonCode ?? 0,
        (error: { code?: number }) => error.code ?? -1,
      );
    await device.endAsync();
    await sleep(1_000);
    await bridge.stop();

    // Assess
    const { distinct } = await stream.read();
    expect([...distinct]).toEqual(['dev-a#1']);
    expect(spoofed).toBe(0x87); // MQTT 5 PUBACK: Not authorized
    expect(logged.some((line) => line.includes('connected to the MQTT broker'))).toBe(true);
    expect(logged.join('\n')).not.toContain(BRIDGE_PASSWORD);
  });

  it('refuses to start with a bad password, saying so', async () => {
    const bad = loadConfig({ ...env, MQTT_PASSWORD_FILE: '', MQTT_PASSWORD: 'wrong-password' });
    const start = runBridge(bad, () => {});
    await expect(start).rejects.toThrow(/refused the connection: (bad user name or password|not authorised)/);
    await expect(start).rejects.not.toThrow(/wrong-password/);
  });

  it('refuses to start without TLS trust in the broker, saying so', async () => {
    const untrusted = loadConfig({ ...env, MQTT_TLS_CA: '' });
    await expect(runBridge(untrusted, () => {})).rejects.toThrow(/cannot reach the MQTT broker.*certificate/);
  });

  it('refuses to start when telemetry.raw does not exist, saying so', async () => {
    const { startKafkaMock } = await import('../../infra/local/kafka-mock/kafka-mock.ts');
    const empty = await startKafkaMock({ topics: { other: 1 } });
    try {
      const config = loadConfig({ ...env, KAFKA_BROKERS: empty.brokers.join(',') });
      await expect(runBridge(config, () => {})).rejects.toThrow(/topic "telemetry.raw" does not exist/);
    } finally {
      await empty.stop();
    }
  });
});
