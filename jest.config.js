// Three projects, one runner: `npm test` runs them all; `--selectProjects unit|integration|e2e` picks one.
// Sources are native ESM (NestJS 12 and MikroORM 7 ship ESM only), so Jest runs with --experimental-vm-modules.
const swc = ['@swc/jest', { swcrc: true }];
const shared = {
  extensionsToTreatAsEsm: ['.ts'],
  transform: { '^.+\\.ts$': swc },
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  testEnvironment: 'node',
  setupFiles: ['<rootDir>/test/support/setup-env.ts'],
};

export default {
  globalSetup: '<rootDir>/test/support/global-setup.mjs',
  globalTeardown: '<rootDir>/test/support/global-teardown.mjs',
  projects: [
    { ...shared, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.spec.ts'] },
    // Real servers on a shared 2-core machine: generous per-test limits, so load makes a test slow, not red.
    {
      ...shared,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.spec.ts'],
      testTimeout: 30_000,
    },
    {
      ...shared,
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/e2e/**/*.spec.ts'],
      testTimeout: 60_000,
    },
  ],
};
