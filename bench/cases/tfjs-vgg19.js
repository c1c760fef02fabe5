// @tensorflow/tfjs (pure-JS CPU backend, the one that installs here): the same VGG19 model.json.
const fs = require('fs');
const path = require('path');
const { shared, time, median, report } = require('./common');
const tf = require('@tensorflow/tfjs');

(async () => {
  await tf.setBackend('cpu');
  const dir = path.join(shared, 'models/vgg19-tfjs-uint8');
  const t0 = process.hrtime.bigint();
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  const shards = json.weightsManifest[0].paths.map((p) => fs.readFileSync(path.join(dir, p)));
  const data = Buffer.concat(shards);
  const model = await tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest[0].weights,
      weightData: data.buffer.slice(data.byteOffset, data.byteOffset + data.length),
    }),
  );
  const loadMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const out = { case: 'tfjs-vgg19', backend: tf.getBackend(), loadMs, loadPeakRssMB: Math.round(process.resourceUsage().maxRSS / 1024) };
  const x = tf.randomUniform([1, 224, 224, 3], -120, 120);
  out.forward224 = median(await time(async () => tf.tidy(() => model.predict(x)).dataSync(), Number(process.env.TFJS_RUNS || 1), 0));
  report(out);
})();
