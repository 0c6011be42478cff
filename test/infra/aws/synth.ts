import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { buildBundles, type FunctionName } from '../../../infra/aws/bundle.ts';
import {
  createPipelineApp,
  KAFKA_STACK,
  KINESIS_STACK,
  type PipelineApp,
} from '../../../infra/aws/pipeline-app.ts';

export interface Synthesized {
  readonly pipeline: PipelineApp;
  readonly kinesis: Template;
  readonly kafka: Template;
}

/**
 * Builds the bundles and synthesizes the whole app once, offline, with cdk-nag's checks: app.synth()
 * throws if any finding is not acknowledged.
 */
export async function synthesize(context: Record<string, string> = {}): Promise<Synthesized> {
  const work = mkdtempSync(join(tmpdir(), 'iot-ingest-synth-'));
  const built = await buildBundles({ outDir: join(work, 'bundles') });
  const bundles = Object.fromEntries(built.map((b) => [b.name, b.dir])) as Record<FunctionName, string>;
  const pipeline = createPipelineApp(bundles, { outdir: join(work, 'cdk.out'), context });
  const assembly = pipeline.app.synth();
  return {
    pipeline,
    kinesis: Template.fromJSON(assembly.getStackByName(KINESIS_STACK).template as Record<string, unknown>),
    kafka: Template.fromJSON(assembly.getStackByName(KAFKA_STACK).template as Record<string, unknown>),
  };
}

export interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
}

/** Every statement of every inline policy attached to the role whose logical id starts with `rolePrefix`. */
export function statementsOf(template: Template, rolePrefix: string): Statement[] {
  const policies = template.findResources('AWS::IAM::Policy');
  const out: Statement[] = [];
  for (const policy of Object.values(policies)) {
    const props = (
      policy as { Properties: { Roles: { Ref: string }[]; PolicyDocument: { Statement: Statement[] } } }
    ).Properties;
    if (props.Roles.some((r) => r.Ref.startsWith(rolePrefix))) out.push(...props.PolicyDocument.Statement);
  }
  return out;
}

export function actionsOf(statements: readonly Statement[]): string[] {
  return statements.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action])).sort();
}

/** The statements that allow `action`. */
export function allowing(statements: readonly Statement[], action: string): Statement[] {
  return statements.filter((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]).includes(action));
}

export function logicalIdOf(template: Template, type: string, prefix: string): string {
  const ids = Object.keys(template.findResources(type)).filter((id) => id.startsWith(prefix));
  if (ids.length !== 1) throw new Error(`expected one ${type} ${prefix}*, found ${ids.join(', ') || 'none'}`);
  return ids[0]!;
}
