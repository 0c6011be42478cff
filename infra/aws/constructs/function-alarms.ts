import { aws_cloudwatch as cloudwatch, type aws_lambda as lambda } from 'aws-cdk-lib';
import { FIVE_MINUTES, type Monitoring, ONE_MINUTE } from './monitoring.ts';

/**
 * Errors and throttles for each function, and how far its mapping is behind: IteratorAge (ms) on
 * Kinesis, OffsetLag (records) on Kafka.
 * https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html
 */
export function addFunctionAlarms(
  monitoring: Monitoring,
  functions: ReadonlyArray<{ name: string; fn: lambda.IFunction }>,
  lag: { metricName: 'IteratorAge' | 'OffsetLag'; threshold: number; unit: string },
): void {
  for (const { name, fn } of functions) {
    const metric = (metricName: string, statistic: string, period = FIVE_MINUTES) =>
      new cloudwatch.Metric({
        namespace: 'AWS/Lambda',
        metricName,
        dimensionsMap: { FunctionName: fn.functionName },
        statistic,
        period,
      });
    monitoring.alarm({
      name: `${name}-errors`,
      metric: metric('Errors', 'Sum'),
      threshold: 0,
      description: `${name} threw: its batch is being retried (and after 10 retries goes to the on-failure destination). See its log group.`,
    });
    monitoring.alarm({
      name: `${name}-throttles`,
      metric: metric('Throttles', 'Sum'),
      threshold: 0,
      description: `${name} was throttled: raise the account's concurrency limit or its reserved concurrency.`,
    });
    monitoring.alarm({
      name: `${name}-${lag.metricName === 'IteratorAge' ? 'iterator-age' : 'offset-lag'}`,
      metric: metric(lag.metricName, 'Maximum', ONE_MINUTE),
      threshold: lag.threshold,
      periods: 5,
      description: `${name} is falling behind its stream (${lag.metricName} above ${lag.threshold} ${lag.unit} for 5 minutes).`,
    });
    monitoring.row(
      new cloudwatch.GraphWidget({
        title: `${name}: invocations, errors, throttles`,
        left: [metric('Invocations', 'Sum'), metric('Errors', 'Sum'), metric('Throttles', 'Sum')],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: `${name}: duration (ms)`,
        left: [metric('Duration', 'Average'), metric('Duration', 'p99')],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: `${name}: ${lag.metricName} (${lag.unit})`,
        left: [metric(lag.metricName, 'Maximum', ONE_MINUTE)],
        width: 8,
      }),
    );
  }
}
