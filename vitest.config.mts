import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    env: {
      // EMF records go to stdout; tests opt in where they assert on them.
      POWERTOOLS_METRICS_DISABLED: 'true',
      LOG_LEVEL: 'silent',
    },
  },
});
