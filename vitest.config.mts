import { configDefaults, defineConfig } from 'vitest/config';

/**
 * Tests that start something outside the test's own code: an HTTP server (in-process or `npm start`), a
 * child process, s3rver or a fault proxy, an esbuild bundle of a Lambda, or a CDK synthesis. They are
 * slower and bind ports; `npm run test:integration` runs them alone. Everything else is `unit`.
 */
const INTEGRATION = [
  'test/server/**/*.test.ts',
  'test/infra/**/*.test.ts',
  'test/faults/**/*.test.ts',
  // Hostile input against `npm start`'s server (issue 10): each starts a server child.
  'test/hostile/**/*.test.ts',
  // Each starts the runtime's HTTP server on a loopback port.
  'test/core/http/**/*.test.ts',
  'test/**/*-endpoint.test.ts',
  // Each bundles its function with esbuild and loads the bundle, as Lambda would.
  'test/**/lambda-handler.test.ts',
  // Each runs s3rver (and the upload tests a fault proxy in front of it).
  'test/core/model-store/s3-store.test.ts',
  'test/core/model-store/publish-models.test.ts',
  'test/core/uploads/**/*.test.ts',
  // Synthesises the CDK app with a planned configuration.
  'test/plan/planned-synth.test.ts',
];

/**
 * Tests in headless chromium (Debian's, driven by playwright-core) against `npm start`'s server: the page of
 * issue 17. `npm run test:browser` runs them alone; without chromium they are skipped with a message, and
 * in CI (`CI=true`) they fail instead.
 */
const BROWSER = ['test/browser/**/*.test.ts'];

export default defineConfig({
  test: {
    // Builds the default model repository once if `npm ci` (prepare) has not; both projects inherit it.
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    env: {
      // EMF records go to stdout; tests opt in where they assert on them.
      POWERTOOLS_METRICS_DISABLED: 'true',
      LOG_LEVEL: 'silent',
    },
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, ...INTEGRATION, ...BROWSER],
        },
      },
      {
        extends: true,
        test: { name: 'integration', include: INTEGRATION },
      },
      {
        extends: true,
        test: { name: 'browser', include: BROWSER },
      },
    ],
  },
});
