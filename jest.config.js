/** Jest runs the compiled tests (tsc -b builds them first), as native ES modules. */
export default {
  testEnvironment: 'node',
  roots: ['<rootDir>/packages', '<rootDir>/imaptest'],
  testMatch: ['**/dist/test/**/*.test.js'],
  transform: {},
  testTimeout: 60000,
  verbose: false,
  reporters: ['default', '<rootDir>/scripts/jest-skip-banner.cjs'],
};
