// Every user-facing error has its text pinned here, and the process survives
// each one (the last test still computes).
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { Graph, Tensor } from '../src/ts';
import { addon } from '../src/ts/native';

const img = () => Tensor.zeros([1, 4, 4, 3]);

test('mismatched shapes name the op, the node and both shapes', async () => {
  const g = new Graph();
  const x = g.input('x');
  g.conv2d('conv', x, { kernel: Tensor.zeros([3, 3, 4, 8]) });
  await expect(g.compile().forward(img())).rejects.toThrow(
    "node 'conv': conv2d: input has 3 channels but filter expects 4 (filter [3,3,4,8], groups 1)",
  );
  const g2 = new Graph();
  g2.add('sum', g2.input('a'), g2.input('b'));
  await expect(g2.compile().forward({ a: Tensor.zeros([2, 3]), b: Tensor.zeros([4]) })).rejects.toThrow(
    "node 'sum': add: shapes [2,3] and [4] do not broadcast (dimension 1: 3 vs 4)",
  );
  const g3 = new Graph();
  g3.maxPool('p', g3.input('x'), { size: 5 });
  await expect(g3.compile().forward(img())).rejects.toThrow(
    "node 'p': max_pool: window of 5 does not fit input height 4 padded to 4",
  );
});

test('declared input shapes are enforced', async () => {
  const g = new Graph();
  g.relu('r', g.input('image', [-1, -1, -1, 3]));
  await expect(g.compile().forward(Tensor.zeros([1, 2, 2, 4]))).rejects.toThrow(
    "forward: input 'image' expects shape [-1,-1,-1,3] (-1 = any) but received [1,2,2,4]",
  );
});

test('negative sizes and bad shapes', () => {
  expect(() => Tensor.zeros([2, -1])).toThrow('tensor: Expected integer between 0 and 2147483647 for shape[1] but received -1 of type number');
  expect(() => Tensor.from([1, 2, 3], [2, 2])).toThrow('tensor: shape [2,2] holds 4 values but data has 3');
  const g = new Graph();
  expect(() => g.reshape('r', g.input('x'), [2, -3])).toThrow('reshape: Expected integer between -1 and 2147483647 for shape[1] but received -3 of type number');
  expect(() => g.pad('p', 'x', { pads: [1, -1] })).toThrow('pad: Expected integer between 0 and 65536 for pads[1] but received -1 of type number');
});

test('NaN and out-of-range attributes', () => {
  const g = new Graph();
  const x = g.input('x');
  expect(() => g.leakyRelu('l', x, { alpha: NaN })).toThrow('leaky_relu: Expected finite number for alpha but received NaN of type number');
  expect(() => g.conv2d('c', x, { kernel: Tensor.zeros([1, 1, 1, 1]), strides: [1, NaN] })).toThrow(
    'conv2d: Expected integer between 1 and 1024 for strides[1] but received NaN of type number',
  );
  expect(() => g.conv2d('c', x, { kernel: Tensor.zeros([1, 1, 1, 1]), groups: 0 })).toThrow(
    'conv2d: Expected integer between 1 and 65536 for groups but received 0 of type number',
  );
  expect(() => g.clip('c', x, { min: 1, max: 0 })).toThrow('clip: Expected number >= min (1) for max but received 0 of type number');
  expect(() => g.lrn('n', x, { bias: 0 })).toThrow('lrn: Expected number >= 5e-324 for bias but received 0 of type number');
  expect(() => g.resizeBilinear('z', x, { height: 0, width: 2 })).toThrow('resize_bilinear: Expected integer between 1 and 65536 for height but received 0 of type number');
  expect(() => g.pad('p', x, { pads: [1, 1], mode: 'wrap' as never })).toThrow("pad: Expected one of 'constant', 'reflect', 'edge' for mode but received 'wrap' of type string");
  expect(() => g.relu('r', 'nope')).toThrow("relu: Expected the name of an earlier node for input 0 but received 'nope' of type string");
  expect(() => g.relu('x', x)).toThrow("graph: node name 'x' is used twice");
});

test('wrong dtype arrays', () => {
  expect(() => Tensor.from(new Float64Array(4) as never, [4])).toThrow(
    'tensor: Expected Float32Array or number[] for data but received Float64Array of type object',
  );
  expect(() => new (addon().NativeTensor)(new Int32Array(4) as never, [4])).toThrow('tensor: expected a Float32Array for data');
});

test('disposed tensors', async () => {
  const t = Tensor.zeros([1, 2, 2, 3]);
  t.dispose();
  expect(() => t.data()).toThrow('data: the tensor was disposed');
  const g = new Graph();
  g.relu('r', g.input('x'));
  const net = g.compile();
  await expect(net.forward(t)).rejects.toThrow('forward input: the tensor was disposed');
  expect(() => g.param('w', t)).toThrow("param 'w': the tensor was disposed");
  net.dispose();
  await expect(net.forward(img())).rejects.toThrow('forward: the network was disposed');
});

test('bad backend, taps and backward calls', async () => {
  const g = new Graph();
  g.relu('r', g.input('x'));
  expect(() => g.compile({ backend: 'tpu' as never })).toThrow(
    "compile: Expected one of 'cpu', 'cuda', 'auto' for backend but received 'tpu' of type string",
  );
  const net = g.compile();
  await expect(net.forward(img(), { taps: ['missing'] })).rejects.toThrow("forward: no node named 'missing'");
  await expect(net.backward({ r: 1 })).rejects.toThrow("backward: 'r' was not a tap of the last forward");
  await net.forward(img(), { taps: ['r'] });
  await expect(net.backward({ r: 1 })).rejects.toThrow('backward: no retained forward pass; call forward with keep (grad) enabled first');
  await net.forward(img(), { taps: ['r'], grad: true });
  await expect(net.backward({ r: Tensor.zeros([3]) })).rejects.toThrow(
    "backward: gradient for 'r' has shape [3] but the tap has [1,4,4,3]",
  );
  await expect(net.backward({ r: NaN })).rejects.toThrow("backward: Expected a Tensor or a finite number for gradient 'r' but received NaN of type number");
});

test('the CUDA backend says why it cannot run, and auto falls back to the CPU', () => {
  const info = addon().info();
  const g = new Graph();
  g.relu('r', g.input('x'));
  if (info.cuda.deviceCount === 0) {
    expect(() => g.compile({ backend: 'cuda' })).toThrow(/^cuda backend: (no CUDA device|not compiled)/);
    expect(g.compile({ backend: 'auto' }).backend).toBe('cpu');
  } else {
    expect(g.compile({ backend: 'auto' }).backend).toBe('cuda');
  }
});

test('device tensors: a bad device name, or no GPU, is a clear error; a disposed network refuses calls', async () => {
  const t = Tensor.from([1, 2, 3], [3]);
  expect(() => t.to('gpu' as never)).toThrow("to: Expected 'cpu' or 'cuda' for device but received 'gpu' of type string");
  expect(t.to('cpu')).toBe(t);
  expect(t.device).toBe('cpu');
  if (addon().info().cuda.deviceCount === 0) {
    expect(() => t.to('cuda')).toThrow(/^cuda backend: (no CUDA device|not compiled)/);
    expect(() => Tensor.zeros([2], 'cuda')).toThrow(/^cuda backend: (no CUDA device|not compiled)/);
  }
  const g = new Graph();
  g.relu('r', g.input('x'));
  const net = g.compile();
  net.dispose();
  await expect(net.forward(t)).rejects.toThrow('forward: the network was disposed');
  t.dispose();
});

test('raw addon calls that once crashed the process now throw', () => {
  const { NativeTensor } = addon();
  expect(() => new (NativeTensor as unknown as new () => unknown)()).toThrow('tensor: expected (data: Float32Array, shape: number[])');
  expect(() => new NativeTensor(new Float32Array([1]), [1]).reshape([-1, -1])).toThrow('reshape: cannot view [1] as [-1,-1]');
  expect(() => new NativeTensor(new Float32Array(0), [2 ** 31, 2, 2 ** 31, 2])).toThrow(
    'tensor: shape [2147483648,2,2147483648,2] has more than 2^48 elements',
  );
});

test('a reshape to an impossibly large shape is refused before any kernel runs', async () => {
  const g = new Graph();
  g.reshape('r', g.input('x'), [2 ** 30, 4, 2 ** 30, 4]); // 2^64 elements: wraps to 0 unchecked
  g.maxPool('p', 'r', { size: 1 });
  await expect(g.compile().forward(Tensor.zeros([0]))).rejects.toThrow(/^node 'r': reshape: target \[1073741824,4,1073741824,4\] has more than 2\^48 elements/);
});

test('the addon works in a worker thread and keeps working in the main thread after it exits', async () => {
  const { Worker } = await import('worker_threads');
  const t = Tensor.from([1, 2, 3], [3]);
  // The worker loads the addon, uses it, and reports; a failure there must fail here (exit code and message).
  const src = `
    const { parentPort } = require('worker_threads');
    const addon = require(${JSON.stringify(require('../src/ts/native').addonPath())});
    parentPort.postMessage(typeof addon === 'object' && addon !== null ? Object.keys(addon).length : -1);`;
  const { code, keys } = await new Promise<{ code: number; keys: number }>((resolve, reject) => {
    let keys = -1;
    const w = new Worker(src, { eval: true });
    w.on('message', (m: number) => (keys = m));
    w.on('error', reject);
    w.on('exit', (code) => resolve({ code, keys }));
  });
  expect(code).toBe(0);
  expect(keys).toBeGreaterThan(0);
  expect(Array.from(t.clone().data())).toEqual([1, 2, 3]);
});

test('EYECANDY_ADDON naming a missing or broken file is an error, not a silent fallback to the default build', () => {
  const saved = process.env.EYECANDY_ADDON;
  const fresh = (): typeof import('../src/ts/native') => {
    let m: typeof import('../src/ts/native') | undefined;
    jest.isolateModules(() => {
      m = require('../src/ts/native');
    });
    return m!;
  };
  try {
    process.env.EYECANDY_ADDON = '/nonexistent/eyecandy.node';
    const missing = fresh();
    expect(() => missing.addon()).toThrow(
      "eyecandy: EYECANDY_ADDON='/nonexistent/eyecandy.node' cannot be loaded (/nonexistent/eyecandy.node: no such file); unset it to use the default build",
    );
    expect(missing.addonPath()).toBe('');
    const junk = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'eyecandy-addon-')), 'eyecandy.node');
    fs.writeFileSync(junk, 'not a shared library');
    try {
      process.env.EYECANDY_ADDON = junk; // exists, but is no addon
      expect(() => fresh().addon()).toThrow(/^eyecandy: EYECANDY_ADDON='.*eyecandy\.node' cannot be loaded \(.*eyecandy\.node: .+\)/);
    } finally {
      fs.rmSync(path.dirname(junk), { recursive: true, force: true });
    }
    process.env.EYECANDY_ADDON = __dirname;
    expect(() => fresh().addon()).toThrow(/cannot be loaded \(.*: not a file\)/);
  } finally {
    if (saved === undefined) delete process.env.EYECANDY_ADDON;
    else process.env.EYECANDY_ADDON = saved;
  }
});

test('the process is still healthy after all of the above', async () => {
  const g = new Graph();
  g.sumSquares('s', g.input('x'));
  const out = await g.compile().forward(Tensor.from([1, 2, 3], [3]));
  expect(out.s.item()).toBe(14);
});
