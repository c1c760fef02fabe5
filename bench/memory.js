#!/usr/bin/env node
// Peak resident memory per workload with VGG19 (TF.js uint8 weights), each in its own process:
//   load      loadTfjs + compile; peak RSS above the process's RSS just before the load
//   classify  `eyecandy classify` of a 224-px photo (peak RSS by /usr/bin/time -v)
//   style512  `eyecandy style` at 512 px, one scale, 2 iterations (peak RSS by /usr/bin/time -v)
//
//   node bench/memory.js [--before ROOT] [--rounds N] [load|classify|style512 ...]
//
// --before ROOT measures another build of eyecandy (a checkout with dist/ and its addon) too,
// alternating with this one case by case, so both columns come from one run.
const { execFileSync, spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const args = process.argv.slice(2);
const take = (name) => {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
};
const before = take('--before');
const rounds = Number(take('--rounds') ?? 1);
const cases = args.length ? args : ['load', 'classify', 'style512'];
const shared = process.env.EYECANDY_SHARED || path.resolve(__dirname, '../../shared');
const here = path.resolve(__dirname, '..');
const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'eyecandy-membench-'));
const MB = 1e6;
const FLOAT_WEIGHTS = 143667240 * 4;

function addonOf(root) {
  for (const f of ['build-cmake/Release/eyecandy.node', 'build/Release/eyecandy.node'])
    if (fs.existsSync(path.join(root, f))) return path.join(root, f);
  throw new Error(`membench: no built addon under ${root}`);
}

function peakOf(stderr) {
  const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr);
  if (!m) throw new Error('membench: /usr/bin/time printed no maximum resident set size');
  return Number(m[1]) * 1024;
}

function run(root, c) {
  if (c === 'load') {
    const script = `
      const { loadTfjs } = require(${JSON.stringify(path.join(root, 'dist/models/tfjs'))});
      require(${JSON.stringify(path.join(root, 'dist/native'))}).addon();
      const start = process.memoryUsage.rss();
      const t = Date.now();
      loadTfjs(${JSON.stringify(path.join(shared, 'models/vgg19-tfjs-uint8/model.json'))}).then((m) => {
        m.graph.compile();
        const peak = Number(/^VmHWM:\\s+(\\d+) kB/m.exec(require('fs').readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
        process.stdout.write(JSON.stringify({ start, peak, ms: Date.now() - t, rss: process.memoryUsage.rss() }));
      });`;
    const out = execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, EYECANDY_ADDON: addonOf(root) } });
    const r = JSON.parse(out);
    return { peak: r.peak, above: r.peak - r.start, ratio: (r.peak - r.start) / FLOAT_WEIGHTS, ms: r.ms };
  }
  if (c === 'classify') {
    const t = Date.now();
    const err = timedStderr(root, ['classify', path.join(shared, 'images/photos/cat_dog_224.png'), '--model', 'vgg19-uint8']);
    return { peak: peakOf(err), ms: Date.now() - t };
  }
  if (c === 'style512') {
    const t = Date.now();
    const out = path.join(cache, 'style.png');
    const err = timedStderr(root, [
      'style', path.join(shared, 'images/content/tubingen.jpg'), path.join(shared, 'images/style/starry_night.jpg'),
      '-o', out, '--size', '512', '--scales', '512', '--iterations', '2', '--model', 'vgg19-uint8',
    ]);
    return { peak: peakOf(err), ms: Date.now() - t };
  }
  throw new Error(`membench: unknown case '${c}' (load, classify, style512)`);
}

function timedStderr(root, argv) {
  const env = { ...process.env, EYECANDY_MIRROR: shared, EYECANDY_CACHE: cache, EYECANDY_ADDON: addonOf(root) };
  const r = spawnSync('/usr/bin/time', ['-v', process.execPath, path.join(root, 'dist/cli/main.js'), ...argv], { env, encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`membench: ${argv[0]} failed: ${r.stderr.split('\n').slice(0, 3).join(' ')}`);
  return r.stderr;
}

const roots = before ? [['before', path.resolve(before)], ['after', here]] : [['this', here]];
const results = {};
try {
  for (let k = 0; k < rounds; ++k)
    for (const c of cases)
      for (const [name, root] of k % 2 ? [...roots].reverse() : roots) {
        const r = run(root, c);
        (results[`${c}|${name}`] ??= []).push(r);
        process.stderr.write(`${c} ${name}: peak ${(r.peak / MB).toFixed(0)} MB${r.ratio ? `, ${(r.above / MB).toFixed(0)} MB above start = ${r.ratio.toFixed(2)}x the float weights` : ''} (${r.ms} ms)\n`);
      }
} finally {
  fs.rmSync(cache, { recursive: true, force: true });
}
const best = (list, key) => Math.min(...list.map((r) => r[key]));
console.log(`machine: ${os.cpus()[0].model}, ${os.cpus().length} threads, node ${process.version}, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
console.log(`| workload (VGG19 uint8) | ${roots.map(([n]) => `${n} peak RSS MB`).join(' | ')} |`);
console.log(`|---|${roots.map(() => '---').join('|')}|`);
for (const c of cases) {
  const cells = roots.map(([n]) => {
    const list = results[`${c}|${n}`];
    if (!list) return '-';
    if (c === 'load') return `${(best(list, 'above') / MB).toFixed(0)} above start (${best(list, 'ratio').toFixed(2)}x the float weights)`;
    return (best(list, 'peak') / MB).toFixed(0);
  });
  console.log(`| ${c} | ${cells.join(' | ')} |`);
}
