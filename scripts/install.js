#!/usr/bin/env node
// `npm install`. In a source checkout (a clone with test/): builds the native
// addon with cmake-js and compiles the TypeScript. In an installed package: uses
// the prebuilt addon in prebuilds/<platform>-<arch>/ when it loads on this
// machine, and builds from source only when none fits or when asked:
//   EYECANDY_BUILD_FROM_SOURCE=1 npm install eyecandy   (or --build-from-source=eyecandy)
// EYECANDY_CUDA=OFF leaves the CUDA backend out of a source build.
// Installing with scripts disabled (--ignore-scripts) works too where the
// prebuilt fits: the package loads it without this script.
const { execFileSync, execSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const say = (s) => process.stdout.write(`eyecandy: ${s}\n`);
const run = (cmd) => execSync(cmd, { stdio: 'inherit', cwd: root });

const checkout = fs.existsSync(path.join(root, 'test'));
const yes = (v) => v !== undefined && v !== '' && v !== '0' && v !== 'false';
// npm's --build-from-source (every package that honours it rebuilds, sharp included),
// --build-from-source=eyecandy (this package only), or EYECANDY_BUILD_FROM_SOURCE=1.
const npmFlag = process.env.npm_config_build_from_source;
const forced = (npmFlag && (npmFlag.split(',').includes('eyecandy') || yes(npmFlag))) || yes(process.env.EYECANDY_BUILD_FROM_SOURCE);
const prebuilt = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'eyecandy.node');

function prebuiltLoads() {
  if (!fs.existsSync(prebuilt)) return `no prebuilt addon for ${process.platform}-${process.arch}`;
  try {
    execFileSync(process.execPath, ['-e', `require(${JSON.stringify(prebuilt)}).info()`], { stdio: 'pipe' });
    return '';
  } catch (err) {
    return `the prebuilt addon does not load here (${String(err.stderr || err.message).trim().split('\n')[0]})`;
  }
}

const why = checkout ? 'a source checkout' : forced ? 'a source build was asked for' : prebuiltLoads();
if (!why) {
  say(`using the prebuilt addon ${path.relative(root, prebuilt)}`);
} else {
  say(`building the addon from source (${why}); this needs CMake and a C++17 compiler`);
  const cuda = process.env.EYECANDY_CUDA;
  run(`npm run build:native${cuda ? ` -- --CDEYECANDY_CUDA=${cuda}` : ''}`);
  if (checkout || !fs.existsSync(path.join(root, 'dist', 'index.js'))) run('npm run build:ts');
}
