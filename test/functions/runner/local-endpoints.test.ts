import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  removeServicesFile,
  SERVICES_FILE,
  withLocalEndpoints,
  writeServicesFile,
} from '../../../functions/runner/local-endpoints.ts';

describe('withLocalEndpoints', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'iot-endpoints-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('adds the running pipeline’s streams when the environment names none', async () => {
    // Prepare
    await writeServicesFile(dir, {
      IOT_STREAM: 'kinesis',
      KINESIS_ENDPOINT: 'http://127.0.0.1:4567',
      KAFKA_BROKERS: undefined,
    });

    // Act
    const env = withLocalEndpoints({ AWS_REGION: 'eu-west-1' }, dir);

    // Assess
    expect(env).toEqual({
      IOT_STREAM: 'kinesis',
      KINESIS_ENDPOINT: 'http://127.0.0.1:4567',
      AWS_REGION: 'eu-west-1',
    });
  });

  it('leaves an environment that names a stream as it is', async () => {
    await writeServicesFile(dir, { IOT_STREAM: 'kinesis', KINESIS_ENDPOINT: 'http://127.0.0.1:4567' });
    const env = { IOT_STREAM: 'kafka', KAFKA_BROKERS: 'b:9092' };
    expect(withLocalEndpoints(env, dir)).toBe(env);
  });

  it('ignores a file left behind by a process that is gone, and a missing or garbled one', async () => {
    writeFileSync(
      join(dir, SERVICES_FILE),
      JSON.stringify({ pid: 2 ** 22 + 12_345, env: { IOT_STREAM: 'kafka' } }),
    );
    expect(withLocalEndpoints({}, dir)).toEqual({});
    writeFileSync(join(dir, SERVICES_FILE), '{');
    expect(withLocalEndpoints({}, dir)).toEqual({});
    await removeServicesFile(dir);
    expect(withLocalEndpoints({}, dir)).toEqual({});
  });
});
