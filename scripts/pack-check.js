#!/usr/bin/env node
// `npm run test:pack`: the package as a user gets it. Packs the checkout, then
//  1. in an empty folder, with no CMake and no C++ compiler on the PATH, installs
//     the tarball (from npm's cache: --offline) — it must take the prebuilt addon
//     and finish in under 20 s — and classifies ../shared's tabby_cat_224.bmp
//     from an ES module and from CommonJS;
//  2. in another, installs it with EYECANDY_BUILD_FROM_SOURCE=1 (tools present) and
//     classifies again with the addon it built.
// Prints `N passed, N failed` and exits non-zero on any failure.
const { execFileSync, spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.resolve(__dirname, '..');
const shared = process.env.EYECANDY_SHARED ?? path.resolve(root, '..', 'shared');
const image = path.join(shared, 'images/photos/tabby_cat_224.bmp');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'eyecandy-pack-'));
// VGG19 from the zoo, with ../shared as the mirror (DATA.md: tabby 0.32 at the top).
const modelOptions = `{ model: 'vgg19-uint8', mirror: ${JSON.stringify(shared)}, cacheDir: ${JSON.stringify(path.join(tmp, 'cache'))}, topK: 1 }`;
const sourceLeg = !process.argv.includes('--prebuilt-only');
let passed = 0;
let failed = 0;
const check = (name, ok, detail = '') => {
  process.stdout.write(`${ok ? 'ok  ' : 'FAIL'} ${name}${detail ? `: ${detail}` : ''}\n`);
  ok ? passed++ : failed++;
};

function sh(cmd, args, opts) {
  const t0 = Date.now();
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  return { ok: r.status === 0, out, seconds: (Date.now() - t0) / 1000 };
}

/** A PATH with node, npm and a shell only: no cmake, make, cc, c++, g++ or nvcc. */
function barePath() {
  const bin = path.join(tmp, 'bin');
  fs.mkdirSync(bin);
  fs.symlinkSync(process.execPath, path.join(bin, 'node'));
  const npm = execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim();
  fs.symlinkSync(fs.realpathSync(npm), path.join(bin, 'npm'));
  fs.symlinkSync('/bin/sh', path.join(bin, 'sh'));
  return bin;
}

const classifyEsm = `import { classify, addonPath } from 'eyecandy';
const r = await classify(${JSON.stringify(image)}, ${modelOptions});
console.log(JSON.stringify({ label: r.classes[0].label, addon: addonPath() }));\n`;
const classifyCjs = `const { classify, addonPath } = require('eyecandy');
classify(${JSON.stringify(image)}, ${modelOptions})
  .then((r) => console.log(JSON.stringify({ label: r.classes[0].label, addon: addonPath() })));\n`;

function runClassify(dir, file, env, expectAddon) {
  const r = sh(process.execPath, [file], { cwd: dir, env });
  let got;
  try {
    got = JSON.parse(r.out.trim().split('\n').pop());
  } catch {
    return check(`${path.basename(file)} classifies tabby_cat_224.bmp`, false, r.out.slice(-600));
  }
  check(`${path.basename(file)} classifies tabby_cat_224.bmp as a tabby`, /tabby/.test(got.label), `${got.label}`);
  check(`${path.basename(file)} runs the ${expectAddon} addon`, got.addon.includes(expectAddon), got.addon);
}

/**
 * A project that depends on the tarball, with a lockfile made from this checkout's: the
 * runtime (non-dev) packages at the versions the checkout installed, so `npm ci --offline`
 * takes them from npm's cache and the test downloads nothing.
 */
function project(dir) {
  const lock = JSON.parse(fs.readFileSync(path.join(root, 'package-lock.json'), 'utf8'));
  const own = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  const spec = `file:${path.basename(tarball)}`;
  const packages = { '': { name: path.basename(dir), dependencies: { eyecandy: spec } } };
  for (const [k, v] of Object.entries(lock.packages)) if (k.startsWith('node_modules/') && !v.dev) packages[k] = v;
  packages['node_modules/eyecandy'] = { version: own.version, resolved: spec, hasInstallScript: true, license: own.license, dependencies: own.dependencies, engines: own.engines };
  fs.copyFileSync(tarball, path.join(dir, path.basename(tarball)));
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: path.basename(dir), private: true, dependencies: { eyecandy: spec } }));
  fs.writeFileSync(path.join(dir, 'package-lock.json'), JSON.stringify({ name: path.basename(dir), lockfileVersion: 3, requires: true, packages }));
}

function install(name, args, env) {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir);
  project(dir);
  fs.writeFileSync(path.join(dir, 'classify.mjs'), classifyEsm);
  fs.writeFileSync(path.join(dir, 'classify.cjs'), classifyCjs);
  const r = sh('npm', ['ci', '--offline', '--no-audit', '--no-fund', '--foreground-scripts', ...args], { cwd: dir, env });
  check(`npm install ${args.join(' ')} (${r.seconds.toFixed(1)} s)`, r.ok, r.ok ? '' : r.out.slice(-1500));
  return { dir, ...r };
}

const packed = sh('npm', ['pack', '--pack-destination', tmp], { cwd: root });
const tgz = fs.readdirSync(tmp).find((f) => f.endsWith('.tgz'));
const tarball = tgz ? path.join(tmp, tgz) : '';
check('npm pack', packed.ok && fs.existsSync(tarball), packed.ok ? `${(fs.statSync(tarball).size / 1048576).toFixed(1)} MiB` : packed.out.slice(-1500));
if (packed.ok) {
  const listing = execFileSync('tar', ['tzf', tarball], { encoding: 'utf8' }).split('\n');
  const stray = listing.filter((f) => /^package\/(test|bench|native\/tests|src\/ts|\.ci)\//.test(f) || f.endsWith('.map'));
  check('the tarball holds no tests, benches, TypeScript sources or source maps', stray.length === 0, stray.slice(0, 5).join(', '));
  check('the tarball carries the prebuilt addon', listing.includes(`package/prebuilds/${process.platform}-${process.arch}/eyecandy.node`));

  const bin = barePath();
  const bare = { ...process.env, PATH: bin, EYECANDY_ADDON: '' };
  delete bare.EYECANDY_ADDON;
  for (const tool of ['cmake', 'make', 'cc', 'c++', 'g++', 'nvcc']) {
    check(`no ${tool} on the bare PATH`, !sh('sh', ['-c', `command -v ${tool}`], { env: bare }).ok);
  }
  const a = install('prebuilt', [], bare);
  if (a.ok) {
    check('took the prebuilt addon', /eyecandy: using the prebuilt addon/.test(a.out), a.out.match(/eyecandy: .*/)?.[0] ?? '');
    check('installed in under 20 s', a.seconds < 20, `${a.seconds.toFixed(1)} s`);
    runClassify(a.dir, path.join(a.dir, 'classify.mjs'), bare, 'prebuilds');
    runClassify(a.dir, path.join(a.dir, 'classify.cjs'), bare, 'prebuilds');
  }
  const quiet = install('no-scripts', ['--ignore-scripts'], bare);
  if (quiet.ok) runClassify(quiet.dir, path.join(quiet.dir, 'classify.cjs'), bare, 'prebuilds');

  if (sourceLeg) {
    // EYECANDY_BUILD_FROM_SOURCE rather than npm's --build-from-source, which sharp honours too
    // (it would try to compile libvips). The CUDA backend is left out to keep the build short.
    const env = { ...process.env, EYECANDY_BUILD_FROM_SOURCE: '1', EYECANDY_CUDA: process.env.EYECANDY_CUDA ?? 'OFF' };
    delete env.EYECANDY_ADDON;
    const b = install('source', [], env);
    if (b.ok) {
      check('built from source when asked', /building the addon from source \(a source build was asked for\)/.test(b.out));
      runClassify(b.dir, path.join(b.dir, 'classify.cjs'), env, 'build-cmake');
    }
  }
}
fs.rmSync(tmp, { recursive: true, force: true });
process.stdout.write(`pack: ${passed} passed, ${failed} failed\n`);
process.exit(failed ? 1 : 0);
