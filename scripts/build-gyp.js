#!/usr/bin/env node
// Builds the CPU addon with node-gyp (the fallback where CMake is missing).
// Uses the running Node's own headers (<prefix>/include/node) when present, so
// no header download is needed; otherwise node-gyp fetches them as usual.
const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const prefix = path.dirname(path.dirname(process.execPath));
const args = ['rebuild'];
if (fs.existsSync(path.join(prefix, 'include', 'node', 'node.h'))) args.push(`--nodedir=${prefix}`);
const gyp = require.resolve('node-gyp/bin/node-gyp.js');
execFileSync(process.execPath, [gyp, ...args], { stdio: 'inherit', cwd: path.resolve(__dirname, '..') });
