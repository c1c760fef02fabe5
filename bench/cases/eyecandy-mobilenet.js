// eyecandy: MobileNet v1 0.25 (ONNX) forward at 224, batch 1.
const path = require('path');
const { shared, time, median, report } = require('./common');
const { Tensor } = require('../../dist');
const { loadOnnx } = require('../../dist/models/onnx');

(async () => {
  const t0 = process.hrtime.bigint();
  const model = await loadOnnx(path.join(shared, 'models/mobilenet_v1_0.25_224/mobilenet_v1_0.25_224.onnx'));
  const net = model.graph.compile();
  const loadMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const x = Tensor.from(new Float32Array(224 * 224 * 3).map((_, i) => ((i % 255) - 127) / 128), [1, 224, 224, 3]);
  const forward224 = median(await time(() => net.forward(x, { taps: [model.output] }), 30, 3));
  report({ case: 'eyecandy-mobilenet', loadMs, forward224 });
})();
