/**
 * cdk-nag (AwsSolutions) findings this deployment acknowledges, each with the reason it is right
 * here. Everything not listed here fails `npm run synth` and the infra tests.
 */
import { Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

export interface Acknowledgement {
  readonly id: string;
  readonly reason: string;
}

function acknowledge(scope: IConstruct, findings: readonly Acknowledgement[]): void {
  for (const finding of findings) Validations.of(scope).acknowledge(finding);
}

export function acknowledgeKinesisStackFindings(stack: IConstruct): void {
  acknowledge(stack, []);
}

export function acknowledgeKafkaStackFindings(stack: IConstruct): void {
  acknowledge(stack, []);
}
