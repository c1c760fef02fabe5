// Every jest run gets a private temp folder (TMPDIR, inherited by the workers and
// anything they spawn); tmp-teardown.js fails the run if anything is left in it.
const fs = require('fs');
const os = require('os');
const path = require('path');

module.exports = async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eyecandy-jest-'));
  process.env.EYECANDY_JEST_TMP = dir;
  process.env.TMPDIR = dir;
};
