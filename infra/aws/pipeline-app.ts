import { App, type AppProps, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { PipelineFunction as FunctionName } from '../../functions/cost/deployment.ts';
import { defaultMappings } from '../../functions/runner/topology.ts';
import { readDeploymentConfig } from './config.ts';
import { KafkaPipelineStack } from './kafka-stack.ts';
import { KinesisPipelineStack } from './kinesis-stack.ts';

export const KINESIS_STACK = 'IotIngestKinesis';
export const KAFKA_STACK = 'IotIngestKafka';

export interface PipelineApp {
  readonly app: App;
  readonly kinesis: KinesisPipelineStack;
  readonly kafka: KafkaPipelineStack;
}

/**
 * Both deployments in one CDK app, checked by cdk-nag's AwsSolutions pack. The stacks are
 * environment-agnostic: synth makes no AWS call and reads no account; `cdk deploy` fills in the
 * account and region of the credentials it runs with.
 */
export function createPipelineApp(
  bundles: Readonly<Record<FunctionName, string>>,
  props: AppProps = {},
): PipelineApp {
  const app = new App(props);
  const config = readDeploymentConfig((key) => app.node.tryGetContext(key));
  const operationsEmail = app.node.tryGetContext('opsEmail') as string | undefined;
  const mappings = defaultMappings();
  const kinesis = new KinesisPipelineStack(app, KINESIS_STACK, {
    config,
    bundles,
    mappings,
    operationsEmail,
  });
  const kafka = new KafkaPipelineStack(app, KAFKA_STACK, { config, bundles, mappings, operationsEmail });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, kinesis, kafka };
}
