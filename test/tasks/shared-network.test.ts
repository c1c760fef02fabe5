// Tasks share one compiled network per model (and backend): a classify that
// runs while a locate waits between its forward and its backward passes must
// not replace the activations the locate's backward reads.
import { Graph, Tensor } from '../../src/ts';
import { Model } from '../../src/ts/models/load';
import { classify } from '../../src/ts/tasks/classify';
import { locate } from '../../src/ts/tasks/locate';
import { randomData } from '../helpers';

// A small VGG-shaped network (conv, relu, pool twice, then dense layers) with 10 classes.
function tinyModel(): Model {
  const g = new Graph();
  let x = g.input('input', [-1, 32, 32, 3]);
  let cin = 3;
  [8, 16].forEach((c, i) => {
    const kernel = Tensor.from(randomData([3, 3, cin, c], 10 + i), [3, 3, cin, c]);
    x = g.relu(`conv${i}`, g.conv2d(`conv${i}/linear`, x, { kernel, padding: 'same' }));
    x = g.maxPool(`pool${i}`, x, { size: 4, strides: 4 });
    cin = c;
  });
  x = g.flatten('flatten', x);
  const logits = g.dense('logits', x, { kernel: Tensor.from(randomData([2 * 2 * 16, 10], 20), [64, 10]) });
  g.softmax('probs', logits);
  return {
    graph: g,
    input: 'input',
    inputShape: [-1, 32, 32, 3],
    output: 'probs',
    logits: 'logits',
    layers: ['conv0', 'pool0', 'conv1', 'pool1', 'logits', 'probs'],
    format: 'keras',
    name: 'tiny',
    preprocess: { kind: 'minus_one_one' },
    inputSize: [32, 32],
  };
}

function picture(seed: number) {
  const data = new Uint8Array(64 * 64 * 3);
  const r = randomData([data.length], seed);
  data.forEach((_, i) => (data[i] = Math.round(127 + 60 * Math.sin(i / 97) + 30 * r[i])));
  return { width: 64, height: 64, data };
}

test('classify interleaved with locate on the shared network leaves locate unchanged', async () => {
  const model = tinyModel();
  const img = picture(1);
  const opts = { model, size: 32, topK: 4, components: 2 };
  const alone = await locate(img, opts);
  const [together] = await Promise.all([
    locate(img, opts),
    ...[2, 3, 4, 5].map((s) => classify(picture(s), { model, anySize: true })),
  ]);
  expect(together.components.map((c) => c.eigenvalue)).toEqual(alone.components.map((c) => c.eigenvalue));
  expect(Array.from(together.classMasks[0])).toEqual(Array.from(alone.classMasks[0]));
});
