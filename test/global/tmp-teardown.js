// Fails the run when a test left files or folders in the run's temp folder
// (tmp-setup.js), naming them; the folder is removed either way.
const fs = require('fs');

module.exports = async () => {
  const dir = process.env.EYECANDY_JEST_TMP;
  if (!dir) return;
  let left = [];
  try {
    left = fs.readdirSync(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  if (left.length > 0) {
    throw new Error(`tests left ${left.length} entries in the temp folder: ${left.sort().join(', ')}`);
  }
};
