#!/usr/bin/env node
// Per-call cost of Network.forward with the same shapes every call: MobileNet
// v1 0.25 at 224, and a chain of 45 tiny depthwise convs + relus (MobileNet's
// op count on an 8x8x4 input), where the kernels cost little and what is left
// is the per-call overhead: the call itself, checking feeds, planning.
//
//   node bench/forward-overhead.js [addonA.node addonB.node ...]
//
// With addons given, each runs in its own process, alternating A, B, A, B for
// several rounds (this machine's timings drift); prints the median per addon.
const { execFileSync } = require('child_process');
const path = require('path');

const addons = process.argv.slice(2);
if (addons.length) {
  const rounds = Number(process.env.ROUNDS || 5);
  const runs = {};
  for (let r = 0; r < rounds; ++r)
    for (const a of addons) {
      const out = execFileSync(process.execPath, [__filename], {
        encoding: 'utf8',
        env: { ...process.env, EYECANDY_ADDON: path.resolve(a) },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      (runs[a] ??= []).push(JSON.parse(out.trim().split('\n').pop()));
    }
  const med = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
  console.log('| addon | forward 224 ms/call | 90-op tiny chain ms/call |');
  console.log('|---|---|---|');
  for (const a of addons)
    console.log(`| ${a} | ${med(runs[a].map((x) => x.full)).toFixed(3)} | ${med(runs[a].map((x) => x.early)).toFixed(3)} |`);
  return;
}

const { shared, median, time } = require('./cases/common');
const { Graph, Tensor } = require('../dist');
const { loadOnnx } = require('../dist/models/onnx');

(async () => {
  const model = await loadOnnx(path.join(shared, 'models/mobilenet_v1_0.25_224/mobilenet_v1_0.25_224.onnx'));
  const net = model.graph.compile();
  const x = Tensor.from(new Float32Array(224 * 224 * 3).map((_, i) => ((i % 255) - 127) / 128), [1, 224, 224, 3]);
  const full = median(await time(() => net.forward(x, { taps: [model.output] }), 200, 20));
  const g = new Graph();
  let h = g.input('x', [1, 8, 8, 4]);
  const k = Tensor.from(new Float32Array(36).map((_, i) => ((i % 7) - 3) / 8), [3, 3, 1, 4]);
  for (let i = 0; i < 45; ++i) h = g.relu(`r${i}`, g.conv2d(`c${i}`, h, { kernel: k, groups: 4, padding: 'same' }));
  const chain = g.compile();
  const small = Tensor.from(new Float32Array(8 * 8 * 4).fill(0.5), [1, 8, 8, 4]);
  const early = median(await time(() => chain.forward(small, { taps: [h] }), 1000, 50));
  process.stdout.write(JSON.stringify({ full, early }) + '\n');
})();
