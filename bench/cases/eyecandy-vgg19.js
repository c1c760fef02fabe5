// eyecandy: VGG19 (TF.js uint8 weights from ../shared) load, forward and forward+backward at 224 and 512.
const path = require('path');
const { shared, time, median, report } = require('./common');
const { Tensor } = require('../../dist');
const { loadTfjs } = require('../../dist/models/tfjs');
const { featureGraph } = require('../../dist/nn/rewrites/features');

(async () => {
  const t0 = process.hrtime.bigint();
  const model = await loadTfjs(path.join(shared, 'models/vgg19-tfjs-uint8/model.json'));
  const net = model.graph.compile();
  const loadMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const loadRss = Math.round(process.resourceUsage().maxRSS / 1024);
  const out = { case: 'eyecandy-vgg19', loadMs, loadPeakRssMB: loadRss };
  const x224 = Tensor.from(new Float32Array(224 * 224 * 3).map((_, i) => (i % 255) - 120), [1, 224, 224, 3]);
  out.forward224 = median(await time(() => net.forward(x224, { taps: [model.output] }), Number(process.env.RUNS || 5)));
  out.forwardBackward224 = median(
    await time(async () => {
      await net.forward(x224, { taps: [model.logits], grad: true });
      const seed = new Float32Array(1000);
      seed[243] = 1;
      await net.backward({ [model.logits]: Tensor.from(seed, [1, 1000]) });
    }, 3),
  );
  net.release();
  // 512x512 through the convolutional part (block5_pool), as style and dream use it.
  const x512 = Tensor.from(new Float32Array(512 * 512 * 3).map((_, i) => (i % 255) - 120), [1, 512, 512, 3]);
  const conv = featureGraph(model).compile();
  out.convForward512 = median(await time(() => conv.forward(x512, { taps: ['block5_pool'] }), 3));
  report(out);
})();
