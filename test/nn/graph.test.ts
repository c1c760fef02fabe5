// A network built through the public API: conv -> relu -> maxpool -> conv ->
// gram -> loss against a target, checked end to end against finite differences;
// plus taps, truncation, parameters, Sequential and tidy().
import { Graph, Sequential, Tensor, tidy } from '../../src/ts';
import { numericCheck, randomData } from '../helpers';

function styleNet(seed: number) {
  const g = new Graph();
  const x = g.input('image', [1, -1, -1, 3]);
  g.conv2d('conv1', x, { kernel: Tensor.from(randomData([3, 3, 3, 6], seed), [3, 3, 3, 6]), bias: Tensor.from(randomData([6], seed + 1), [6]), padding: 'same' });
  g.relu('relu1', 'conv1');
  g.maxPool('pool1', 'relu1', { size: 2 });
  g.conv2d('conv2', 'pool1', { kernel: Tensor.from(randomData([3, 3, 6, 4], seed + 2), [3, 3, 6, 4]), padding: 'same' });
  g.gram('gram2', 'conv2');
  g.param('target', Tensor.from(randomData([1, 4, 4], seed + 3), [1, 4, 4]));
  g.mseLoss('loss', 'gram2', 'target');
  return g;
}

test('input gradient of conv-relu-pool-conv-gram-mse matches central finite differences', async () => {
  const net = styleNet(5).compile({ backend: 'cpu' });
  expect(net.backend).toBe('cpu');
  const shape = [1, 8, 8, 3];
  const img = randomData(shape, 42);
  const out = await net.forward(Tensor.from(img, shape), { taps: ['loss'], grad: true });
  expect(out.loss.shape).toEqual([]);
  const { input } = await net.backward({ loss: 1 });
  expect(input!.shape).toEqual(shape);
  const objective = async (d: Float32Array) => (await net.forward(Tensor.from(d, shape), { taps: ['loss'] })).loss.item();
  const { worst, detail } = await numericCheck(objective, img, input!.data(), 1e-2, 40);
  expect(worst < 2e-2 ? 'ok' : `${worst} ${detail}`).toBe('ok');
});

test('forward computes only what the taps need and returns every tap', async () => {
  const g = styleNet(1);
  // A branch that cannot run on this input (4 channels expected) is never reached by the taps below.
  g.conv2d('broken', 'image', { kernel: Tensor.zeros([1, 1, 4, 1]) });
  const net = g.compile();
  const out = await net.forward(Tensor.from(randomData([1, 6, 6, 3], 3), [1, 6, 6, 3]), { taps: ['relu1', 'pool1', 'loss'] });
  expect(out.relu1.shape).toEqual([1, 6, 6, 6]);
  expect(out.pool1.shape).toEqual([1, 3, 3, 6]);
  expect(Math.min(...out.relu1.data())).toBeGreaterThanOrEqual(0);
  await expect(net.forward(Tensor.zeros([1, 6, 6, 3]), { taps: ['broken'] })).rejects.toThrow(
    "node 'broken': conv2d: input has 3 channels but filter expects 4",
  );
  expect(styleNet(1).compile().inferShapes({ image: [1, 10, 12, 3] }).gram2).toEqual([1, 4, 4]);
});

test('gradients given at several taps add up', async () => {
  const g = new Graph();
  const x = g.input('x', [3]);
  g.sumSquares('a', x);
  g.tanh('t', x);
  g.sumSquares('b', 't');
  const net = g.compile();
  const xs = [0.3, -0.7, 1.2];
  await net.forward(Tensor.from(xs, [3]), { taps: ['a', 'b'], grad: true });
  const { input } = await net.backward({ a: 1, b: 2 });
  const want = xs.map((v) => 2 * v + 2 * 2 * Math.tanh(v) * (1 - Math.tanh(v) ** 2));
  Array.from(input!.data()).forEach((v, i) => expect(v).toBeCloseTo(want[i], 5));
});

test('memory plan: forward without grad keeps nothing; with grad it keeps what backward reads', async () => {
  const net = styleNet(2).compile();
  const img = Tensor.from(randomData([1, 16, 16, 3], 1), [1, 16, 16, 3]);
  await net.forward(img, { taps: ['loss'], grad: true });
  // The conv1 output feeds only relu (which reads its own output), so it is not kept:
  // retained = image + relu1 + pool1 + conv2 + gram2 (the target is a param, not counted).
  const floats = 16 * 16 * 3 + 16 * 16 * 6 + 8 * 8 * 6 + 8 * 8 * 4 + 16;
  expect(net.memory().retained).toBe(floats * 4);
  await net.forward(img, { taps: ['loss'] });
  expect(net.memory().retained).toBe(0);
  expect(net.memory().pool).toBeGreaterThan(0);
  net.release();
  expect(net.memory().retained).toBe(0);
  await expect(net.backward({ loss: 1 })).rejects.toThrow('backward: no retained forward pass');
});

test('parameters by name: read, replace, and gradients', async () => {
  const g = styleNet(3);
  const net = g.compile();
  expect(net.paramNames()).toEqual(['conv1/kernel', 'conv1/bias', 'conv2/kernel', 'target']);
  expect(net.param('conv1/bias').shape).toEqual([6]);
  net.setParam('conv1/bias', Tensor.from([1, 2, 3, 4, 5, 6], [6]));
  expect(Array.from(net.param('conv1/bias').data())).toEqual([1, 2, 3, 4, 5, 6]);
  expect(() => net.setParam('conv1/bias', Tensor.zeros([5]))).toThrow(
    "setParam: parameter 'conv1/bias' has shape [6] but the new value has [5]",
  );
  await net.forward(Tensor.from(randomData([1, 4, 4, 3], 9), [1, 4, 4, 3]), { taps: ['loss'], grad: true });
  const grads = await net.backward({ loss: 1 }, { params: ['conv2/kernel'], inputs: false });
  expect(Object.keys(grads.params)).toEqual(['conv2/kernel']);
  expect(grads.params['conv2/kernel'].shape).toEqual([3, 3, 6, 4]);
  expect(grads.input).toBeUndefined();
});

test('Sequential builds the same chain', async () => {
  const s = new Sequential('image', [-1, 4, 4, 2]);
  s.conv2d('c', { kernel: Tensor.from(randomData([1, 1, 2, 3], 1), [1, 1, 2, 3]) }).relu('r').globalAvgPool('gap').flatten('f');
  s.dense('fc', { kernel: Tensor.from(randomData([3, 2], 2), [3, 2]) }).softmax('p');
  const out = await s.compile().forward(Tensor.from(randomData([2, 4, 4, 2], 3), [2, 4, 4, 2]));
  expect(out.p.shape).toEqual([2, 2]);
  const p = out.p.data();
  expect(p[0] + p[1]).toBeCloseTo(1, 6);
});

test('tidy disposes what it created, across awaits, and keeps what it returns', async () => {
  const net = styleNet(4).compile();
  let inner: Tensor | undefined;
  const kept = await tidy(async () => {
    inner = Tensor.zeros([1, 4, 4, 3]);
    const out = await net.forward(inner, { taps: ['gram2', 'loss'] });
    return out.loss;
  });
  expect(inner!.isDisposed).toBe(true);
  expect(kept.isDisposed).toBe(false);
  expect(Number.isFinite(kept.item())).toBe(true);
  const sync = tidy(() => {
    Tensor.zeros([2]);
    return [Tensor.zeros([3])];
  });
  expect(sync[0].isDisposed).toBe(false);
});

test('inference fuses conv + relu/clip without changing results', async () => {
  const g = new Graph();
  const x = g.input('x', [1, -1, -1, 3]);
  g.conv2d('c1', x, { kernel: Tensor.from(randomData([3, 3, 3, 4], 1), [3, 3, 3, 4]), bias: Tensor.from(randomData([4], 2), [4]), padding: 'same' });
  g.relu('r1', 'c1');
  g.conv2d('c2', 'r1', { kernel: Tensor.from(randomData([3, 3, 1, 4], 3), [3, 3, 1, 4]), groups: 4, padding: 'same' });
  g.clip('r2', 'c2', { min: -0.1, max: 0.2 });
  g.conv2d('c3', 'r2', { kernel: Tensor.from(randomData([1, 1, 4, 5], 4), [1, 1, 4, 5]) });
  g.relu6('r3', 'c3');
  const net = g.compile();
  const img = Tensor.from(randomData([1, 9, 7, 3], 5), [1, 9, 7, 3]);
  const fused = await net.forward(img, { taps: ['r1', 'r2', 'r3'] });
  // Tapping the convs too (or keeping activations for backward) turns fusion off.
  const plain = await net.forward(img, { taps: ['c1', 'r1', 'c2', 'r2', 'c3', 'r3'] });
  const kept = await net.forward(img, { taps: ['r3'], grad: true });
  for (const t of ['r1', 'r2', 'r3']) expect(Array.from(fused[t].data())).toEqual(Array.from(plain[t].data()));
  expect(Array.from(kept.r3.data())).toEqual(Array.from(fused.r3.data()));
  expect(Math.min(...fused.r2.data())).toBeGreaterThanOrEqual(Math.fround(-0.1));
  // NaN follows the relu kernel (NaN -> 0) whether fused or not.
  const nanNet = new Graph();
  nanNet.conv2d('c', nanNet.input('x'), { kernel: Tensor.from([1], [1, 1, 1, 1]) });
  nanNet.relu('r', 'c');
  const n = nanNet.compile();
  const nanImg = Tensor.from([NaN, -1, 2], [1, 1, 3, 1]);
  const f = (await n.forward(nanImg, { taps: ['r'], allowNonFinite: true })).r.data();
  const u = (await n.forward(nanImg, { taps: ['r', 'c'], allowNonFinite: true })).r.data();
  expect(Array.from(f)).toEqual(Array.from(u));
  expect(Math.max(...fused.r2.data())).toBeLessThanOrEqual(Math.fround(0.2));
});

test('the direct depthwise and 1x1 kernels apply a fused relu/clip at the store as the unfused ops do, NaN included', async () => {
  // 24 channels: a full vector, a half vector and (with SSE) more; 1x1 to 32 channels takes the direct 1x1 kernel.
  const g = new Graph();
  const x = g.input('x', [1, -1, -1, 24]);
  g.conv2d('d', x, { kernel: Tensor.from(randomData([3, 3, 1, 24], 11), [3, 3, 1, 24]), bias: Tensor.from(randomData([24], 12), [24]), groups: 24, padding: 'same' });
  g.relu6('d6', 'd');
  g.conv2d('p', 'd6', { kernel: Tensor.from(randomData([1, 1, 24, 32], 13), [1, 1, 24, 32]), bias: Tensor.from(randomData([32], 14), [32]) });
  g.relu('pr', 'p');
  g.conv2d('d2', x, { kernel: Tensor.from(randomData([3, 3, 1, 24], 15), [3, 3, 1, 24]), groups: 24, padding: 'same' });
  g.relu('d2r', 'd2');
  const net = g.compile({ allowNonFinite: true });
  const data = randomData([1, 6, 5, 24], 16).map((v) => v * 8);
  data[24 * 7 + 3] = NaN; // one NaN: its windows' outputs are NaN before the activation
  const img = Tensor.from(data, [1, 6, 5, 24]);
  const fused = await net.forward(img, { taps: ['d6', 'pr', 'd2r'] });
  const plain = await net.forward(img, { taps: ['d', 'd6', 'p', 'pr', 'd2', 'd2r'] });
  for (const t of ['d6', 'pr', 'd2r']) expect(Array.from(fused[t].data())).toEqual(Array.from(plain[t].data()));
  const d6 = Array.from(fused.d6.data());
  expect(d6.some((v) => Number.isNaN(v))).toBe(true); // clip keeps NaN
  expect(Math.max(...d6.filter((v) => !Number.isNaN(v)))).toBe(6);
  expect(Math.min(...d6.filter((v) => !Number.isNaN(v)))).toBe(0);
  const d2r = Array.from(fused.d2r.data());
  expect(d2r.some((v) => Number.isNaN(v))).toBe(false); // relu maps NaN to 0
  expect(Array.from(plain.d2.data()).some((v) => Number.isNaN(v))).toBe(true);
});
