#!/usr/bin/env node
// `npm install`: builds the native addon, and compiles the TypeScript in a
// source checkout. A published package ships dist/ already (and lacks the
// development type packages tsc would need), so there it is left as it is.
const { execSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const run = (cmd) => execSync(cmd, { stdio: 'inherit', cwd: root });

run('npm run build:native');
const checkout = fs.existsSync(path.join(root, 'test'));
if (checkout || !fs.existsSync(path.join(root, 'dist', 'index.js'))) run('npm run build:ts');
