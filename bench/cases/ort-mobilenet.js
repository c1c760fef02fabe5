// onnxruntime-node (CPU): the same MobileNet ONNX file, NCHW input.
const path = require('path');
const { shared, time, median, report } = require('./common');
const ort = require('onnxruntime-node');

(async () => {
  const t0 = process.hrtime.bigint();
  const session = await ort.InferenceSession.create(path.join(shared, 'models/mobilenet_v1_0.25_224/mobilenet_v1_0.25_224.onnx'));
  const loadMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const x = new ort.Tensor('float32', new Float32Array(3 * 224 * 224).map((_, i) => ((i % 255) - 127) / 128), [1, 3, 224, 224]);
  const forward224 = median(await time(() => session.run({ [session.inputNames[0]]: x }), 30, 3));
  report({ case: 'ort-mobilenet', loadMs, forward224 });
})();
