#!/usr/bin/env node
// `npm pack` / `npm publish` (prepack): puts the built addon at
// prebuilds/<platform>-<arch>/eyecandy.node, where an installed package loads it
// without a compiler (src/ts/native.ts; scripts/install.js). One N-API build
// serves every Node version from 18 on; its CPU kernels choose AVX-512, AVX2 or
// generic code at run time and its CUDA kernels are linked in (runtime static),
// so the same file runs on any x86-64 Linux machine, with or without a GPU.
const { execFileSync, execSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const built = path.join(root, 'build-cmake', 'Release', 'eyecandy.node');
if (!fs.existsSync(built)) execSync('npm run build:native', { stdio: 'inherit', cwd: root });
const dir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
const dest = path.join(dir, 'eyecandy.node');
fs.mkdirSync(dir, { recursive: true });
fs.copyFileSync(built, dest);
try {
  execFileSync('strip', ['--strip-unneeded', dest]);
} catch {
  // no strip on this machine: the file ships with its symbols
}
// Refuse to pack a file that does not load.
execFileSync(process.execPath, ['-e', `require(${JSON.stringify(dest)}).info()`], { stdio: 'inherit' });
process.stderr.write(`prebuild: ${path.relative(root, dest)} (${(fs.statSync(dest).size / 1048576).toFixed(1)} MiB)\n`);
