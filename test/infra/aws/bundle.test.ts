import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { type BuiltBundle, buildBundles, inlineCreateRequire } from '../../../infra/aws/bundle.ts';

let bundles: BuiltBundle[];

beforeAll(async () => {
  bundles = await buildBundles({
    outDir: join(mkdtempSync(join(tmpdir(), 'iot-ingest-bundle-test-')), 'bundles'),
  });
});

describe('buildBundles', () => {
  it('builds one Lambda asset per function, with the schemas beside the handler', () => {
    expect(bundles.map((b) => b.name)).toEqual(['validate', 'detect', 'write']);
    for (const bundle of bundles) {
      expect(existsSync(join(bundle.dir, 'index.mjs'))).toBe(true);
      expect(existsSync(join(bundle.dir, 'schemas', 'telemetry.avsc'))).toBe(true);
    }
  });

  it('carries the device profiles detect reads at the cold start, and detect loads them', async () => {
    // Prepare
    const detect = bundles.find((b) => b.name === 'detect')!;
    expect(existsSync(join(detect.dir, 'config', 'device-profiles.json'))).toBe(true);

    // Act: the bundled profiles module resolves its default path inside the asset
    const { execFileSync } = await import('node:child_process');
    const out = execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const m = await import(${JSON.stringify(join(detect.dir, 'index.mjs'))}); console.log(typeof m.handler);`,
      ],
      { encoding: 'utf8' },
    );

    // Assess
    expect(out.trim()).toBe('function');
  });

  it('stays within the README budget of 1 MiB per asset', () => {
    for (const bundle of bundles) expect(bundle.totalBytes).toBeLessThanOrEqual(1024 * 1024);
  });

  it('loads no AWS SDK, Kafka client or DuckDB at the cold start', () => {
    for (const bundle of bundles) {
      const atStart = bundle.files
        .filter((f) => f.loadedAtStart)
        .map((f) => readFileSync(join(bundle.dir, f.file), 'utf8'));
      const text = atStart.join('\n');
      expect(text).not.toMatch(/from\s*["']@duckdb\//);
      expect(text).not.toContain('Kinesis_20131202');
      expect(text).not.toContain('kafkajs');
    }
  });

  it('imports nothing at run time but node: built-ins and, lazily, @duckdb/*', () => {
    for (const bundle of bundles) {
      // A lazy import of a store module not written yet is reported as a warning, not hidden.
      const unresolved = bundle.warnings
        .map((w) => /lazy import (\S+) does not exist/.exec(w)?.[1])
        .filter((p) => p !== undefined);
      const outside = bundle.externals.filter(
        (s) =>
          !s.startsWith('node:') &&
          !builtinModules.includes(s) &&
          !s.startsWith('@duckdb/') &&
          !unresolved.includes(s),
      );
      expect(outside, bundle.name).toEqual([]);
    }
  });
});

describe('inlineCreateRequire', () => {
  it('turns createRequire(import.meta.url) calls into require() esbuild can follow', () => {
    const source = "const req = createRequire(import.meta.url);\nconst { Tap } = req('avsc/lib/utils.js');\n";

    expect(inlineCreateRequire(source)).toBe("\nconst { Tap } = require('avsc/lib/utils.js');\n");
  });

  it('refuses a use it cannot follow', () => {
    const source = 'const req = createRequire(import.meta.url);\nconst path = req.resolve("x");\n';

    expect(() => inlineCreateRequire(source, 'a.ts')).toThrow(/a.ts: req = createRequire/);
  });
});
