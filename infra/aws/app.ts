/**
 * The CDK app. Two ways to run it:
 *   npm run synth [-- -c key=value ...]        writes infra/aws/cdk.out (no AWS access, no Docker)
 *   cd infra/aws && npx cdk deploy IotIngestKinesis [-c key=value ...]   (cdk.json runs this file)
 * Builds the Lambda bundles first (esbuild), then the stacks from them.
 */
import { join } from 'node:path';
import { ConfigError } from '../../functions/lib/errors.ts';
import { buildBundles, type FunctionName, REPO_ROOT } from './bundle.ts';
import { createPipelineApp } from './pipeline-app.ts';

/** `-c key=value` / `--context key=value` when run directly (the CDK CLI passes context itself). */
function contextFromArgs(argv: readonly string[]): Record<string, string> {
  const context: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] !== '-c' && argv[i] !== '--context') continue;
    const [key, ...value] = (argv[++i] ?? '').split('=');
    if (key) context[key] = value.join('=');
  }
  return context;
}

const built = await buildBundles();
for (const bundle of built)
  for (const warning of bundle.warnings) console.error(`bundle ${bundle.name}: ${warning}`);
const bundles = Object.fromEntries(built.map((b) => [b.name, b.dir])) as Record<FunctionName, string>;
const underCli = process.env.CDK_OUTDIR !== undefined;
const outdir = join(REPO_ROOT, 'infra/aws/cdk.out');
let assembly: ReturnType<ReturnType<typeof createPipelineApp>['app']['synth']>;
try {
  assembly = createPipelineApp(
    bundles,
    underCli ? {} : { outdir, context: contextFromArgs(process.argv.slice(2)) },
  ).app.synth();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(`infra/aws: configuration error: ${error.message}`);
  process.exit(2);
}
if (!underCli) {
  for (const stack of assembly.stacks)
    console.log(`${stack.stackName}: ${join(assembly.directory, stack.templateFile)}`);
}
