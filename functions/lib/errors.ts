/**
 * The project's error family: a stable `code` a program can branch on, a `retryable` flag that
 * tells the runner whether trying again can help, and the original `cause`.
 */
export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'SERVICE_UNAVAILABLE'
  | 'STREAM_WRITE_FAILED'
  | 'STORE_WRITE_FAILED'
  | 'QUERY_FAILED'
  // per-record rejections (dead-letter reason codes)
  | 'PAYLOAD_EMPTY'
  | 'PAYLOAD_TOO_LARGE'
  | 'PAYLOAD_UNRECOGNISED'
  | 'AVRO_TRUNCATED'
  | 'AVRO_INVALID'
  | 'SCHEMA_UNKNOWN'
  | 'SCHEMA_MISMATCH'
  | 'JSON_INVALID'
  | 'READING_INVALID'
  | 'DEVICE_MISMATCH'
  | 'TOPIC_INVALID';

export class IngestError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options: { retryable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'IngestError';
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}

/** Bad configuration: the message says which setting and what a valid value looks like. */
export class ConfigError extends IngestError {
  constructor(message: string, cause?: unknown) {
    super('CONFIG_INVALID', message, { cause });
    this.name = 'ConfigError';
  }
}

/** A record that can never be processed as it is; it belongs in the dead-letter stream. */
export class RejectedRecordError extends IngestError {
  constructor(code: ErrorCode, message: string, cause?: unknown) {
    super(code, message, { retryable: false, cause });
    this.name = 'RejectedRecordError';
  }
}

export function isRetryable(error: unknown): boolean {
  return error instanceof IngestError ? error.retryable : true;
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
