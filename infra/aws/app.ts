/**
 * The CDK app: `npx cdk synth` / `npx cdk deploy IotIngestKinesis` from infra/aws (npm run synth).
 * Builds the Lambda bundles first (esbuild, no Docker), then the stacks from them.
 */
import { type FunctionName, buildBundles } from './bundle.ts';
import { createPipelineApp } from './pipeline-app.ts';

const built = await buildBundles();
for (const bundle of built) for (const warning of bundle.warnings) console.error(`bundle ${bundle.name}: ${warning}`);
const bundles = Object.fromEntries(built.map((b) => [b.name, b.dir])) as Record<FunctionName, string>;
createPipelineApp(bundles).app.synth();
