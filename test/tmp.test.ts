// The run's private temp folder (test/global/tmp-setup.js) is the one the tests and
// the code under test see, so the teardown's "nothing left" check covers them.
import * as os from 'os';
import * as path from 'path';

test('os.tmpdir() is the run\'s private folder, which the teardown checks', () => {
  const dir = process.env.EYECANDY_JEST_TMP;
  expect(dir).toBeDefined();
  expect(path.resolve(os.tmpdir())).toBe(path.resolve(dir!));
  expect(path.basename(dir!)).toMatch(/^eyecandy-jest-/);
});
