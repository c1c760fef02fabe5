#!/usr/bin/env node
// Soak: many forward/backward passes and style iterations in one process, sampling the
// resident set (RSS) and the live native bytes and tensors (memoryStats) as they go, and
// stating the drift from the first sample after warm-up to the last. Runs the built package.
//
//   node scripts/soak.js [--passes 1000] [--style 300] [--size 64] [--every N]
//
// --style 0 skips the style part (it needs VGG19 from ../shared or $EYECANDY_SHARED).
const path = require('path');

const { Graph, Tensor, memoryStats, style, loadModel } = require('../dist');

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const v = Number(args[i + 1]);
  if (!Number.isInteger(v) || v < 0) throw new Error(`soak: --${name} expects an integer >= 0 but received '${args[i + 1]}'`);
  return v;
};
const passes = opt('passes', 1000);
const styleIterations = opt('style', 300);
const size = opt('size', 64);
const MiB = 1024 * 1024;
const shared = process.env.EYECANDY_SHARED || path.resolve(__dirname, '../../shared');

function sample(at) {
  const m = memoryStats().cpu;
  return { at, rss: process.memoryUsage.rss(), bytes: m.bytes, tensors: m.tensors };
}

function summary(name, samples) {
  const first = samples[Math.min(1, samples.length - 1)]; // after one sampling period of warm-up
  const last = samples[samples.length - 1];
  const maxRss = Math.max(...samples.map((s) => s.rss));
  const line =
    `${name}: ${last.at} steps; RSS ${(first.rss / MiB).toFixed(1)} -> ${(last.rss / MiB).toFixed(1)} MiB ` +
    `(drift ${((last.rss - first.rss) / MiB).toFixed(1)} MiB, max ${(maxRss / MiB).toFixed(1)}); ` +
    `native ${(first.bytes / MiB).toFixed(2)} -> ${(last.bytes / MiB).toFixed(2)} MiB ` +
    `(drift ${last.bytes - first.bytes} bytes), tensors ${first.tensors} -> ${last.tensors}`;
  return { name, steps: last.at, first, last, maxRss, rssDrift: last.rss - first.rss, bytesDrift: last.bytes - first.bytes, tensorDrift: last.tensors - first.tensors, line };
}

async function soakNetwork(n, every) {
  const g = new Graph();
  const rnd = (shape, scale) => {
    const d = new Float32Array(shape.reduce((a, b) => a * b, 1));
    let s = 1;
    for (let i = 0; i < d.length; ++i) d[i] = (((s = (s * 16807) % 2147483647) / 2147483647) - 0.5) * scale;
    return Tensor.from(d, shape);
  };
  const x = g.input('x', [1, 32, 32, 3]);
  g.conv2d('c1', x, { kernel: rnd([3, 3, 3, 16], 0.5), bias: rnd([16], 0.1), padding: 'same' });
  g.relu('r1', 'c1');
  g.conv2d('c2', 'r1', { kernel: rnd([3, 3, 16, 16], 0.2), bias: rnd([16], 0.1), padding: 'same' });
  g.relu('r2', 'c2');
  g.maxPool('p', 'r2', { size: 2 });
  g.flatten('f', 'p');
  g.dense('d', 'f', { kernel: rnd([16 * 16 * 16, 10], 0.05), bias: rnd([10], 0.1) });
  g.sumSquares('loss', 'd');
  const net = g.compile();
  const input = rnd([1, 32, 32, 3], 2);
  const samples = [sample(0)];
  for (let i = 1; i <= n; ++i) {
    const r = await net.gradient(input, { loss: 1 }, { params: true });
    Object.values(r.taps).forEach((t) => t.dispose());
    for (const gr of r.gradients) {
      Object.values(gr.inputs).forEach((t) => t.dispose());
      Object.values(gr.params).forEach((t) => t.dispose());
    }
    if (i % every === 0 || i === n) samples.push(sample(i));
  }
  net.dispose();
  return summary(`forward/backward (32x32x3, 2 convs + dense)`, samples);
}

async function soakStyle(n, px, every) {
  const model = await loadModel(path.join(shared, 'models/vgg19-tfjs-uint8/model.json'));
  const samples = [sample(0)];
  let done = 0;
  await style(path.join(shared, 'images/content/tubingen.jpg'), path.join(shared, 'images/style/starry_night.jpg'), {
    model,
    size: px,
    scales: [px],
    iterations: n,
    onProgress: () => {
      ++done;
      if (done % every === 0 || done === n) samples.push(sample(done));
    },
  });
  return summary(`style (VGG19, ${px} px, one scale)`, samples);
}

(async () => {
  const t0 = Date.now();
  const out = [];
  if (passes) out.push(await soakNetwork(passes, opt('every', Math.max(1, Math.floor(passes / 10)))));
  if (styleIterations) out.push(await soakStyle(styleIterations, size, opt('every', Math.max(1, Math.floor(styleIterations / 10)))));
  for (const s of out) process.stdout.write(s.line + '\n');
  process.stdout.write(`(${((Date.now() - t0) / 1000).toFixed(1)} s, load average ${require('os').loadavg().map((l) => l.toFixed(2)).join(' ')})\n`);
  if (args.includes('--json')) process.stdout.write(JSON.stringify(out.map(({ line, ...s }) => s), null, 2) + '\n');
})().catch((err) => {
  process.stderr.write(`soak: ${err.message}\n`);
  process.exitCode = 1;
});
