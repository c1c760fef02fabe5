#!/usr/bin/env node
// VGG16's fully connected head as eyecandy runs it (fc6 a 7x7 VALID conv on
// the 7x7x512 pool5 map, fc7 and fc8 1x1 convs, ReLUs between: 494 MB of
// float weights, a matrix-vector product per image), forward and forward +
// backward to the input, for this checkout and another build in one process,
// alternating call by call after warm-up. Prints medians, their ratio, the
// read bandwidth the forward reaches and the load average.
//
//   node bench/fc-head-ab.js [--before DIR] [--batch N] [--rounds N]
//
// DIR: another eyecandy checkout with dist/ and its built addon (e.g. the
// main branch); without it only this checkout runs.
const os = require('os');
const path = require('path');
const { median } = require('./cases/common');

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const before = opt('--before', null);
const batch = Number(opt('--batch', 1));
const rounds = Number(opt('--rounds', 20));

// Seeded uniform values, He-scaled per layer (the values do not affect the time).
function random(n, fanIn, seed) {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  const scale = Math.sqrt(6 / fanIn);
  for (let i = 0; i < n; ++i) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = (s / 4294967296 - 0.5) * 2 * scale;
  }
  return a;
}

const layers = [
  { name: 'fc6', shape: [7, 7, 512, 4096] },
  { name: 'fc7', shape: [1, 1, 4096, 4096] },
  { name: 'fc8', shape: [1, 1, 4096, 1000] },
];
const weights = layers.map((l, i) => random(l.shape.reduce((a, b) => a * b, 1), l.shape[0] * l.shape[1] * l.shape[2], 7 + i));
const weightBytes = weights.reduce((s, w) => s + w.byteLength, 0);
const input = random(batch * 7 * 7 * 512, 1, 99).map(Math.abs);

function system(name, root) {
  const { Graph, Tensor } = require(path.join(root, 'dist'));
  const g = new Graph();
  let x = g.input('x', [batch, 7, 7, 512]);
  layers.forEach((l, i) => {
    x = g.conv2d(l.name, x, { kernel: Tensor.from(weights[i], l.shape), bias: Tensor.from(new Float32Array(l.shape[3]), [l.shape[3]]) });
    if (i < layers.length - 1) x = g.relu(`${l.name}_relu`, x);
  });
  const net = g.compile();
  const xt = Tensor.from(input, [batch, 7, 7, 512]);
  const dispose = (r) => Object.values(r).forEach((t) => t.dispose());
  return {
    name,
    forward: async () => dispose(await net.forward(xt, { taps: ['fc8'] })),
    forwardBackward: async () => {
      dispose(await net.forward(xt, { taps: ['fc8'], grad: true }));
      const gr = await net.backward({ fc8: 1 });
      dispose(gr.inputs);
    },
  };
}

(async () => {
  const systems = [system('eyecandy', path.resolve(__dirname, '..'))];
  if (before) systems.push(system('eyecandy-before', path.resolve(before)));
  const load0 = os.loadavg();
  const lines = [];
  for (const mode of ['forward', 'forwardBackward']) {
    for (const s of systems) for (let i = 0; i < 3; ++i) await s[mode]();
    const ms = systems.map(() => []);
    for (let r = 0; r < rounds; ++r)
      for (let i = 0; i < systems.length; ++i) {
        const t = process.hrtime.bigint();
        await systems[i][mode]();
        ms[i].push(Number(process.hrtime.bigint() - t) / 1e6);
      }
    systems.forEach((s, i) => {
      const m = median(ms[i]);
      const ratio = i > 0 ? '' : systems.length > 1 ? (m / median(ms[1])).toFixed(2) + '×' : '–';
      const gbs = mode === 'forward' ? (weightBytes / (m / 1e3) / 1e9).toFixed(1) : '–';
      lines.push(`| ${mode === 'forward' ? 'forward' : 'forward+backward'} | ${s.name} | ${m.toFixed(2)} | ${Math.min(...ms[i]).toFixed(2)} | ${gbs} | ${ratio} |`);
    });
  }
  const load1 = os.loadavg();
  console.log(`VGG16 head (fc6 7x7 conv, fc7, fc8), batch ${batch}, ${(weightBytes / 1e6).toFixed(0)} MB of weights; ${rounds} rounds alternating; load average ${load0.map((l) => l.toFixed(2)).join(' ')} at start, ${load1.map((l) => l.toFixed(2)).join(' ')} at end`);
  console.log('| mode | system | median ms | min ms | weights read GB/s | eyecandy / before |');
  console.log('|---|---|---|---|---|---|');
  for (const l of lines) console.log(l);
})();
