#!/usr/bin/env node
// Per-layer forward time of a VGG network, eyecandy against onnxruntime-node,
// each layer (3x3 conv + bias + ReLU, or the fully connected head's convs)
// alone as its own ONNX file with the harness's seeded weights, both systems
// alternating call by call. Shows which layers a whole-network ratio comes from.
//
//   node bench/layers.js [vgg16|vgg19] [size] [--variant convs|full] [--runs N] [--only REGEX]
//                        [--gap MS] [--settle N]
//
// Input of each layer: random values of the shape it gets inside the network at
// `size` x `size`. Prints a markdown table: ms per call (median) and the ratio.
// --gap: idle ms before each timed call (default 50; onnxruntime's threads spin
// for about 30 ms after its calls); --settle N: N untimed calls of the same
// system right before each timed one (default 0). ORT_NOSPIN=1 turns
// onnxruntime's spinning off (intra_op.allow_spinning = 0), to see its effect.
const fs = require('fs');
const os = require('os');
const path = require('path');
const { writeLayerOnnx, vggLayers, vggShapes } = require('./lib/vgg-onnx');

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(name);
  if (i < 0) return def;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
};
const variant = opt('--variant', 'convs');
const runs = Number(opt('--runs', 9));
const only = new RegExp(opt('--only', '.'));
const gap = Number(opt('--gap', 50)); // ms of idle time before each timed call (onnxruntime's threads spin ~30 ms after a call)
const settle = Number(opt('--settle', 0)); // untimed calls of the same system before each timed one
const arch = args[0] || 'vgg16';
const size = Number(args[1] || 224);
const threads = Number(process.env.EYECANDY_THREADS || os.availableParallelism?.() || os.cpus().length);

const root = path.resolve(__dirname, '..');
const { Tensor } = require(path.join(root, 'dist'));
const { loadOnnx } = require(path.join(root, 'dist/models/onnx'));
const ort = require('onnxruntime-node');

const work = path.join(os.tmpdir(), `eyecandy-bench-${process.getuid ? process.getuid() : 0}`, 'layers');
fs.mkdirSync(work, { recursive: true });
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const now = () => Number(process.hrtime.bigint()) / 1e6;

(async () => {
  const layers = vggLayers(arch, variant);
  // The input of each layer: the previous layer's output, pooled where the network pools.
  const shapes = vggShapes(layers, size, size);
  const rows = [];
  let total = { e: 0, o: 0 };
  for (let i = 0; i < layers.length; ++i) {
    const l = layers[i];
    const prev = i === 0 ? { h: size, w: size } : shapes[i - 1];
    let h = prev.h;
    let w = prev.w;
    if (i > 0 && layers[i - 1].poolAfter) (h = Math.floor(h / 2)), (w = Math.floor(w / 2));
    if (!only.test(l.name)) continue;
    const { file, output } = writeLayerOnnx(path.join(work, `${arch}-${variant}-${l.name}.onnx`), l);
    const x = new Float32Array(h * w * l.cin);
    for (let k = 0; k < x.length; ++k) x[k] = Math.sin(k * 0.37) + 0.1;
    const model = await loadOnnx(file);
    const net = model.graph.compile();
    const xe = Tensor.from(x, [1, h, w, l.cin]);
    const s = await ort.InferenceSession.create(file, { intraOpNumThreads: threads, interOpNumThreads: 1, ...(process.env.ORT_NOSPIN ? { extra: { session: { intra_op: { allow_spinning: '0' } } } } : {}) });
    const xo = new ort.Tensor('float32', x, [1, l.cin, h, w]); // same values; layout does not matter for timing
    const e = async () => {
      const r = await net.forward(xe, { taps: [model.output] });
      for (const t of Object.values(r)) t.dispose();
    };
    const o = async () => {
      await s.run({ input: xo }, [output]);
    };
    for (let k = 0; k < 3; ++k) await e(), await o();
    const te = [];
    const to = [];
    for (let k = 0; k < runs; ++k) {
      const first = k % 2 ? [o, to] : [e, te];
      const second = k % 2 ? [e, te] : [o, to];
      if (gap) await new Promise((r) => setTimeout(r, gap));
      for (let j = 0; j < settle; ++j) await first[0]();
      let t0 = now();
      await first[0]();
      first[1].push(now() - t0);
      if (gap) await new Promise((r) => setTimeout(r, gap));
      for (let j = 0; j < settle; ++j) await second[0]();
      t0 = now();
      await second[0]();
      second[1].push(now() - t0);
    }
    const me = median(te);
    const mo = median(to);
    total.e += me;
    total.o += mo;
    const gflop = (2 * shapes[i].h * shapes[i].w * l.k * l.k * l.cin * l.cout) / 1e9;
    rows.push(`| ${l.name} | ${h}x${w}x${l.cin} -> ${l.cout} | ${gflop.toFixed(2)} | ${me.toFixed(2)} | ${mo.toFixed(2)} | ${(me / mo).toFixed(2)}× |`);
    xe.dispose();
    net.dispose();
    await s.release();
  }
  console.log(`${arch} ${variant} at ${size} px, ${threads} threads, ${runs} alternating calls each, medians`);
  console.log('| layer | input -> channels | GFLOP | eyecandy ms | onnxruntime ms | ratio |');
  console.log('|---|---|---|---|---|---|');
  for (const r of rows) console.log(r);
  console.log(`| sum | | | ${total.e.toFixed(1)} | ${total.o.toFixed(1)} | ${(total.e / total.o).toFixed(2)}× |`);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
