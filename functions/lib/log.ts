/**
 * Structured logs. Every process and function logs JSON through Powertools for AWS Lambda's Logger
 * (the ecosystem's choice: on Lambda it adds the request id and cold-start flag, and its output is
 * what CloudWatch Logs Insights queries expect). It is loaded lazily, on the first log made, so a
 * function's cold start does not pay for it before its first batch, and only ever per batch or per
 * event, never per record: the hot path does not log.
 */
import type { PipelineConfig } from './config.ts';

/** The part of a logger this code uses; Powertools' Logger satisfies it. */
export interface Log {
  debug(message: string, ...attributes: Record<string, unknown>[]): void;
  info(message: string, ...attributes: Record<string, unknown>[]): void;
  warn(message: string, ...attributes: Record<string, unknown>[]): void;
  error(message: string, ...attributes: Record<string, unknown>[]): void;
}

export const SILENT_LOG: Log = Object.freeze({
  debug() {},
  info() {},
  warn() {},
  error() {},
});

/** A Powertools Logger for `service`, with `attributes` on every line. */
export async function createLog(
  service: string,
  level: PipelineConfig['logLevel'],
  attributes: Record<string, unknown> = {},
): Promise<Log> {
  const { Logger } = await import('@aws-lambda-powertools/logger');
  const logger = new Logger({
    serviceName: service,
    logLevel: level.toUpperCase() as Uppercase<typeof level>,
  });
  logger.appendKeys(attributes);
  return logger;
}
