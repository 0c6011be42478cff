import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../functions/lib/errors.ts';
import { defineMapping, effectiveRetryLimit } from '../../../functions/runner/mapping.ts';
import { defaultMappings, fusedMapping, modeMappings } from '../../../functions/runner/topology.ts';

const base = { FunctionName: 'f', EventSource: 'telemetry.raw' } as const;

describe('defineMapping', () => {
  it('fills the defaults AWS uses', () => {
    expect(defineMapping(base)).toEqual({
      ...base,
      BatchSize: 100,
      MaximumBatchingWindowInSeconds: 0,
      StartingPosition: 'TRIM_HORIZON',
      ParallelizationFactor: 1,
      BisectBatchOnFunctionError: false,
      MaximumRetryAttempts: -1,
      MaximumRecordAgeInSeconds: -1,
      FunctionResponseTypes: [],
    });
    expect(Object.isFrozen(defineMapping(base))).toBe(true);
  });

  it.each([
    [{ BatchSize: 0 }, /BatchSize 0/],
    [{ BatchSize: 10_001 }, /BatchSize/],
    [{ MaximumBatchingWindowInSeconds: 301 }, /MaximumBatchingWindowInSeconds/],
    [{ ParallelizationFactor: 11 }, /ParallelizationFactor 11/],
    [{ MaximumRetryAttempts: -2 }, /MaximumRetryAttempts/],
    [{ MaximumRecordAgeInSeconds: 0 }, /MaximumRecordAgeInSeconds 0/],
    [{ StartingPosition: 'AT_TIMESTAMP' }, /StartingPosition/],
    [{ FilterCriteria: { Filters: [{ Pattern: '{"data":{"a":[{"cidr":"x"}]}}' }] } }, /cidr/],
  ] as const)('refuses %o, naming the setting and the mapping', (input, message) => {
    expect(() => defineMapping({ ...base, ...input } as never)).toThrow(ConfigError);
    expect(() => defineMapping({ ...base, ...input } as never)).toThrow(message);
    expect(() => defineMapping({ ...base, ...input } as never)).toThrow(/mapping f <- telemetry.raw/);
  });

  it('applies Lambda’s 10 retries to a Kafka mapping with infinite retries and a destination', () => {
    const m = defineMapping({ ...base, DestinationConfig: { OnFailure: { Destination: 'telemetry.dlq' } } });
    expect(effectiveRetryLimit(m, 'kafka')).toBe(10);
    expect(effectiveRetryLimit(m, 'kinesis')).toBe(-1);
    expect(effectiveRetryLimit(defineMapping(base), 'kafka')).toBe(-1);
  });
});

describe('the topology’s mappings', () => {
  it('runs validate, detect and write, each its own mapping, all bisecting into the dead-letter stream', () => {
    const mappings = defaultMappings();
    expect(mappings.map((m) => `${m.FunctionName} <- ${m.EventSource}`)).toEqual([
      'validate <- telemetry.raw',
      'detect <- telemetry.valid',
      'write <- telemetry.valid',
    ]);
    for (const m of [...mappings, fusedMapping()]) {
      expect(m.BisectBatchOnFunctionError).toBe(true);
      expect(m.FunctionResponseTypes).toEqual(['ReportBatchItemFailures']);
      expect(m.DestinationConfig?.OnFailure.Destination).toBe('telemetry.dlq');
    }
    expect(fusedMapping().EventSource).toBe('telemetry.raw');
  });

  it('applies settings to every mapping of a mode, and checks them as defineMapping does', () => {
    const fused = modeMappings('fused', { MaximumBatchingWindowInSeconds: 0.01 });
    expect(fused.map((m) => [m.FunctionName, m.MaximumBatchingWindowInSeconds, m.BatchSize])).toEqual([
      ['fused', 0.01, 2_000],
    ]);
    const three = modeMappings('mappings', { BatchSize: 50 });
    expect(three.map((m) => [m.FunctionName, m.BatchSize, m.MaximumBatchingWindowInSeconds])).toEqual([
      ['validate', 50, 0.05],
      ['detect', 50, 0.05],
      ['write', 50, 0.05],
    ]);
    expect(() => modeMappings('fused', { MaximumBatchingWindowInSeconds: 301 })).toThrow(ConfigError);
  });
});
