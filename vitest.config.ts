import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Two cores: service-backed suites start brokers and streams; running two files at a time keeps
    // them from starving each other.
    maxWorkers: 2,
  },
});
