#!/usr/bin/env node
// `npm run bench`: eyecandy against onnxruntime-node and TF.js (wasm backend)
// on the same model file and input, in one process, alternating the systems
// run by run after warm-up, with this machine's FMA peak measured in the same
// run. Writes bench/results/latest.json and the table in bench/README.md.
// `--help` lists the workloads and options.
//
// Models: the VGG networks are written as ONNX with seeded random weights
// (bench/lib/vgg-onnx.js) into a cache folder under the system's temp folder;
// TF.js builds the same networks from the same weights. MobileNet v1 0.25 is
// the ONNX file in ../shared (TF.js: n/a).
const { execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { writeVggOnnx, writeStyleOnnx, writeGramOnnx, vggLayers, vggShapes, vggFlops, outName } = require('./lib/vgg-onnx');

const HELP = `Usage: npm run bench -- [options]    (or: node bench/harness.js [options])

Runs eyecandy, onnxruntime-node and TF.js (wasm backend; tfjs-node too where
installed) on the same model file and input, alternating the systems call by
call after warm-up, and reports medians, ratios, GFLOP/s against the FMA peak
measured in the same run, page faults and peak resident memory per call.

Workloads (name, then size in px and batch):
  vgg16-convs, vgg19-convs   the 13 / 16 conv3x3+ReLU layers and 4 max-pools
  vgg16-full, vgg19-full     the whole network made fully convolutional (pool5,
                             fc6 as a 7x7 conv, fc7 and fc8 as 1x1 convs)
      at 224 and 512 px, batch 1, and 224 px batch 4; modes forward and
      forward+backward (to the input; onnxruntime: forward only)
  vgg19-style                one style iteration at 224 and 512 px: VGG19 up to
                             block5_conv1, five pixel-averaged Gram matrices
                             against targets (MSE) and block4_conv2 against a
                             target (RMS), backward to the image. TF.js: tf.grad;
                             onnxruntime: the forward with the Gram matrices only
                             (it has no backward), marked "forward only"
  gram-c64, gram-c512        a pixel-averaged Gram matrix of a 64-channel 512x512
                             map and of a 512-channel 64x64 map; forward and
                             forward+backward (onnxruntime: Reshape, Transpose,
                             MatMul, Mul; forward only)
  mobilenet_v1_0.25          the ONNX file in ../shared, 224 px, forward
TF.js wasm runs VGG at 224 px batch 1 only, fewer times (seconds per call).

Before timing, each workload's outputs from eyecandy (and eyecandy-before) are
compared with onnxruntime's: the largest absolute difference over the largest
absolute reference value must be at most the tolerance (1e-5); a mismatch is
reported, recorded in the JSON and makes the exit status 2.

Options:
  --quick         VGG16 convs at 224 and 512, VGG16 full at 224, the style
                  iteration at 224, the Gram matrices and MobileNet; fewer runs
  --only REGEX    only the workloads whose label matches, e.g.
                  --only 'vgg19-convs 224px b1' or --only 'gram|style'
                  (label: "NAME SIZEpx bBATCH MODE")
  --runs N        timed calls per system and workload (default 7, --quick 3;
                  TF.js wasm: at most 2)
  --before DIR    also measure another eyecandy build, DIR being a checkout with
                  dist/ and its built addon (build-cmake/Release/eyecandy.node),
                  as a fourth system "eyecandy-before" in the same process,
                  alternating, so before/after ratios come from one run
  --gap MS        idle milliseconds before each timed call (default 50): long
                  enough for onnxruntime's worker threads, which spin for about
                  30 ms after each of its calls, to stop, so that no system's
                  call shares the cores with another system's threads
  --tolerance X   the accuracy check's bound (default 1e-5)
  --no-readme     leave bench/README.md alone
  --help          this text

Output: a full run writes bench/results/latest.json and the table between the
markers in bench/README.md; a run with --only or --quick writes
bench/results/partial.json and leaves both alone. Env: EYECANDY_THREADS (threads
for eyecandy and onnxruntime; default: all), EYECANDY_SHARED (the shared data
folder; default ../shared), CC (compiler for the FMA peak probe).`;

function parseArgs(argv) {
  const o = { quick: false, only: null, runs: null, before: null, tolerance: 1e-5, readme: true, gap: 50 };
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`bench: ${a} needs a value (see --help)`);
      return argv[++i];
    };
    if (a === '--help' || a === '-h') o.help = true;
    else if (a === '--quick') o.quick = true;
    else if (a === '--no-readme') o.readme = false;
    else if (a === '--only') {
      const v = value();
      try {
        o.only = new RegExp(v);
      } catch (e) {
        throw new Error(`bench: --only '${v}' is not a regular expression (${e.message})`);
      }
    } else if (a === '--runs') {
      const v = value();
      o.runs = Number(v);
      if (!Number.isInteger(o.runs) || o.runs < 1) throw new Error(`bench: --runs '${v}' is not a whole number of at least 1`);
    } else if (a === '--gap') {
      const v = value();
      o.gap = Number(v);
      if (!Number.isInteger(o.gap) || o.gap < 0) throw new Error(`bench: --gap '${v}' is not a whole number of milliseconds (0 or more)`);
    } else if (a === '--tolerance') {
      const v = value();
      o.tolerance = Number(v);
      if (!(o.tolerance >= 0)) throw new Error(`bench: --tolerance '${v}' is not a number of at least 0`);
    } else if (a === '--before') {
      const v = value();
      o.before = path.resolve(v);
      for (const need of ['dist/index.js', 'dist/models/onnx/index.js'])
        if (!fs.existsSync(path.join(o.before, need))) throw new Error(`bench: --before '${v}' has no ${need} (expected a built eyecandy checkout: npm run build:ts and build:native there)`);
    } else throw new Error(`bench: unknown option '${a}' (see --help)`);
  }
  return o;
}

const opts = (() => {
  try {
    return parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(e.message);
    process.exit(1);
  }
})();
if (opts.help) {
  console.log(HELP);
  process.exit(0);
}
const quick = opts.quick;
const partial = quick || !!opts.only;
const shared = process.env.EYECANDY_SHARED || path.resolve(__dirname, '../../shared');
const threads = Number(process.env.EYECANDY_THREADS) || os.cpus().length;
const work = path.join(os.tmpdir(), `eyecandy-bench-${process.getuid ? process.getuid() : 0}`);
fs.mkdirSync(work, { recursive: true });

const log = (...a) => console.error(...a);
const now = () => Number(process.hrtime.bigint()) / 1e9;
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const MB = 1024 * 1024;

const STYLE_LAYERS = ['block1_conv1', 'block2_conv1', 'block3_conv1', 'block4_conv1', 'block5_conv1'];
const CONTENT_LAYER = 'block4_conv2';

// --- FMA peak ---
function fmaPeak() {
  const exe = path.join(work, 'fma-peak');
  const src = path.join(__dirname, 'lib', 'fma-peak.c');
  if (!fs.existsSync(exe) || fs.statSync(exe).mtimeMs < fs.statSync(src).mtimeMs)
    execFileSync(process.env.CC || 'cc', ['-O2', '-pthread', '-o', exe, src]);
  return JSON.parse(execFileSync(exe, [String(threads), '0.5'], { encoding: 'utf8' }));
}

// --- resident memory (Linux): writing 5 to clear_refs resets VmHWM to the current RSS ---
const procMem = (() => {
  try {
    fs.writeFileSync('/proc/self/clear_refs', '5');
    fs.readFileSync('/proc/self/status', 'utf8');
  } catch {
    return null;
  }
  const read = () => {
    const s = fs.readFileSync('/proc/self/status', 'utf8');
    const kb = (k) => Number((s.match(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm')) || [])[1]) * 1024;
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  };
  return { reset: () => fs.writeFileSync('/proc/self/clear_refs', '5'), read };
})();

// --- inputs and targets (deterministic) ---
function makeInput(batch, h, w = h, c = 3) {
  const n = batch * h * w * c;
  const nhwc = new Float32Array(n);
  for (let i = 0; i < n; ++i) nhwc[i] = ((i * 7919) % 255) / 255 - 0.5;
  return { nhwc, nchw: nhwcToNchw(nhwc, [batch, h, w, c]), nhwcShape: [batch, h, w, c], nchwShape: [batch, c, h, w] };
}
function nhwcToNchw(src, [n, h, w, c]) {
  const out = new Float32Array(src.length);
  for (let b = 0; b < n; ++b)
    for (let p = 0; p < h * w; ++p) for (let k = 0; k < c; ++k) out[(b * c + k) * h * w + p] = src[(b * h * w + p) * c + k];
  return out;
}
const target = (n, scale) => Float32Array.from({ length: n }, (_, i) => (((i * 2654435761) >>> 0) % 1000) / 1000 * scale);
function styleTargets(size) {
  const shapes = vggShapes(vggLayers('vgg19', 'style'), size, size);
  const grams = STYLE_LAYERS.map((l) => {
    const c = shapes.find((s) => s.name === l).c;
    return { layer: l, c, values: target(c * c, 0.5) };
  });
  const s = shapes.find((v) => v.name === CONTENT_LAYER);
  return { grams, content: { shape: [1, s.h, s.w, s.c], values: target(s.h * s.w * s.c, 1) } };
}

// Largest |a - b| over the largest |b| (b: the reference).
function relError(a, b) {
  if (a.length !== b.length) return { error: `sizes differ: ${a.length} against the reference's ${b.length}` };
  let d = 0;
  let m = 0;
  for (let i = 0; i < a.length; ++i) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return { maxRelErr: m > 0 ? d / m : d };
}

// --- systems ---
// Each system's loaders return {input(x), forward?, forwardBackward?, step?, outputs(input) ->
// {key: Float32Array in NCHW order}, dispose}; a loader that is absent means "not measured".

function eyecandySystem(name, root) {
  let lib;
  try {
    lib = {
      ...require(path.join(root, 'dist')),
      loadOnnx: require(path.join(root, 'dist/models/onnx')).loadOnnx,
    };
    lib.opNames(); // loads the addon now, so a missing build is reported up front
  } catch (e) {
    return { name, missing: `cannot be loaded from ${root} (${String(e.message).split('\n')[0]})` };
  }
  const { Tensor, Graph, loadOnnx, memoryStats, resetMemoryPeak } = lib;
  const disposeAll = (r) => r && Object.values(r).forEach((t) => t && t.dispose && t.dispose());
  const disposeGrads = (g) => g && (disposeAll(g.inputs), disposeAll(g.params));
  // NHWC -> NCHW for the comparison with onnxruntime (rank 4 only).
  const asNchw = (t) => (t.shape.length === 4 ? nhwcToNchw(t.data(), t.shape) : Float32Array.from(t.data()));
  const wrap = (net, taps, seeds) => ({
    input: (x) => Tensor.from(x.nhwc, x.nhwcShape),
    forward: async (x) => disposeAll(await net.forward(x, { taps })),
    forwardBackward: async (x) => {
      disposeAll(await net.forward(x, { taps: Object.keys(seeds), grad: true }));
      disposeGrads(await net.backward(seeds));
    },
    dispose: () => net.dispose(),
  });
  let version;
  try {
    version = require(path.join(root, 'package.json')).version;
  } catch {
    version = '?';
  }
  let commit = '';
  try {
    commit = execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    /* not a git checkout */
  }
  return {
    name,
    version: commit ? `${version} (${commit})` : version,
    native: memoryStats && resetMemoryPeak ? { reset: () => resetMemoryPeak(), peak: () => memoryStats().cpu.peak } : null,
    // sync: forward with forwardSync() where the build has it (MobileNet: a
    // forward under a millisecond, where forward()'s worker hand-off and
    // Promise are a sizeable share; the call a user of a small network makes).
    async onnx(file, ortFile, layers, { sync = false } = {}) {
      const model = await loadOnnx(file);
      const net = model.graph.compile();
      const out = model.output;
      const base = wrap(net, [out], { [out]: 1 });
      if (sync && typeof net.forwardSync === 'function') base.forward = async (x) => disposeAll(net.forwardSync(x, { taps: [out] }));
      return {
        ...base,
        outputs: async (x) => {
          const r = await net.forward(x, { taps: [out] });
          const v = asNchw(r[out]);
          disposeAll(r);
          return { out: v };
        },
      };
    },
    async style(featureFile, size) {
      const model = await loadOnnx(featureFile);
      const g = model.graph;
      const node = (layer) => {
        const o = model.outputs.find((v) => v.name === outName({ name: layer, relu: true }));
        if (!o) throw new Error(`${featureFile} has no output for ${layer}`);
        return o.node;
      };
      const t = styleTargets(size);
      const seeds = {};
      for (const { layer, c, values } of t.grams) {
        g.gram(`${layer}/gram`, node(layer));
        g.param(`${layer}/target`, Tensor.from(values, [1, c, c]));
        g.mseLoss(`${layer}/loss`, `${layer}/gram`, `${layer}/target`);
        seeds[`${layer}/loss`] = 1;
      }
      g.param('content/target', Tensor.from(t.content.values, t.content.shape));
      g.rmsLoss('content/loss', node(CONTENT_LAYER), 'content/target');
      seeds['content/loss'] = 1;
      const net = g.compile();
      const w = wrap(net, null, seeds);
      const taps = [...STYLE_LAYERS.map((l) => `${l}/gram`), node(CONTENT_LAYER)];
      return {
        input: w.input,
        step: w.forwardBackward,
        dispose: w.dispose,
        outputs: async (x) => {
          const r = await net.forward(x, { taps });
          const o = {};
          STYLE_LAYERS.forEach((l) => (o[l] = asNchw(r[`${l}/gram`])));
          o[CONTENT_LAYER] = asNchw(r[node(CONTENT_LAYER)]);
          disposeAll(r);
          return o;
        },
      };
    },
    async gram(c, h, w) {
      const g = new Graph();
      g.input('x');
      g.gram('g', 'x');
      const net = g.compile();
      return {
        ...wrap(net, ['g'], { g: 1 }),
        outputs: async (x) => {
          const r = await net.forward(x, { taps: ['g'] });
          const v = asNchw(r.g);
          disposeAll(r);
          return { out: v };
        },
      };
    },
  };
}

function ortSystem() {
  let ort;
  try {
    ort = require('onnxruntime-node');
  } catch (e) {
    return { name: 'onnxruntime-node', missing: `not installed (${String(e.message).split('\n')[0]})` };
  }
  const session = async (file, outputNames) => {
    const s = await ort.InferenceSession.create(file, { intraOpNumThreads: threads, interOpNumThreads: 1 });
    const name = s.inputNames[0];
    const names = outputNames || s.outputNames;
    return {
      input: (x) => new ort.Tensor('float32', x.nchw, x.nchwShape),
      forward: async (x) => {
        await s.run({ [name]: x });
      },
      outputs: async (x) => {
        const r = await s.run({ [name]: x });
        return Object.fromEntries(Object.entries(names).map(([k, n]) => [k, Float32Array.from(r[n].data)]));
      },
      dispose: () => s.release && s.release(),
    };
  };
  return {
    name: 'onnxruntime-node',
    version: require('onnxruntime-node/package.json').version,
    async onnx(file, ortFile) {
      const s = await session(ortFile || file);
      return { ...s, outputs: async (x) => ({ out: Object.values(await s.outputs(x))[0] }) };
    },
    // No backward: the forward with the Gram matrices, labelled forwardOnly.
    async style(_featureFile, _size, ortStyle) {
      const s = await session(ortStyle.file, ortStyle.outputs);
      return { ...s, step: s.forward, forwardOnly: true };
    },
    async gram(c, h, w, ortFile) {
      return this.onnx(ortFile);
    },
  };
}

async function tfjsSystem(backend) {
  let tf;
  try {
    if (backend === 'wasm') {
      tf = require('@tensorflow/tfjs');
      require('@tensorflow/tfjs-backend-wasm');
      await tf.setBackend('wasm');
    } else {
      tf = require('@tensorflow/tfjs-node');
    }
    await tf.ready();
  } catch (e) {
    return { name: `tfjs-${backend}`, missing: `not installed (${String(e.message).split('\n')[0]})` };
  }
  const toNchw = async (t) => (t.shape.length === 4 ? nhwcToNchw(await t.data(), t.shape) : Float32Array.from(await t.data()));
  // The same VGG layers from the same weights (OIHW -> HWIO); returns (x) -> {layerName: activation}.
  const vgg = (layers) => {
    const vars = layers.map((l) => {
      const kk = l.k * l.k;
      const hwio = new Float32Array(kk * l.cin * l.cout);
      for (let o = 0; o < l.cout; ++o)
        for (let i = 0; i < l.cin; ++i) for (let k = 0; k < kk; ++k) hwio[(k * l.cin + i) * l.cout + o] = l.w[(o * l.cin + i) * kk + k];
      return { l, w: tf.tensor4d(hwio, [l.k, l.k, l.cin, l.cout]), b: tf.tensor1d(l.b) };
    });
    const run = (x, upTo) => {
      const acts = {};
      let h = x;
      for (const { l, w, b } of vars) {
        h = tf.add(tf.conv2d(h, w, 1, l.pad ? 'same' : 'valid'), b);
        if (l.relu) h = tf.relu(h);
        acts[l.name] = h;
        if (l.name === upTo) break;
        if (l.poolAfter) h = tf.maxPool(h, 2, 2, 'valid');
      }
      acts.out = h;
      return acts;
    };
    return { run, dispose: () => vars.forEach((v) => (v.w.dispose(), v.b.dispose())) };
  };
  const gramOf = (f) => {
    const [n, h, w, c] = f.shape;
    const r = tf.reshape(f, [n, h * w, c]);
    // An explicit transpose: matMul(r, r, true) is about 30x slower on the wasm backend (4.22).
    return tf.div(tf.matMul(tf.transpose(r, [0, 2, 1]), r), h * w);
  };
  const timedCalls = (fwd, grad) => ({
    input: (x) => tf.tensor4d(x.nhwc, x.nhwcShape),
    forward: async (x) => {
      const y = tf.tidy(() => fwd(x));
      await y.data();
      y.dispose();
    },
    forwardBackward: async (x) => {
      const g = tf.tidy(() => grad(x));
      await g.data();
      g.dispose();
    },
  });
  return {
    name: `tfjs-${backend}`,
    version: require('@tensorflow/tfjs-core/package.json').version,
    slow: backend === 'wasm',
    async onnx(file, _ortFile, layers) {
      if (!layers) return null;
      const net = vgg(layers);
      const fwd = (x) => net.run(x).out;
      return {
        ...timedCalls(fwd, tf.grad((x) => tf.sum(fwd(x)))),
        outputs: async (x) => {
          const y = tf.tidy(() => fwd(x));
          const v = await toNchw(y);
          y.dispose();
          return { out: v };
        },
        dispose: net.dispose,
      };
    },
    async style(_featureFile, size, _ortStyle, layers) {
      const net = vgg(layers);
      const t = styleTargets(size);
      const targets = t.grams.map((g) => tf.tensor3d(g.values, [1, g.c, g.c]));
      const contentTarget = tf.tensor4d(t.content.values, t.content.shape);
      const loss = (x) => {
        const acts = net.run(x, 'block5_conv1');
        let total = tf.sqrt(tf.mean(tf.squaredDifference(acts[CONTENT_LAYER], contentTarget)));
        STYLE_LAYERS.forEach((l, i) => (total = tf.add(total, tf.mean(tf.squaredDifference(gramOf(acts[l]), targets[i])))));
        return total;
      };
      const c = timedCalls(null, tf.grad(loss));
      return {
        input: c.input,
        step: c.forwardBackward,
        dispose: () => (net.dispose(), targets.forEach((v) => v.dispose()), contentTarget.dispose()),
      };
    },
    async gram() {
      const fwd = (x) => gramOf(x);
      return { ...timedCalls(fwd, tf.grad((x) => tf.sum(fwd(x)))), dispose: () => {} };
    },
  };
}

// Runs `runs` rounds; each round times one call of every system in turn, the order rotated
// by one system per round, so each system follows each other one equally often. Each timed
// call starts after `opts.gap` ms of idle time: onnxruntime's worker threads spin for about
// 30 ms after its call returns (measured as process CPU time while idle), and without the
// gap whichever call follows shares the two cores with them for that long.
// Per call it also counts minor page faults and, where it can, the peak resident memory
// (VmHWM, reset before the call) and the native peak the eyecandy build reports.
async function alternate(entries, runs, warm) {
  for (const e of entries) for (let i = 0; i < (e.warm ?? warm); ++i) await e.fn();
  const out = entries.map(() => ({ s: [], faults: 0, calls: 0, hwm: 0, above: 0, native: 0 }));
  for (let r = 0; r < runs; ++r)
    for (let j = 0; j < entries.length; ++j) {
      const k = (j + r) % entries.length;
      const e = entries[k];
      const o = out[k];
      if (r >= (e.runs ?? runs)) continue;
      if (opts.gap && entries.length > 1) await new Promise((resolve) => setTimeout(resolve, opts.gap));
      let rss0 = 0;
      if (procMem) {
        procMem.reset();
        rss0 = procMem.read().rss;
      }
      if (e.native) e.native.reset();
      const f0 = process.resourceUsage().minorPageFault;
      const t0 = now();
      await e.fn();
      o.s.push(now() - t0);
      o.faults += process.resourceUsage().minorPageFault - f0;
      o.calls++;
      if (procMem) {
        const m = procMem.read();
        o.hwm = Math.max(o.hwm, m.hwm);
        o.above = Math.max(o.above, m.hwm - rss0);
      }
      if (e.native) o.native = Math.max(o.native, e.native.peak());
    }
  return out.map((o) => ({
    medianS: median(o.s),
    minS: Math.min(...o.s),
    maxS: Math.max(...o.s),
    runs: o.s.length,
    pageFaultsPerCall: Math.round(o.faults / o.calls),
    ...(procMem ? { peakRssMB: Math.round(o.hwm / MB), peakRssAboveStartMB: Math.round(o.above / MB) } : {}),
    ...(entries[out.indexOf(o)].native ? { nativePeakMB: Math.round(o.native / MB) } : {}),
  }));
}

// --- workloads ---
// A group shares one set of loaded models; its workloads are (size, batch, mode).
function groups() {
  const shapes = quick ? [[224, 1], [512, 1]] : [[224, 1], [512, 1], [224, 4]];
  const modes = ['forward', 'forward+backward'];
  const list = [];
  for (const arch of quick ? ['vgg16'] : ['vgg16', 'vgg19'])
    for (const variant of ['convs', 'full'])
      list.push({
        kind: 'vgg',
        name: `${arch}-${variant}`,
        arch,
        variant,
        workloads: (quick && variant === 'full' ? [[224, 1]] : shapes).flatMap(([size, batch]) => modes.map((mode) => ({ size, batch, mode }))),
      });
  list.push({ kind: 'style', name: 'vgg19-style', workloads: (quick ? [224] : [224, 512]).map((size) => ({ size, batch: 1, mode: 'style' })) });
  for (const [c, hw] of [[64, 512], [512, 64]])
    list.push({ kind: 'gram', name: `gram-c${c}`, c, workloads: modes.map((mode) => ({ size: hw, batch: 1, mode })) });
  list.push({ kind: 'mobilenet', name: 'mobilenet_v1_0.25', workloads: [{ size: 224, batch: 1, mode: 'forward' }] });
  for (const g of list) {
    for (const w of g.workloads) w.label = `${g.name} ${w.size}px b${w.batch} ${w.mode}`;
    if (opts.only) g.workloads = g.workloads.filter((w) => opts.only.test(w.label));
  }
  return list.filter((g) => g.workloads.length);
}

async function runGroup(g, live, workloads, mismatches) {
  const runs = opts.runs ?? (quick ? 3 : 7);
  const slowRuns = Math.min(runs, quick ? 1 : 2);
  let file;
  let layers = null;
  let ortFile;
  let flopsOf; // (size, batch) -> forward FLOPs
  const ortStyle = {};
  if (g.kind === 'vgg') {
    ({ file, layers } = writeVggOnnx(path.join(work, `v2-${g.arch}-${g.variant}.onnx`), g.arch, 1, g.variant));
    flopsOf = (size, batch) => vggFlops(layers, size, size) * batch;
  } else if (g.kind === 'style') {
    layers = vggLayers('vgg19', 'style');
    ({ file } = writeVggOnnx(path.join(work, 'v2-vgg19-style-features.onnx'), 'vgg19', 1, 'style', [...STYLE_LAYERS, CONTENT_LAYER]));
    for (const { size } of g.workloads) ortStyle[size] = writeStyleOnnx(path.join(work, `v2-vgg19-style-grams-${size}.onnx`), 'vgg19', size, STYLE_LAYERS, CONTENT_LAYER);
    const shapesAt = (size) => vggShapes(layers, size, size);
    flopsOf = (size) => vggFlops(layers, size, size) + STYLE_LAYERS.reduce((f, l) => {
      const s = shapesAt(size).find((v) => v.name === l);
      return f + 2 * s.h * s.w * s.c * s.c;
    }, 0);
  } else if (g.kind === 'gram') {
    flopsOf = (size, batch) => 2 * size * size * g.c * g.c * batch;
  } else {
    file = path.join(shared, 'models/mobilenet_v1_0.25_224/mobilenet_v1_0.25_224.onnx');
    // 41 M multiply-adds per 224-px image for MobileNet v1 0.25 (Howard et al. 2017, table 7).
    flopsOf = (size, batch) => 2 * 41e6 * (size / 224) ** 2 * batch;
    if (!fs.existsSync(file)) return log(`${g.name}: ${file} not found, skipped`);
    live = live.filter((s) => !s.name.startsWith('tfjs'));
  }

  // Models that do not depend on the size are loaded once per group.
  const loaded = {};
  const loadFor = async (s, size) => {
    const key = g.kind === 'vgg' || g.kind === 'mobilenet' ? s.name : `${s.name}@${size}`;
    if (!(key in loaded)) {
      const t0 = now();
      if (g.kind === 'style') loaded[key] = await s.style(file, size, ortStyle[size], layers);
      else if (g.kind === 'gram') {
        const ort = writeGramOnnx(path.join(work, `v2-gram-${g.c}x${size}x${size}.onnx`), g.c, size, size);
        loaded[key] = await s.gram(g.c, size, size, ort.file);
      } else loaded[key] = await s.onnx(file, ortFile, layers, { sync: g.kind === 'mobilenet' });
      log(`${g.name}${key.includes('@') ? ` ${size}px` : ''}: ${s.name} loaded in ${((now() - t0) * 1e3).toFixed(0)} ms`);
    }
    return loaded[key];
  };
  const checked = {};
  for (const w of g.workloads) {
    const { size, batch, mode } = w;
    const x = g.kind === 'gram' ? makeInput(batch, size, size, g.c) : makeInput(batch, size);
    const entries = [];
    const names = [];
    const inputs = {};
    for (const s of live) {
      // TF.js wasm takes seconds per VGG call: 224 px batch 1 only (and the style iteration at 512, timed once).
      if (s.slow && g.kind === 'vgg' && (size > 224 || batch > 1)) continue;
      const m = await loadFor(s, size);
      if (!m) continue;
      const fn = mode === 'style' ? m.step : mode === 'forward' ? m.forward : m.forwardBackward;
      if (!fn) continue;
      const input = m.input(x);
      inputs[s.name] = { m, input };
      const entry = { fn: () => fn(input), runs: s.slow ? (mode === 'style' && size > 224 ? 1 : slowRuns) : runs, warm: s.slow ? 1 : g.kind === 'mobilenet' ? 20 : 2, native: s.native };
      if (g.kind === 'mobilenet') {
        // 100 calls per timed run: one call is well under a millisecond.
        const one = entry.fn;
        entry.fn = async () => {
          for (let i = 0; i < 100; ++i) await one();
        };
      }
      entries.push(entry);
      names.push(s.name);
    }
    // The accuracy check, once per input shape: each eyecandy build against onnxruntime.
    const checkKey = `${size}/${batch}`;
    if (!checked[checkKey] && inputs['onnxruntime-node']) {
      const ref = await inputs['onnxruntime-node'].m.outputs(inputs['onnxruntime-node'].input);
      checked[checkKey] = {};
      for (const n of names.filter((v) => v.startsWith('eyecandy'))) {
        const got = await inputs[n].m.outputs(inputs[n].input);
        let worst = { maxRelErr: 0 };
        for (const k of Object.keys(ref)) {
          const e = got[k] ? relError(got[k], ref[k]) : { error: `no output ${k}` };
          if (e.error || e.maxRelErr > worst.maxRelErr) worst = { ...e, output: k };
          if (e.error) break;
        }
        const ok = !worst.error && worst.maxRelErr <= opts.tolerance;
        checked[checkKey][n] = { against: 'onnxruntime-node', maxRelErr: worst.maxRelErr ?? null, tolerance: opts.tolerance, ok, ...(worst.error ? { error: worst.error } : {}), ...(Object.keys(ref).length > 1 && worst.output ? { worstOutput: worst.output } : {}) };
        const msg = `${g.name} ${size}px b${batch}: ${n} against onnxruntime: ${worst.error ?? `max relative error ${worst.maxRelErr.toExponential(2)}`}${worst.output && Object.keys(ref).length > 1 ? ` (${worst.output})` : ''}`;
        if (ok) log(`  check ${msg}`);
        else {
          log(`  MISMATCH ${msg} (tolerance ${opts.tolerance})`);
          mismatches.push(msg);
        }
      }
    }
    log(`${w.label}: ${names.join(', ')} ...`);
    const res = await alternate(entries, runs, 2);
    const fwdFlops = flopsOf(size, batch);
    const results = {};
    names.forEach((n, i) => {
      let r = res[i];
      if (g.kind === 'mobilenet') r = { ...r, medianS: r.medianS / 100, minS: r.minS / 100, maxS: r.maxS / 100, pageFaultsPerCall: Math.round(r.pageFaultsPerCall / 100), callsPerRun: 100 };
      const forwardOnly = mode === 'style' && inputs[n].m.forwardOnly;
      const flops = fwdFlops * (mode === 'forward' || forwardOnly ? 1 : 2);
      results[n] = { ...r, ...(forwardOnly ? { forwardOnly: true } : {}), ...(g.kind !== 'mobilenet' ? { gflops: +(flops / r.medianS / 1e9).toFixed(1) } : {}) };
    });
    const rec = { name: g.name, size, batch, mode, ...(g.kind !== 'mobilenet' ? { gflop: +(fwdFlops * (mode === 'forward' ? 1 : 2) / 1e9).toFixed(2) } : {}), results };
    if (g.kind === 'gram') rec.channels = g.c;
    if (checked[checkKey]) rec.check = checked[checkKey];
    workloads.push(rec);
    log('  ' + names.map((n) => `${n} ${(results[n].medianS * 1e3).toFixed(g.kind === 'mobilenet' ? 3 : 1)} ms${results[n].forwardOnly ? ' (forward only)' : ''}${results[n].peakRssAboveStartMB !== undefined ? `, +${results[n].peakRssAboveStartMB} MB` : ''}`).join('; '));
    for (const { input } of Object.values(inputs)) input && input.dispose && input.dispose();
  }
  for (const m of Object.values(loaded)) m && m.dispose();
}

async function main() {
  const load0 = os.loadavg();
  log(`machine: ${os.cpus()[0].model}, ${os.cpus().length} threads, node ${process.version}; load average ${load0.map((v) => v.toFixed(2)).join(' ')}`);
  const peak0 = fmaPeak();
  log(`FMA peak (${peak0.isa}, ${peak0.threads} threads): ${peak0.gflops} GFLOP/s`);
  if (opts.before && process.env.EYECANDY_ADDON)
    throw new Error(`bench: --before with EYECANDY_ADDON='${process.env.EYECANDY_ADDON}' would load that one addon for both builds; unset it`);

  const systems = [eyecandySystem('eyecandy', path.resolve(__dirname, '..'))];
  if (opts.before) systems.push(eyecandySystem('eyecandy-before', opts.before));
  systems.push(ortSystem(), await tfjsSystem('wasm'), await tfjsSystem('node'));
  for (const s of systems) if (s.missing) log(`${s.name}: ${s.missing}`);
  if (opts.before && systems[1].missing) throw new Error(`bench: --before: eyecandy-before ${systems[1].missing}`);
  const live = systems.filter((s) => !s.missing);

  const todo = groups();
  if (!todo.length) throw new Error(`bench: --only ${opts.only} matches no workload (see --help for the names)`);
  const t0 = now();
  const workloads = [];
  const mismatches = [];
  for (const g of todo) await runGroup(g, live, workloads, mismatches);

  const peak1 = fmaPeak();
  const load1 = os.loadavg();
  const peakGflops = Math.max(peak0.gflops, peak1.gflops);
  for (const w of workloads)
    for (const r of Object.values(w.results)) if (r.gflops) r.percentOfPeak = +((100 * r.gflops) / peakGflops).toFixed(1);
  const out = {
    machine: {
      cpu: os.cpus()[0].model,
      threads: os.cpus().length,
      benchThreads: threads,
      node: process.version,
      isa: peak0.isa,
      loadAverageStart: load0.map((v) => +v.toFixed(2)),
      loadAverageEnd: load1.map((v) => +v.toFixed(2)),
      date: new Date().toISOString(),
    },
    peakGflops,
    peakGflopsRuns: [peak0.gflops, peak1.gflops],
    peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
    durationS: Math.round(now() - t0),
    quick,
    ...(opts.only ? { only: String(opts.only) } : {}),
    ...(opts.runs ? { runs: opts.runs } : {}),
    gapMs: opts.gap,
    ...(opts.before ? { before: opts.before } : {}),
    systems: Object.fromEntries(systems.map((s) => [s.name, s.missing ? { missing: s.missing } : { version: s.version }])),
    ...(mismatches.length ? { mismatches } : {}),
    workloads,
  };
  const dir = path.join(__dirname, 'results');
  fs.mkdirSync(dir, { recursive: true });
  const json = path.join(dir, partial ? 'partial.json' : 'latest.json');
  fs.writeFileSync(json, JSON.stringify(out, null, 2) + '\n');
  const table = markdown(out);
  console.log(table);
  log(`wrote ${path.relative(process.cwd(), json)} (${out.durationS} s of workloads)`);
  if (opts.readme && !partial) updateReadme(table);
  if (mismatches.length) {
    log(`accuracy check failed on ${mismatches.length} workload(s):\n  ${mismatches.join('\n  ')}`);
    process.exitCode = 2;
  }
}

function markdown(out) {
  const ms = (r) => (r ? (r.medianS * 1e3).toFixed(r.medianS < 0.01 ? 2 : 1) + (r.forwardOnly ? ' (fwd only)' : '') : '–');
  const ratio = (a, b) => (a && b ? (a.medianS / b.medianS).toFixed(2) + '×' : '–');
  const before = 'eyecandy-before' in out.systems && !out.systems['eyecandy-before'].missing;
  const lines = [
    `Machine: ${out.machine.cpu}, ${out.machine.threads} threads (${out.machine.isa}), Node ${out.machine.node}, ${out.machine.date.slice(0, 10)}; ` +
      `FMA peak measured in the run: **${out.peakGflops} GFLOP/s** (${out.peakGflopsRuns.join(' / ')} at start / end); ` +
      `load average ${out.machine.loadAverageStart.join(' ')} at start, ${out.machine.loadAverageEnd.join(' ')} at end` +
      `; ${out.gapMs} ms idle before each timed call` +
      (out.quick ? '; `--quick` run' : '') +
      (out.only ? `; \`--only ${out.only}\`` : '') +
      (before ? `; eyecandy-before: ${out.systems['eyecandy-before'].version} from ${out.before}` : '') +
      '.',
    '',
    `| workload | eyecandy ms |${before ? ' before ms |' : ''} onnxruntime-node ms | tfjs-wasm ms | eyecandy / ORT forward |${before ? ' eyecandy / before |' : ''} eyecandy / tfjs-wasm | eyecandy GFLOP/s (% of peak) | page faults per call | peak RSS above start MB | native peak MB | check (max rel. err.) |`,
    `|---|---|${before ? '---|' : ''}---|---|---|${before ? '---|' : ''}---|---|---|---|---|---|`,
  ];
  for (const w of out.workloads) {
    const e = w.results.eyecandy;
    const b = w.results['eyecandy-before'];
    const ortFwd = w.results['onnxruntime-node']?.forwardOnly
      ? w.results['onnxruntime-node']
      : out.workloads.find((v) => v.name === w.name && v.size === w.size && v.batch === w.batch && v.mode === 'forward')?.results['onnxruntime-node'];
    const chk = w.check?.eyecandy;
    lines.push(
      `| ${w.name} ${w.size}px b${w.batch} ${w.mode} | ${ms(e)} |${before ? ` ${ms(b)} |` : ''} ${ms(w.results['onnxruntime-node'])} | ${ms(w.results['tfjs-wasm'])} | ${ratio(e, ortFwd)} |${before ? ` ${ratio(e, b)} |` : ''} ${ratio(e, w.results['tfjs-wasm'])} | ${e?.gflops ? `${e.gflops} (${e.percentOfPeak}%)` : '–'} | ${e ? e.pageFaultsPerCall : '–'} | ${e?.peakRssAboveStartMB ?? '–'} | ${e?.nativePeakMB ?? '–'} | ${chk ? `${chk.ok ? '' : '**'}${chk.error ?? chk.maxRelErr.toExponential(1)}${chk.ok ? '' : '**'}` : '–'} |`,
    );
  }
  for (const [n, s] of Object.entries(out.systems)) if (s.missing) lines.push('', `${n}: ${s.missing}.`);
  return lines.join('\n');
}

function updateReadme(table) {
  const file = path.join(__dirname, 'README.md');
  const text = fs.readFileSync(file, 'utf8');
  const start = '<!-- bench:table:start -->';
  const end = '<!-- bench:table:end -->';
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  if (i < 0 || j < 0) return log(`bench/README.md has no ${start} / ${end} markers: table not written`);
  fs.writeFileSync(file, text.slice(0, i + start.length) + '\n' + table + '\n' + text.slice(j));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
