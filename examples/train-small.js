#!/usr/bin/env node
// Builds a small network with the Sequential/Graph API and trains it with eyecandy's Adam
// optimizer on a synthetic 2-class problem: points in the square [-1, 1]², class 1 where x·y > 0
// (the XOR quadrants, which no linear model separates). Prints the loss falling and the accuracy.
//
//   node examples/train-small.js            # 512 points, 400 iterations
//   node examples/train-small.js --small    # CI size: 256 points, 250 iterations
'use strict';
const { Sequential, Tensor, adam } = require('eyecandy');

const small = process.argv.includes('--small') || process.env.EYECANDY_EXAMPLE_SMALL === '1';
const POINTS = small ? 256 : 512;
const ITERATIONS = small ? 250 : 400;
const HIDDEN = 16;

/** Mulberry32: a small seeded generator, so every run trains the same way. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = rng(42);
const uniform = (n, scale) => Float32Array.from({ length: n }, () => (random() * 2 - 1) * scale);

// The data: POINTS rows of (x, y) and their one-hot classes.
const xs = uniform(POINTS * 2, 1);
const labels = Array.from({ length: POINTS }, (_, i) => (xs[2 * i] * xs[2 * i + 1] > 0 ? 1 : 0));
const onehot = new Float32Array(POINTS * 2);
labels.forEach((l, i) => (onehot[2 * i + l] = 1));

// The network: 2 -> 16 (tanh) -> 2 (softmax), and an MSE loss against the one-hot targets.
// Glorot-style initial weights; the parameters are named '<layer>/kernel' and '<layer>/bias'.
const s = new Sequential('points', [-1, 2])
  .dense('hidden', { kernel: Tensor.from(uniform(2 * HIDDEN, Math.sqrt(6 / (2 + HIDDEN))), [2, HIDDEN]), bias: Tensor.zeros([HIDDEN]) })
  .tanh('hidden_tanh')
  .dense('logits', { kernel: Tensor.from(uniform(HIDDEN * 2, Math.sqrt(6 / (HIDDEN + 2))), [HIDDEN, 2]), bias: Tensor.zeros([2]) })
  .softmax('probs');
s.graph.input('target', [-1, 2]);
s.graph.mseLoss('loss', 'probs', 'target');
const net = s.compile({ backend: 'cpu' });

const points = Tensor.from(xs, [POINTS, 2]);
const target = Tensor.from(onehot, [POINTS, 2]);
const names = net.paramNames();
const shapes = names.map((n) => {
  const p = net.param(n);
  const shape = p.shape;
  p.dispose();
  return shape;
});
const sizes = shapes.map((sh) => sh.reduce((a, b) => a * b, 1));
const total = sizes.reduce((a, b) => a + b, 0);

/** Writes the flat vector x into the network's parameters. */
async function setParams(x) {
  const flat = x.data();
  let off = 0;
  for (let i = 0; i < names.length; ++i) {
    const t = Tensor.from(flat.subarray(off, off + sizes[i]), shapes[i]);
    await net.setParam(names[i], t);
    t.dispose();
    off += sizes[i];
  }
}

/** The optimizer's objective over all parameters as one vector: the loss and its gradient. */
async function objective(x) {
  await setParams(x);
  const r = await net.gradient({ points, target }, { loss: 1 }, { params: true, inputs: false });
  const loss = r.taps.loss.data()[0];
  const grad = new Float32Array(total);
  let off = 0;
  for (let i = 0; i < names.length; ++i) {
    grad.set(r.gradients[0].params[names[i]].data(), off);
    off += sizes[i];
  }
  for (const t of Object.values(r.taps)) t.dispose();
  for (const t of Object.values(r.gradients[0].params)) t.dispose();
  return { loss, grad: Tensor.from(grad, [total]) };
}

async function accuracy() {
  const { probs } = await net.forward({ points, target }, { taps: ['probs'] });
  const p = probs.data();
  probs.dispose();
  return labels.filter((l, i) => (p[2 * i + 1] > p[2 * i] ? 1 : 0) === l).length / POINTS;
}

async function main() {
  // Start from the initial weights as one vector.
  const x0 = new Float32Array(total);
  let off = 0;
  for (let i = 0; i < names.length; ++i) {
    const p = net.param(names[i]);
    x0.set(p.data(), off);
    p.dispose();
    off += sizes[i];
  }
  const start = Tensor.from(x0, [total]);
  console.log(`network: ${names.join(', ')} (${total} parameters); ${POINTS} points, ${ITERATIONS} Adam iterations`);
  console.log(`initial accuracy ${(100 * (await accuracy())).toFixed(1)}%`);
  const every = Math.max(1, Math.round(ITERATIONS / 10));
  const result = await adam(objective, start, {
    maxIterations: ITERATIONS,
    learningRate: 0.05,
    lossTolerance: 0,
    onIteration: (it, loss) => {
      if (it === 1 || it % every === 0) console.log(`iteration ${String(it).padStart(4)}  loss ${loss.toFixed(5)}`);
    },
  });
  await setParams(result.x);
  const first = result.history[0];
  console.log(`loss ${first.toFixed(5)} -> ${result.loss.toFixed(5)} (${(first / result.loss).toFixed(1)}x lower)`);
  console.log(`final accuracy ${(100 * (await accuracy())).toFixed(1)}%`);
  result.x.dispose();
  start.dispose();
  net.dispose();
}

main().catch((err) => {
  console.error(`train-small: ${err.message}`);
  process.exitCode = 1;
});
