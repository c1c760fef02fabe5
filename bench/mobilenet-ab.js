#!/usr/bin/env node
// MobileNet v1 0.25 forward at 224: eyecandy against onnxruntime-node on the
// same ONNX file and input, in one process, alternating one call of each per
// round after warm-up. Prints the medians, their ratio and the load average.
//
//   node bench/mobilenet-ab.js [rounds]      # default 200 rounds
//   EYECANDY_ADDON=old/eyecandy.node node bench/mobilenet-ab.js   # another build, same harness
//
// eyecandy is timed both ways a caller can run it: forward() (a Promise) and
// forwardSync() where the build has it.
const os = require('os');
const path = require('path');
const { shared, median } = require('./cases/common');

const rounds = Number(process.argv[2]) || 200;
const threads = Number(process.env.EYECANDY_THREADS) || os.cpus().length;
const file = path.join(shared, 'models/mobilenet_v1_0.25_224/mobilenet_v1_0.25_224.onnx');

(async () => {
  const ort = require('onnxruntime-node');
  const { Tensor } = require('../dist');
  const { loadOnnx } = require('../dist/models/onnx');

  const nhwc = new Float32Array(224 * 224 * 3).map((_, i) => ((i * 7919) % 255) / 127.5 - 1);
  const nchw = new Float32Array(nhwc.length);
  for (let c = 0; c < 3; ++c) for (let p = 0; p < 224 * 224; ++p) nchw[c * 224 * 224 + p] = nhwc[p * 3 + c];

  const session = await ort.InferenceSession.create(file, { intraOpNumThreads: threads, interOpNumThreads: 1 });
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', nchw, [1, 3, 224, 224]) };
  const model = await loadOnnx(file);
  const net = model.graph.compile();
  const x = Tensor.from(nhwc, [1, 224, 224, 3]);
  const taps = [model.output];

  const systems = [
    { name: 'onnxruntime-node', fn: async () => session.run(feeds) },
    {
      name: 'eyecandy forward()',
      fn: async () => {
        const r = await net.forward(x, { taps });
        r[model.output].dispose();
      },
    },
  ];
  if (typeof net.forwardSync === 'function')
    systems.push({
      name: 'eyecandy forwardSync()',
      fn: async () => net.forwardSync(x, { taps })[model.output].dispose(),
    });

  // An addon built before forwardSync existed (EYECANDY_ADDON) times forward() only.
  try {
    if (systems[2]) await systems[2].fn();
  } catch {
    systems.pop();
  }
  for (const s of systems) for (let i = 0; i < 20; ++i) await s.fn();
  const ms = systems.map(() => []);
  for (let r = 0; r < rounds; ++r)
    for (let i = 0; i < systems.length; ++i) {
      const t = process.hrtime.bigint();
      await systems[i].fn();
      ms[i].push(Number(process.hrtime.bigint() - t) / 1e6);
    }
  const ort_ms = median(ms[0]);
  console.log(`load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}; ${threads} threads; ${rounds} rounds`);
  console.log('| system | median ms | min ms | ratio to onnxruntime-node |');
  console.log('|---|---|---|---|');
  systems.forEach((s, i) =>
    console.log(`| ${s.name} | ${median(ms[i]).toFixed(3)} | ${Math.min(...ms[i]).toFixed(3)} | ${(median(ms[i]) / ort_ms).toFixed(2)} |`),
  );
  net.dispose();
})();
