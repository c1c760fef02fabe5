// Keras HDF5: files written here with h5wasm in Keras's own layout (a full
// model with model_config, and a weights-only file like keras-applications'),
// loaded back and compared with the same network built through the Graph API.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { Graph, Tensor } from '../../src/ts';
import { vggConfig } from '../../src/ts/models/keras/architectures';
import { h5wasm, loadKerasH5 } from '../../src/ts/models/keras/h5';
import { randomData } from '../helpers';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'eyecandy-h5-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const config = {
  class_name: 'Model',
  config: {
    layers: [
      { class_name: 'InputLayer', config: { name: 'input_1', batch_input_shape: [null, 8, 8, 3] }, inbound_nodes: [] },
      { class_name: 'Conv2D', config: { name: 'conv1', padding: 'same', activation: 'relu' }, inbound_nodes: [[['input_1', 0, 0, {}]]] },
      { class_name: 'MaxPooling2D', config: { name: 'pool1', pool_size: [2, 2], strides: [2, 2] }, inbound_nodes: [[['conv1', 0, 0, {}]]] },
      { class_name: 'Flatten', config: { name: 'flatten' }, inbound_nodes: [[['pool1', 0, 0, {}]]] },
      { class_name: 'Dense', config: { name: 'predictions', activation: 'softmax' }, inbound_nodes: [[['flatten', 0, 0, {}]]] },
    ],
  },
};
const W = {
  'conv1/kernel': { shape: [3, 3, 3, 4], data: randomData([3, 3, 3, 4], 1) },
  'conv1/bias': { shape: [4], data: randomData([4], 2) },
  'predictions/kernel': { shape: [64, 5], data: randomData([64, 5], 3) },
  'predictions/bias': { shape: [5], data: randomData([5], 4) },
};

async function writeKeras(file: string, weightsOnly: boolean): Promise<void> {
  const h5 = (await h5wasm()) as unknown as {
    File: new (p: string, m: string) => {
      create_attribute(n: string, v: unknown): void;
      create_group(n: string): void;
      get(n: string): { create_attribute(n: string, v: unknown): void; create_group(n: string): void; get(n: string): any; create_dataset(o: unknown): void };
      close(): void;
    };
    ready: Promise<{ FS: { readFile(p: string): Uint8Array; unlink(p: string): void } }>;
  };
  const { FS } = await h5.ready;
  const mem = `/write-${path.basename(file)}`;
  const f = new h5.File(mem, 'w');
  let root: ReturnType<typeof f.get> | typeof f = f;
  if (!weightsOnly) {
    f.create_attribute('model_config', JSON.stringify(config));
    f.create_attribute('keras_version', '2.2.4');
    f.create_group('model_weights');
    root = f.get('model_weights');
  }
  root.create_attribute('layer_names', ['conv1', 'pool1', 'flatten', 'predictions']);
  for (const layer of ['conv1', 'pool1', 'flatten', 'predictions']) {
    root.create_group(layer);
    const g = root.get(layer);
    const names = Object.keys(W).filter((k) => k.startsWith(`${layer}/`));
    if (!names.length) continue; // weightless layers: the loader never reads them
    // Keras saves weight names with a ':0' suffix under a group named like the layer.
    g.create_attribute('weight_names', names.map((n) => `${n}:0`));
    g.create_group(layer);
    for (const n of names) {
      const w = W[n as keyof typeof W];
      g.get(layer).create_dataset({ name: `${n.split('/')[1]}:0`, data: w.data, shape: w.shape });
    }
  }
  f.close();
  fs.writeFileSync(file, FS.readFile(mem));
  FS.unlink(mem);
}

async function reference(x: Tensor): Promise<Float32Array> {
  const g = new Graph();
  const i = g.input('x');
  g.conv2d('c', i, { kernel: Tensor.from(W['conv1/kernel'].data, [3, 3, 3, 4]), bias: Tensor.from(W['conv1/bias'].data, [4]), padding: 'same' });
  g.relu('r', 'c');
  g.maxPool('p', 'r', { size: 2 });
  g.flatten('f', 'p');
  g.dense('d', 'f', { kernel: Tensor.from(W['predictions/kernel'].data, [64, 5]), bias: Tensor.from(W['predictions/bias'].data, [5]) });
  g.softmax('s', 'd');
  return (await g.compile().forward(x)).s.data();
}

test('a full Keras model file loads with its layer names and computes like the Graph API', async () => {
  const file = path.join(tmp, 'full.h5');
  await writeKeras(file, false);
  const model = await loadKerasH5(file);
  expect(model.format).toBe('keras');
  expect(model.layers).toEqual(['conv1', 'pool1', 'predictions']);
  expect(model.logits).toBe('predictions/logits');
  const x = Tensor.from(randomData([1, 8, 8, 3], 9), [1, 8, 8, 3]);
  const got = (await model.graph.compile().forward(x)).predictions.data();
  const want = await reference(x);
  Array.from(got).forEach((v, i) => expect(v).toBeCloseTo(want[i], 6));
});

test('a weights-only file loads with an architecture, and refuses without one', async () => {
  const file = path.join(tmp, 'weights.h5');
  await writeKeras(file, true);
  await expect(loadKerasH5(file)).rejects.toThrow(`keras: '${file}' holds weights only (no model_config)`);
  const model = await loadKerasH5(file, { architecture: config });
  const x = Tensor.from(randomData([1, 8, 8, 3], 5), [1, 8, 8, 3]);
  const got = (await model.graph.compile().forward(x)).predictions.data();
  const want = await reference(x);
  Array.from(got).forEach((v, i) => expect(v).toBeCloseTo(want[i], 6));
});

test('an HDF5 file of another network gets a clear error', async () => {
  const file = path.join(tmp, 'other.h5');
  await writeKeras(file, true);
  await expect(loadKerasH5(file, { architecture: vggConfig(16) })).rejects.toThrow(
    `keras: '${file}' has no weights for layer 'block1_conv1' (the file's layers: conv1, pool1, flatten, predictions); is it a file for another network?`,
  );
});

test('corrupt, truncated and non-HDF5 files get clear errors', async () => {
  const full = path.join(tmp, 'full2.h5');
  await writeKeras(full, false);
  const truncated = path.join(tmp, 'truncated.h5');
  fs.writeFileSync(truncated, fs.readFileSync(full).subarray(0, 1200));
  await expect(loadKerasH5(truncated)).rejects.toThrow(`keras: '${truncated}' is truncated or corrupt (HDF5:`);
  const text = path.join(tmp, 'model.h5');
  fs.writeFileSync(text, 'not hdf5 at all');
  await expect(loadKerasH5(text)).rejects.toThrow(`keras: '${text}' is not an HDF5 file (no HDF5 signature)`);
  await expect(loadKerasH5(path.join(tmp, 'missing.h5'))).rejects.toThrow(`keras: '${path.join(tmp, 'missing.h5')}' cannot be read (ENOENT)`);
});
