#!/usr/bin/env node
// locate on cat_dog.jpg, two builds side by side: `node bench/locate-ab.js OLD_REPO NEW_REPO [pairs]`.
// Each repo needs its dist/ built; both run on the addon named by EYECANDY_ADDON (or their own).
// Per process: load the model, one warm locate, then two timed locates; processes alternate
// OLD, NEW, OLD, NEW, ... and the ratio of the medians is printed.
'use strict';
const { execFileSync } = require('child_process');
const path = require('path');

const shared = process.env.EYECANDY_SHARED ?? path.resolve(__dirname, '../../shared');

if (process.argv[2] === '--child') {
  const { locate } = require(path.join(path.resolve(process.argv[3]), 'dist/tasks/locate.js'));
  const opts = { model: 'vgg19-uint8', mirror: shared, cacheDir: path.join(require('os').tmpdir(), 'eyecandy-locate-ab') };
  const img = path.join(shared, 'images/photos/cat_dog.jpg');
  (async () => {
    await locate(img, opts);
    const t = [];
    for (let i = 0; i < 2; i++) {
      const t0 = process.hrtime.bigint();
      await locate(img, opts);
      t.push(Number(process.hrtime.bigint() - t0) / 1e9);
    }
    process.stdout.write(JSON.stringify(t));
  })();
} else {
  const [oldRepo, newRepo] = process.argv.slice(2, 4);
  const pairs = Number(process.argv[4] ?? 3);
  if (!oldRepo || !newRepo) throw new Error('usage: node bench/locate-ab.js OLD_REPO NEW_REPO [pairs]');
  const times = { old: [], new: [] };
  for (let p = 0; p < pairs; p++) {
    for (const [k, repo] of [['old', oldRepo], ['new', newRepo]]) {
      const t = JSON.parse(execFileSync(process.execPath, [__filename, '--child', repo], { encoding: 'utf8' }));
      times[k].push(...t);
      console.log(`${k} ${t.map((x) => x.toFixed(2)).join(' / ')} s`);
    }
  }
  const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
  console.log(`median old ${median(times.old).toFixed(2)} s, new ${median(times.new).toFixed(2)} s: ${(median(times.old) / median(times.new)).toFixed(2)}x`);
}
