#!/usr/bin/env node
// The CUDA backend through the JS API, against the CPU backend on the same
// inputs: device tensors, the device vector routines, VGG19 (forward and the
// gradient to the input), classify, a short style transfer, locate (class
// masks and their principal components), dream, and memory over repeated
// style iterations. With --bench it also times VGG19 and style iterations on
// the GPU (RESULT lines for scripts/device-check.sh's table).
//
//   node scripts/cuda-check.js [--quick] [--bench] [--iterations N]
//
// --quick shrinks every workload (VGG19 at 1/16 width on 32x32 images) so the
// whole check runs on the CUDA emulator in CI (npm run test:cuda-emulated);
// scripts/device-check.sh runs it full size on a GPU. EYECANDY_ADDON picks
// the addon. VGG19 gets seeded random He-initialized weights: the check
// compares two backends, so it needs the architecture, not the training
// (the pretrained files are too large to take to a GPU machine).
//
// Prints PASS / FAIL / INFO lines and exits 1 when any line says FAIL.
'use strict';
const path = require('path');

const ec = require(path.join(__dirname, '..', 'dist'));

const args = process.argv.slice(2);
const QUICK = args.includes('--quick');
const BENCH = args.includes('--bench');
const iterArg = args.indexOf('--iterations');
const MEMORY_ITERS = iterArg >= 0 ? Number(args[iterArg + 1]) : QUICK ? 12 : 1000;
const WIDTH = QUICK ? 1 / 16 : 1;
const SIZE = QUICK ? 32 : 224;

let failed = 0;
const say = (verdict, text) => {
  if (verdict === 'FAIL') failed++;
  console.log(`${verdict} ${text}`);
};
const check = (ok, text) => say(ok ? 'PASS' : 'FAIL', text);

function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
function normal(n, seed, scale = 1) {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = Math.max(r(), 1e-12), v = r();
    const m = Math.sqrt(-2 * Math.log(u)) * scale;
    out[i] = m * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = m * Math.sin(2 * Math.PI * v);
  }
  return out;
}

// Largest |a - b| over max(1, max |a|).
function relErr(a, b) {
  let d = 0, m = 1;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(a[i]));
  }
  return d / m;
}
function cosine(a, b) {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) (ab += a[i] * b[i]), (aa += a[i] * a[i]), (bb += b[i] * b[i]);
  return ab / Math.sqrt(aa * bb);
}
function top(v, k) {
  return [...v.keys()].sort((i, j) => v[j] - v[i]).slice(0, k);
}

const VGG19 = [[64, 64], [128, 128], [256, 256, 256, 256], [512, 512, 512, 512], [512, 512, 512, 512]];

// VGG19 in Keras naming (block<b>_conv<i>/linear + block<b>_conv<i> relu,
// fc1, fc2, predictions) with seeded He-initialized weights, as a Model the
// tasks accept. `classes` false stops after the convolutions (any size).
function randomVgg19({ width = 1, size = 224, classes = true, seed = 1 } = {}) {
  const g = new ec.Graph();
  let x = g.input('input_1', [-1, classes ? size : -1, classes ? size : -1, 3]);
  let cin = 3, k = seed * 1000;
  const layers = [];
  VGG19.forEach((block, b) => {
    block.forEach((c0, i) => {
      const c = Math.max(4, Math.round(c0 * width));
      const name = `block${b + 1}_conv${i + 1}`;
      const kernel = ec.Tensor.from(normal(9 * cin * c, ++k, Math.sqrt(2 / (9 * cin))), [3, 3, cin, c]);
      const bias = ec.Tensor.from(normal(c, ++k, 0.01), [c]);
      x = g.relu(name, g.conv2d(`${name}/linear`, x, { kernel, bias, padding: 'same' }));
      layers.push(name);
      cin = c;
    });
    const pool = `block${b + 1}_pool`;
    x = g.maxPool(pool, x, { size: 2, strides: 2 });
    layers.push(pool);
  });
  let logits;
  if (classes) {
    const side = size / 32;
    x = g.flatten('flatten', x);
    let fin = side * side * cin;
    for (const [name, units] of [['fc1', Math.round(4096 * width)], ['fc2', Math.round(4096 * width)]]) {
      const kernel = ec.Tensor.from(normal(fin * units, ++k, Math.sqrt(2 / fin)), [fin, units]);
      x = g.relu(name, g.dense(`${name}/linear`, x, { kernel, bias: ec.Tensor.from(normal(units, ++k, 0.01), [units]) }));
      layers.push(name);
      fin = units;
    }
    const kernel = ec.Tensor.from(normal(fin * 1000, ++k, Math.sqrt(1 / fin)), [fin, 1000]);
    logits = g.dense('predictions/linear', x, { kernel, bias: ec.Tensor.from(new Float32Array(1000), [1000]) });
    x = g.softmax('predictions', logits);
    layers.push('predictions');
  }
  return {
    graph: g,
    input: 'input_1',
    inputShape: [-1, classes ? size : -1, classes ? size : -1, 3],
    output: classes ? 'predictions' : layers[layers.length - 1],
    logits: classes ? 'predictions/linear' : undefined,
    layers,
    format: 'keras',
    name: 'vgg19-random',
    preprocess: { kind: 'caffe', meanBgr: [103.939, 116.779, 123.68] },
    inputSize: [size, size],
  };
}

// A picture with structure at several scales (so features and Gram matrices
// are not flat): rings and stripes, in RGB bytes.
function pattern(w, h, seed) {
  const r = rng(seed);
  const f1 = 2 + 6 * r(), f2 = 3 + 9 * r(), ph = 6.28 * r();
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const u = x / w - 0.5, v = y / h - 0.5, d = Math.hypot(u, v);
      const i = (y * w + x) * 3;
      data[i] = 127 + 120 * Math.sin(f1 * 6.28 * d + ph);
      data[i + 1] = 127 + 120 * Math.sin(f2 * 6.28 * u + 2 * ph);
      data[i + 2] = 127 + 120 * Math.cos(f1 * 6.28 * v * u * 4);
    }
  return { width: w, height: h, data };
}

function hostTensor(data, shape) {
  return ec.Tensor.from(data, shape);
}

async function checkTensors() {
  const a = hostTensor(normal(1000, 1), [10, 100]);
  const d = a.to('cuda');
  check(d.device === 'cuda' && a.device === 'cpu', `tensor.to('cuda') gives a device tensor (${d.device})`);
  check(relErr(a.data(), d.data()) === 0, 'host -> device -> host round trip is exact');
  const c = d.clone();
  check(c.device === 'cuda' && relErr(a.data(), c.data()) === 0, 'clone() of a device tensor stays on the device, equal');
  const back = d.to('cpu');
  check(back.device === 'cpu' && relErr(a.data(), back.data()) === 0, "to('cpu') copies back");
  const z = ec.Tensor.zeros([3, 5], 'cuda');
  check(z.device === 'cuda' && z.data().every((v) => v === 0), "Tensor.zeros(shape, 'cuda')");
  [a, d, c, back, z].forEach((t) => t.dispose());
}

async function checkVecOps() {
  const n = QUICK ? 5000 : 1 << 20;
  const xh = hostTensor(normal(n, 2), [n / 50, 50]);
  const yh = hostTensor(normal(n, 3), [n / 50, 50]);
  const xd = xh.to('cuda'), yd = yh.to('cuda');
  const L = ec.linalg;
  const pairs = [
    ['dot', L.dot(xh, yh), L.dot(xd, yd)],
    ['norm1', L.norm1(xh), L.norm1(xd)],
    ['norm2', L.norm2(xh), L.norm2(xd)],
  ];
  for (const [name, h, d] of pairs) check(Math.abs(h - d) <= 1e-6 * Math.max(1, Math.abs(h)), `${name} on the device: ${d} vs ${h}`);
  L.axpy(0.5, xh, yh);
  L.axpy(0.5, xd, yd);
  L.scale(yh, -1.5);
  L.scale(yd, -1.5);
  check(relErr(yh.data(), yd.data()) < 1e-6, 'axpy and scale on the device');
  for (const t of [xh, yh, xd, yd]) t.dispose();
  const img = hostTensor(normal(2 * 9 * 7 * 3, 4, 100), [2, 9, 7, 3]);
  const imgD = img.to('cuda');
  const lo = [-50, -20, -80], hi = [60, 20, 10];
  L.clampChannels(img, lo, hi);
  L.clampChannels(imgD, lo, hi);
  check(relErr(img.data(), imgD.data()) === 0, 'clampChannels on the device');
  const r1 = L.roll(img, 3, -2), r2 = L.roll(imgD, 3, -2);
  check(r2.device === 'cuda' && relErr(r1.data(), r2.data()) === 0, 'roll on the device');
  // Two Adam steps on host and device tensors.
  const g = hostTensor(normal(img.size, 5), img.shape), gD = g.to('cuda');
  const [m, v] = [ec.Tensor.zeros(img.shape), ec.Tensor.zeros(img.shape)];
  const [mD, vD] = [ec.Tensor.zeros(img.shape, 'cuda'), ec.Tensor.zeros(img.shape, 'cuda')];
  for (const t of [1, 2]) {
    const o = { lr: 0.5, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, t };
    L.adamStep(img, g, m, v, o);
    L.adamStep(imgD, gD, mD, vD, o);
  }
  check(relErr(img.data(), imgD.data()) < 1e-6 && relErr(v.data(), vD.data()) < 1e-6, 'adamStep on the device');
  [img, imgD, r1, r2, g, gD, m, v, mD, vD].forEach((t) => t.dispose());
}

// VGG19 forward (logits) and the gradient of one logit to the input.
async function checkVgg() {
  const model = randomVgg19({ width: WIDTH, size: SIZE });
  const res = {};
  for (const backend of ['cpu', 'cuda']) {
    const net = model.graph.compile({ backend });
    const x = hostTensor(normal(SIZE * SIZE * 3, 9, 60), [1, SIZE, SIZE, 3]);
    const input = backend === 'cuda' ? x.to('cuda') : x;
    const out = await net.forward(input, { taps: [model.logits], grad: true, onDevice: backend === 'cuda' });
    const logits = out[model.logits].data();
    const seed = new Float32Array(1000);
    seed[top(logits, 1)[0]] = 1;
    const { input: gx } = await net.backward({ [model.logits]: ec.Tensor.from(seed, [1, 1000]) }, { onDevice: backend === 'cuda' });
    // Inference (no grad): the network fuses each conv with its ReLU.
    const inf = await net.forward(input, { taps: [model.logits] });
    res[backend] = { logits, grad: gx.data(), gradDevice: gx.device, inference: inf[model.logits].data() };
    [out[model.logits], inf[model.logits], gx, x, input, net].forEach((t) => t.dispose());
  }
  // TF32 tensor cores: the same network within 1e-2 (relative to the largest logit) of the CPU.
  {
    const net = model.graph.compile({ backend: 'cuda', tf32: true });
    const x = hostTensor(normal(SIZE * SIZE * 3, 9, 60), [1, SIZE, SIZE, 3]);
    const out = await net.forward(x, { taps: [model.logits] });
    res.tf32 = out[model.logits].data();
    [out[model.logits], x, net].forEach((t) => t.dispose());
  }
  const t32 = relErr(res.cpu.logits, res.tf32);
  check(t32 < 1e-2 && t32 > 0, `VGG19 logits with tf32, cuda vs cpu: ${t32.toExponential(2)} (< 1e-2, and not the fp32 bits)`);
  const { cpu, cuda } = res;
  const e = relErr(cpu.logits, cuda.logits);
  check(e < 1e-4, `VGG19 ${SIZE}px logits, cuda vs cpu: max |diff| / max |logit| = ${e.toExponential(2)} (< 1e-4)`);
  const ei = relErr(cpu.inference, cuda.inference);
  check(ei < 1e-4, `VGG19 ${SIZE}px inference logits (fused conv+ReLU), cuda vs cpu: ${ei.toExponential(2)} (< 1e-4)`);
  const t1 = top(cpu.logits, 5).join(','), t2 = top(cuda.logits, 5).join(',');
  check(t1 === t2, `VGG19 top-5 classes equal (${t2})`);
  const ge = relErr(cpu.grad, cuda.grad), cos = cosine(cpu.grad, cuda.grad);
  check(cuda.gradDevice === 'cuda', 'backward onDevice leaves the input gradient on the device');
  check(ge < 1e-3 && cos > 0.99999, `VGG19 input gradient, cuda vs cpu: rel ${ge.toExponential(2)}, cosine ${cos.toFixed(7)}`);
}

async function styleRun(backend, model, iterations, size, optimizer = 'lbfgs') {
  const content = pattern(size, size, 21), painting = pattern(size, size, 22);
  const losses = [];
  const r = await ec.style(content, [painting], {
    model,
    backend,
    size,
    iterations,
    optimizer,
    seed: 5,
    onProgress: (p) => losses.push(p.loss),
  });
  return { r, losses };
}

async function checkStyle() {
  const model = randomVgg19({ width: WIDTH, classes: false, seed: 2 });
  const size = QUICK ? 32 : 128, iterations = QUICK ? 3 : 10;
  const cpu = await styleRun('cpu', model, iterations, size);
  const gpu = await styleRun('cuda', model, iterations, size);
  // L-BFGS amplifies rounding over iterations, so compare the first steps tightly and the end loosely.
  const first = Math.abs(cpu.losses[0] - gpu.losses[0]) / Math.abs(cpu.losses[0]);
  check(first < 1e-4, `style transfer first loss, cuda vs cpu: ${gpu.losses[0].toPrecision(6)} vs ${cpu.losses[0].toPrecision(6)}`);
  const a = cpu.r.losses.final.total, b = gpu.r.losses.final.total;
  check(Math.abs(a - b) / a < 0.02, `style transfer loss after ${iterations} iterations: cuda ${b.toPrecision(5)} vs cpu ${a.toPrecision(5)} (within 2%)`);
  const fell = gpu.r.losses.final.total < 0.5 * gpu.r.losses.initial.total;
  check(fell, `style transfer on cuda lowers the loss (${gpu.r.losses.initial.total.toPrecision(4)} -> ${b.toPrecision(4)})`);
  let d = 0;
  for (let i = 0; i < cpu.r.image.data.length; i++) d += Math.abs(cpu.r.image.data[i] - gpu.r.image.data[i]);
  d /= cpu.r.image.data.length;
  check(d < 8, `style transfer images, cuda vs cpu: mean |diff| ${d.toFixed(2)} of 255`);
  const adamCpu = await styleRun('cpu', model, iterations, size, 'adam');
  const adamGpu = await styleRun('cuda', model, iterations, size, 'adam');
  const [ac, ag] = [adamCpu.r.losses.final.total, adamGpu.r.losses.final.total];
  check(Math.abs(ac - ag) / ac < 0.02, `style transfer with Adam, ${iterations} iterations: cuda ${ag.toPrecision(5)} vs cpu ${ac.toPrecision(5)}`);
}

// classify (the task, as a user calls it), fixed size and any size.
async function checkClassify() {
  const model = randomVgg19({ width: WIDTH, size: SIZE, seed: 7 });
  const image = pattern(SIZE * 3, SIZE * 2, 41);
  for (const anySize of [false, true]) {
    const [cpu, gpu] = await Promise.all(
      ['cpu', 'cuda'].map((backend) => ec.classify(image, { model, backend, topK: 5, anySize })),
    );
    const same = cpu.classes.map((c) => c.index).join() === gpu.classes.map((c) => c.index).join();
    const dp = Math.max(...cpu.classes.map((c, i) => Math.abs(c.probability - gpu.classes[i].probability)));
    check(same && dp < 1e-4, `classify${anySize ? ' --any-size' : ''}: the same top-5 on cuda and cpu, |diff prob| ${dp.toExponential(2)}`);
  }
}

// locate: class gradients, masks and the PCA's dot products on the device.
async function checkLocate() {
  const model = randomVgg19({ width: WIDTH, size: SIZE, seed: 6 });
  const image = pattern(SIZE * 2, SIZE * 2, 31);
  const opts = { model, size: SIZE, topK: QUICK ? 6 : 20, components: 2 };
  const cpu = await ec.locate(image, { ...opts, backend: 'cpu' });
  const gpu = await ec.locate(image, { ...opts, backend: 'cuda' });
  check(cpu.classes.map((c) => c.index).join() === gpu.classes.map((c) => c.index).join(), 'locate: the same top classes on cuda and cpu');
  const ev = (r) => r.components.map((c) => c.eigenvalue);
  const e = relErr(ev(cpu), ev(gpu)) / Math.max(1e-30, Math.max(...ev(cpu)));
  check(ev(cpu).length === ev(gpu).length && e < 1e-3, `locate: principal mask eigenvalues, cuda vs cpu: ${ev(gpu).map((v) => v.toPrecision(4))} vs ${ev(cpu).map((v) => v.toPrecision(4))}`);
  const m = relErr(cpu.classMasks[0], gpu.classMasks[0]);
  check(m < 1e-3, `locate: first class mask, cuda vs cpu: rel ${m.toExponential(2)}`);
}

// dream: the same octaves and steps on both backends give the same picture.
async function checkDream() {
  const model = randomVgg19({ width: WIDTH, classes: false, seed: 8 });
  const size = QUICK ? 48 : 256;
  const img = pattern(size, size, 51);
  const opts = { model, layers: ['block3_conv1'], octaves: 2, steps: QUICK ? 3 : 6, size, seed: 1 };
  const [cpu, gpu] = [await ec.dream(img, { ...opts, backend: 'cpu' }), await ec.dream(img, { ...opts, backend: 'cuda' })];
  let d = 0;
  for (let i = 0; i < cpu.image.data.length; i++) d += Math.abs(cpu.image.data[i] - gpu.image.data[i]);
  d /= cpu.image.data.length;
  check(d < 1, `dream ${size}px, cuda vs cpu: mean |diff| ${d.toFixed(3)} of 255`);
}

// Device memory must not grow over repeated style iterations (the loss
// network's forward and backward plus L-BFGS's vector work, all on the device).
async function checkMemory() {
  const model = randomVgg19({ width: WIDTH, classes: false, seed: 3 });
  const size = QUICK ? 32 : 224;
  const freeAt = () => ec.doctor().cuda.freeMemory;
  const poolAt = () => ec.doctor().cuda.poolBytes;
  // Warm the block cache with a run long enough to fill L-BFGS's history
  // (its peak), then the long run must not take more.
  await styleRun('cuda', model, Math.min(MEMORY_ITERS, 25), size);
  const before = freeAt(), poolBefore = poolAt();
  const t0 = Date.now();
  // L-BFGS may stop early (converged); runs continue until the count is reached.
  let done = 0, runs = 0;
  while (done < MEMORY_ITERS && runs < 50) {
    done += (await styleRun('cuda', model, MEMORY_ITERS - done, size)).r.iterations;
    runs++;
  }
  const after = freeAt(), grew = poolAt() - poolBefore;
  // A leak grows with the iterations (an image is 12 KiB at 32 px, 588 KiB at
  // 224); which cached block serves which request may vary by a few blocks.
  check(grew <= 64 * 1024 && done >= MEMORY_ITERS, `${done} style iterations (${runs} runs) at ${size}px: the block cache grew by ${grew} bytes (at most 64 KiB); free device memory ${mib(before)} -> ${mib(after)} MiB (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
}

function mib(bytes) {
  return Math.round(bytes / 2 ** 20);
}

function now() {
  return Number(process.hrtime.bigint()) / 1e6;
}
async function timeMs(fn) {
  for (let i = 0; i < 2; i++) await fn();
  let n = 0;
  const t0 = now();
  while (n < 3 || (now() - t0 < 1000 && n < 20)) {
    await fn();
    n++;
  }
  return (now() - t0) / n;
}

// RESULT eyecandy-node <size> <batch> <mode> <ms>: the conv stack forward,
// forward + input gradient, and one style iteration (content + 5 Gram terms,
// forward and backward to the image), as bench/gpu/torch_vgg19.py times them.
async function bench() {
  const model = randomVgg19({ width: 1, classes: false, seed: 4 });
  const styleLayers = ['block1_conv1', 'block2_conv1', 'block3_conv1', 'block4_conv1', 'block5_conv1'];
  const contentLayer = 'block4_conv2';
  for (const [size, batch] of [[224, 1], [224, 8], [512, 1], [512, 8]]) {
    const x = hostTensor(normal(batch * size * size * 3, 7, 60), [batch, size, size, 3]).to('cuda');
    // The style loss network: Gram matrices and their targets, content target.
    const g = ec.Graph.fromNodes(model.graph.nodes());
    for (const l of styleLayers) g.gram(`gram/${l}`, l);
    const probe = g.compile({ backend: 'cpu' });
    const shapes = probe.inferShapes({ input_1: [batch, size, size, 3] });
    probe.dispose();
    for (const l of styleLayers) {
      const s = shapes[`gram/${l}`];
      const target = g.param(`target/${l}`, ec.Tensor.from(normal(s.reduce((a, b) => a * b, 1), 8, 0.1), s));
      g.mseLoss(`loss/${l}`, `gram/${l}`, target);
    }
    const cs = shapes[contentLayer];
    const ct = g.param('target/content', ec.Tensor.from(normal(cs.reduce((a, b) => a * b, 1), 9), cs));
    g.rmsLoss('loss/content', contentLayer, ct);
    const lossNames = [...styleLayers.map((l) => `loss/${l}`), 'loss/content'];
    const seeds = Object.fromEntries(lossNames.map((n) => [n, 1]));
    for (const tf32 of [false, true]) {
      const impl = tf32 ? 'eyecandy-node-tf32' : 'eyecandy-node';
      const net = model.graph.compile({ backend: 'cuda', tf32 });
      const fwd = await timeMs(async () => {
        const o = await net.forward(x, { taps: ['block5_pool'], onDevice: true });
        o.block5_pool.dispose();
      });
      console.log(`RESULT ${impl} ${size} ${batch} fwd ${fwd.toFixed(3)}`);
      const bwd = await timeMs(async () => {
        const o = await net.forward(x, { taps: ['block5_pool'], grad: true, onDevice: true });
        const gr = await net.backward({ block5_pool: 1 }, { onDevice: true });
        o.block5_pool.dispose();
        gr.input.dispose();
      });
      console.log(`RESULT ${impl} ${size} ${batch} fwd+bwd_x ${bwd.toFixed(3)}`);
      net.dispose();
      const snet = g.compile({ backend: 'cuda', tf32 });
      const it = await timeMs(async () => {
        const o = await snet.forward(x, { taps: lossNames, grad: true, onDevice: true });
        const gr = await snet.backward(seeds, { onDevice: true });
        Object.values(o).forEach((t) => t.dispose());
        gr.input.dispose();
      });
      console.log(`RESULT ${impl} ${size} ${batch} style ${it.toFixed(3)}`);
      snet.dispose();
    }
    x.dispose();
  }
}

async function main() {
  const info = ec.doctor();
  const cuda = info.cuda;
  console.log(`INFO cuda: ${cuda.deviceCount ? `${cuda.deviceName}, ${mib(cuda.totalMemory)} MiB` : cuda.error}`);
  if (!cuda.deviceCount) {
    say('FAIL', `no CUDA device: ${cuda.error}`);
    process.exit(1);
  }
  const steps = [checkTensors, checkVecOps, checkVgg, checkClassify, checkStyle, checkLocate, checkDream, checkMemory, ...(BENCH ? [bench] : [])];
  for (const step of steps) {
    const t0 = Date.now();
    try {
      await step();
    } catch (e) {
      say('FAIL', `${step.name}: ${e && e.stack ? e.stack : e}`);
    }
    console.log(`INFO ${step.name} took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  console.log(failed ? `${failed} check(s) failed` : 'all checks passed');
  process.exit(failed ? 1 : 0);
}

main();
