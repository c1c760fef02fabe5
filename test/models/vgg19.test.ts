// Real pretrained VGG19 (TF.js layers model, uint8 weights) from ../shared
// against the reference runtime's outputs recorded in shared/DATA.md.
import * as fs from 'fs';
import * as path from 'path';

import { Tensor } from '../../src/ts';
import { Network } from '../../src/ts/nn/network';
import { toFullyConvolutional } from '../../src/ts/nn/rewrites/fcn';
import { loadTfjs } from '../../src/ts/models/tfjs';
import { LoadedModel } from '../../src/ts/models/types';
import { readF32, SHARED, top5 } from '../reference';

const shared = SHARED;
const ref = (f: string) => path.join(shared, 'reference', f);
const MEAN_BGR = [103.939, 116.779, 123.68];

/** Reference .rgb (HWC RGB uint8) -> Caffe-preprocessed NHWC BGR minus means. */
function caffeInput(file: string, h: number, w: number): Tensor {
  const rgb = fs.readFileSync(ref(`inputs/${file}`));
  const x = new Float32Array(h * w * 3);
  for (let i = 0; i < h * w; ++i) for (let c = 0; c < 3; ++c) x[i * 3 + c] = rgb[i * 3 + 2 - c] - MEAN_BGR[c];
  return Tensor.from(x, [1, h, w, 3]);
}

let model: LoadedModel;
let net: Network;

beforeAll(async () => {
  model = await loadTfjs(path.join(shared, 'models/vgg19-tfjs-uint8/model.json'));
  net = model.graph.compile();
});

test('keeps the Keras layer names and finds the logits', () => {
  expect(model.layers.slice(0, 3)).toEqual(['block1_conv1', 'block1_conv2', 'block1_pool']);
  expect(model.layers).toContain('block5_conv4');
  expect(model.logits).toBe('predictions/logits');
  expect(model.output).toBe('predictions');
  expect(net.paramNames()).toContain('block4_conv1/kernel');
  expect(net.param('block1_conv1/kernel').shape).toEqual([3, 3, 3, 64]);
});

const top = JSON.parse(fs.readFileSync(ref('top5.json'), 'utf8'));

test.each(['cat_dog_224', 'cats_and_dogs_224', 'tabby_cat_224', 'burger_224', 'grace_hopper_224'])(
  '%s: same top-5 as the reference and |Δlogit| < 1e-3',
  async (name) => {
    const out = await net.forward(caffeInput(`${name}.rgb`, 224, 224), { taps: [model.logits!, model.output] });
    const logits = out[model.logits!].data();
    const want = readF32(ref(`vgg19_uint8/${name}.logits.f32`));
    let worst = 0;
    for (let i = 0; i < 1000; ++i) worst = Math.max(worst, Math.abs(logits[i] - want[i]));
    expect(worst).toBeLessThan(1e-3);
    const probs = out[model.output].data();
    expect(top5(probs)).toEqual(top5(readF32(ref(`vgg19_uint8/${name}.prob.f32`))));
    // And against the hand-written list in top5.json, so a wrong reference file cannot hide a bug:
    // the indices listed there for VGG19 must be our top-5, in order.
    const entry = Object.entries(top[name] as Record<string, [number, string, number][]>).find(([k]) =>
      k.startsWith('vgg19_uint8'),
    );
    expect(entry).toBeDefined();
    expect(top5(probs)).toEqual(entry![1].map(([i]) => i));
  },
);

test.each([243, 282])('gradient of logit %i w.r.t. the input matches the reference (relative error < 1e-3)', async (cls) => {
  await net.forward(caffeInput('cat_dog_224.rgb', 224, 224), { taps: [model.logits!], grad: true });
  const seed = new Float32Array(1000);
  seed[cls] = 1;
  const { input } = await net.backward({ [model.logits!]: Tensor.from(seed, [1, 1000]) });
  const g = input!.data();
  const want = readF32(ref(`vgg19_uint8/cat_dog_224.grad_logit${cls}_wrt_input_bgr.f32`));
  expect(g.length).toBe(want.length);
  // ||g - want|| / ||want||: about 2e-7 with im2col convolutions, 2.3e-4 and 3.1e-4 with the
  // Winograd F(4x4,3x3) ones (fp32 transforms, 16 layers back); a cosine bound let a 14% error pass.
  let d2 = 0;
  let w2 = 0;
  for (let i = 0; i < g.length; ++i) {
    d2 += (g[i] - want[i]) ** 2;
    w2 += want[i] * want[i];
  }
  expect(w2).toBeGreaterThan(0);
  const rel = Math.sqrt(d2 / w2);
  // eslint-disable-next-line no-console
  console.log(`vgg19 d logit${cls} / d input: relative error ${rel.toExponential(2)}`);
  expect(rel).toBeLessThan(1e-3);
  net.release();
});

test('Gram matrices of block1_conv1 and block2_conv1 match the reference', async () => {
  const g = model.graph;
  // A fresh graph sharing the weights, with Gram taps added on top of the ReLU outputs.
  const { Graph } = await import('../../src/ts');
  const gg = Graph.fromNodes(g.nodes());
  gg.gram('gram1', 'block1_conv1');
  gg.gram('gram2', 'block2_conv1');
  const out = await gg.compile().forward(caffeInput('cat_dog_224.rgb', 224, 224), { taps: ['gram1', 'gram2'] });
  for (const [tap, file, c] of [
    ['gram1', 'block1_conv1', 64],
    ['gram2', 'block2_conv1', 128],
  ] as const) {
    const got = out[tap].data();
    const want = readF32(ref(`vgg19_uint8/cat_dog_224.${file}.gram_over_hw.f32`));
    expect(got.length).toBe(c * c);
    let worst = 0;
    for (let i = 0; i < got.length; ++i) worst = Math.max(worst, Math.abs(got[i] - want[i]) / Math.max(1, Math.abs(want[i])));
    // float32 sums over 50,176 pixels in another order than the reference's: ~1e-4 relative.
    expect(worst).toBeLessThan(5e-4);
  }
});

test('the fully convolutional VGG19 gives the reference 1x8 class map on the 448x224 input', async () => {
  const fcn = toFullyConvolutional(model);
  const out = await fcn.graph.compile().forward(caffeInput('cats_and_dogs_448x224.rgb', 224, 448), { taps: [fcn.logits!] });
  const map = out[fcn.logits!];
  expect(map.shape).toEqual([1, 1, 8, 1000]);
  const got = map.data();
  const want = readF32(ref('vgg19_uint8/cats_and_dogs_448x224.fcn_logits_1x8x1000.f32'));
  let worst = 0;
  for (let i = 0; i < got.length; ++i) worst = Math.max(worst, Math.abs(got[i] - want[i]));
  expect(worst).toBeLessThan(1e-3);
  // Column winners as DATA.md lists them: toy poodle (265) for 0-2, then Pembroke (263).
  const winners = Array.from({ length: 8 }, (_, j) => top5(got.subarray(j * 1000, (j + 1) * 1000))[0]);
  expect(winners).toEqual([265, 265, 265, 263, 263, 263, 263, 263]);
});
