// Shared helpers for bench cases: each case runs in its own process so peak
// memory (maxRSS) belongs to it alone, and prints one JSON line.
const fs = require('fs');
const path = require('path');

const shared = process.env.EYECANDY_SHARED || path.resolve(__dirname, '../../../shared');

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Runs fn `n` times after `warm` warm-up runs; returns milliseconds per run. */
async function time(fn, n, warm = 1) {
  for (let i = 0; i < warm; ++i) await fn();
  const ms = [];
  for (let i = 0; i < n; ++i) {
    const t = process.hrtime.bigint();
    await fn();
    ms.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return ms;
}

function rgbInput(name, h, w) {
  return fs.readFileSync(path.join(shared, 'reference/inputs', name)).subarray(0, h * w * 3);
}

function report(obj) {
  obj.peakRssMB = Math.round(process.resourceUsage().maxRSS / 1024);
  process.stdout.write(JSON.stringify(obj) + '\n');
}

module.exports = { shared, median, time, rgbInput, report };
