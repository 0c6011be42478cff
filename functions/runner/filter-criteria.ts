/**
 * Event filtering as Lambda event source mappings do it: `FilterCriteria.Filters[].Pattern`, each a
 * JSON filter pattern; a record is sent to the function when any pattern matches it, and skipped
 * (checkpointed past, never invoked) otherwise.
 * https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventfiltering.html#filtering-syntax
 *
 * What a pattern can look at:
 *   Kinesis  `data` (the payload as JSON; our Kinesis envelope removed first), `partitionKey`
 *   Kafka    `value` (the payload as JSON), `key`
 * AWS filters Kinesis on `data` and Kafka on `value` only; `partitionKey` / `key` are an extension.
 * A payload that is not JSON (Avro, our default) has no `data` / `value`, so a pattern on its fields
 * does not match it, as on AWS.
 *
 * The rule syntax supported, the subset that makes sense for telemetry:
 *   ["a", 1, null]                       equals any of (strings, numbers, null)
 *   [{ "prefix": "dev-" }]               string prefix       [{ "suffix": "-eu" }]  suffix
 *   [{ "equals-ignore-case": "ok" }]     case-insensitive equality
 *   [{ "anything-but": ["a", "b"] }]     not any of; also { "anything-but": { "prefix": "x" } }
 *   [{ "numeric": [">", 0, "<=", 85] }]  numeric range (=, <, <=, >, >=)
 *   [{ "exists": true }]                 field present (false: absent)
 * Keys in one pattern must all match (AND); values in one array, any (OR); a field holding an
 * array matches when any element does. `$or` and `cidr` are not supported and are refused at start.
 */
export interface FilterCriteria {
  readonly Filters: readonly { readonly Pattern: string }[];
}

/** The fields of one record a filter looks at, top level: e.g. { partitionKey, data }. */
export type FilterSubject = Readonly<Record<string, unknown>>;

export interface RecordFilter {
  /** Top-level fields the patterns name: a source parses `data` / `value` only when it is named. */
  readonly fields: ReadonlySet<string>;
  matches(subject: FilterSubject): boolean;
}

/** AWS quotas: 5 filters per mapping by default, a pattern is at most 4096 characters. */
const MAX_FILTERS = 5;
const MAX_PATTERN_LENGTH = 4096;

type Matcher = (value: unknown, present: boolean) => boolean;
type PatternMatcher = (subject: unknown) => boolean;

/** Compiles once, at start; undefined when there is nothing to filter. Throws on a bad pattern. */
export function compileFilterCriteria(criteria: FilterCriteria | undefined): RecordFilter | undefined {
  if (criteria === undefined || criteria.Filters.length === 0) return undefined;
  if (criteria.Filters.length > MAX_FILTERS) {
    throw new Error(`FilterCriteria has ${criteria.Filters.length} filters; at most ${MAX_FILTERS}`);
  }
  const fields = new Set<string>();
  const patterns = criteria.Filters.map(({ Pattern }, i) => {
    if (Pattern.length > MAX_PATTERN_LENGTH) {
      throw new Error(`FilterCriteria pattern ${i + 1} is over ${MAX_PATTERN_LENGTH} characters`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(Pattern);
    } catch (error) {
      throw new Error(`FilterCriteria pattern ${i + 1} is not JSON: ${(error as Error).message}`);
    }
    if (!isObject(parsed)) throw new Error(`FilterCriteria pattern ${i + 1} must be a JSON object`);
    for (const key of Object.keys(parsed)) fields.add(key);
    return compileObject(parsed, `pattern ${i + 1}`);
  });
  return {
    fields,
    matches: (subject) => {
      for (const pattern of patterns) if (pattern(subject)) return true;
      return false;
    },
  };
}

function compileObject(pattern: Record<string, unknown>, where: string): PatternMatcher {
  const checks = Object.entries(pattern).map(([key, rule]): PatternMatcher => {
    const path = `${where}.${key}`;
    if (key.startsWith('$')) throw new Error(`${path}: "${key}" is not supported`);
    if (Array.isArray(rule)) {
      const matchers = rule.map((r) => compileRule(r, path));
      if (matchers.length === 0) throw new Error(`${path}: an empty list matches nothing`);
      return (subject) => {
        const present = isObject(subject) && Object.hasOwn(subject, key);
        const value = present ? (subject as Record<string, unknown>)[key] : undefined;
        if (Array.isArray(value)) return value.some((v) => matchers.some((m) => m(v, true)));
        return matchers.some((m) => m(value, present));
      };
    }
    if (isObject(rule)) {
      const nested = compileObject(rule, path);
      return (subject) => isObject(subject) && nested((subject as Record<string, unknown>)[key]);
    }
    throw new Error(`${path}: a rule must be a list of values or a nested object`);
  });
  return (subject) => {
    for (const check of checks) if (!check(subject)) return false;
    return true;
  };
}

function compileRule(rule: unknown, path: string): Matcher {
  if (rule === null || typeof rule === 'string' || typeof rule === 'number' || typeof rule === 'boolean') {
    return (value, present) => present && value === rule;
  }
  if (!isObject(rule)) throw new Error(`${path}: unsupported rule ${JSON.stringify(rule)}`);
  const entries = Object.entries(rule);
  if (entries.length !== 1) throw new Error(`${path}: a rule object has exactly one operator`);
  const [op, arg] = entries[0]!;
  switch (op) {
    case 'prefix':
      return stringRule(arg, path, op, (value, a) => value.startsWith(a));
    case 'suffix':
      return stringRule(arg, path, op, (value, a) => value.endsWith(a));
    case 'equals-ignore-case':
      return stringRule(arg, path, op, (value, a) => value.toLowerCase() === a.toLowerCase());
    case 'exists':
      if (typeof arg !== 'boolean') throw new Error(`${path}: "exists" takes true or false`);
      return (value, present) => (present && value !== undefined) === arg;
    case 'numeric':
      return numericRule(arg, path);
    case 'anything-but':
      return anythingBut(arg, path);
    default:
      throw new Error(`${path}: operator "${op}" is not supported`);
  }
}

function stringRule(
  arg: unknown,
  path: string,
  op: string,
  test: (value: string, arg: string) => boolean,
): Matcher {
  if (typeof arg !== 'string') throw new Error(`${path}: "${op}" takes a string`);
  return (value, present) => present && typeof value === 'string' && test(value, arg);
}

const COMPARE: Record<string, (a: number, b: number) => boolean> = {
  '=': (a, b) => a === b,
  '<': (a, b) => a < b,
  '<=': (a, b) => a <= b,
  '>': (a, b) => a > b,
  '>=': (a, b) => a >= b,
};

function numericRule(arg: unknown, path: string): Matcher {
  if (!Array.isArray(arg) || arg.length === 0 || arg.length % 2 !== 0) {
    throw new Error(`${path}: "numeric" takes pairs such as [">", 0, "<=", 5]`);
  }
  const tests: ((v: number) => boolean)[] = [];
  for (let i = 0; i < arg.length; i += 2) {
    const op = arg[i];
    const bound = arg[i + 1];
    const compare = typeof op === 'string' ? COMPARE[op] : undefined;
    if (!compare || typeof bound !== 'number') {
      throw new Error(
        `${path}: "numeric" operator ${JSON.stringify(op)} / bound ${JSON.stringify(bound)} invalid`,
      );
    }
    tests.push((v) => compare(v, bound));
  }
  return (value, present) => present && typeof value === 'number' && tests.every((t) => t(value));
}

function anythingBut(arg: unknown, path: string): Matcher {
  if (isObject(arg)) {
    const prefix = arg.prefix;
    if (typeof prefix !== 'string' || Object.keys(arg).length !== 1) {
      throw new Error(`${path}: "anything-but" takes values or { "prefix": "..." }`);
    }
    return (value, present) => present && typeof value === 'string' && !value.startsWith(prefix);
  }
  const excluded = Array.isArray(arg) ? arg : [arg];
  for (const v of excluded) {
    if (typeof v !== 'string' && typeof v !== 'number') {
      throw new Error(`${path}: "anything-but" values must be strings or numbers`);
    }
  }
  return (value, present) => present && value !== undefined && !excluded.includes(value);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** A payload's JSON form for `data` / `value` patterns; undefined when it is not a JSON object or array. */
export function jsonOrUndefined(bytes: Uint8Array): unknown {
  let i = 0;
  while (
    i < bytes.length &&
    (bytes[i] === 0x20 || bytes[i] === 0x0a || bytes[i] === 0x0d || bytes[i] === 0x09)
  )
    i++;
  if (bytes[i] !== 0x7b && bytes[i] !== 0x5b) return undefined;
  try {
    return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch {
    return undefined;
  }
}
