/**
 * One esbuild bundle per batch function, laid out as the Lambda asset it becomes:
 *
 *   <outDir>/<name>/index.mjs            the handler module (Lambda handler `index.handler`)
 *   <outDir>/<name>/*-<hash>.mjs         chunks: code shared with, or behind, lazy `import()`s
 *   <outDir>/<name>/schemas/**           the schema registry of record, read at the cold start
 *   <outDir>/detect/config/device-profiles.json   detect's device profiles
 *
 * Built with the esbuild JS API rather than `NodejsFunction`, so `cdk synth` and the tests need
 * neither Docker nor a network. The CDK app (`infra/aws`) and the bundle bench (`bench/bundles.ts`)
 * both call `buildBundles`, so the bench measures exactly what is deployed.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Metafile, type Plugin } from 'esbuild';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const DEFAULT_BUNDLE_DIR = join(REPO_ROOT, 'infra/aws/.build/bundles');
export const FUNCTION_NAMES = ['validate', 'detect', 'write'] as const;
export type FunctionName = (typeof FUNCTION_NAMES)[number];

/** Packages that must never be in a Lambda bundle: native code that is not built for Lambda. */
export const NEVER_BUNDLED = ['@duckdb/*'] as const;

export interface BuiltBundle {
  readonly name: FunctionName;
  /** The asset directory handed to `lambda.Code.fromAsset`. */
  readonly dir: string;
  readonly entry: string;
  /** Bytes of index.mjs and every chunk it imports statically: what every cold start loads. */
  readonly coldBytes: number;
  /** Bytes of every file in the asset (entry, lazy chunks, schemas). */
  readonly totalBytes: number;
  /** Every output file, its size, and whether the cold start loads it (else only a lazy branch does). */
  readonly files: ReadonlyArray<{ file: string; bytes: number; loadedAtStart: boolean }>;
  /** Modules the bundle imports at run time rather than containing (node: built-ins, @duckdb/*). */
  readonly externals: readonly string[];
  /** Lazy imports left unresolved because their module does not exist (see `missingLazyImports`). */
  readonly warnings: readonly string[];
}

export interface BuildOptions {
  outDir?: string;
  functions?: readonly FunctionName[];
  minify?: boolean;
}

export async function buildBundles(options: BuildOptions = {}): Promise<BuiltBundle[]> {
  const outDir = options.outDir ?? DEFAULT_BUNDLE_DIR;
  const built: BuiltBundle[] = [];
  for (const name of options.functions ?? FUNCTION_NAMES)
    built.push(await buildBundle(name, outDir, options.minify ?? true));
  return built;
}

async function buildBundle(name: FunctionName, outDir: string, minify: boolean): Promise<BuiltBundle> {
  const dir = join(outDir, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const warnings: string[] = [];
  const result = await build({
    entryPoints: { index: join(REPO_ROOT, 'functions', name, 'handler.ts') },
    outdir: dir,
    bundle: true,
    // Splitting puts each lazy `import()` in its own chunk: a chunk's code (and any external it
    // imports, such as @duckdb/node-api) is read only when that branch runs, not at the cold start.
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node22',
    outExtension: { '.js': '.mjs' },
    // Chunks sit beside index.mjs: every output file then has the same import.meta.url directory,
    // which sourceTreeUrls() relies on.
    chunkNames: '[name]-[hash]',
    minify,
    sourcemap: false,
    legalComments: 'none',
    metafile: true,
    logLevel: 'silent',
    external: [...NEVER_BUNDLED],
    // CommonJS packages in the bundle (avsc, the AWS SDK's dependencies) call require() for Node
    // built-ins; an ES module has no `require`, so give it one.
    banner: {
      js: "import { createRequire as __iotCreateRequire } from 'node:module'; const require = __iotCreateRequire(import.meta.url);",
    },
    plugins: [sourceTreeUrls(), missingLazyImports(warnings)],
  });
  for (const message of result.warnings) warnings.push(message.text);
  cpSync(join(REPO_ROOT, 'schemas'), join(dir, 'schemas'), { recursive: true });
  // detect reads its device profiles at the cold start (functions/detect/profiles.ts).
  if (name === 'detect') {
    cpSync(join(REPO_ROOT, 'config', 'device-profiles.json'), join(dir, 'config', 'device-profiles.json'));
  }
  return describe(name, dir, result.metafile, warnings);
}

/**
 * Every module's `import.meta.url` as if the repository were laid out under the bundle directory.
 *
 * Bundled, all modules share the bundle's one `import.meta.url`, so a module that finds files
 * relative to itself (schema-registry.ts: `new URL('../../../schemas', import.meta.url)`) would look
 * three levels above /var/task. Rewriting each module's `import.meta.url` to
 * `<bundle dir>/<its path in the repo>` keeps those relative paths right, and `schemas/` is copied
 * to `<bundle dir>/schemas`. `createRequire(import.meta.url)('pkg/file.js')` is turned into a plain
 * `require('pkg/file.js')` that esbuild can see and bundle (avro-binary.ts reaches avsc's internal
 * Tap that way); left alone it would look for node_modules/ on Lambda, where there is none.
 */
function sourceTreeUrls(): Plugin {
  return {
    name: 'source-tree-urls',
    setup(pluginBuild) {
      pluginBuild.onLoad({ filter: /[\\/]functions[\\/].*\.ts$/ }, (args) => {
        let contents = readFileSync(args.path, 'utf8');
        if (!contents.includes('import.meta.url')) return undefined;
        contents = inlineCreateRequire(contents, args.path);
        const asInRepo = relative(REPO_ROOT, args.path).split('\\').join('/');
        contents = contents.replaceAll(
          'import.meta.url',
          `new URL(${JSON.stringify(asInRepo)}, import.meta.url).href`,
        );
        return { contents, loader: 'ts' };
      });
    },
  };
}

/** `const r = createRequire(import.meta.url); r('x')` -> `require('x')`; any other use of `r` fails the build. */
export function inlineCreateRequire(source: string, file = '<source>'): string {
  const binding = /const\s+(\w+)\s*=\s*createRequire\(import\.meta\.url\);?/.exec(source);
  if (!binding) return source;
  const name = binding[1]!;
  let out = source.replace(binding[0], '');
  out = out.replace(new RegExp(`\\b${name}\\((['"][^'"]+['"])\\)`, 'g'), 'require($1)');
  if (new RegExp(`\\b${name}\\b`).test(out)) {
    throw new Error(
      `${file}: ${name} = createRequire(import.meta.url) is used other than as ${name}('literal'); the bundler cannot follow it`,
    );
  }
  return out;
}

/**
 * A lazy `import()` of a project module that does not exist yet (the write handler's store modules
 * are being written alongside this) is left as a runtime import that fails only if that branch
 * runs, and reported; a missing static import still fails the build.
 */
function missingLazyImports(warnings: string[]): Plugin {
  return {
    name: 'missing-lazy-imports',
    setup(pluginBuild) {
      pluginBuild.onResolve({ filter: /^\.\.?\// }, (args) => {
        if (args.kind !== 'dynamic-import') return undefined;
        const target = resolve(args.resolveDir, args.path);
        if (existsSync(target)) return undefined;
        warnings.push(
          `${relative(REPO_ROOT, args.importer)}: lazy import ${args.path} does not exist; left unresolved`,
        );
        return { path: args.path, external: true };
      });
    },
  };
}

function describe(name: FunctionName, dir: string, metafile: Metafile, warnings: string[]): BuiltBundle {
  const entry = join(dir, 'index.mjs');
  const outputs = metafile.outputs;
  const entryKey = Object.keys(outputs).find((file) => resolve(file) === entry);
  if (entryKey === undefined) throw new Error(`esbuild wrote no ${entry}`);
  // The static-import closure of the entry is what a cold start reads; dynamic imports are not in it.
  const atStart = new Set<string>();
  const pending = [entryKey];
  for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
    if (atStart.has(file)) continue;
    atStart.add(file);
    for (const imported of outputs[file]?.imports ?? []) {
      if (imported.kind === 'import-statement' && !imported.external) pending.push(imported.path);
    }
  }
  const files = Object.entries(outputs).map(([file, output]) => ({
    file: relative(dir, resolve(file)),
    bytes: output.bytes,
    loadedAtStart: atStart.has(file),
  }));
  const coldBytes = files.filter((f) => f.loadedAtStart).reduce((sum, f) => sum + f.bytes, 0);
  const externals = [
    ...new Set(
      Object.values(outputs).flatMap((output) => output.imports.filter((i) => i.external).map((i) => i.path)),
    ),
  ].sort();
  return { name, dir, entry, coldBytes, totalBytes: directoryBytes(dir), files, externals, warnings };
}

function directoryBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    total += entry.isDirectory() ? directoryBytes(path) : statSync(path).size;
  }
  return total;
}
