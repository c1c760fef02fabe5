/** Jest runs the TypeScript tests through ts-jest against the built addon. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }] },
  setupFiles: ['<rootDir>/test/setup.ts'],
  globalSetup: '<rootDir>/test/global/tmp-setup.js',
  globalTeardown: '<rootDir>/test/global/tmp-teardown.js',
  testTimeout: 120000,
};
