// TF.js layers models written here: uint8, uint16 and float16 weights decode
// to the values the manifest describes; broken files get clear errors.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { Tensor } from '../../src/ts';
import { loadTfjs } from '../../src/ts/models/tfjs';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'eyecandy-tfjs-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const topology = {
  class_name: 'Model',
  config: {
    layers: [
      { class_name: 'InputLayer', config: { name: 'in', batch_input_shape: [null, 2, 2, 1] }, inbound_nodes: [] },
      { class_name: 'Conv2D', config: { name: 'conv', padding: 'valid', activation: 'linear' }, inbound_nodes: [[['in', 0, 0, {}]]] },
      { class_name: 'Flatten', config: { name: 'flat' }, inbound_nodes: [[['conv', 0, 0, {}]]] },
      { class_name: 'Dense', config: { name: 'fc', activation: 'relu' }, inbound_nodes: [[['flat', 0, 0, {}]]] },
    ],
  },
};

function f16(v: number): number {
  // Exact for the small dyadic values used below.
  const sign = v < 0 ? 0x8000 : 0;
  const a = Math.abs(v);
  if (a === 0) return sign;
  const e = Math.floor(Math.log2(a));
  return sign | ((e + 15) << 10) | Math.round((a / 2 ** e - 1) * 1024);
}

/** Writes model.json + one shard: conv kernel uint8, conv bias float16, fc kernel uint16, fc bias float32. */
function writeModel(dir: string, opts: { dropShard?: boolean; truncate?: boolean; cuts?: number[] } = {}): string {
  fs.mkdirSync(dir, { recursive: true });
  const parts: Buffer[] = [];
  parts.push(Buffer.from([0, 1, 2, 255])); // conv/kernel [2,2,1,1] uint8: q*0.5 - 1 -> [-1, -0.5, 0, 126.5]
  const bias = Buffer.alloc(2);
  bias.writeUInt16LE(f16(0.75));
  parts.push(bias); // conv/bias [1] float16
  const k = Buffer.alloc(4);
  k.writeUInt16LE(1000, 0);
  k.writeUInt16LE(65535, 2);
  parts.push(k); // fc/kernel [1,2] uint16: q*0.001 - 2 -> [-1, 63.535]
  const b = Buffer.alloc(8);
  b.writeFloatLE(0.25, 0);
  b.writeFloatLE(-0.5, 4);
  parts.push(b); // fc/bias [2] float32
  let data = Buffer.concat(parts);
  if (opts.truncate) data = data.subarray(0, data.length - 3);
  // Shards cut at the given byte offsets (values may straddle two shards), else one shard.
  const edges = [0, ...(opts.cuts ?? []), data.length];
  const paths = edges.slice(1).map((_, i) => `group1-shard${i + 1}of${edges.length - 1}.bin`);
  if (!opts.dropShard) paths.forEach((p, i) => fs.writeFileSync(path.join(dir, p), data.subarray(edges[i], edges[i + 1])));
  const json = {
    format: 'layers-model',
    modelTopology: { model_config: topology },
    weightsManifest: [
      {
        paths,
        weights: [
          { name: 'conv/kernel', shape: [2, 2, 1, 1], dtype: 'float32', quantization: { dtype: 'uint8', scale: 0.5, min: -1 } },
          { name: 'conv/bias', shape: [1], dtype: 'float32', quantization: { dtype: 'float16' } },
          { name: 'fc/kernel', shape: [1, 2], dtype: 'float32', quantization: { dtype: 'uint16', scale: 0.001, min: -2 } },
          { name: 'fc/bias', shape: [2], dtype: 'float32' },
        ],
      },
    ],
  };
  const file = path.join(dir, 'model.json');
  fs.writeFileSync(file, JSON.stringify(json));
  return file;
}

test('uint8, uint16 and float16 weights dequantize as the manifest says', async () => {
  const model = await loadTfjs(writeModel(path.join(tmp, 'ok')));
  const net = model.graph.compile();
  expect(Array.from(net.param('conv/kernel').data())).toEqual([-1, -0.5, 0, 126.5]);
  expect(net.param('conv/bias').data()[0]).toBe(0.75);
  const fc = net.param('fc/kernel').data();
  expect(fc[0]).toBeCloseTo(-1, 5);
  expect(fc[1]).toBeCloseTo(63.535, 3);
  // x = [1,2,3,4]: conv = -1 - 1 + 0 + 506 + 0.75 = 504.75; fc = relu([504.75 * -1 + 0.25, 504.75 * 63.535 - 0.5])
  const out = await net.forward(Tensor.from([1, 2, 3, 4], [1, 2, 2, 1]));
  const y = out[model.output].data();
  expect(y[0]).toBe(0);
  expect(y[1]).toBeCloseTo(504.75 * 63.535 - 0.5, 0);
});

test('weights split across shards at any byte (mid-value included) decode the same', async () => {
  const whole = (await loadTfjs(writeModel(path.join(tmp, 'whole')))).graph.compile();
  // Cuts inside the uint8 kernel, inside the float16 bias, inside a uint16 and inside a float32 value.
  const cut = await loadTfjs(writeModel(path.join(tmp, 'cut'), { cuts: [1, 5, 7, 9, 13, 14] }));
  const net = cut.graph.compile();
  for (const name of ['conv/kernel', 'conv/bias', 'fc/kernel', 'fc/bias'])
    expect(Array.from(net.param(name).data())).toEqual(Array.from(whole.param(name).data()));
  expect(Array.from(net.param('fc/bias').data())).toEqual([0.25, -0.5]);
  await expect(loadTfjs(writeModel(path.join(tmp, 'cut-short'), { cuts: [3, 9], truncate: true }))).rejects.toThrow(
    'weight group 1 holds 15 bytes but its 4 weights need 18',
  );
});

test('a missing shard, a short shard, broken JSON and graph models get clear errors', async () => {
  const missing = writeModel(path.join(tmp, 'missing'), { dropShard: true });
  await expect(loadTfjs(missing)).rejects.toThrow(`tfjs: '${missing}' lists weight shard 'group1-shard1of1.bin' which cannot be read (ENOENT)`);
  const short = writeModel(path.join(tmp, 'short'), { truncate: true });
  await expect(loadTfjs(short)).rejects.toThrow(`tfjs: '${short}': weight group 1 holds 15 bytes but its 4 weights need 18`);
  const broken = path.join(tmp, 'broken.json');
  fs.writeFileSync(broken, '{"modelTopology": ');
  await expect(loadTfjs(broken)).rejects.toThrow(`tfjs: '${broken}' is not valid JSON`);
  const graphModel = path.join(tmp, 'graph.json');
  fs.writeFileSync(graphModel, JSON.stringify({ format: 'graph-model', modelTopology: {}, weightsManifest: [] }));
  await expect(loadTfjs(graphModel)).rejects.toThrow(`tfjs: '${graphModel}' is a TF.js graph model; eyecandy reads layers models (Keras topology)`);
  const notModel = path.join(tmp, 'other.json');
  fs.writeFileSync(notModel, JSON.stringify({ hello: 1 }));
  await expect(loadTfjs(notModel)).rejects.toThrow(`tfjs: '${notModel}' is not a TF.js layers model: expected modelTopology.model_config and weightsManifest`);
});
