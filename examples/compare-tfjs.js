#!/usr/bin/env node
// The same VGG19 (TF.js layers model, uint8-quantized weights) run by eyecandy and by
// @tensorflow/tfjs (its pure-JS CPU backend) on the same input bits: both top-5 lists, the largest
// |Δ probability|, and each one's time.
//
//   node examples/compare-tfjs.js [IMAGE]            # the whole network at 224 px (tfjs: ~25 s)
//   node examples/compare-tfjs.js --small [IMAGE]    # CI size: blocks 1-2 (up to block2_pool) at 64 px
//
// Needs `npm install @tensorflow/tfjs` (a devDependency of this repository). The model comes from
// the zoo (vgg19-uint8), or from EYECANDY_MIRROR / EYECANDY_CACHE when set.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const tf = require('@tensorflow/tfjs');
const { featureGraph, fetchModel, loadModel, readImage, resizeImage, Tensor } = require('eyecandy');

const args = process.argv.slice(2);
const small = args.includes('--small') || process.env.EYECANDY_EXAMPLE_SMALL === '1';
const shared = process.env.EYECANDY_SHARED ?? path.resolve(__dirname, '../../shared');
const image = args.find((a) => !a.startsWith('--')) ?? path.join(shared, 'images/photos/tabby_cat_224.bmp');
const SIZE = small ? 64 : 224;
const TAP = 'block2_pool';

/** Caffe preprocessing, as the model says: RGB -> BGR, minus the per-channel means. */
function preprocess(img, meanBgr) {
  const out = new Float32Array(img.width * img.height * 3);
  for (let i = 0; i < img.width * img.height; ++i) {
    out[3 * i] = img.data[3 * i + 2] - meanBgr[0];
    out[3 * i + 1] = img.data[3 * i + 1] - meanBgr[1];
    out[3 * i + 2] = img.data[3 * i] - meanBgr[2];
  }
  return out;
}

/** The TF.js model from the model.json and its weight shards. */
async function loadTfjsModel(modelJson) {
  const dir = path.dirname(modelJson);
  const json = JSON.parse(fs.readFileSync(modelJson, 'utf8'));
  const data = Buffer.concat(json.weightsManifest.flatMap((g) => g.paths.map((p) => fs.readFileSync(path.join(dir, p)))));
  return tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest.flatMap((g) => g.weights),
      weightData: data.buffer.slice(data.byteOffset, data.byteOffset + data.length),
    }),
  );
}

const top5 = (p, labels) =>
  Array.from(p.keys())
    .sort((a, b) => p[b] - p[a])
    .slice(0, 5)
    .map((i) => ({ index: i, label: labels ? labels[i] : `class ${i}`, probability: p[i] }));

async function timed(fn) {
  const t0 = process.hrtime.bigint();
  const value = await fn();
  return { value, ms: Number(process.hrtime.bigint() - t0) / 1e6 };
}

async function main() {
  await tf.setBackend('cpu');
  const model = await loadModel('vgg19-uint8');
  const modelJson = await fetchModel('vgg19-uint8'); // the same files, now in the cache
  const tfModel = await loadTfjsModel(modelJson);

  const img = await resizeImage(await readImage(image), { width: SIZE, height: SIZE, mode: 'squash' });
  const input = preprocess(img, model.preprocess.meanBgr);
  const shape = [1, SIZE, SIZE, 3];
  console.log(`${path.basename(image)} at ${SIZE}x${SIZE}; ${small ? `features up to ${TAP}` : 'the whole network'}`);

  let ours, theirs;
  if (small) {
    // Both networks cut at the same layer, the input size freed.
    const net = featureGraph(model).compile({ backend: 'cpu' });
    const x = Tensor.from(input, shape);
    ours = await timed(async () => {
      const r = await net.forward(x, { taps: [TAP] });
      return r[TAP].data();
    });
    const inp = tf.input({ shape: [null, null, 3] });
    let y = inp;
    for (const layer of tfModel.layers) {
      if (layer.getClassName() === 'InputLayer') continue;
      y = layer.apply(y);
      if (layer.name === TAP) break;
    }
    const cut = tf.model({ inputs: inp, outputs: y });
    theirs = await timed(async () => tf.tidy(() => cut.predict(tf.tensor4d(input, shape))).data());
  } else {
    const net = model.graph.compile({ backend: 'cpu' });
    const x = Tensor.from(input, shape);
    ours = await timed(async () => (await net.forward(x))[model.output].data());
    theirs = await timed(async () => tf.tidy(() => tfModel.predict(tf.tensor4d(input, shape))).data());
  }

  let maxDiff = 0;
  let maxAbs = 0;
  for (let i = 0; i < ours.value.length; ++i) {
    maxDiff = Math.max(maxDiff, Math.abs(ours.value[i] - theirs.value[i]));
    maxAbs = Math.max(maxAbs, Math.abs(theirs.value[i]));
  }
  if (!small) {
    for (const [who, r] of [['eyecandy', ours], ['tfjs', theirs]]) {
      console.log(`${who} top-5:`);
      for (const c of top5(r.value, model.labels)) console.log(`  ${(100 * c.probability).toFixed(2).padStart(6)}%  ${String(c.index).padStart(4)}  ${c.label}`);
    }
    console.log(`max |Δprob| ${maxDiff.toExponential(2)}`);
  } else {
    console.log(`${TAP}: ${ours.value.length} values, max |Δ| ${maxDiff.toExponential(2)} of max |value| ${maxAbs.toFixed(1)} (relative ${(maxDiff / maxAbs).toExponential(2)})`);
  }
  console.log(`time: eyecandy ${ours.ms.toFixed(0)} ms, tfjs ${theirs.ms.toFixed(0)} ms (${(theirs.ms / ours.ms).toFixed(1)}x)`);
}

main().catch((err) => {
  console.error(`compare-tfjs: ${err.message}`);
  process.exitCode = 1;
});
