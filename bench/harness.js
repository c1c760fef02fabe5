#!/usr/bin/env node
// `npm run bench`: eyecandy against onnxruntime-node and TF.js (wasm backend)
// on the same model file and input, in one process, alternating the systems
// run by run after warm-up, with this machine's FMA peak measured in the same
// run. Writes bench/results/latest.json and the table in bench/README.md.
//
//   npm run bench                 # full: VGG16 + VGG19 conv stacks at 224/512, batch 1 and 4; MobileNet
//   npm run bench -- --quick      # VGG16 at 224 and 512, batch 1; MobileNet; fewer runs
//   npm run bench -- --no-readme  # leave bench/README.md alone
//
// Models: the VGG conv stacks are written as ONNX with seeded random weights
// (bench/lib/vgg-onnx.js); TF.js builds the same network from the same
// weights. MobileNet v1 0.25 is the ONNX file in ../shared (TF.js: n/a).
const { execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { writeVggOnnx, vggFlops } = require('./lib/vgg-onnx');

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const writeReadme = !args.includes('--no-readme');
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

// --- FMA peak ---
function fmaPeak() {
  const exe = path.join(work, 'fma-peak');
  const src = path.join(__dirname, 'lib', 'fma-peak.c');
  if (!fs.existsSync(exe) || fs.statSync(exe).mtimeMs < fs.statSync(src).mtimeMs)
    execFileSync(process.env.CC || 'cc', ['-O2', '-pthread', '-o', exe, src]);
  return JSON.parse(execFileSync(exe, [String(threads), '0.5'], { encoding: 'utf8' }));
}

// --- systems ---
async function eyecandySystem() {
  const { Tensor } = require('../dist');
  const { loadOnnx } = require('../dist/models/onnx');
  return {
    name: 'eyecandy',
    async load(file) {
      const model = await loadOnnx(file);
      const net = model.graph.compile();
      const out = model.output;
      return {
        input: (x) => Tensor.from(x.nhwc, x.nhwcShape),
        forward: async (x) => {
          await net.forward(x, { taps: [out] });
        },
        forwardBackward: async (x) => {
          await net.forward(x, { taps: [out], grad: true });
          await net.backward({ [out]: 1 });
        },
        dispose: () => net.dispose(),
      };
    },
  };
}

async function ortSystem() {
  let ort;
  try {
    ort = require('onnxruntime-node');
  } catch (e) {
    return { name: 'onnxruntime-node', missing: `not installed (${String(e.message).split('\n')[0]})` };
  }
  return {
    name: 'onnxruntime-node',
    version: require('onnxruntime-node/package.json').version,
    async load(file) {
      const session = await ort.InferenceSession.create(file, { intraOpNumThreads: threads, interOpNumThreads: 1 });
      const name = session.inputNames[0];
      return {
        input: (x) => new ort.Tensor('float32', x.nchw, x.nchwShape),
        forward: async (x) => {
          await session.run({ [name]: x });
        },
        dispose: () => session.release && session.release(),
      };
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
  return {
    name: `tfjs-${backend}`,
    version: require('@tensorflow/tfjs-core/package.json').version,
    // The same VGG conv stack from the same weights (OIHW -> HWIO).
    async load(file, layers) {
      if (!layers) return null;
      const vars = layers.map((l) => {
        const hwio = new Float32Array(9 * l.cin * l.cout);
        for (let o = 0; o < l.cout; ++o)
          for (let i = 0; i < l.cin; ++i)
            for (let k = 0; k < 9; ++k) hwio[(k * l.cin + i) * l.cout + o] = l.w[(o * l.cin + i) * 9 + k];
        return { w: tf.tensor4d(hwio, [3, 3, l.cin, l.cout]), b: tf.tensor1d(l.b), pool: l.poolAfter };
      });
      const net = (x) => {
        let h = x;
        for (const v of vars) {
          h = tf.relu(tf.add(tf.conv2d(h, v.w, 1, 'same'), v.b));
          if (v.pool) h = tf.maxPool(h, 2, 2, 'valid');
        }
        return h;
      };
      const grad = tf.grad((x) => tf.sum(net(x)));
      return {
        input: (x) => tf.tensor4d(x.nhwc, x.nhwcShape),
        forward: async (x) => {
          const y = tf.tidy(() => net(x));
          await y.data();
          y.dispose();
        },
        forwardBackward: async (x) => {
          const g = tf.tidy(() => grad(x));
          await g.data();
          g.dispose();
        },
        dispose: () => vars.forEach((v) => (v.w.dispose(), v.b.dispose())),
      };
    },
  };
}

function makeInput(batch, size) {
  const n = batch * size * size * 3;
  const nhwc = new Float32Array(n);
  for (let i = 0; i < n; ++i) nhwc[i] = ((i * 7919) % 255) / 255 - 0.5;
  const nchw = new Float32Array(n);
  for (let b = 0; b < batch; ++b)
    for (let p = 0; p < size * size; ++p)
      for (let c = 0; c < 3; ++c) nchw[(b * 3 + c) * size * size + p] = nhwc[(b * size * size + p) * 3 + c];
  return { nhwc, nchw, nhwcShape: [batch, size, size, 3], nchwShape: [batch, 3, size, size] };
}

// Runs `runs` rounds; each round times one call of every system in turn.
async function alternate(entries, runs, warm) {
  for (const e of entries) for (let i = 0; i < (e.warm ?? warm); ++i) await e.fn();
  const out = entries.map(() => ({ s: [], faults: 0, calls: 0 }));
  for (let r = 0; r < runs; ++r)
    for (let k = 0; k < entries.length; ++k) {
      const e = entries[k];
      if (r >= (e.runs ?? runs)) continue;
      const f0 = process.resourceUsage().minorPageFault;
      const t0 = now();
      await e.fn();
      out[k].s.push(now() - t0);
      out[k].faults += process.resourceUsage().minorPageFault - f0;
      out[k].calls++;
    }
  return out.map((o) => ({
    medianS: median(o.s),
    minS: Math.min(...o.s),
    maxS: Math.max(...o.s),
    runs: o.s.length,
    pageFaultsPerCall: Math.round(o.faults / o.calls),
  }));
}

async function main() {
  const load0 = os.loadavg();
  log(`machine: ${os.cpus()[0].model}, ${os.cpus().length} threads, node ${process.version}; load average ${load0.map((v) => v.toFixed(2)).join(' ')}`);
  const peak0 = fmaPeak();
  log(`FMA peak (${peak0.isa}, ${peak0.threads} threads): ${peak0.gflops} GFLOP/s`);

  const systems = [await eyecandySystem(), await ortSystem(), await tfjsSystem('wasm'), await tfjsSystem('node')];
  for (const s of systems) if (s.missing) log(`${s.name}: ${s.missing}`);
  const live = systems.filter((s) => !s.missing);

  const runs = quick ? 3 : 7;
  const tfRuns = quick ? 1 : 2;
  const archs = quick ? ['vgg16'] : ['vgg16', 'vgg19'];
  const shapes = quick ? [[224, 1], [512, 1]] : [[224, 1], [512, 1], [224, 4]];
  const workloads = [];

  for (const arch of archs) {
    const { file, layers } = writeVggOnnx(path.join(work, `${arch}-convs.onnx`), arch);
    const loaded = {};
    for (const s of live) {
      const t0 = now();
      loaded[s.name] = await s.load(file, layers);
      log(`${arch}: ${s.name} loaded in ${((now() - t0) * 1e3).toFixed(0)} ms`);
    }
    for (const [size, batch] of shapes)
      for (const mode of ['forward', 'forward+backward']) {
        const x = makeInput(batch, size);
        const entries = [];
        const names = [];
        for (const s of live) {
          const m = loaded[s.name];
          const fn = mode === 'forward' ? m.forward : m.forwardBackward;
          if (!fn) continue;
          // TF.js wasm is ~10x slower: fewer runs, and not at 512 / batch 4 (minutes per call).
          const slow = s.name === 'tfjs-wasm';
          if (slow && (size > 224 || batch > 1)) continue;
          const input = m.input(x);
          entries.push({ fn: () => fn(input), runs: slow ? tfRuns : runs, warm: slow ? 1 : 2 });
          names.push(s.name);
        }
        const label = `${arch} convs ${size}px batch ${batch} ${mode}`;
        log(`${label}: ${names.join(', ')} ...`);
        const res = await alternate(entries, runs, 2);
        const flops = vggFlops(layers, size, size) * batch * (mode === 'forward' ? 1 : 2);
        const results = {};
        names.forEach((n, i) => (results[n] = { ...res[i], gflops: +(flops / res[i].medianS / 1e9).toFixed(1) }));
        workloads.push({ name: `${arch}-convs`, size, batch, mode, gflop: +(flops / 1e9).toFixed(2), results });
        log('  ' + names.map((n) => `${n} ${(results[n].medianS * 1e3).toFixed(1)} ms`).join(', '));
      }
    for (const s of live) loaded[s.name] && loaded[s.name].dispose();
  }

  // MobileNet v1 0.25 from ../shared: eyecandy and onnxruntime on the same file.
  const mobile = path.join(shared, 'models/mobilenet_v1_0.25_224/mobilenet_v1_0.25_224.onnx');
  if (fs.existsSync(mobile)) {
    const entries = [];
    const names = [];
    const x = makeInput(1, 224);
    for (const s of live.filter((s) => s.name === 'eyecandy' || s.name === 'onnxruntime-node')) {
      const m = await s.load(mobile, null);
      const input = m.input(x);
      entries.push({ fn: () => m.forward(input), warm: 20 });
      names.push(s.name);
    }
    // 100 calls per timed run: one call is well under a millisecond.
    const batched = entries.map((e) => ({ ...e, fn: async () => { for (let i = 0; i < 100; ++i) await e.fn(); } }));
    const res = await alternate(batched, quick ? 5 : 11, 1);
    const results = {};
    names.forEach((n, i) => {
      const r = res[i];
      results[n] = { medianS: r.medianS / 100, minS: r.minS / 100, maxS: r.maxS / 100, runs: r.runs, pageFaultsPerCall: Math.round(r.pageFaultsPerCall / 100) };
    });
    workloads.push({ name: 'mobilenet_v1_0.25', size: 224, batch: 1, mode: 'forward', results });
    log('mobilenet: ' + names.map((n) => `${n} ${(results[n].medianS * 1e3).toFixed(3)} ms`).join(', '));
  } else log(`mobilenet: ${mobile} not found, skipped`);

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
    quick,
    systems: Object.fromEntries(systems.map((s) => [s.name, s.missing ? { missing: s.missing } : { version: s.version || require('../package.json').version }])),
    workloads,
  };
  fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
  fs.writeFileSync(path.join(__dirname, 'results', 'latest.json'), JSON.stringify(out, null, 2) + '\n');
  const table = markdown(out);
  console.log(table);
  if (writeReadme) updateReadme(table);
}

function markdown(out) {
  const ms = (r) => (r ? (r.medianS * 1e3).toFixed(r.medianS < 0.01 ? 2 : 1) : '–');
  const ratio = (a, b) => (a && b ? (a.medianS / b.medianS).toFixed(2) + '×' : '–');
  const lines = [
    `Machine: ${out.machine.cpu}, ${out.machine.threads} threads (${out.machine.isa}), Node ${out.machine.node}, ${out.machine.date.slice(0, 10)}; ` +
      `FMA peak measured in the run: **${out.peakGflops} GFLOP/s** (${out.peakGflopsRuns.join(' / ')} at start / end); ` +
      `load average ${out.machine.loadAverageStart.join(' ')} at start, ${out.machine.loadAverageEnd.join(' ')} at end` +
      (out.quick ? '; `--quick` run.' : '.'),
    '',
    '| workload | eyecandy ms | onnxruntime-node ms | tfjs-wasm ms | eyecandy / ORT forward | eyecandy / tfjs-wasm | eyecandy GFLOP/s (% of peak) | eyecandy page faults per call |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const w of out.workloads) {
    const e = w.results.eyecandy;
    const ortFwd = out.workloads.find((v) => v.name === w.name && v.size === w.size && v.batch === w.batch && v.mode === 'forward')?.results['onnxruntime-node'];
    lines.push(
      `| ${w.name} ${w.size}px b${w.batch} ${w.mode} | ${ms(e)} | ${ms(w.results['onnxruntime-node'])} | ${ms(w.results['tfjs-wasm'])} | ${ratio(e, ortFwd)} | ${ratio(e, w.results['tfjs-wasm'])} | ${e?.gflops ? `${e.gflops} (${e.percentOfPeak}%)` : '–'} | ${e ? e.pageFaultsPerCall : '–'} |`,
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
